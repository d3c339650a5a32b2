//! srelab's section of the report: per phase, per target and per route.
//!
//! It sits beside rlt's own report (key `srelab` in JSON, a second block in
//! text) and is built so a test can compare it with the server's
//! `http_requests_total{method,route,status}` and the database's rows. It
//! reads back from a saved JSON report (`srelab load report`), so the HTML
//! page is made from the JSON alone.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    capacity::report::CapacityReport,
    check::Outcome,
    gates::GateResult,
    mix::Kind,
    monitor::SelfReport,
    outliers::OutliersReport,
    stats::{Cell, Key, Phase, micros_to_secs},
    timeline::{self, Bin, Timeline},
};

/// The whole srelab section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub version: String,
    /// The exact command line.
    pub args: Vec<String>,
    /// When the main phase began (RFC 3339, UTC).
    #[serde(default)]
    pub started_at: Option<String>,
    pub seed: u64,
    /// `closed` (workers send back to back) or `open` (`--rate`, fixed schedule).
    pub model: String,
    pub rate: Option<f64>,
    pub mix: String,
    pub targets: Vec<String>,
    /// Whether the tool could keep up; see `monitor.warnings` when not.
    pub trustworthy: bool,
    pub monitor: SelfReport,
    /// `warmup`, `ramp` (only with requests in them) and `steady`.
    pub phases: BTreeMap<String, PhaseReport>,
    pub gates: Vec<GateResult>,
    /// Per second of the main phase: throughput, errors, percentiles.
    #[serde(default)]
    pub timeline: Timeline,
    /// The slowest and failed requests with their ids (`--outliers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outliers: Option<OutliersReport>,
    /// The processes of a distributed run (`--workers`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerReport>,
    /// A capacity search (`--find-capacity`): every step and the result;
    /// the rest of this report is the step at the capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityReport>,
}

/// One worker of a distributed run, as the coordinator saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerReport {
    pub address: String,
    /// Its srelab version (the coordinator refuses any other than its own).
    pub version: String,
    /// Its share: requests `k` with `k % count == index`, as `index/count`.
    pub share: String,
    /// `done`, or `died` / `lost` (its requests are missing from the report).
    pub status: String,
    /// What happened, when not `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Main-phase requests it recorded (ramp and steady).
    pub requests: u64,
    /// Its own self-checks (the merged ones are the report's `monitor`).
    pub trustworthy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The longest silence between its progress lines, in seconds.
    pub max_silence_seconds: f64,
    /// Its steady-phase latency histogram in microseconds, HDR V2 with
    /// DEFLATE, base64: any HDR library can merge the workers' again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_latency_hdr: Option<String>,
}

/// One phase over all targets, then per target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    /// Seconds the phase lasted (absent for warm-up, which rlt runs untimed).
    pub elapsed_seconds: Option<f64>,
    #[serde(flatten)]
    pub total: Totals,
    /// Latency distribution of the phase over all targets and routes.
    #[serde(default)]
    pub distribution: Vec<Bin>,
    /// Per route over all targets.
    pub routes: Vec<RouteReport>,
    pub targets: Vec<TargetReport>,
}

/// Counts and throughput of a set of requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    /// Requests per second over the phase.
    pub throughput: Option<f64>,
    pub outcomes: BTreeMap<String, u64>,
    /// Wrong status, invalid body or mismatch.
    pub unexpected: u64,
    /// No HTTP answer.
    pub transport_errors: u64,
    pub latency: Option<Latency>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetReport {
    pub url: String,
    /// Items created and checked (`create` answered 201 with a correct body).
    pub items_created: u64,
    #[serde(flatten)]
    pub total: Totals,
    pub routes: Vec<RouteReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteReport {
    pub kind: String,
    pub method: String,
    pub route: String,
    #[serde(flatten)]
    pub total: Totals,
    /// HTTP status codes received (transport errors have none).
    pub statuses: BTreeMap<String, u64>,
}

/// Latency percentiles in seconds, from the due time in the open model.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A time as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t).replace_nanosecond(0);
    t.ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A time as RFC 3339 in UTC, to the millisecond.
pub fn rfc3339_millis(t: std::time::SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_default()
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
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.name().to_owned(), count(*o)))
                .collect(),
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
                    kind: kind.name().into(),
                    method: kind.method().into(),
                    route: kind.route().into(),
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
    let all = merge(cells.iter(), |k| in_phase(k));
    PhaseReport {
        elapsed_seconds: elapsed,
        total: Totals::of(&all, elapsed),
        distribution: timeline::distribution(&all),
        routes: routes(None),
        targets,
    }
}
