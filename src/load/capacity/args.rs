//! The options of `srelab load --find-capacity`, flattened into `srelab
//! load`'s own, and the search's settings validated from them.

use std::time::Duration;

use super::{search::Bounds, slo::Objective};
use crate::load::args::Args;

/// How long a step runs at its rate after the settle, unless `--step`.
pub const STEP: &str = "8s";
/// How long each step settles at its rate before it is judged.
pub const SETTLE: &str = "2s";

/// `--find-capacity` and its options.
#[derive(Debug, Clone, clap::Args)]
pub struct CapacityArgs {
    /// Search the highest open-model rate that still meets the SLO: steps
    /// at fixed rates, doubling from --start-rate until one fails, then
    /// halving the bracket down to --precision
    #[arg(long, conflicts_with_all = ["rate", "duration", "iterations", "ramp", "think", "worker"])]
    pub find_capacity: bool,

    /// An objective every step must meet, e.g. p99<50ms, p99.9<200ms,
    /// errors<0.1%, /api/items:p99<20ms, create:errors<1%; repeatable
    /// [default: p99<50ms; errors<0.1% unless an errors objective is given]
    #[arg(long, value_name = "OBJECTIVE", requires = "find_capacity")]
    pub slo: Vec<Objective>,

    /// The first step's rate (requests per second)
    #[arg(long, value_name = "RATE", default_value_t = 10.0, value_parser = positive, requires = "find_capacity")]
    pub start_rate: f64,

    /// The highest rate the search tries
    #[arg(long, value_name = "RATE", default_value_t = 100_000.0, value_parser = positive, requires = "find_capacity")]
    pub max_rate: f64,

    /// The search ends when the lowest failing rate is within this share
    /// above the highest passing one, e.g. 5% or 0.05
    #[arg(long, value_name = "RATIO", default_value = "5%", value_parser = parse_precision, requires = "find_capacity")]
    pub precision: f64,

    /// How long each step is judged, after its settle
    #[arg(long = "step", value_name = "DURATION", default_value = STEP, requires = "find_capacity")]
    pub step: humantime::Duration,

    /// How long each step runs at its rate before it is judged
    #[arg(long, value_name = "DURATION", default_value = SETTLE, requires = "find_capacity")]
    pub settle: humantime::Duration,

    /// A step whose p99 passes this (or whose requests pile up this long),
    /// or whose errors pass 10 times the SLO's (at least 10%), has clearly
    /// collapsed and is cut short [default: 10 × the largest latency
    /// objective, at least 1s]
    #[arg(long, value_name = "DURATION", requires = "find_capacity")]
    pub latency_cap: Option<humantime::Duration>,

    /// Prometheus scraping the targets: the search reports the servers'
    /// saturation (CPU, requests in flight, database queue) at each step
    #[arg(long, value_name = "URL", value_parser = crate::verify::prom::parse_base_url, requires = "find_capacity")]
    pub prometheus: Option<String>,

    /// The Prometheus job of the targets
    #[arg(
        long,
        value_name = "JOB",
        default_value = "srelab",
        requires = "prometheus"
    )]
    pub prometheus_job: String,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("`{s}` is not a positive rate")),
    }
}

fn parse_precision(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(p) if p / scale > 0.0 && p / scale < 1.0 => Ok(p / scale),
        _ => Err(format!(
            "`{s}` is not a precision between 0 and 1 (e.g. 5% or 0.05)"
        )),
    }
}

/// The validated settings of one search.
#[derive(Debug, Clone)]
pub struct Settings {
    pub objectives: Vec<Objective>,
    pub bounds: Bounds,
    pub step: Duration,
    pub settle: Duration,
    /// A p99 (or pile-up) past this is a collapse.
    pub latency_cap: Duration,
    /// An error ratio past this is a collapse.
    pub collapse_errors: f64,
    pub prometheus: Option<(String, String)>,
}

impl Settings {
    pub fn from_args(args: &Args) -> Settings {
        let c = &args.load.capacity;
        let objectives = super::slo::with_defaults(&c.slo);
        let latency_cap = c.latency_cap.map(Into::into).unwrap_or_else(|| {
            super::slo::latency_limit(&objectives)
                .map_or(Duration::ZERO, |l| l * 10)
                .max(Duration::from_secs(1))
        });
        let collapse_errors = (super::slo::error_limit(&objectives) * 10.0).clamp(0.1, 0.5);
        Settings {
            bounds: Bounds {
                start: c.start_rate,
                max: c.max_rate,
                precision: c.precision,
            },
            step: c.step.into(),
            settle: c.settle.into(),
            latency_cap,
            collapse_errors,
            prometheus: c
                .prometheus
                .clone()
                .map(|url| (url, c.prometheus_job.clone())),
            objectives,
        }
    }
}

/// Mistakes clap cannot see alone (exit 2).
pub fn check_flags(args: &Args) -> Result<(), String> {
    let c = &args.load.capacity;
    if !c.find_capacity {
        return Ok(());
    }
    if c.max_rate < c.start_rate {
        return Err(format!(
            "--max-rate {} is below --start-rate {}",
            c.max_rate, c.start_rate
        ));
    }
    if Duration::from(c.step) < Duration::from_secs(1) {
        return Err("--step must be at least 1s: each step needs whole seconds to judge".into());
    }
    for o in &c.slo {
        if !args.load.mix.kinds().any(|k| o.scope.covers(k)) {
            return Err(format!(
                "--slo {o}: the mix `{}` sends no such request",
                args.load.mix
            ));
        }
    }
    if !args.load.workers.is_empty() {
        return Err("--workers with --find-capacity is not supported yet".into());
    }
    let b = &args.bench;
    let given = [
        ("--max-p99", !args.load.max_p99.is_empty()),
        ("--max-error-ratio", args.load.max_error_ratio.is_some()),
        ("--save-baseline", b.save_baseline.is_some()),
        ("--baseline", b.baseline.is_some()),
        ("--baseline-file", b.baseline_file.is_some()),
        ("--fail-on-regression", b.fail_on_regression),
        ("-w/--warmup", b.warmup > 0),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        return Err(format!(
            "{flag} does not apply to --find-capacity: each step is judged by --slo"
        ));
    }
    Ok(())
}
