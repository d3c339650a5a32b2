//! What a capacity search found, as the JSON report's `srelab.capacity`
//! (the rest of `srelab` is the report of the step at the capacity) and as
//! text: the step table, the capacity with its bracket, the servers'
//! saturation at the knee and what the client cost.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::search::{Stage, Verdict};
use crate::load::{gates::GateResult, text::ms};

/// `srelab.capacity` of the JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityReport {
    /// `found`, `below_lowest` (even the start rate failed), `at_max_rate`
    /// (the maximum passed), `client_limited` (the tool could not keep up)
    /// or `stopped` (Ctrl-C, or the server stopped answering).
    pub result: String,
    /// The highest rate that met the SLO (requests per second).
    pub capacity: Option<f64>,
    /// The lowest rate that did not.
    pub fails_at: Option<f64>,
    /// `(fails_at - capacity) / capacity`.
    pub bracket_ratio: Option<f64>,
    /// Why the search stopped, for `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The objectives every step was held to.
    pub slo: Vec<String>,
    pub start_rate: f64,
    pub max_rate: f64,
    pub precision: f64,
    pub step_seconds: f64,
    pub settle_seconds: f64,
    pub latency_cap_seconds: f64,
    pub collapse_error_ratio: f64,
    /// Wall time of the whole search, settles, steps and cool-downs.
    pub search_seconds: f64,
    /// The most steps a search of these bounds takes (untrustworthy steps
    /// aside, which are tried twice).
    pub max_steps: u32,
    pub steps: Vec<StepRecord>,
    /// Said after the table: what the client cost at the knee, and how to
    /// move it elsewhere.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One step of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based.
    pub step: u32,
    pub stage: Stage,
    /// The offered rate (requests per second).
    pub rate: f64,
    /// Correct answers per second over the judged seconds.
    pub achieved: Option<f64>,
    /// Judged (steady-phase) requests.
    pub requests: u64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Unexpected answers, transport errors and unanswered requests over
    /// all judged requests.
    pub error_ratio: Option<f64>,
    pub verdict: Verdict,
    /// Why it did not pass: breached objectives, the collapse, or the
    /// tool's own trouble.
    #[serde(default)]
    pub why: Vec<String>,
    /// Each objective's value and verdict.
    pub slo: Vec<GateResult>,
    pub client: ClientHealth,
    /// Connections (`-c`) the step could use.
    pub concurrency: u32,
    /// Wall time of the step, settle and graceful stop included.
    pub seconds: f64,
    /// Requests in flight when a collapse cut the step short.
    #[serde(default)]
    pub abandoned: u64,
    /// How long the search waited after a failing step for the servers to
    /// drain before the next.
    #[serde(default)]
    pub cooldown_seconds: f64,
    /// The servers' saturation over the judged seconds (with --prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Saturation>,
    /// When the judged seconds began and ended (Unix seconds), to find
    /// the step in Prometheus or Grafana.
    #[serde(default)]
    pub judged_from: f64,
    #[serde(default)]
    pub judged_to: f64,
}

/// The load tool's health during a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientHealth {
    /// The self-health verdict of `srelab load`.
    pub trustworthy: bool,
    /// The tool itself fell behind (its timer or its CPU): the step says
    /// nothing about the server.
    pub fell_behind: bool,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The tool's CPU time over the step's wall time, as a share of all cores.
    pub cpu_ratio: Option<f64>,
    /// Its highest CPU sample (a quarter second), as a share of all cores.
    pub cpu_max_ratio: f64,
    /// p99 of its timer lag, seconds.
    pub timer_lag_p99: Option<f64>,
}

/// The servers' saturation signals over a step, from Prometheus.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saturation {
    /// Process CPU of the target instances, in cores.
    pub cpu_cores: Option<f64>,
    /// The hosts' CPU utilisation (the instances' gauge), highest.
    pub host_cpu_ratio: Option<f64>,
    /// Requests in flight, highest, summed over the instances.
    pub in_flight: Option<f64>,
    /// Database write queue depth, highest, summed over the instances.
    pub db_write_queue: Option<f64>,
    /// PostgreSQL pool connections in use, highest, summed.
    pub db_pool_in_use: Option<f64>,
    /// Why nothing could be read, when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CapacityReport {
    /// The step at the capacity (the last step at the highest passing
    /// rate) and the step at the lowest failing rate.
    pub fn knee(&self) -> (Option<&StepRecord>, Option<&StepRecord>) {
        let at = |rate: Option<f64>, verdict: fn(Verdict) -> bool| {
            rate.and_then(|r| {
                self.steps
                    .iter()
                    .rev()
                    .find(|s| s.rate == r && verdict(s.verdict))
            })
        };
        (
            at(self.capacity, |v| v == Verdict::Pass),
            at(self.fails_at, |v| {
                matches!(v, Verdict::Fail | Verdict::Collapse)
            }),
        )
    }

    /// The one line saying what was found.
    pub fn headline(&self) -> String {
        let rate = |r: f64| format!("{} requests/s", number(r));
        match (self.result.as_str(), self.capacity, self.fails_at) {
            ("found", Some(c), Some(f)) => format!(
                "capacity: {} within the SLO (passes at {}/s, fails at {}/s: a {} bracket)",
                rate(c),
                number(c),
                number(f),
                percent_plain((f - c) / c)
            ),
            ("below_lowest", _, Some(f)) => format!(
                "no capacity: even the lowest step, {}/s, missed the SLO (lower --start-rate)",
                number(f)
            ),
            ("at_max_rate", Some(c), _) => format!(
                "capacity: at least {}: the maximum rate passed (raise --max-rate)",
                rate(c)
            ),
            ("client_limited", c, _) => format!(
                "no answer: the load tool could not keep up twice at the same rate{}",
                c.map_or(String::new(), |c| format!(
                    "; the capacity is at least {}",
                    rate(c)
                ))
            ),
            (_, c, _) => format!(
                "stopped: {}{}",
                self.stopped.as_deref().unwrap_or("before the end"),
                c.map_or(String::new(), |c| format!(
                    "; the capacity is at least {}",
                    rate(c)
                ))
            ),
        }
    }

    /// The text report: settings, the step table, the result, the knee.
    pub fn render(&self, targets: &[String], mix: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "capacity search: {} — mix {mix}; SLO {}; steps of {}s after a {}s settle; precision {}",
            targets.join(", "),
            self.slo.join(", "),
            self.step_seconds,
            self.settle_seconds,
            percent_plain(self.precision)
        );
        let _ = writeln!(
            out,
            "{:>4} {:<7} {:>9} {:>10} {:>9} {:>9} {:>8} {:<10} {:>7} {:>9}  why / server",
            "step",
            "stage",
            "rate/s",
            "achieved/s",
            "p50",
            "p99",
            "errors",
            "verdict",
            "client",
            "timer p99",
        );
        for s in &self.steps {
            let opt_ms = |v: Option<f64>| v.map_or("-".into(), ms);
            let client = s
                .client
                .cpu_ratio
                .map_or("-".into(), |c| format!("{:.0}%", c * 100.0));
            let mut notes = s.why.join("; ");
            if let Some(server) = &s.server {
                if !notes.is_empty() {
                    notes.push_str("; ");
                }
                notes.push_str(&server.describe());
            }
            let _ = writeln!(
                out,
                "{:>4} {:<7} {:>9} {:>10} {:>9} {:>9} {:>8} {:<10} {:>7} {:>9}  {notes}",
                s.step,
                s.stage.name(),
                number(s.rate),
                s.achieved.map_or("-".into(), |a| format!("{a:.1}")),
                opt_ms(s.p50),
                opt_ms(s.p99),
                s.error_ratio.map_or("-".into(), super::slo::percent),
                s.verdict.name(),
                client,
                opt_ms(s.client.timer_lag_p99),
            );
        }
        let _ = writeln!(out, "{}", self.headline());
        let _ = writeln!(
            out,
            "search: {} steps (at most {} for these bounds) in {:.0}s",
            self.steps.len(),
            self.max_steps,
            self.search_seconds
        );
        let (pass, fail) = self.knee();
        if let (Some(p), Some(f)) = (pass, fail)
            && (p.server.is_some() || f.server.is_some())
        {
            let side = |s: &StepRecord| {
                s.server
                    .as_ref()
                    .map_or("no signals".into(), Saturation::describe)
            };
            let _ = writeln!(
                out,
                "at the knee, servers at {}/s: {}\n             servers at {}/s: {}",
                number(p.rate),
                side(p),
                number(f.rate),
                side(f)
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

impl Saturation {
    /// A few words: `cpu 1.84 cores, host 97%, in flight 12, db queue 3`.
    pub fn describe(&self) -> String {
        if let Some(e) = &self.error {
            return format!("server signals: {e}");
        }
        let mut parts = Vec::new();
        if let Some(c) = self.cpu_cores {
            parts.push(format!("cpu {c:.2} cores"));
        }
        if let Some(h) = self.host_cpu_ratio {
            parts.push(format!("host {:.0}%", h * 100.0));
        }
        if let Some(n) = self.in_flight {
            parts.push(format!("in flight {n:.0}"));
        }
        if let Some(q) = self.db_write_queue {
            parts.push(format!("db queue {q:.0}"));
        }
        if let Some(p) = self.db_pool_in_use {
            parts.push(format!("db pool {p:.0}"));
        }
        if parts.is_empty() {
            "server signals: none in Prometheus for these targets".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A rate as a whole number when it is one.
pub fn number(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A ratio as a percentage without decimals below 10%, e.g. `4.8%`, `25%`.
fn percent_plain(r: f64) -> String {
    if r < 0.1 {
        format!("{:.1}%", r * 100.0)
    } else {
        format!("{:.0}%", r * 100.0)
    }
}
