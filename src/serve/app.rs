//! The state shared by every connection, and the per-request wrapper
//! around the handlers: routing, method check, RED metrics, request id and
//! access log, panic containment.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request};
use hyper::body::{Body as _, Incoming};
use prometheus::IntGauge;

use super::access_log::{AccessLog, Entry};
use super::config::Config;
use super::drain::Drain;
use super::errors::ApiError;
use super::faults::{self, Faults};
use super::http::{self as h, Response};
use super::metrics::{CLIENT_CLOSED, Metrics};
use super::request_id::{self, RequestIds};
use super::routes::{self, Route};
use super::store::Store;
use super::{items, panic, probes, work};

/// Longest accepted request target (path and query); longer gets 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The state of one service instance.
pub struct App {
    pub config: Config,
    pub metrics: Metrics,
    pub store: Store,
    pub access_log: AccessLog,
    pub request_ids: RequestIds,
    /// Set on SIGTERM: `/readyz` answers 503 while requests are still served.
    pub drain: Drain,
    /// With `--faults` only.
    pub faults: Option<Faults>,
}

impl App {
    /// Bundles the parts of a running instance; its access log names it
    /// `config.instance`, else its `--listen` address.
    pub fn new(config: Config, metrics: Metrics, store: Store) -> App {
        let access_log = AccessLog {
            mode: config.access_log,
            sample: config.access_log_sample,
            instance: (config.instance.clone()).unwrap_or_else(|| config.listen.to_string()),
        };
        let faults = config.faults.then(|| Faults::new(metrics.faults.clone()));
        App {
            config,
            metrics,
            store,
            access_log,
            request_ids: RequestIds::default(),
            drain: Drain::default(),
            faults,
        }
    }

    /// Answers one request; never fails and never unwinds.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response {
        let start = Instant::now();
        let optional = routes::Optional {
            debug_panic: self.config.debug_panic_route,
            faults: self.faults.is_some(),
        };
        let (route, id) = routes::resolve(req.uri().path(), optional);
        let id = id.map(parse_id);
        let request_id = self
            .request_ids
            .for_request(req.headers().get(request_id::HEADER));
        let _in_flight = self
            .config
            .request_metrics
            .then(|| InFlight::enter(&self.metrics.http.in_flight));
        let mut pending = Abandoned {
            app: &self,
            method: Some(req.method().clone()),
            route,
            start,
            request_id: &request_id,
        };
        let mut response = self.answer(route, id, req, &request_id).await;
        let elapsed = start.elapsed();
        if let Some(method) = pending.method.take() {
            if self.config.request_metrics {
                self.metrics
                    .http
                    .observe(&method, route, response.status(), elapsed);
            }
            self.access_log.record(&Entry {
                method: &method,
                route,
                status: response.status(),
                elapsed,
                bytes: response.body().size_hint().exact().unwrap_or(0),
                request_id: &request_id,
            });
        }
        drop(pending);
        response
            .headers_mut()
            .insert(request_id::HEADER, request_id);
        response
    }

    async fn answer(
        &self,
        route: Route,
        id: Option<Result<i64, ApiError>>,
        req: Request<Incoming>,
        request_id: &HeaderValue,
    ) -> Response {
        match panic::catch_unwind_future(self.dispatch(route, id, req)).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => h::error(&err),
            Err(payload) => {
                tracing::warn!(
                    route = route.template(),
                    request_id = request_id::as_str(request_id),
                    panic = panic::message(&*payload),
                    "handler panicked; answered 500"
                );
                h::error(&ApiError::Internal)
            }
        }
    }

    async fn dispatch(
        &self,
        route: Route,
        id: Option<Result<i64, ApiError>>,
        req: Request<Incoming>,
    ) -> Result<Response, ApiError> {
        let uri_len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
        if uri_len > MAX_URI_BYTES {
            return Err(ApiError::UriTooLong {
                limit: MAX_URI_BYTES,
            });
        }
        if !route.allows(req.method()) {
            return Err(ApiError::MethodNotAllowed {
                method: h::truncate(req.method().as_str(), 32).to_owned(),
                allow: route.allow(),
            });
        }
        if let Some(faults) = &self.faults
            && faults.armed()
        {
            faults.before(route).await?;
        }
        let query = req.uri().query();
        match route {
            Route::Items if req.method() == Method::POST => {
                items::create(&self.store, req, self.config.body_limits()).await
            }
            Route::Items => items::list(&self.store, query).await,
            Route::Item => items::get(&self.store, id.unwrap_or(Err(ApiError::Internal))?).await,
            Route::Work => work::run(query).await,
            Route::Healthz => Ok(probes::healthz()),
            Route::Readyz => probes::readyz(&self.store, &self.drain).await,
            Route::Metrics => Ok(probes::metrics(&self.metrics)),
            Route::DebugPanic => panic!("the /debug/panic route panics on purpose"),
            Route::AdminFaults => match &self.faults {
                Some(f) => {
                    faults::admin::handle(f, &self.store, req, self.config.body_limits()).await
                }
                None => Err(ApiError::Internal),
            },
            Route::Unmatched => Err(ApiError::NoRoute(
                h::truncate(req.uri().path(), 100).to_owned(),
            )),
        }
    }
}

/// The id of `/api/items/{id}`: a positive integer, else 400.
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::MalformedRequest(format!(
            "item id must be a positive integer, got {:?}",
            h::truncate(raw, 40)
        ))),
    }
}

/// Counts (and logs) a request as abandoned (status 499) when its handler
/// future is dropped before the answer, i.e. the client closed the connection.
struct Abandoned<'a> {
    app: &'a App,
    /// Taken once the answer is counted.
    method: Option<Method>,
    route: Route,
    start: Instant,
    request_id: &'a HeaderValue,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        let Some(method) = &self.method else {
            return;
        };
        if self.app.config.request_metrics {
            self.app.metrics.http.abandoned(method, self.route);
        }
        self.app.access_log.record(&Entry {
            method,
            route: self.route,
            status: CLIENT_CLOSED,
            elapsed: self.start.elapsed(),
            bytes: 0,
            request_id: self.request_id,
        });
    }
}

/// Counts a request in `http_requests_in_flight` until dropped, also when
/// the client goes away and the handler future is dropped.
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a IntGauge) -> InFlight<'a> {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
