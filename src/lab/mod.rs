//! `srelab lab`: brings up N `srelab serve` instances on one SQLite file
//! (or, with `--backend postgres`, a PostgreSQL cluster and its exporter),
//! Prometheus with a generated configuration and the alert rules, node
//! exporter, Grafana and Alertmanager (delivering to the lab's own webhook
//! receiver) when found; `--load` drives the load tool in the
//! foreground; `--check` runs the headless end-to-end check; `--capacity`
//! runs the capacity search with 1, 2, … N instances. Every input
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
//! - [`prometheus`], [`grafana`], [`alertmanager`]: their generated
//!   configuration; [`receiver`]: the webhook receiver notifications go to;
//!   [`logs`]: Loki and Alloy ([`loki`], [`alloy`]) when both are found;
//!   [`postgres`]: the cluster (shared with the tests) and its exporter;
//!   [`haproxy`]: the load balancer's one configuration (shared with the
//!   NixOS module) and its state.
//! - [`stack`]: the running lab; [`run`]: the interactive lab;
//!   [`check`]: `--check`, with [`db_fault`] on PostgreSQL and, with
//!   `--lb`, [`failover`] (crash and drain under load) and [`overload`]
//!   (saturation alerts fired by load); [`http`] and [`wait`] serve them;
//!   [`drill`]: `--drill`, which proves the alerts.

pub mod alertmanager;
pub mod alloy;
pub mod binaries;
pub mod capacity;
pub mod check;
pub mod db_fault;
pub mod defaults;
pub mod drill;
pub mod error;
pub mod failover;
pub mod grafana;
pub mod haproxy;
pub mod http;
pub mod logs;
pub mod loki;
pub mod output;
pub mod overload;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod receiver;
pub mod run;
pub mod stack;
pub mod state;
pub mod usl;
pub mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;

use crate::UsageError;
use crate::verify::assets;
use error::LabError;
use stack::Plan;

/// Arguments of `srelab lab`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 stopped by Ctrl-C/SIGTERM, the check passed, or every \
    capacity search found a capacity; 1 the check failed, a search found none, the lab could \
    not start or a child died; 2 a flag or input mistake."
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
    /// Alertmanager's port.
    #[arg(long, default_value_t = defaults::ALERTMANAGER_PORT)]
    pub alertmanager_port: u16,
    /// Port of the lab's webhook receiver (notifications go to STATE/notifications.jsonl).
    #[arg(long, default_value_t = defaults::RECEIVER_PORT)]
    pub receiver_port: u16,
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
    /// Alertmanager binary [default: `alertmanager` or `prometheus-alertmanager` on PATH].
    #[arg(long, env = "SRELAB_ALERTMANAGER", value_name = "PATH")]
    pub alertmanager_bin: Option<PathBuf>,
    /// Run without Alertmanager even when it is found.
    #[arg(long)]
    pub no_alertmanager: bool,
    /// Serve /admin/faults on every instance (`srelab serve --faults`), to inject faults by hand.
    #[arg(long)]
    pub faults: bool,
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
    /// Put HAProxy in front of the instances: the load goes through it, and
    /// `--check` adds failover, drain and overload steps.
    #[arg(long)]
    pub lb: bool,
    /// HAProxy binary [default: `haproxy` on PATH, else /usr/sbin/haproxy].
    #[arg(long, env = "SRELAB_HAPROXY", value_name = "PATH")]
    pub haproxy_bin: Option<PathBuf>,
    /// HAProxy's port (with --lb).
    #[arg(long, default_value_t = defaults::LB_PORT)]
    pub lb_port: u16,
    /// The port of HAProxy's Prometheus exporter (with --lb).
    #[arg(long, default_value_t = defaults::HAPROXY_EXPORTER_PORT)]
    pub haproxy_exporter_port: u16,
    /// Drive the load tool (with its TUI) for this long once the lab is up;
    /// options of `srelab load` go after `--` (e.g. `--load 60s -- -r 200`).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["check", "drill"])]
    pub load: Option<humantime::Duration>,
    /// Headless check: start everything, load, verify, inject a fault, stop; the exit code is the verdict.
    #[arg(long, conflicts_with = "drill")]
    pub check: bool,
    /// Headless fault drill: under steady load, a quiet baseline, then each
    /// fault in turn must bring its alert through Alertmanager within a
    /// bound and resolve once cleared; prints a table, exit 1 on any miss.
    #[arg(long)]
    pub drill: bool,
    /// The drill divides every rule window and `for:` by this (at least 8s each).
    #[arg(long, value_name = "N", default_value_t = 120, requires = "drill",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub drill_scale: u32,
    /// How long the drill's no-fault baseline lasts.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "20s",
        requires = "drill"
    )]
    pub drill_baseline: humantime::Duration,
    /// The drill's faults, in order [default: instance-down, error-ratio,
    /// latency, cpu, memory, db-lock, and with --lb backend-down].
    #[arg(
        long,
        value_name = "FAULT,...",
        value_delimiter = ',',
        requires = "drill"
    )]
    pub drill_faults: Option<Vec<drill::catalogue::FaultName>>,
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
    /// Find the capacity with 1, 2, … --instances instances in turn
    /// (`srelab load --find-capacity`; its options after `--`, e.g.
    /// `-- --mix work=1 --slo p99<100ms`) and print the scaling curve;
    /// with --lb, through HAProxy in front of them.
    #[arg(long, conflicts_with_all = ["check", "load", "drill"])]
    pub capacity: bool,
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
    if args.capacity {
        capacity::check_options(&plan).map_err(UsageError::new)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        return rt.block_on(capacity::run(plan));
    }
    if args.drill && plan.alertmanager_bin.is_none() {
        let why = plan
            .not_running
            .get(stack::ALERTMANAGER)
            .cloned()
            .unwrap_or_default();
        return Err(UsageError::new(anyhow::anyhow!(
            "the drill judges what Alertmanager delivers, and Alertmanager is {why}; {}",
            binaries::ALERTMANAGER.hint
        ))
        .into());
    }
    let load = match (args.check, args.drill, args.load) {
        (true, _, _) => Some(args.duration.into()),
        (_, true, _) => Some(Duration::from_secs(3600)),
        (false, false, load) => load.map(Into::into),
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
    if args.drill {
        let available = drill::catalogue::FaultName::available(args.lb);
        let faults = args.drill_faults.clone().unwrap_or(available.clone());
        if let Some(f) = faults.iter().find(|f| !available.contains(f)) {
            return Err(UsageError::new(anyhow::anyhow!(
                "the drill fault `{f}` needs HAProxy in front: add --lb"
            ))
            .into());
        }
        let opts = drill::Options {
            timing: drill_timing(args.drill_scale, args.lb)?,
            baseline: args.drill_baseline.into(),
            faults,
        };
        return rt.block_on(drill::run(plan, opts));
    }
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
    parse_load_options(plan.load_args(duration, false))
}

/// Parses `srelab load ARGV` as the lab will run it; the error names the
/// options after `--`.
fn parse_load_options(argv: Vec<String>) -> anyhow::Result<()> {
    #[derive(clap::Parser)]
    #[command(name = "srelab load")]
    struct LoadCli {
        #[command(flatten)]
        args: crate::load::Args,
    }
    let argv = std::iter::once("srelab load".to_owned()).chain(argv);
    let cli = LoadCli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        anyhow::anyhow!(
            "the load options after `--`: {}",
            first.trim_start_matches("error: ")
        )
    })?;
    crate::load::run::check_flags(&cli.args)
        .and_then(|()| crate::load::capacity::args::check_flags(&cli.args))
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
    let alertmanager_bin = optional(
        &binaries::ALERTMANAGER,
        args.alertmanager_bin.as_deref(),
        args.no_alertmanager
            .then_some("disabled by --no-alertmanager"),
        stack::ALERTMANAGER,
        &mut not_running,
    )?;
    let mut serve_args = args.serve_arg.clone();
    if args.faults || args.drill {
        serve_args.push("--faults".into());
    }
    let mut load_options = args.load_options.clone();
    let mut rules: Vec<(&'static str, String)> = assets::RULE_FILES
        .iter()
        .map(|(name, text)| (*name, text.to_string()))
        .collect();
    if args.drill {
        if load_options.is_empty() {
            load_options = drill::LOAD.iter().map(|s| s.to_string()).collect();
        }
        let scale = drill_timing(args.drill_scale, args.lb)
            .map_err(|e| LabError::Rules(e.to_string()))?
            .scale;
        for (name, text) in &mut rules {
            *text = scale
                .rules(text)
                .map_err(|e| LabError::Rules(format!("{name}: {e}")))?;
        }
    }
    // The capacities an earlier `--capacity` found on this state directory.
    match capacity::rules_from(&args.state_dir) {
        Ok(Some(text)) => rules.push((capacity::RULES_FILE, text)),
        Ok(None) => {}
        Err(e) => notices.push(format!(
            "notice: {}; the dashboard shows no capacity",
            crate::error_line(&e)
        )),
    }
    let node_exporter_bin = optional(
        &binaries::NODE_EXPORTER,
        args.node_exporter_bin.as_deref(),
        args.no_node_exporter
            .then_some("disabled by --no-node-exporter"),
        stack::NODE_EXPORTER,
        &mut not_running,
    )?;
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
    if args.check && logs.is_some() {
        // The check forces a 500 on every instance for verify's error line.
        serve_args.push("--debug-panic-route".into());
    }
    let postgres = match args.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(find_postgres(args)?),
    };
    let lb = match args.lb {
        false => None,
        true => Some(haproxy::LabHaproxy {
            bin: haproxy::find(args.haproxy_bin.as_deref())?,
            port: args.lb_port,
            exporter_port: args.haproxy_exporter_port,
        }),
    };
    Ok(Plan {
        instances: args.instances,
        base_port: args.base_port,
        prometheus_port: args.prometheus_port,
        grafana_port: args.grafana_port,
        node_exporter_port: args.node_exporter_port,
        load_metrics_port: args.load_metrics_port,
        alertmanager_port: args.alertmanager_port,
        receiver_port: args.receiver_port,
        state_dir: args.state_dir.clone(),
        prometheus_bin,
        grafana,
        node_exporter_bin,
        alertmanager_bin,
        postgres,
        lb,
        serve_args,
        logs,
        load_options,
        rules,
        not_running,
        notices,
    })
}

/// The drill's timing: the scale, the lab's scrape interval, and
/// Alertmanager's group timing read from its configuration.
fn drill_timing(factor: u32, lb: bool) -> anyhow::Result<drill::catalogue::Timing> {
    let am: serde_yaml_ng::Value = serde_yaml_ng::from_str(assets::ALERTMANAGER_CONFIG)?;
    let read = |key: &str| -> anyhow::Result<Duration> {
        let text = am["route"][key]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("alertmanager.yml: no route.{key}"))?;
        let d: crate::slo::duration::PromDuration = text.parse().map_err(anyhow::Error::msg)?;
        Ok(d.as_std())
    };
    let scrape: crate::slo::duration::PromDuration = defaults::SCRAPE_INTERVAL
        .parse()
        .map_err(anyhow::Error::msg)?;
    Ok(drill::catalogue::Timing {
        scale: drill::scale::TimeScale {
            factor,
            floor: crate::slo::duration::PromDuration { ms: scrape.ms * 4 },
        },
        scrape: scrape.as_std(),
        group_wait: read("group_wait")?,
        group_interval: read("group_interval")?,
        slack: Duration::from_secs(5),
        // Behind HAProxy, which checks readiness, a stopped instance drains.
        drain: match lb {
            true => humantime::parse_duration(crate::serve::config::DRAIN_DELAY)?,
            false => Duration::ZERO,
        },
    })
}

/// An optional program: the named one (which must be usable), else the one
/// on PATH; `None` when `disabled` says why or it is not found, noted in
/// `not_running` under `name`.
fn optional(
    program: &binaries::Program,
    named: Option<&std::path::Path>,
    disabled: Option<&str>,
    name: &'static str,
    not_running: &mut BTreeMap<&'static str, String>,
) -> Result<Option<PathBuf>, LabError> {
    if let Some(why) = disabled {
        not_running.insert(name, why.into());
        return Ok(None);
    }
    match named {
        Some(path) => program.find(Some(path)).map(Some),
        None => Ok(program
            .find(None)
            .map_err(|_| not_running.insert(name, "not found".into()))
            .ok()),
    }
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
