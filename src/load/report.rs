//! srelab's section of the report: per phase, per target and per route.
//!
//! It sits beside rlt's own report (key `srelab` in JSON, a second block in
//! text) and is built so a test can compare it with the server's
//! `http_requests_total{method,route,status}` and the database's rows.

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;

use super::{
    check::Outcome,
    gates::GateResult,
    mix::Kind,
    monitor::SelfReport,
    stats::{Cell, Key, Phase, micros_to_secs},
};

/// The whole srelab section.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: &'static str,
    /// The exact command line.
    pub args: Vec<String>,
    pub seed: u64,
    /// `closed` (workers send back to back) or `open` (`--rate`, fixed schedule).
    pub model: &'static str,
    pub rate: Option<f64>,
    pub mix: String,
    pub targets: Vec<String>,
    /// Whether the tool could keep up; see `monitor.warnings` when not.
    pub trustworthy: bool,
    pub monitor: SelfReport,
    /// `warmup`, `ramp` (only with requests in them) and `steady`.
    pub phases: BTreeMap<&'static str, PhaseReport>,
    pub gates: Vec<GateResult>,
}

/// One phase over all targets, then per target.
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    /// Seconds the phase lasted (absent for warm-up, which rlt runs untimed).
    pub elapsed_seconds: Option<f64>,
    #[serde(flatten)]
    pub total: Totals,
    /// Per route over all targets.
    pub routes: Vec<RouteReport>,
    pub targets: Vec<TargetReport>,
}

/// Counts and throughput of a set of requests.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub requests: u64,
    /// Requests per second over the phase.
    pub throughput: Option<f64>,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Wrong status, invalid body or mismatch.
    pub unexpected: u64,
    /// No HTTP answer.
    pub transport_errors: u64,
    pub latency: Option<Latency>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub url: String,
    /// Items created and checked (`create` answered 201 with a correct body).
    pub items_created: u64,
    #[serde(flatten)]
    pub total: Totals,
    pub routes: Vec<RouteReport>,
}

#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub kind: &'static str,
    pub method: &'static str,
    pub route: &'static str,
    #[serde(flatten)]
    pub total: Totals,
    /// HTTP status codes received (transport errors have none).
    pub statuses: BTreeMap<String, u64>,
}

/// Latency percentiles in seconds, from the due time in the open model.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(cell: &Cell) -> Option<Latency> {
        let h = &cell.latency;
        let s = micros_to_secs;
        (!h.is_empty()).then(|| Latency {
            p50: s(h.value_at_quantile(0.5)),
            p90: s(h.value_at_quantile(0.9)),
            p99: s(h.value_at_quantile(0.99)),
            p99_9: s(h.value_at_quantile(0.999)),
            max: s(h.max()),
            mean: h.mean() / 1e6,
        })
    }
}

/// The p99 of a merged cell, for gates.
pub fn p99(cell: &Cell) -> Option<Duration> {
    (!cell.latency.is_empty()).then(|| Duration::from_micros(cell.latency.value_at_quantile(0.99)))
}

impl Totals {
    fn of(cell: &Cell, elapsed: Option<f64>) -> Totals {
        let requests = cell.requests();
        let count = |o: Outcome| cell.outcomes[o.index()];
        Totals {
            requests,
            throughput: elapsed.filter(|e| *e > 0.0).map(|e| requests as f64 / e),
            outcomes: Outcome::ALL.iter().map(|o| (o.name(), count(*o))).collect(),
            unexpected: count(Outcome::UnexpectedStatus)
                + count(Outcome::InvalidBody)
                + count(Outcome::Mismatch),
            transport_errors: count(Outcome::TransportError),
            latency: Latency::of(cell),
        }
    }
}

/// Merges the cells that `pick` selects.
pub fn merge<'a>(
    cells: impl Iterator<Item = (&'a Key, &'a Cell)>,
    pick: impl Fn(&Key) -> bool,
) -> Cell {
    let mut out = Cell::default();
    for (_, cell) in cells.filter(|(k, _)| pick(k)) {
        out.merge(cell);
    }
    out
}

/// Builds one phase's report.
pub fn phase(
    cells: &BTreeMap<Key, Cell>,
    phase: Phase,
    targets: &[String],
    elapsed: Option<f64>,
) -> PhaseReport {
    let in_phase = |k: &Key| k.0 == phase;
    let routes = |target: Option<usize>| -> Vec<RouteReport> {
        Kind::ALL
            .iter()
            .filter_map(|kind| {
                let cell = merge(cells.iter(), |k| {
                    in_phase(k) && k.2 == *kind && target.is_none_or(|t| t == k.1)
                });
                (cell.requests() > 0).then(|| RouteReport {
                    kind: kind.name(),
                    method: kind.method(),
                    route: kind.route(),
                    statuses: cell
                        .statuses
                        .iter()
                        .map(|(s, n)| (s.to_string(), *n))
                        .collect(),
                    total: Totals::of(&cell, elapsed),
                })
            })
            .collect()
    };
    let targets = targets
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let cell = merge(cells.iter(), |k| in_phase(k) && k.1 == i);
            let created = cells
                .iter()
                .filter(|(k, _)| in_phase(k) && k.1 == i && k.2 == Kind::Create)
                .map(|(_, c)| c.outcomes[Outcome::Ok.index()])
                .sum();
            TargetReport {
                url: url.clone(),
                items_created: created,
                total: Totals::of(&cell, elapsed),
                routes: routes(Some(i)),
            }
        })
        .collect();
    PhaseReport {
        elapsed_seconds: elapsed,
        total: Totals::of(&merge(cells.iter(), |k| in_phase(k)), elapsed),
        routes: routes(None),
        targets,
    }
}
