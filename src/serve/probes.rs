//! Health, readiness and metrics endpoints.

use http::StatusCode;
use http::header::HeaderValue;

use super::drain::Drain;
use super::errors::ApiError;
use super::http::{self as h, Response};
use super::metrics::Metrics;
use super::store::Store;

/// `GET /healthz`: the process is alive and answering.
pub fn healthz() -> Response {
    h::json_static(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: 200 when the database is readable and writable, else 503
/// with the reason; 503 as soon as the instance drains before a stop.
pub async fn readyz(store: &Store, drain: &Drain) -> Result<Response, ApiError> {
    drain.probed();
    if drain.draining() {
        return Err(ApiError::Draining);
    }
    store.ready().await?;
    Ok(h::json_static(StatusCode::OK, r#"{"status":"ready"}"#))
}

/// `GET /metrics`: the Prometheus text exposition.
pub fn metrics(metrics: &Metrics) -> Response {
    h::with_body(
        StatusCode::OK,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        metrics.encode().into(),
    )
}
