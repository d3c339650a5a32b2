//! The command line of `srelab serve` and the validated configuration built
//! from it. Every flag can also be set from an environment variable, for
//! systemd units.

use std::net::SocketAddr;
use std::time::Duration;

use clap::ValueEnum;

use super::access_log;
use super::http::BodyLimits;

pub use super::store::{Database, DatabaseError};

/// The default of `--drain-delay`: longer than HAProxy needs to take an
/// instance out whose checks fail (tests/haproxy_config.rs holds them in step).
pub const DRAIN_DELAY: &str = "6s";

/// Arguments of `srelab serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (IP:PORT); port 0 picks a free port. The bound
    /// address is printed on stdout as `listening on http://IP:PORT`.
    #[arg(long, env = "SRELAB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The database: a SQLite file (created if missing; the instances of one
    /// host may share it) or a PostgreSQL URL, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (`?host=/run/postgresql` for a Unix socket; without a password in the URL,
    /// PGPASSFILE or ~/.pgpass is read). The password is never printed.
    #[arg(
        long,
        env = "SRELAB_DB",
        default_value = "srelab.db",
        hide_env_values = true
    )]
    pub db: String,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "SRELAB_MAX_BODY_BYTES", default_value_t = 65536)]
    pub max_body_bytes: usize,

    /// Log format on stderr: `text` for terminals, `json` lines for Loki.
    #[arg(long, env = "SRELAB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Which requests get an access-log line (method, route, status,
    /// duration, bytes, instance, request id): `all`, `errors` (5xx and
    /// 499), `slow=DURATION` (errors and requests at least that slow), `off`.
    #[arg(long, env = "SRELAB_ACCESS_LOG", value_name = "MODE", default_value = access_log::DEFAULT)]
    pub access_log: access_log::Mode,

    /// Also log 1 in N of the requests --access-log does not select (0:
    /// none): a steady trickle of lines from every instance (the lab uses 100).
    #[arg(
        long,
        env = "SRELAB_ACCESS_LOG_SAMPLE",
        value_name = "N",
        default_value_t = 0
    )]
    pub access_log_sample: u32,

    /// How this instance names itself in its access log, as Prometheus'
    /// `instance` label does [default: the bound address, with the host
    /// name for 0.0.0.0 or ::].
    #[arg(long, env = "SRELAB_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,

    /// SQLite `synchronous` mode: `full` makes every 201 durable across power
    /// loss; `normal` only across process crashes.
    #[arg(long, env = "SRELAB_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    pub synchronous: Synchronous,

    /// How long a database operation may wait for a lock held by another
    /// instance before the request fails with 503.
    #[arg(long, env = "SRELAB_BUSY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub busy_timeout: Duration,

    /// Most writes committed together in one transaction (group commit).
    #[arg(long, env = "SRELAB_BATCH_MAX", default_value_t = 256)]
    pub batch_max: usize,

    /// How long the writer waits for more writes before committing a batch
    /// that is not full; 0 commits whatever is queued at once.
    #[arg(long, env = "SRELAB_BATCH_WAIT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub batch_wait: Duration,

    /// Number of read-only database connections, each on its own thread (SQLite).
    #[arg(long, env = "SRELAB_READERS", default_value_t = 4)]
    pub readers: usize,

    /// Most connections to PostgreSQL this instance opens (the pool's size).
    #[arg(long, env = "SRELAB_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: usize,

    /// PostgreSQL: the longest a statement may run (`statement_timeout`), and
    /// the longest a request waits for a pooled connection, before it fails with 503.
    #[arg(long, env = "SRELAB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub statement_timeout: Duration,

    /// PostgreSQL: how long to wait at start for the database to answer;
    /// 0 fails at once (exit 1) when it is unreachable.
    #[arg(long, env = "SRELAB_DB_WAIT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub db_wait: Duration,

    /// On SIGTERM/SIGINT, how long to keep serving with `/readyz` answering
    /// 503 before the instance stops accepting, so a load balancer's health
    /// checks take it out first (HAProxy's, as `srelab lab --lb` configures
    /// them, need at most 5.5s). Applies only when `/readyz` was requested
    /// within that time; otherwise the instance stops at once.
    #[arg(long, env = "SRELAB_DRAIN_DELAY", default_value = DRAIN_DELAY, value_parser = humantime::parse_duration)]
    pub drain_delay: Duration,

    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "SRELAB_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Connections that do not send complete request headers within this
    /// time are closed (protection against slow clients).
    #[arg(long, env = "SRELAB_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a request body may take to arrive in full once its handler
    /// starts reading it; a slower one gets 408 and its connection is
    /// closed, so a trickling client cannot hold a connection for good.
    #[arg(long, env = "SRELAB_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,

    /// Most client connections open at once. Past it, a new connection is
    /// not accepted but waits in the listen backlog until one closes; idle
    /// connections close after --header-read-timeout, so it waits at most
    /// about that long. Unset: no cap but the open-file limit.
    #[arg(long, env = "SRELAB_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Do not export the srelab_host_* gauges (host CPU, memory, pressure).
    #[arg(long, env = "SRELAB_NO_HOST_METRICS")]
    pub no_host_metrics: bool,

    /// Benchmarking only: do not record per-request metrics, to measure their cost.
    #[arg(long, env = "SRELAB_NO_METRICS", hide = true)]
    pub no_metrics: bool,

    /// Serve /admin/faults on the listen address, to inject faults (errors
    /// or latency on a route, CPU burn, memory growth, a held database
    /// lock) for drills. Off by default: anyone who reaches the port can
    /// then degrade this instance.
    #[arg(long, env = "SRELAB_FAULTS")]
    pub faults: bool,

    /// Testing only: serve `GET /debug/panic`, a handler that panics.
    #[arg(long, env = "SRELAB_DEBUG_PANIC_ROUTE", hide = true)]
    pub debug_panic_route: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// SQLite `synchronous` setting for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    /// fsync the WAL at every commit: durable across power loss.
    Full,
    /// fsync at checkpoints only: durable across process crashes.
    Normal,
}

/// Configuration errors, reported as one line by `main`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag} must be at least {min}, got {value}")]
    TooSmall {
        flag: &'static str,
        min: u64,
        value: u64,
    },
    #[error("--{flag} must be at most {max}, got {value}")]
    TooLarge {
        flag: &'static str,
        max: u64,
        value: u64,
    },
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// The store's part of the configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub database: Database,
    /// Group commit, both backends.
    pub batch_max: usize,
    pub batch_wait: Duration,
    /// SQLite only.
    pub synchronous: Synchronous,
    pub busy_timeout: Duration,
    pub readers: usize,
    /// PostgreSQL only.
    pub pool_size: usize,
    pub statement_timeout: Duration,
    pub connect_wait: Duration,
}

/// The validated configuration of one service instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub access_log: access_log::Mode,
    pub access_log_sample: u32,
    /// `--instance`; `None`: named after the bound address.
    pub instance: Option<String>,
    pub drain_delay: Duration,
    pub shutdown_grace: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: Option<usize>,
    pub host_metrics: bool,
    pub request_metrics: bool,
    pub debug_panic_route: bool,
    pub faults: bool,
}

impl Config {
    /// Validates the command line.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        check_range("max-body-bytes", args.max_body_bytes, 1, 64 << 20)?;
        check_range("batch-max", args.batch_max, 1, 100_000)?;
        check_range("readers", args.readers, 1, 256)?;
        check_range("db-pool-size", args.db_pool_size, 2, 1000)?;
        if let Some(max) = args.max_connections {
            check_range("max-connections", max, 1, 1 << 20)?;
        }
        Ok(Config {
            listen: args.listen,
            store: StoreConfig {
                database: Database::parse(&args.db)?,
                batch_max: args.batch_max,
                batch_wait: args.batch_wait,
                synchronous: args.synchronous,
                busy_timeout: args.busy_timeout,
                readers: args.readers,
                pool_size: args.db_pool_size,
                statement_timeout: args.statement_timeout,
                connect_wait: args.db_wait,
            },
            max_body_bytes: args.max_body_bytes,
            log_format: args.log_format,
            access_log: args.access_log,
            access_log_sample: args.access_log_sample,
            instance: args.instance,
            drain_delay: args.drain_delay,
            shutdown_grace: args.shutdown_grace,
            header_read_timeout: args.header_read_timeout,
            body_read_timeout: args.body_read_timeout,
            max_connections: args.max_connections,
            host_metrics: !args.no_host_metrics,
            request_metrics: !args.no_metrics,
            debug_panic_route: args.debug_panic_route,
            faults: args.faults,
        })
    }

    /// What a request body may take.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.max_body_bytes,
            timeout: self.body_read_timeout,
        }
    }
}

fn check_range(flag: &'static str, value: usize, min: u64, max: u64) -> Result<(), ConfigError> {
    let value = value as u64;
    if value < min {
        return Err(ConfigError::TooSmall { flag, min, value });
    }
    if value > max {
        return Err(ConfigError::TooLarge { flag, max, value });
    }
    Ok(())
}
