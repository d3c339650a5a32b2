//! The command line of `srelab load`: rlt's options plus srelab's own.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use rlt::cli::BenchCli;

use super::{
    capacity::args::CapacityArgs,
    gates::P99Gate,
    mix::{DEFAULT_MIX, Mix},
    target::Target,
};

/// Arguments of `srelab load`: srelab's own, then rlt's (-c, -d, -n, -r,
/// -w, -q, -o, -O, baselines). `-r/--rate` switches to the open model:
/// requests are due at fixed times and their latency counts from then (no
/// coordinated omission). Boxed: the subcommand enum stays small. rlt's
/// help for `--collector` and `--output` points at its Rust types; ours
/// says what the values do. `srelab load report FILE` renders a saved
/// report instead of running.
#[derive(Debug, Clone, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 done and every gate passed (an error-ratio gate of 0.01 \
        applies unless --max-error-ratio is given); 1 a gate failed, a regression, or the run \
        could not start; 2 a flag mistake. With --find-capacity: 0 a capacity was found; \
        1 the search could not run; 2 a flag mistake; 3 even the first step missed the SLO; \
        4 no bracket (the maximum rate passed, the tool could not keep up, or the search stopped).",
    mut_arg("collector", |a| a
        .hide_possible_values(true)
        .help("How progress is shown: tui (live view; the default on a terminal) or silent")
        .long_help(None::<&str>)),
    mut_arg("output", |a| a
        .hide_possible_values(true)
        .help("Format of the report: text (colours only on a terminal, none with NO_COLOR) or json")
        .long_help(None::<&str>)),
    mut_arg("rate", |a| a
        .help("Open model: RATE requests per second on a fixed schedule; latency counts from each due time")
        .long_help(None::<&str>)),
    mut_arg("duration", |a| a
        .help("How long to run, e.g. 30s, 5m; without -d or -n the run lasts until Ctrl-C")
        .long_help(None::<&str>)),
)]
pub struct Args {
    #[command(flatten)]
    pub load: Box<LoadArgs>,

    #[command(flatten)]
    pub bench: Box<BenchCli>,

    #[command(subcommand)]
    pub command: Option<LoadCommand>,
}

/// What `srelab load` does besides running load.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LoadCommand {
    /// Render a saved JSON report (`-o json -O FILE`) as text or as an HTML page
    Report(ReportArgs),
}

/// `srelab load report FILE [--baseline FILE] [--html OUT]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A JSON report of `srelab load` (the whole report or its `srelab` section)
    #[arg(value_name = "FILE")]
    pub report: PathBuf,

    /// Another JSON report to show side by side, as the baseline
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write the report as one self-contained HTML page to OUT (without
    /// it, the text report goes to stdout)
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
}

/// The target without `--target`: `srelab serve`'s default address (the
/// lab's instances are elsewhere; see [`probe`](super::probe)).
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:8080";

/// srelab's own options of `srelab load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Base URL of an instance; repeat to spread requests over several
    #[arg(
        long = "target",
        value_name = "URL",
        default_value = DEFAULT_TARGET
    )]
    pub targets: Vec<Target>,

    /// Weighted mix of request kinds: list, create, get (items this run
    /// created), work, health
    #[arg(long, value_name = "KIND=WEIGHT,...", default_value = DEFAULT_MIX)]
    pub mix: Mix,

    /// Think time per simulated user between requests, e.g. 100ms..500ms
    /// (closed model only)
    #[arg(long, value_name = "MIN..MAX", conflicts_with = "rate")]
    pub think: Option<Think>,

    /// Start workers gradually over this time (closed model) or raise the
    /// rate linearly to -r over it (open model); reported apart
    #[arg(long, value_name = "DURATION")]
    pub ramp: Option<humantime::Duration>,

    /// Seed of the request mix (default: random, recorded in the report)
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Milliseconds of CPU work per `work` request (1..=1000)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub work_ms: u32,

    /// Give up on a request after this long (counted as a transport error)
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub request_timeout: humantime::Duration,

    /// When -d ends (or on Ctrl-C), no new request starts; requests in
    /// flight get this long to finish and count as usual; later ones are
    /// reported as interrupted
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub graceful_stop: humantime::Duration,

    /// Fail (exit 1) when errors and unexpected answers exceed this share
    /// of the steady-state requests [default: 0.01; 1 accepts any answer]
    #[arg(long, value_name = "RATIO", value_parser = parse_ratio)]
    pub max_error_ratio: Option<f64>,

    /// Fail (exit 1) when the steady-state p99 exceeds DURATION; ROUTE=DURATION
    /// or KIND=DURATION judges one route (e.g. /api/items=20ms); repeatable
    #[arg(long, value_name = "[ROUTE=]DURATION")]
    pub max_p99: Vec<P99Gate>,

    /// Keep the request ids of the N slowest and the first N failed requests
    /// in the report (every request sends `X-Request-Id: SEED-K`, which
    /// `srelab serve` logs), with a LogQL query finding them in Loki
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub outliers: u16,

    /// Fail (exit 1) when the run is not trustworthy: the tool itself could
    /// not keep up (timer lag, dropped arrivals, its own CPU saturated)
    #[arg(long)]
    pub fail_untrustworthy: bool,

    /// Serve the tool's own metrics at http://ADDR/metrics during the run
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Also write the report as one self-contained HTML page (charts per
    /// second, per route and per target; side by side with --baseline's run
    /// when it was saved with --save-baseline)
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Coordinate a run over the worker processes at these addresses (each
    /// started with `srelab load --worker --listen ADDR`): each sends its
    /// share of the requests (-c, -n, -w are shared out); the report and
    /// gates cover the whole
    #[arg(
        long,
        value_name = "ADDR,...",
        value_delimiter = ',',
        conflicts_with = "worker"
    )]
    pub workers: Vec<String>,

    /// Be a worker process: wait for coordinators on --listen and run their
    /// shares (every other setting comes from the coordinator)
    #[arg(long, requires = "listen")]
    pub worker: bool,

    /// The address a worker listens on for its coordinator, e.g. 0.0.0.0:7878
    #[arg(long, value_name = "ADDR", requires = "worker")]
    pub listen: Option<SocketAddr>,

    #[command(flatten)]
    pub capacity: CapacityArgs,
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a ratio between 0 and 1")),
    }
}

/// Think time bounds, `MIN..MAX` or one fixed `DURATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Think {
    pub min: Duration,
    pub max: Duration,
}

impl FromStr for Think {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = s.split_once("..").unwrap_or((s, s));
        let parse = |d: &str| {
            humantime::parse_duration(d.trim())
                .map_err(|e| format!("`{d}` in `{s}` is not a duration: {e}"))
        };
        let (min, max) = (parse(min)?, parse(max)?);
        if min > max {
            return Err(format!("`{s}`: MIN is larger than MAX"));
        }
        Ok(Think { min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_for_users_not_rustdoc() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(!help.contains("[`"), "rustdoc links in the help:\n{help}");
        assert!(help.contains("until Ctrl-C"), "{help}");
        assert!(help.contains("default: 0.01"), "{help}");
    }

    #[test]
    fn think_bounds() {
        let t: Think = "100ms..1s".parse().unwrap();
        assert_eq!(
            (t.min, t.max),
            (Duration::from_millis(100), Duration::from_secs(1))
        );
        assert_eq!(
            "5ms".parse::<Think>().unwrap().max,
            Duration::from_millis(5)
        );
        assert!("1s..100ms".parse::<Think>().is_err());
        assert!("x..1s".parse::<Think>().is_err());
    }
}
