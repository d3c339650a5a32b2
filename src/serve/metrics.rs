//! The service's Prometheus metrics.

/// Latency histogram buckets in seconds, from sub-millisecond to seconds.
///
/// Shared by the service's `http_request_duration_seconds` and the load
/// tool's client-side histogram, so one PromQL query compares the two.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
