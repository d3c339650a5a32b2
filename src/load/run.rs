//! One run: probe the targets, start the metrics endpoint, let rlt drive the
//! suite, then write the combined report and judge the gates.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use rlt::cli::{RegressionError, ReportFormat};
use tokio::time::Instant;

use super::{
    args::Args,
    config::Config,
    gates::{self, GateResult, Scope},
    metrics::{self, LoadMetrics},
    monitor::Monitor,
    output, probe,
    report::{self, Report},
    stats::{Cell, Key, Phase},
    suite::{Shared, Suite},
};

/// Mistakes clap cannot see alone; reported like clap's (exit 2).
pub fn check_flags(args: &Args) -> Result<(), String> {
    for gate in &args.load.max_p99 {
        if gate.scope != Scope::All && !args.load.mix.kinds().any(|k| gate.scope.covers(k)) {
            return Err(format!(
                "--max-p99 {}: the mix `{}` sends no such request",
                gate.scope, args.load.mix
            ));
        }
    }
    Ok(())
}

/// Runs the load and returns the exit code.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    probe::reachable(&config.targets, config.request_timeout).await?;
    // Without an endpoint nobody reads the metrics: the workers skip them.
    let (metrics, server) = match args.load.metrics_listen {
        Some(addr) => {
            let metrics = Arc::new(LoadMetrics::new(&config.targets)?);
            let listener = metrics::bind(addr)
                .await
                .with_context(|| format!("--metrics-listen {addr}"))?;
            eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
            let server = metrics.serve(listener);
            (Some(metrics), Some(server))
        }
        None => (None, None),
    };
    let monitor = Arc::new(Monitor::default());
    let sampler = monitor.spawn_cpu_sampler();
    let shared = Arc::new(Shared::new(config.clone(), monitor.clone(), metrics));

    let scratch = output::rlt_scratch();
    let mut cli = (*args.bench).clone();
    // The open model is scheduled by the suite; rlt's limiter would only
    // gate the call and never catch up after a stall.
    cli.rate = None;
    cli.output_file = Some(scratch.clone());
    let outcome = rlt::cli::run(
        cli,
        Suite {
            shared: shared.clone(),
        },
    )
    .await;
    let end = Instant::now();
    sampler.abort();
    let regression = match outcome {
        Ok(()) => None,
        Err(e) => match e.downcast::<RegressionError>() {
            Ok(r) => Some(r),
            Err(e) => {
                let _ = std::fs::remove_file(&scratch);
                return Err(e);
            }
        },
    };

    let report = build(&args, &config, &shared, end);
    output::write(
        args.bench.output,
        args.bench.output_file.as_deref(),
        &scratch,
        &report,
    )?;
    if let Some(server) = server {
        server.abort();
    }
    // A text report on stdout already ends with the gates and warnings:
    // stderr repeats nothing of it. Otherwise stderr carries those lines.
    let report_on_stdout =
        matches!(args.bench.output, ReportFormat::Text) && args.bench.output_file.is_none();
    Ok(verdict(&report, regression, !report_on_stdout))
}

/// The exit code; `tell` prints each breached gate and warning on stderr.
fn verdict(report: &Report, regression: Option<RegressionError>, tell: bool) -> ExitCode {
    let mut failed = false;
    for gate in report.gates.iter().filter(|g| !g.passed) {
        let why = if report.trustworthy || gate.gate == gates::TRUSTWORTHY {
            ""
        } else {
            " (run not trustworthy: the tool could not keep up)"
        };
        if tell {
            eprintln!("{}{why}", gate.line());
        }
        failed = true;
    }
    if let Some(r) = regression {
        eprintln!("error: {r}");
        failed = true;
    }
    if !report.trustworthy && tell {
        for w in &report.monitor.warnings {
            eprintln!("warning: not trustworthy: {w}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Seconds of the main phase, capped at `-d` (rlt's teardown is not load).
fn main_elapsed(config: &Config, shared: &Shared, end: Instant) -> Option<Duration> {
    let start = *shared.start.get()?;
    let elapsed = end.duration_since(start);
    Some(config.duration.map_or(elapsed, |d| elapsed.min(d)))
}

fn build(args: &Args, config: &Config, shared: &Shared, end: Instant) -> Report {
    let cells = shared.stats.merged();
    let elapsed = main_elapsed(config, shared, end).unwrap_or_default();
    let ramp_secs = elapsed.min(config.ramp).as_secs_f64();
    let steady_secs = elapsed.saturating_sub(config.ramp).as_secs_f64();
    let urls: Vec<String> = config.targets.iter().map(|t| t.url.clone()).collect();
    let mut phases = std::collections::BTreeMap::new();
    phases.insert(
        Phase::Steady.name(),
        report::phase(&cells, Phase::Steady, &urls, Some(steady_secs)),
    );
    if config.ramp > Duration::ZERO {
        phases.insert(
            Phase::Ramp.name(),
            report::phase(&cells, Phase::Ramp, &urls, Some(ramp_secs)),
        );
    }
    if cells.keys().any(|k| k.0 == Phase::Warmup) {
        phases.insert(
            Phase::Warmup.name(),
            report::phase(&cells, Phase::Warmup, &urls, None),
        );
    }
    let due = config.schedule.map(|s| {
        let due = s.due_before(elapsed);
        config.iterations.map_or(due, |n| due.min(n))
    });
    let monitor = shared.monitor.verdict(due, config.workers);
    let gates = judge(args, &cells, monitor.trustworthy);
    Report {
        version: env!("CARGO_PKG_VERSION"),
        args: std::env::args().collect(),
        seed: config.seed,
        model: if config.schedule.is_some() {
            "open"
        } else {
            "closed"
        },
        rate: args.bench.rate.map(|r| f64::from(r.get())),
        mix: config.mix.to_string(),
        targets: urls,
        trustworthy: monitor.trustworthy,
        monitor,
        phases,
        gates,
    }
}

fn judge(
    args: &Args,
    cells: &std::collections::BTreeMap<Key, Cell>,
    trustworthy: bool,
) -> Vec<GateResult> {
    let steady = |k: &Key| k.0 == Phase::Steady;
    let mut results = Vec::new();
    let all = report::merge(cells.iter(), steady);
    let ok = all.outcomes[super::check::Outcome::Ok.index()];
    let max = args.load.max_error_ratio;
    results.push(gates::error_ratio(max, all.requests() - ok, all.requests()));
    for gate in &args.load.max_p99 {
        let cell = report::merge(cells.iter(), |k| steady(k) && gate.scope.covers(k.2));
        results.push(gates::p99(gate, report::p99(&cell)));
    }
    if args.load.fail_untrustworthy {
        results.push(gates::trustworthy(trustworthy));
    }
    results
}
