//! `srelab verify`: asks Prometheus whether every signal of the spec exists
//! for every instance of the job, and whether every dashboard panel and alert
//! rule query runs (panels must return data). It judges metrics under load.
//!
//! - [`spec`]: the spec file format (`spec/signals.toml`).
//! - [`prom`]: the Prometheus HTTP API client; [`loki`]: Loki's, and the
//!   checks of log signals (`--loki`).
//! - [`queries`]: the PromQL of the dashboards and rules.
//! - [`check`]: the checks, retried until the deadline.
//! - [`report`]: the table and JSON output.
//! - [`assets`]: the repository files embedded in the binary.
//! - [`alert`]: `srelab verify alert`, waiting for an alert's state;
//!   [`items`]: `srelab verify items`, a load report against the database.

pub mod alert;
pub mod assets;
pub mod check;
pub mod items;
pub mod loki;
pub mod prom;
pub mod queries;
pub mod report;
pub mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

pub use check::Config;
pub use report::Report;
pub use spec::Spec;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Arguments of `srelab verify`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Verify judges metrics under load: run it while a load runs. \
    Exit codes: 0 every check passed; 1 a check failed, no load, or Prometheus unreachable; \
    2 a flag or input file mistake."
)]
pub struct Args {
    /// Another check instead of the spec's signals.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Base URL of the Prometheus server to ask.
    #[arg(
        long,
        env = "SRELAB_PROMETHEUS_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:9090",
        value_parser = prom::parse_base_url
    )]
    pub prometheus: String,
    /// The spec of signals [default: the embedded spec/signals.toml].
    #[arg(long, env = "SRELAB_SPEC", value_name = "PATH")]
    pub spec: Option<PathBuf>,
    /// Directory of dashboard JSON files [default: the embedded grafana/dashboards].
    #[arg(long, value_name = "DIR")]
    pub dashboards: Option<PathBuf>,
    /// Prometheus rules file whose expressions must evaluate [default: the embedded prometheus/alerts.yml, saturation.yml and slo.yml].
    #[arg(long, value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// Base URL of Loki: also check the spec's log signals (`[[log]]`) and
    /// the dashboards' Loki panels; without it they are skipped, and said so.
    #[arg(long, env = "SRELAB_LOKI_URL", value_name = "URL", value_parser = prom::parse_base_url)]
    pub loki: Option<String>,
    /// An optional signal that must have data this run (repeatable), e.g.
    /// `error_lines` after forcing a 5xx on every instance.
    #[arg(long, value_name = "SIGNAL")]
    pub require: Vec<String>,
    /// Prometheus job of the service's instances.
    #[arg(long, default_value = "srelab")]
    pub job: String,
    /// Fail unless at least this many instances of the job exist.
    #[arg(long, default_value_t = 1)]
    pub min_instances: usize,
    /// How long failing checks are retried before they count as failed.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: humantime::Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The checks of `srelab verify` besides the spec's signals.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Wait until an alert is firing, pending or inactive (Prometheus' alerts API).
    Alert(alert::Args),
    /// Check that a load run's created items equal the rows the database gained.
    Items(items::Args),
}

/// Runs `srelab verify`: exit 0 when every check passed, 1 otherwise, 2 for
/// a flag or input file mistake.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(Command::Alert(args)) => return alert::main(args),
        Some(Command::Items(args)) => return items::main(args),
        None => {}
    }
    let mut cfg = Config::from_sources(
        &args.prometheus,
        args.spec.as_deref(),
        args.dashboards.as_deref(),
        args.rules.as_deref(),
        &args.job,
        args.min_instances,
        args.timeout.into(),
    )
    .map_err(crate::UsageError)?;
    cfg.with_logs(args.loki, args.require)
        .map_err(|e| crate::UsageError(anyhow::anyhow!(e)))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = rt.block_on(check::run(&cfg))?;
    Ok(print(&report, args.format))
}

/// Prints a report on stdout and its problems once on stderr; returns the
/// exit code.
pub fn print(report: &Report, format: Format) -> ExitCode {
    match format {
        Format::Table => print!("{}", report.table()),
        Format::Json => println!("{:#}", report.json()),
    }
    let problems = report.problems();
    for p in &problems {
        eprintln!("verify: {p}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

impl Config {
    /// A configuration from files, each defaulting to the embedded copy;
    /// every error is a mistake in what the user named.
    pub fn from_sources(
        prometheus: &str,
        spec: Option<&Path>,
        dashboards: Option<&Path>,
        rules: Option<&Path>,
        job: &str,
        min_instances: usize,
        timeout: Duration,
    ) -> anyhow::Result<Config> {
        let spec = match spec {
            Some(path) => Spec::load(path)?,
            None => Spec::embedded(),
        };
        let dashboards = match dashboards {
            Some(dir) => read_dashboards(dir)?,
            None => assets::DASHBOARDS
                .iter()
                .map(|(f, j)| (f.to_string(), j.to_string()))
                .collect(),
        };
        let rules = match rules {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the rules {}", path.display()))
                .and_then(|text| {
                    queries::rule_exprs(&text).with_context(|| path.display().to_string())
                })?,
            None => {
                let mut all = Vec::new();
                for (_, text) in assets::RULE_FILES {
                    all.extend(queries::rule_exprs(text)?);
                }
                all
            }
        };
        let panels = check::panels(&dashboards, job)?;
        Ok(Config {
            prometheus: prometheus.to_owned(),
            loki: None,
            require: Vec::new(),
            spec,
            job: job.to_owned(),
            min_instances,
            timeout,
            panels,
            rules,
        })
    }
}

impl Config {
    /// Checks log signals against the Loki at `loki` (when given), and
    /// requires data of the optional signals named in `require`, each of
    /// which the spec must have.
    pub fn with_logs(&mut self, loki: Option<String>, require: Vec<String>) -> Result<(), String> {
        let spec = &self.spec;
        for name in &require {
            match spec
                .signals
                .iter()
                .chain(&spec.logs)
                .find(|s| &s.name == name)
            {
                None => return Err(format!("--require {name}: the spec has no such signal")),
                Some(_) if loki.is_none() && spec.logs.iter().any(|s| &s.name == name) => {
                    return Err(format!("--require {name}: a log signal needs --loki URL"));
                }
                Some(_) => {}
            }
        }
        self.loki = loki;
        self.require = require;
        Ok(())
    }
}

/// Every `*.json` file of a directory, sorted by name.
fn read_dashboards(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the dashboards {}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            out.push((
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into(),
                text,
            ));
        }
    }
    out.sort();
    Ok(out)
}
