//! The metric contract that the service, the load tool, the SLO generator,
//! the dashboards and the alert rules share: names, bucket bounds and the
//! status that is not an outcome. One small module every side imports, so
//! none of them holds the contract in its own room.

/// Latency histogram buckets in seconds, from sub-millisecond to seconds.
///
/// The service's `http_request_duration_seconds`, the load tool's
/// client-side histogram and the latency SLOs (whose thresholds must be one
/// of these bounds) all use them, so one PromQL query compares them.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests answered, `{method, route, status}`.
pub const REQUESTS_TOTAL: &str = "http_requests_total";

/// Time from request headers read to response ready, `{method, route}`.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// nginx's non-standard "client closed request": the `status` label of a
/// request whose client went away before the answer. Neither a success nor
/// a server error: SLOs leave it out of both counts.
pub const CLIENT_CLOSED_STATUS: u16 = 499;

/// The `route` label of every route of the JSON API (not the probes, not
/// `/metrics`): what "all routes" means to an SLO.
pub const API_ROUTES: &str = "/api/.+";
