//! `srelab lab`: brings up N `srelab serve` instances on one SQLite file,
//! Prometheus with a generated configuration and the alert rules, node
//! exporter and Grafana when found; `--load` drives the load tool in the
//! foreground; `--check` runs the headless end-to-end check.
//!
//! - [`defaults`]: ports and names shared with the NixOS modules.
//! - [`binaries`], [`ports`], [`state`]: finding programs, checking ports,
//!   the state directory; [`output`]: progress on stdout.
//! - [`process`]: children owned by guards that stop them.
//! - [`prometheus`], [`grafana`]: their generated configuration.
//! - [`stack`]: the running lab; [`run`]: the interactive lab;
//!   [`check`]: `--check`.

pub mod binaries;
pub mod check;
pub mod defaults;
pub mod error;
pub mod grafana;
pub mod output;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod run;
pub mod stack;
pub mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use error::LabError;
use stack::Plan;

/// Arguments of `srelab lab`.
#[derive(Debug, clap::Args)]
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
    /// Drive the load tool (with its TUI) for this long once the lab is up.
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
    /// Extra argument for `srelab load` (repeatable).
    #[arg(long, hide = true, allow_hyphen_values = true, value_name = "ARG")]
    pub load_arg: Vec<String>,
}

/// Runs `srelab lab`.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e @ LabError::MissingBinary { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.check {
        let opts = check::Options {
            duration: args.duration.into(),
            verify_timeout: args.verify_timeout.into(),
            fault: !args.no_fault,
            spec: args.spec.clone(),
        };
        rt.block_on(check::run(plan, opts))
    } else {
        rt.block_on(run::run(plan, args.load.map(Into::into)))
    }
}

/// Resolves binaries and ports into a plan; Prometheus must exist.
fn plan(args: &Args) -> Result<Plan, LabError> {
    if args.base_port.checked_add(args.instances - 1).is_none() {
        return Err(LabError::PortRange {
            base: args.base_port,
            instances: args.instances,
        });
    }
    let prometheus_bin = binaries::PROMETHEUS.find(args.prometheus_bin.as_deref())?;
    let node_exporter_bin = match (&args.node_exporter_bin, args.no_node_exporter) {
        (_, true) => None,
        (Some(p), false) => Some(binaries::NODE_EXPORTER.find(Some(p))?),
        (None, false) => match binaries::NODE_EXPORTER.find(None) {
            Ok(bin) => Some(bin),
            Err(e) => {
                eprintln!("notice: {e}; the lab runs without it");
                None
            }
        },
    };
    let grafana = if args.no_grafana {
        None
    } else {
        find_grafana(args)?
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
        serve_args: args.serve_arg.clone(),
        load_args: args.load_arg.clone(),
    })
}

/// Grafana's binary and home path; a missing Grafana is one notice, not an error.
fn find_grafana(args: &Args) -> Result<Option<(PathBuf, PathBuf)>, LabError> {
    let bin = match (
        &args.grafana_bin,
        binaries::GRAFANA.find(args.grafana_bin.as_deref()),
    ) {
        (_, Ok(bin)) => bin,
        (Some(_), Err(e)) => return Err(e),
        (None, Err(e)) => {
            eprintln!("notice: {e}; the lab runs without Grafana");
            return Ok(None);
        }
    };
    match grafana::homepath(&bin, args.grafana_homepath.as_deref()) {
        Some(home) => Ok(Some((bin, home))),
        None => {
            eprintln!(
                "notice: Grafana's home path is unknown for {}; pass --grafana-homepath / SRELAB_GRAFANA_HOMEPATH; the lab runs without Grafana",
                bin.display()
            );
            Ok(None)
        }
    }
}
