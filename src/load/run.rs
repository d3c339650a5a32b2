//! One run: probe the targets, start the metrics endpoint, let rlt drive the
//! suite (one [`step`]), then write the combined report and judge the gates.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use rlt::cli::{RegressionError, ReportFormat};

use super::{
    args::Args,
    baseline,
    config::Config,
    gates::{self, GateResult, Scope},
    html,
    metrics::{self, LoadMetrics},
    monitor::Monitor,
    outliers::OutliersReport,
    output, probe,
    recorded::Recorded,
    report::{self, Report},
    stats::{Cell, Key, Phase},
    step, timeline,
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
    let (metrics, server) = metrics_endpoint(&args, &config).await?;
    // The baseline's own srelab report, read before the run (as rlt reads
    // its part) so a mistake shows early.
    let baseline = match &args.load.html {
        Some(_) => baseline::load(&args.bench)?,
        None => None,
    };
    let monitor = Arc::new(Monitor::default());
    let step = step::run(&config, (*args.bench).clone(), metrics, monitor).await?;
    if let Some(server) = server {
        server.abort();
    }
    let report = build(&args, &config, &step.recorded)?;
    output::write(
        args.bench.output,
        args.bench.output_file.as_deref(),
        Some(step.rlt),
        &report,
    )?;
    baseline::save(&args.bench, &report)?;
    if let Some(path) = &args.load.html {
        html::write(path, &report, baseline.as_ref())?;
    }
    Ok(verdict(&report, step.regression, tells(&args)))
}

/// The tool's metrics and the task serving them, with `--metrics-listen`.
/// Without an endpoint nobody reads the metrics: the workers skip them.
pub async fn metrics_endpoint(
    args: &Args,
    config: &Config,
) -> anyhow::Result<(
    Option<Arc<LoadMetrics>>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    let Some(addr) = args.load.metrics_listen else {
        return Ok((None, None));
    };
    let metrics = Arc::new(LoadMetrics::new(&config.targets)?);
    let listener = metrics::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}"))?;
    eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
    let server = metrics.serve(listener);
    Ok((Some(metrics), Some(server)))
}

/// Whether stderr carries the breached gates and warnings: not when a text
/// report on stdout already ends with them.
pub fn tells(args: &Args) -> bool {
    !(matches!(args.bench.output, ReportFormat::Text) && args.bench.output_file.is_none())
}

/// The exit code; `tell` prints each breached gate and warning on stderr.
pub fn verdict(report: &Report, regression: Option<RegressionError>, tell: bool) -> ExitCode {
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

/// The report of what a run (or the workers of one) recorded.
pub fn build(args: &Args, config: &Config, recorded: &Recorded) -> anyhow::Result<Report> {
    let cells = &recorded.cells;
    let elapsed = recorded.elapsed;
    let ramp_secs = elapsed.min(config.unjudged()).as_secs_f64();
    let steady_secs = elapsed.saturating_sub(config.unjudged()).as_secs_f64();
    let urls: Vec<String> = config.targets.iter().map(|t| t.url.clone()).collect();
    let mut phases = std::collections::BTreeMap::new();
    phases.insert(
        Phase::Steady.name().into(),
        report::phase(cells, Phase::Steady, &urls, Some(steady_secs)),
    );
    if config.unjudged() > Duration::ZERO {
        phases.insert(
            Phase::Ramp.name().into(),
            report::phase(cells, Phase::Ramp, &urls, Some(ramp_secs)),
        );
    }
    if cells.keys().any(|k| k.0 == Phase::Warmup) {
        phases.insert(
            Phase::Warmup.name().into(),
            report::phase(cells, Phase::Warmup, &urls, None),
        );
    }
    let due = config.schedule.map(|s| {
        let due = s.due_before(elapsed);
        config.iterations.map_or(due, |n| due.min(n))
    });
    let monitor = recorded.monitor.verdict(due, config.workers);
    let outliers = OutliersReport::of(&recorded.outliers, config.seed, &urls);
    let gates = judge(args, cells, monitor.trustworthy);
    let timeline = timeline::build(&recorded.seconds, &urls)
        .map_err(|e| anyhow::anyhow!("the time series: {e}"))?;
    Ok(Report {
        version: env!("CARGO_PKG_VERSION").into(),
        args: std::env::args().collect(),
        started_at: recorded.started_at.map(report::rfc3339),
        seed: config.seed,
        model: if config.schedule.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        rate: args.bench.rate.map(|r| f64::from(r.get())),
        mix: config.mix.to_string(),
        targets: urls,
        trustworthy: monitor.trustworthy,
        monitor,
        phases,
        gates,
        timeline,
        outliers,
        workers: Vec::new(),
        capacity: None,
    })
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
