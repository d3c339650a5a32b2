//! The command line of `srelab lab`: [`Args`] and the [`Backend`] choice.

use std::path::PathBuf;

use super::{defaults, drill};

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
