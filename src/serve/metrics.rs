//! The service's Prometheus metrics, in a registry owned by each instance.
//!
//! Label handles are resolved once (HTTP: lazily, once per label
//! combination; database: at start-up), so the hot path only increments.

use std::sync::OnceLock;
use std::time::Duration;

use http::{Method, StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::config::Config;
use super::faults::FaultMetrics;
use super::host::HostMetrics;
use super::process::ProcessMetrics;
use super::routes::Route;
use crate::contract::CLIENT_CLOSED_STATUS;

pub use crate::contract::LATENCY_BUCKETS;

const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The `method` label values; anything else is `other`.
const METHODS: [&str; 8] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];

/// Status codes with a cached counter handle; others are looked up per request.
const STATUSES: [u16; 12] = [200, 201, 400, 404, 405, 413, 414, 415, 422, 500, 503, 504];

/// nginx's non-standard "client closed request" status, for requests whose
/// client went away before the answer.
pub const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(CLIENT_CLOSED_STATUS) {
    Ok(status) => status,
    Err(_) => panic!("499 is a valid status code"),
};

/// All metrics of one service instance.
pub struct Metrics {
    pub registry: Registry,
    pub http: HttpMetrics,
    pub db: DbMetrics,
    pub host: Option<HostMetrics>,
    pub faults: FaultMetrics,
}

impl Metrics {
    /// Creates and registers every metric for `config`.
    pub fn new(config: &Config) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let http = HttpMetrics::new(&registry)?;
        let db = DbMetrics::new(&registry, config.request_metrics)?;
        let faults = FaultMetrics::new(&registry)?;
        let host = if config.host_metrics {
            Some(HostMetrics::new(&registry)?)
        } else {
            None
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                "srelab_build_info",
                "Build of the running srelab: always 1.",
            ),
            &["version", "revision"],
        )?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("SRELAB_REVISION").unwrap_or("unknown"),
            ])
            .set(1);
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(ProcessMetrics::for_self()?))?;
        Ok(Metrics {
            registry,
            http,
            db,
            host,
            faults,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec only fails on invalid metric families, which
        // registration already rejected.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// RED metrics of the HTTP API.
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    pub in_flight: IntGauge,
    counters: Box<[OnceLock<IntCounter>]>,
    histograms: Box<[OnceLock<Histogram>]>,
}

impl HttpMetrics {
    fn new(registry: &Registry) -> prometheus::Result<HttpMetrics> {
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered."),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request headers read to response ready.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being handled.")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        let per_route = Route::ALL.len() * METHODS.len();
        Ok(HttpMetrics {
            requests,
            duration,
            in_flight,
            counters: (0..per_route * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            histograms: (0..per_route).map(|_| OnceLock::new()).collect(),
        })
    }

    /// Records one answered request.
    pub fn observe(&self, method: &Method, route: Route, status: StatusCode, elapsed: Duration) {
        let m = method_index(method);
        let rm = route.index() * METHODS.len() + m;
        let histogram = self.histograms[rm].get_or_init(|| {
            self.duration
                .with_label_values(&[METHODS[m], route.template()])
        });
        histogram.observe(elapsed.as_secs_f64());
        match STATUSES.iter().position(|&s| s == status.as_u16()) {
            Some(s) => self.counters[rm * STATUSES.len() + s]
                .get_or_init(|| self.counter(m, route, status))
                .inc(),
            None => self.counter(m, route, status).inc(),
        }
    }

    /// Records a request whose client went away before its answer was ready
    /// (the handler future was dropped): `status="499"`, nginx's "client
    /// closed request", without a duration since no response was made. A
    /// write it had queued still commits, so counters and rows agree.
    pub fn abandoned(&self, method: &Method, route: Route) {
        self.counter(method_index(method), route, CLIENT_CLOSED)
            .inc();
    }

    /// Records a request hyper answered itself before routing (a malformed
    /// request line or header, a URI or head too large): it has no method
    /// or route, so it counts as `other` on `unmatched`, without a duration.
    pub fn rejected(&self, status: StatusCode) {
        self.counter(METHODS.len() - 1, Route::Unmatched, status)
            .inc();
    }

    fn counter(&self, m: usize, route: Route, status: StatusCode) -> IntCounter {
        self.requests
            .with_label_values(&[METHODS[m], route.template(), status.as_str()])
    }
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::HEAD => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// A database operation, the `op` label of the database metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbOp {
    Insert,
    Get,
    List,
    Ready,
}

impl DbOp {
    const ALL: [DbOp; 4] = [DbOp::Insert, DbOp::Get, DbOp::List, DbOp::Ready];

    fn label(self) -> &'static str {
        match self {
            DbOp::Insert => "insert",
            DbOp::Get => "get",
            DbOp::List => "list",
            DbOp::Ready => "ready",
        }
    }
}

/// Database metrics; cheap to clone (handles are shared).
#[derive(Clone)]
pub struct DbMetrics {
    durations: [Histogram; 4],
    errors: [IntCounter; 4],
    pub batch_size: Histogram,
    pub queue_depth: IntGauge,
    pub busy_retries: IntCounter,
    /// False with `--no-metrics`: operation latency and errors not recorded.
    per_operation: bool,
}

impl DbMetrics {
    fn new(registry: &Registry, per_operation: bool) -> prometheus::Result<DbMetrics> {
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "srelab_db_operation_duration_seconds",
                "Database operation latency as a request sees it, queueing included.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("srelab_db_errors_total", "Database operations that failed."),
            &["op"],
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "srelab_db_write_batch_size",
                "Writes committed per transaction (group commit).",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
        )?;
        let queue_depth = IntGauge::new(
            "srelab_db_write_queue_depth",
            "Writes waiting for the writer thread.",
        )?;
        let busy_retries = IntCounter::new(
            "srelab_db_busy_retries_total",
            "Database operations retried because another connection held a lock too long.",
        )?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(busy_retries.clone()))?;
        Ok(DbMetrics {
            durations: DbOp::ALL.map(|op| durations.with_label_values(&[op.label()])),
            errors: DbOp::ALL.map(|op| errors.with_label_values(&[op.label()])),
            batch_size,
            queue_depth,
            busy_retries,
            per_operation,
        })
    }

    /// Records one finished operation (unless per-request metrics are off).
    pub fn observe(&self, op: DbOp, elapsed: Duration, ok: bool) {
        if !self.per_operation {
            return;
        }
        self.durations[op as usize].observe(elapsed.as_secs_f64());
        if !ok {
            self.errors[op as usize].inc();
        }
    }
}
