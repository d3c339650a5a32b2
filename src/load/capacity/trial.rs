//! One step of a capacity search: the run at one fixed rate (a settle, then
//! the judged seconds), watched so a collapse cuts it short, judged against
//! the SLO and the offered rate, with the tool's own health beside it.
//!
//! The step's connections (`-c`) grow with its rate, so that every worker
//! being busy means the servers answer slower than the latency cap:
//! arrivals left unsent then are the servers' doing. The tool's own
//! trouble (a late timer, a saturated CPU) can only make a step look
//! worse, so a pass stands, and a breach it could explain makes the step
//! untrustworthy rather than a failure (see [`judge`]).

use std::{sync::Arc, time::Duration};

use rlt::cli::{BenchCli, Collector};
use tokio::time::Instant;

use super::{
    args::Settings,
    report::{ClientHealth, StepRecord},
    search::{Stage, Verdict},
    slo::{self, Measure, Objective},
};
use crate::load::{
    args::Args,
    check::Outcome,
    config::{Config, Share},
    gates::GateResult,
    metrics::LoadMetrics,
    monitor::{self, Monitor, SelfReport},
    report::{self, Report},
    run,
    schedule::Schedule,
    stats::{Cell, Key, Phase},
    step::{self, Watch},
    suite::Shared,
};

/// Connections a step never exceeds (each is a socket per target).
const MAX_CONCURRENCY: u32 = 4096;
/// A step passes only when correct answers kept up with this share of the
/// offered rate (a server slower than the rate falls behind, whatever the
/// latency objective says over a few seconds).
const MIN_THROUGHPUT: f64 = 0.9;
/// A collapse is judged only on this many judged answers at least.
const COLLAPSE_MIN_ANSWERS: u64 = 20;

/// Runs the steps of one search.
pub struct Trial<'a> {
    pub args: &'a Args,
    pub base: &'a Config,
    pub settings: &'a Settings,
    pub metrics: Option<Arc<LoadMetrics>>,
}

/// A step's record, and the report of its run.
pub struct Stepped {
    pub record: StepRecord,
    pub report: Report,
    /// When its judged seconds began and ended.
    pub judged: (std::time::SystemTime, std::time::SystemTime),
}

impl Trial<'_> {
    /// Connections for a step at `rate`: enough for every request due
    /// within the latency cap, and at least `-c`.
    pub fn concurrency(&self, rate: f64) -> u32 {
        let needed = (rate * self.settings.latency_cap.as_secs_f64() * 1.25).ceil() as u32 + 8;
        needed.max(self.base.workers).min(MAX_CONCURRENCY)
    }

    /// The run's config for a step at `rate`.
    pub fn config(&self, rate: f64) -> Config {
        let s = self.settings;
        Config {
            ramp: Duration::ZERO,
            settle: s.settle,
            workers: self.concurrency(rate),
            warmup: 0,
            duration: Some(s.settle + s.step),
            iterations: None,
            schedule: Some(Schedule::new(rate, Duration::ZERO)),
            share: Share::ALL,
            ..self.base.clone()
        }
    }

    /// Runs step `index` at `rate` and judges it.
    pub async fn run(&self, index: u32, stage: Stage, rate: f64) -> anyhow::Result<Stepped> {
        let config = self.config(rate);
        let cli = BenchCli {
            concurrency: config.workers.try_into()?,
            duration: Some((self.settings.settle + self.settings.step).into()),
            iterations: None,
            warmup: 0,
            rate: None,
            quiet: true,
            collector: Some(Collector::Silent),
            output: rlt::cli::ReportFormat::Json,
            output_file: None,
            ..(*self.args.bench).clone()
        };
        let monitor = Arc::new(Monitor::default());
        let started = Instant::now();
        let began = std::time::SystemTime::now();
        let cpu_before = monitor::cpu_seconds();
        let watch = collapse_watch(self.settings, rate);
        let step =
            step::run_watched(&config, cli, self.metrics.clone(), monitor, Some(watch)).await?;
        let wall = started.elapsed();
        let cpu = cpu_before.zip(monitor::cpu_seconds()).map(|(a, b)| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            (b - a) / (wall.as_secs_f64() * cores)
        });
        let recorded = &step.recorded;
        let mut report = run::build(self.args, &config, recorded)?;
        let answered: u64 = recorded
            .cells
            .iter()
            .filter(|(k, _)| k.0 != Phase::Warmup)
            .map(|(_, c)| c.requests())
            .sum();
        let abandoned = match step.aborted {
            Some(_) => recorded.monitor.started.saturating_sub(answered),
            None => 0,
        };
        let unanswered = abandoned + report.monitor.interrupted;
        let slo_results = slo::judge(&self.settings.objectives, &recorded.cells, unanswered);
        let steady = steady(&recorded.cells);
        let achieved = achieved(&report, self.settings.settle, self.settings.step);
        let (verdict, why) = judge(
            self.settings,
            &report.monitor,
            &self.settings.objectives,
            &slo_results,
            step.aborted.as_deref(),
            config.workers,
            achieved.map(|a| a / rate),
        );
        let fell_behind = report.monitor.tool_fell_behind();
        report.rate = Some(rate);
        report.gates = slo_results.clone();
        let settle = self.settings.settle;
        let judged_secs = self.settings.step.as_secs_f64();
        let mut record = StepRecord {
            step: index,
            stage,
            rate,
            achieved,
            requests: steady.requests(),
            p50: quantile(&steady, 0.5),
            p99: quantile(&steady, 0.99),
            error_ratio: slo::error_ratio(&steady, unanswered),
            verdict,
            why,
            slo: slo_results,
            client: ClientHealth {
                trustworthy: report.monitor.trustworthy,
                fell_behind,
                warnings: report.monitor.warnings.clone(),
                cpu_ratio: cpu,
                cpu_max_ratio: report.monitor.cpu_max_ratio,
                timer_lag_p99: report.monitor.timer_lag.as_ref().map(|l| l.p99),
            },
            concurrency: config.workers,
            seconds: wall.as_secs_f64(),
            abandoned,
            cooldown_seconds: 0.0,
            server: None,
            judged_from: 0.0,
            judged_to: 0.0,
        };
        let from = began + settle;
        let to = from + Duration::from_secs_f64(judged_secs).min(wall.saturating_sub(settle));
        let unix = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        };
        record.judged_from = unix(from);
        record.judged_to = unix(to);
        Ok(Stepped {
            record,
            report,
            judged: (from, to),
        })
    }
}

/// A step's verdict and why. The tool falling behind (its timer late, its
/// CPU saturated) can only make a step look worse: its arrivals bunch up,
/// its answers are read late. So a pass stands; a breach counts as the
/// servers' only when the tool's trouble cannot explain it: an error
/// objective, or a latency past its limit by more than the tool's worst
/// timer lag (with a saturated CPU, no latency breach counts). Otherwise
/// the step is untrustworthy.
fn judge(
    settings: &Settings,
    monitor: &SelfReport,
    objectives: &[Objective],
    results: &[GateResult],
    aborted: Option<&str>,
    workers: u32,
    throughput: Option<f64>,
) -> (Verdict, Vec<String>) {
    let behind = monitor.tool_fell_behind();
    let lag = monitor.timer_lag.as_ref().map_or(0.0, |l| l.max);
    let cpu = monitor.cpu_saturated();
    let mut why: Vec<String> = Vec::new();
    if let Some(reason) = aborted {
        if behind && (cpu || lag >= settings.latency_cap.as_secs_f64() / 2.0) {
            why.extend(monitor.warnings.iter().cloned());
            why.push(format!(
                "cut short ({reason}), but the tool fell behind as far"
            ));
            return (Verdict::Untrusted, why);
        }
        return (Verdict::Collapse, vec![format!("collapse: {reason}")]);
    }
    let mut server = false;
    for (o, r) in objectives.iter().zip(results).filter(|(_, r)| !r.passed) {
        why.push(slo::describe(o, r));
        server |= !behind
            || match o.measure {
                Measure::Errors { .. } => true,
                Measure::Latency { .. } => !cpu && r.value.is_some_and(|v| v - lag > r.limit),
            };
    }
    if let Some(t) = throughput.filter(|t| *t < MIN_THROUGHPUT) {
        why.push(format!(
            "throughput {:.0}% of the offered rate: the servers fell behind",
            t * 100.0
        ));
        server |= !behind;
    }
    let dropped = monitor.dropped_arrivals.unwrap_or(0);
    let due = monitor.arrivals_due.unwrap_or(0);
    if dropped as f64 > 0.01 * due as f64 {
        why.push(format!(
            "{dropped} of {due} arrivals never sent: all {workers} connections were busy"
        ));
        server |= !behind;
    }
    match (why.is_empty(), server) {
        (true, _) => (Verdict::Pass, why),
        (false, true) => (Verdict::Fail, why),
        (false, false) => {
            why.extend(monitor.warnings.iter().cloned());
            why.push(format!(
                "within what the tool's own lag (up to {:.1}ms) could explain",
                lag * 1e3
            ));
            (Verdict::Untrusted, why)
        }
    }
}

/// The judged (steady-phase) requests over every target and kind.
fn steady(cells: &std::collections::BTreeMap<Key, Cell>) -> Cell {
    report::merge(cells.iter(), |k| k.0 == Phase::Steady)
}

fn quantile(cell: &Cell, q: f64) -> Option<f64> {
    (!cell.latency.is_empty()).then(|| cell.latency.value_at_quantile(q) as f64 / 1e6)
}

/// Correct answers per second that arrived during the judged seconds.
fn achieved(report: &Report, settle: Duration, step: Duration) -> Option<f64> {
    let all = &report.timeline.all;
    let from = settle.as_secs() as usize;
    let to = (from + step.as_secs() as usize).min(all.requests.len());
    if to <= from {
        return None;
    }
    let ok: u64 = (from..to).map(|s| all.requests[s] - all.errors[s]).sum();
    Some(ok as f64 / (to - from) as f64)
}

/// Watches a step at `rate` for a clear collapse once its settle is over:
/// errors far past the SLO, a p99 past the latency cap, or more requests
/// due and unanswered than the cap's worth (by Little's law, their wait
/// is past the cap).
fn collapse_watch(settings: &Settings, rate: f64) -> Watch {
    let settle = settings.settle;
    let cap = settings.latency_cap;
    let max_errors = settings.collapse_errors;
    Box::new(move |shared: &Shared| {
        let elapsed = shared.start.get()?.elapsed();
        if elapsed < settle + Duration::from_secs(1) {
            return None;
        }
        let cells = shared.stats.merged();
        let judged = steady(&cells);
        if judged.requests() >= COLLAPSE_MIN_ANSWERS {
            let ok = judged.outcomes[Outcome::Ok.index()];
            let errors = (judged.requests() - ok) as f64 / judged.requests() as f64;
            if errors > max_errors {
                return Some(format!(
                    "{} errors, past {}",
                    slo::percent(errors),
                    slo::percent(max_errors)
                ));
            }
            let p99 = judged.latency.value_at_quantile(0.99);
            if Duration::from_micros(p99) > cap {
                return Some(format!(
                    "p99 {:.0}ms, past the cap of {}",
                    p99 as f64 / 1e3,
                    humantime::format_duration(cap)
                ));
            }
        }
        let answered: u64 = cells
            .iter()
            .filter(|(k, _)| k.0 != Phase::Warmup)
            .map(|(_, c)| c.requests())
            .sum();
        let due = shared.config.schedule?.due_before(elapsed);
        let waiting = due.saturating_sub(answered);
        let allowed = (rate * cap.as_secs_f64()).max(10.0);
        (waiting as f64 > allowed).then(|| {
            format!(
                "{waiting} requests due and unanswered, more than {} s of arrivals",
                cap.as_secs_f64()
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::monitor::LagReport;

    fn settings() -> Settings {
        Settings {
            objectives: slo::with_defaults(&[]),
            bounds: super::super::search::Bounds {
                start: 10.0,
                max: 1000.0,
                precision: 0.05,
            },
            step: Duration::from_secs(8),
            settle: Duration::from_secs(2),
            latency_cap: Duration::from_secs(1),
            collapse_errors: 0.1,
            prometheus: None,
        }
    }

    /// The tool's self-report with a timer lag (p99, max in ms) and CPU
    /// samples saturated out of 100.
    fn monitor(lag: Option<(f64, f64)>, saturated: u64) -> SelfReport {
        let timer_lag = lag.map(|(p99, max)| LagReport {
            p50: 0.001,
            p99: p99 / 1e3,
            max: max / 1e3,
        });
        let mut m = SelfReport {
            trustworthy: true,
            warnings: Vec::new(),
            schedule_lag: timer_lag.clone(),
            timer_lag,
            arrivals_due: Some(1000),
            arrivals_started: 1000,
            dropped_arrivals: Some(0),
            late_arrivals: 0,
            interrupted: 0,
            interrupted_writes: 0,
            cpu_samples: 100,
            cpu_saturated_samples: saturated,
            cpu_max_ratio: 0.5,
        };
        if m.tool_fell_behind() {
            m.trustworthy = false;
            m.warnings.push("the tool fell behind".into());
        }
        m
    }

    /// Judges a step whose p99 (ms) and error ratio were measured.
    fn verdict(m: &SelfReport, p99_ms: f64, errors: f64, throughput: f64) -> Verdict {
        let s = settings();
        let results = [
            GateResult {
                gate: "slo p99<50ms".into(),
                limit: 0.05,
                value: Some(p99_ms / 1e3),
                passed: p99_ms <= 50.0,
                default: false,
            },
            GateResult {
                gate: "slo errors<0.1%".into(),
                limit: 0.001,
                value: Some(errors),
                passed: errors <= 0.001,
                default: false,
            },
        ];
        judge(&s, m, &s.objectives, &results, None, 100, Some(throughput)).0
    }

    #[test]
    fn a_breach_is_the_servers_when_the_tool_kept_up() {
        let fine = monitor(Some((2.0, 5.0)), 0);
        assert_eq!(verdict(&fine, 20.0, 0.0, 1.0), Verdict::Pass);
        assert_eq!(verdict(&fine, 51.0, 0.0, 1.0), Verdict::Fail);
        assert_eq!(verdict(&fine, 20.0, 0.01, 1.0), Verdict::Fail);
        assert_eq!(
            verdict(&fine, 20.0, 0.0, 0.85),
            Verdict::Fail,
            "fell behind the rate"
        );
    }

    #[test]
    fn the_tools_own_lag_never_makes_a_server_failure() {
        // Timer lag p99 20 ms (past the 10 ms limit), worst 30 ms.
        let lagging = monitor(Some((20.0, 30.0)), 0);
        assert!(lagging.tool_fell_behind());
        assert_eq!(
            verdict(&lagging, 20.0, 0.0, 1.0),
            Verdict::Pass,
            "a late tool only makes the load harsher: a pass stands"
        );
        assert_eq!(
            verdict(&lagging, 70.0, 0.0, 1.0),
            Verdict::Untrusted,
            "70 ms is within 50 ms + the tool's 30 ms"
        );
        assert_eq!(verdict(&lagging, 200.0, 0.0, 1.0), Verdict::Fail);
        assert_eq!(
            verdict(&lagging, 20.0, 0.05, 1.0),
            Verdict::Fail,
            "lag does not make errors"
        );
        assert_eq!(verdict(&lagging, 20.0, 0.0, 0.85), Verdict::Untrusted);
        // A saturated CPU explains any latency.
        let saturated = monitor(None, 50);
        assert_eq!(verdict(&saturated, 900.0, 0.0, 1.0), Verdict::Untrusted);
        assert_eq!(verdict(&saturated, 900.0, 0.05, 1.0), Verdict::Fail);
    }

    #[test]
    fn a_collapse_is_the_servers_unless_the_tool_was_as_far_behind() {
        let s = settings();
        let fine = monitor(Some((2.0, 5.0)), 0);
        let (v, why) = judge(&s, &fine, &s.objectives, &[], Some("p99 3000ms"), 10, None);
        assert_eq!(v, Verdict::Collapse);
        assert_eq!(why, ["collapse: p99 3000ms"]);
        let far = monitor(Some((600.0, 800.0)), 0);
        let (v, _) = judge(&s, &far, &s.objectives, &[], Some("p99 3000ms"), 10, None);
        assert_eq!(v, Verdict::Untrusted);
    }

    #[test]
    fn unsent_arrivals_fail_a_step_when_the_tool_kept_up() {
        let mut busy = monitor(Some((2.0, 5.0)), 0);
        busy.dropped_arrivals = Some(50);
        assert_eq!(verdict(&busy, 20.0, 0.0, 1.0), Verdict::Fail);
    }
}
