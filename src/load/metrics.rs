//! The tool's own RED metrics, served on `--metrics-listen` during the run.
//!
//! An owned registry; label handles are resolved once at start so the hot
//! path only touches atomics. The latency histogram uses the service's
//! buckets, so one PromQL query compares client and server latency.

use std::{convert::Infallible, net::SocketAddr};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};
use tokio::{net::TcpListener, task::JoinHandle};

use super::{check::Outcome, mix::Kind, target::Target};
use crate::contract::LATENCY_BUCKETS;

/// Metric handles for one (target, kind).
pub struct Handles {
    pub duration: Histogram,
    pub outcomes: [IntCounter; Outcome::ALL.len()],
}

/// The registry and the handles the workers use.
pub struct LoadMetrics {
    registry: Registry,
    /// Indexed by target, then [`Kind::index`].
    pub handles: Vec<Vec<Handles>>,
    pub schedule_lag: Gauge,
}

impl LoadMetrics {
    pub fn new(targets: &[Target]) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "srelab_load_requests_total",
                "Requests sent by srelab load, by outcome.",
            ),
            &["target", "method", "route", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "srelab_load_request_duration_seconds",
                "Client-side request latency; from the due time in the open model.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["target", "method", "route"],
        )?;
        let schedule_lag = Gauge::new(
            "srelab_load_schedule_lag_seconds",
            "How late the latest request started against its schedule.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(schedule_lag.clone()))?;
        let handles = targets
            .iter()
            .map(|t| {
                Kind::ALL
                    .iter()
                    .map(|k| Handles {
                        duration: duration.with_label_values(&[
                            t.url.as_str(),
                            k.method(),
                            k.route(),
                        ]),
                        outcomes: Outcome::ALL.map(|o| {
                            requests.with_label_values(&[
                                t.url.as_str(),
                                k.method(),
                                k.route(),
                                o.name(),
                            ])
                        }),
                    })
                    .collect()
            })
            .collect();
        Ok(LoadMetrics {
            registry,
            handles,
            schedule_lag,
        })
    }

    /// Serves `/metrics` on `listener` until the task is aborted.
    pub fn serve(self: &std::sync::Arc<Self>, listener: TcpListener) -> JoinHandle<()> {
        let metrics = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let metrics = metrics.clone();
                let service = service_fn(move |req| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(metrics.answer(&req)) }
                });
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != "/metrics" {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::from_static(b"not found\n")))
                .expect("static response");
        }
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            buf = format!("# encoding failed: {e}\n").into_bytes();
        }
        Response::builder()
            .header(header::CONTENT_TYPE, encoder.format_type())
            .body(Full::new(Bytes::from(buf)))
            .expect("static headers")
    }
}

/// Binds the metrics address before the run, so a bad address fails early.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
