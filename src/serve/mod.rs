//! `srelab serve`: the instrumented HTTP API.
//!
//! # Layout
//!
//! - [`config`]: the command line (`Args`) and the validated [`config::Config`].
//! - [`server`]: the accept loop over an already-bound listener, HTTP/1.1 and
//!   h2c, graceful shutdown; [`accept`]: the open-file limit, accept
//!   failures with backoff, the `--max-connections` cap; [`drain`]: not
//!   ready first, for load balancers.
//! - [`app`]: the shared state and the per-request wrapper (routing, RED
//!   metrics, panic containment); [`request_id`]: `X-Request-Id` kept or
//!   made; [`access_log`]: the line per request that `--access-log` selects.
//! - [`routes`]: method + path to a route template.
//! - [`items`], [`work`], [`probes`]: the handlers.
//! - [`http`]: request reading and response building; [`errors`]: the one
//!   mapping from errors to status codes and JSON.
//! - [`metrics`], [`host`], [`process`]: the Prometheus registry, host USE
//!   gauges, the `process_*` metrics.
//! - [`store`]: the item store, SQLite or PostgreSQL behind one interface.
//! - [`faults`]: faults to inject through `/admin/faults` (`--faults`).

pub mod accept;
pub mod access_log;
pub mod app;
pub mod config;
pub mod drain;
pub mod errors;
pub mod faults;
pub mod host;
pub mod http;
pub mod items;
pub mod logging;
pub mod metrics;
pub mod panic;
pub mod probes;
pub mod process;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod store;
pub mod work;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

pub use config::Args;

/// Runs `srelab serve` until SIGTERM or SIGINT.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = config::Config::from_args(args)?;
    logging::init(config.log_format);
    logging::log_panics();
    let std_listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    config.instance.get_or_insert_with(|| instance_name(addr));
    if config.faults && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "--faults: /admin/faults is reachable by anyone who reaches {addr}");
    }
    let metrics = metrics::Metrics::new(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("srelab-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = store::Store::open(&config.store, &metrics)
            .await
            .with_context(|| format!("cannot open database {}", config.store.database))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        // The effective settings, whether from flags, SRELAB_* or defaults.
        tracing::info!(?config, "configuration");
        accept::raise_fd_limit();
        let app = Arc::new(app::App::new(config, metrics, store));
        if let Some(host) = app.metrics.host.clone() {
            tokio::spawn(host::start(host));
        }
        let shutdown = server::shutdown_signal().context("cannot install signal handlers")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
        drop(stdout);
        tracing::info!(%addr, instance = app.access_log.instance, access_log = ?app.config.access_log, "listening");
        server::run(listener, app, shutdown).await?;
        anyhow::Ok(())
    })?;
    // Blocking tasks (`/api/work`) cut off by the grace are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The default `--instance`: the bound address, with the host name in
/// place of an unspecified IP (0.0.0.0 or ::), as another host scrapes it.
fn instance_name(addr: std::net::SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return addr.to_string();
    }
    match nix::unistd::gethostname() {
        Ok(host) => format!("{}:{}", host.to_string_lossy(), addr.port()),
        Err(_) => addr.to_string(),
    }
}
