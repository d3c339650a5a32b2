//! `srelab lab`: brings up N `srelab serve` instances on one SQLite file
//! (or, with `--backend postgres`, a PostgreSQL cluster and its exporter),
//! Prometheus with a generated configuration and the alert rules, node
//! exporter and Grafana when found; `--load` drives the load tool in the
//! foreground; `--check` runs the headless end-to-end check. Every input
//! (binaries, the spec, the load options) is checked before anything starts.
//!
//! Exit codes: 0 the lab stopped on Ctrl-C/SIGTERM, or the check passed;
//! 1 the check failed, the lab could not start (a port in use) or a child
//! died; 2 a flag or input mistake (a missing Prometheus, an unreadable spec,
//! load options `srelab load` refuses).
//!
//! - [`defaults`]: ports and names shared with the NixOS modules.
//! - [`binaries`], [`ports`], [`state`]: finding programs, checking ports,
//!   the state directory; [`output`]: progress on stdout.
//! - [`process`]: children owned by guards that stop them.
//! - [`prometheus`], [`grafana`]: their generated configuration;
//!   [`logs`]: Loki and Alloy ([`loki`], [`alloy`]) when both are found;
//!   [`postgres`]: the cluster (shared with the tests) and its exporter.
//! - [`stack`]: the running lab; [`run`]: the interactive lab;
//!   [`check`]: `--check`, with [`db_fault`] on PostgreSQL.

pub mod alloy;
pub mod binaries;
pub mod check;
pub mod db_fault;
pub mod defaults;
pub mod error;
pub mod grafana;
pub mod logs;
pub mod loki;
pub mod output;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod run;
pub mod stack;
pub mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;

use crate::UsageError;
use error::LabError;
use stack::Plan;

/// Arguments of `srelab lab`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 stopped by Ctrl-C/SIGTERM, or the check passed; \
    1 the check failed, the lab could not start or a child died; 2 a flag or input mistake."
)]
pub struct Args {
    /// Number of `srelab serve` instances.
    #[arg(long, default_value_t = defaults::INSTANCES, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub instances: u16,
    /// Port of the first instance; instance i listens on BASE_PORT + i.
    #[arg(long, default_value_t = defaults::BASE_PORT)]
    pub base_port: u16,
    /// Prometheus' port.
    #[arg(long, default_value_t = defaults::PROMETHEUS_PORT)]
    pub prometheus_port: u16,
    /// Grafana's port.
    #[arg(long, default_value_t = defaults::GRAFANA_PORT)]
    pub grafana_port: u16,
    /// Node exporter's port.
    #[arg(long, default_value_t = defaults::NODE_EXPORTER_PORT)]
    pub node_exporter_port: u16,
    /// Port of the load tool's metrics endpoint.
    #[arg(long, default_value_t = defaults::LOAD_METRICS_PORT)]
    pub load_metrics_port: u16,
    /// State directory: the database (kept), logs, generated configuration.
    #[arg(long, env = "SRELAB_LAB_STATE", default_value = ".srelab-lab")]
    pub state_dir: PathBuf,
    /// Prometheus binary [default: `prometheus` on PATH].
    #[arg(long, env = "SRELAB_PROMETHEUS", value_name = "PATH")]
    pub prometheus_bin: Option<PathBuf>,
    /// Grafana binary [default: `grafana` or `grafana-server` on PATH].
    #[arg(long, env = "SRELAB_GRAFANA", value_name = "PATH")]
    pub grafana_bin: Option<PathBuf>,
    /// Grafana's home path [default: beside the binary, or /usr/share/grafana].
    #[arg(long, env = "SRELAB_GRAFANA_HOMEPATH", value_name = "DIR")]
    pub grafana_homepath: Option<PathBuf>,
    /// Node exporter binary [default: `node_exporter` or `prometheus-node-exporter` on PATH].
    #[arg(long, env = "SRELAB_NODE_EXPORTER", value_name = "PATH")]
    pub node_exporter_bin: Option<PathBuf>,
    /// Run without Grafana even when it is found.
    #[arg(long)]
    pub no_grafana: bool,
    /// Run without node exporter even when it is found.
    #[arg(long)]
    pub no_node_exporter: bool,
    /// Loki binary [default: `loki` on PATH]; logs need Alloy too.
    #[arg(long, env = "SRELAB_LOKI", value_name = "PATH")]
    pub loki_bin: Option<PathBuf>,
    /// Grafana Alloy binary, which ships the instances' logs to Loki [default: `alloy` on PATH].
    #[arg(long, env = "SRELAB_ALLOY", value_name = "PATH")]
    pub alloy_bin: Option<PathBuf>,
    /// Run without Loki and Alloy even when they are found.
    #[arg(long)]
    pub no_loki: bool,
    /// Loki's HTTP port.
    #[arg(long, default_value_t = defaults::LOKI_PORT)]
    pub loki_port: u16,
    /// Loki's gRPC port.
    #[arg(long, default_value_t = defaults::LOKI_GRPC_PORT)]
    pub loki_grpc_port: u16,
    /// Alloy's HTTP port.
    #[arg(long, default_value_t = defaults::ALLOY_PORT)]
    pub alloy_port: u16,
    /// The instances' database: `sqlite` (one file in the state directory) or
    /// `postgres` (a throwaway PostgreSQL cluster in the state directory).
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// Directory holding PostgreSQL's `initdb` and `postgres` [default: PATH,
    /// then Debian's /usr/lib/postgresql/VERSION/bin].
    #[arg(long, env = "SRELAB_POSTGRES_BIN_DIR", value_name = "DIR")]
    pub postgres_bin_dir: Option<PathBuf>,
    /// PostgreSQL exporter binary [default: `postgres_exporter` or
    /// `prometheus-postgres-exporter` on PATH].
    #[arg(long, env = "SRELAB_POSTGRES_EXPORTER", value_name = "PATH")]
    pub postgres_exporter_bin: Option<PathBuf>,
    /// The PostgreSQL exporter's port.
    #[arg(long, default_value_t = defaults::POSTGRES_EXPORTER_PORT)]
    pub postgres_exporter_port: u16,
    /// Run without the PostgreSQL exporter even when it is found.
    #[arg(long)]
    pub no_postgres_exporter: bool,
    /// Drive the load tool (with its TUI) for this long once the lab is up;
    /// options of `srelab load` go after `--` (e.g. `--load 60s -- -r 200`).
    #[arg(long, value_name = "DURATION", conflicts_with = "check")]
    pub load: Option<humantime::Duration>,
    /// Headless check: start everything, load, verify, inject a fault, stop; the exit code is the verdict.
    #[arg(long)]
    pub check: bool,
    /// How long `--check` drives load.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "20s",
        requires = "check"
    )]
    pub duration: humantime::Duration,
    /// How long `--check` retries failing signals before they count as missing.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        requires = "check"
    )]
    pub verify_timeout: humantime::Duration,
    /// Skip `--check`'s fault injection (stopping an instance until its alert fires).
    #[arg(long, requires = "check")]
    pub no_fault: bool,
    /// The verify spec for `--check` [default: the embedded spec/signals.toml].
    #[arg(long, env = "SRELAB_SPEC", value_name = "PATH")]
    pub spec: Option<PathBuf>,
    /// Extra argument for every `srelab serve` (repeatable).
    #[arg(long, hide = true, allow_hyphen_values = true, value_name = "ARG")]
    pub serve_arg: Vec<String>,
    /// Options for `srelab load` (with --load or --check), e.g. `-- -r 200 --mix list=1,create=1`.
    #[arg(last = true, value_name = "LOAD_OPTIONS")]
    pub load_options: Vec<String>,
}

/// Where the lab's instances keep their items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `srelab lab`.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args).map_err(|e| match e {
        e @ LabError::MissingBinary { .. } => anyhow::Error::new(UsageError::new(e)),
        e => e.into(),
    })?;
    let load = match (args.check, args.load) {
        (true, _) => Some(args.duration.into()),
        (false, load) => load.map(Into::into),
    };
    match load {
        Some(duration) => check_load_options(&plan, duration).map_err(UsageError::new)?,
        None if !plan.load_options.is_empty() => {
            return Err(UsageError::new(anyhow::anyhow!(
                "options after `--` are for the load tool: give --load DURATION or --check"
            ))
            .into());
        }
        None => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.check {
        let verify = crate::verify::Config::from_sources(
            &plan.prometheus_url(),
            args.spec.as_deref(),
            None,
            None,
            defaults::JOB,
            plan.instances.into(),
            args.verify_timeout.into(),
        )
        .map_err(UsageError)?;
        let mut verify = verify;
        if let Some(logs) = &plan.logs {
            // The check forces a 5xx on every instance: its error line must be there.
            let require: Vec<String> = verify
                .spec
                .logs
                .iter()
                .filter(|s| s.name == check::ERROR_LINES)
                .map(|s| s.name.clone())
                .collect();
            verify
                .with_logs(Some(logs.loki_url()), require)
                .map_err(|e| UsageError(anyhow::anyhow!(e)))?;
        }
        let opts = check::Options {
            duration: args.duration.into(),
            fault: !args.no_fault,
            verify,
        };
        rt.block_on(check::run(plan, opts))
    } else {
        rt.block_on(run::run(plan, load))
    }
}

/// Parses the load tool's command line as the lab will run it, so a
/// mistake in the options after `--` is found before anything starts.
fn check_load_options(plan: &Plan, duration: Duration) -> anyhow::Result<()> {
    let owned: [(&[&str], &str); 2] = [
        (
            &["-d", "--duration"],
            "give the load's duration to --load (with --check: --duration)",
        ),
        (
            &["--metrics-listen"],
            "the lab sets it to --load-metrics-port, where Prometheus scrapes",
        ),
    ];
    for (flags, why) in owned {
        if plan.load_option_given(flags) {
            anyhow::bail!("the load options after `--`: {}: {why}", flags.join("/"));
        }
    }
    #[derive(clap::Parser)]
    #[command(name = "srelab load")]
    struct LoadCli {
        #[command(flatten)]
        args: crate::load::Args,
    }
    let argv = std::iter::once("srelab load".to_owned()).chain(plan.load_args(duration, false));
    let cli = LoadCli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        anyhow::anyhow!(
            "the load options after `--`: {}",
            first.trim_start_matches("error: ")
        )
    })?;
    crate::load::run::check_flags(&cli.args)
        .map_err(|e| anyhow::anyhow!("the load options after `--`: {e}"))
}

/// Resolves binaries and ports into a plan; Prometheus must exist. What
/// does not run, and why, is kept for the summary; notices wait until the
/// lab starts.
fn plan(args: &Args) -> Result<Plan, LabError> {
    if args.base_port.checked_add(args.instances - 1).is_none() {
        return Err(LabError::PortRange {
            base: args.base_port,
            instances: args.instances,
        });
    }
    let prometheus_bin = binaries::PROMETHEUS.find(args.prometheus_bin.as_deref())?;
    let mut not_running = BTreeMap::new();
    let mut notices = Vec::new();
    let node_exporter_bin = match (&args.node_exporter_bin, args.no_node_exporter) {
        (_, true) => {
            not_running.insert(
                stack::NODE_EXPORTER,
                "disabled by --no-node-exporter".into(),
            );
            None
        }
        (Some(p), false) => Some(binaries::NODE_EXPORTER.find(Some(p))?),
        (None, false) => binaries::NODE_EXPORTER
            .find(None)
            .map_err(|_| not_running.insert(stack::NODE_EXPORTER, "not found".into()))
            .ok(),
    };
    let grafana = if args.no_grafana {
        not_running.insert(stack::GRAFANA, "disabled by --no-grafana".into());
        None
    } else {
        let found = find_grafana(args)?;
        if let Err((short, why)) = &found {
            notices.push(format!("notice: {why}; the lab runs without Grafana"));
            not_running.insert(stack::GRAFANA, short.to_string());
        }
        found.ok()
    };
    let logs = if args.no_loki {
        not_running.insert(logs::LOKI, "disabled by --no-loki".into());
        None
    } else {
        let ports = (args.loki_port, args.loki_grpc_port, args.alloy_port);
        let found =
            logs::LabLogs::find(args.loki_bin.as_deref(), args.alloy_bin.as_deref(), ports)?;
        if let Err((short, notice)) = &found {
            notices.push(notice.clone());
            not_running.insert(logs::LOKI, short.to_string());
        }
        found.ok()
    };
    let mut serve_args = args.serve_arg.clone();
    if args.check && logs.is_some() {
        // The check forces a 500 on every instance for verify's error line.
        serve_args.push("--debug-panic-route".into());
    }
    let postgres = match args.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(find_postgres(args)?),
    };
    Ok(Plan {
        instances: args.instances,
        base_port: args.base_port,
        prometheus_port: args.prometheus_port,
        grafana_port: args.grafana_port,
        node_exporter_port: args.node_exporter_port,
        load_metrics_port: args.load_metrics_port,
        state_dir: args.state_dir.clone(),
        prometheus_bin,
        grafana,
        node_exporter_bin,
        postgres,
        serve_args,
        logs,
        load_options: args.load_options.clone(),
        not_running,
        notices,
    })
}

/// PostgreSQL's binaries (required) and its exporter (when found).
fn find_postgres(args: &Args) -> Result<postgres::LabPostgres, LabError> {
    let bins = postgres::Binaries::find(args.postgres_bin_dir.as_deref())?;
    let exporter = binaries::POSTGRES_EXPORTER;
    let exporter_bin = match (&args.postgres_exporter_bin, args.no_postgres_exporter) {
        (_, true) => None,
        (Some(p), false) => Some(exporter.find(Some(p))?),
        (None, false) => exporter.find(None).ok(),
    };
    Ok(postgres::LabPostgres {
        bins,
        exporter_bin,
        exporter_port: args.postgres_exporter_port,
    })
}

/// Why an optional program does not run: a few words, and the whole notice.
type Absent = (&'static str, String);

/// Grafana's binary and home path, or why it does not run (not an error
/// unless `--grafana-bin` named it).
fn find_grafana(args: &Args) -> Result<Result<(PathBuf, PathBuf), Absent>, LabError> {
    let bin = match (
        &args.grafana_bin,
        binaries::GRAFANA.find(args.grafana_bin.as_deref()),
    ) {
        (_, Ok(bin)) => bin,
        (Some(_), Err(e)) => return Err(e),
        (None, Err(e)) => return Ok(Err(("not found", e.to_string()))),
    };
    Ok(
        match grafana::homepath(&bin, args.grafana_homepath.as_deref()) {
            Some(home) => Ok((bin, home)),
            None => Err((
                "its home path is unknown",
                format!(
                    "Grafana's home path is unknown for {}; pass --grafana-homepath / SRELAB_GRAFANA_HOMEPATH",
                    bin.display()
                ),
            )),
        },
    )
}
