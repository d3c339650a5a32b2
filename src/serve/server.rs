//! The accept loop: takes an already-bound listener, the shared state and a
//! shutdown future (tests bind `127.0.0.1:0` and hand the listener over).
//!
//! Each connection is served by hyper-util's auto builder (HTTP/1.1 with
//! keep-alive, or HTTP/2 cleartext by prior knowledge). On shutdown: drain
//! (`/readyz` at 503 while still serving, see [`super::drain`]), stop
//! accepting, let requests in flight finish within `--shutdown-grace`, then
//! commit the pending write batch.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::{StatusCode, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::app::App;

/// Serves `listener` until `shutdown` resolves, keeps serving with
/// `/readyz` at 503 for the drain delay (when readiness is being checked),
/// then lets requests in flight finish and returns.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let (stopping_tx, stopping) = watch::channel(false);
    let serve = |stream| {
        let conn = Conn {
            builder: Arc::clone(&builder),
            app: Arc::clone(&app),
            watcher: graceful.watcher(),
            stopping: stopping.clone(),
        };
        tokio::spawn(conn.serve(stream));
    };
    accept_until(&listener, shutdown, &serve).await;
    let drain = app.drain.begin(app.config.drain_delay);
    if !drain.is_zero() {
        tracing::info!(
            ?drain,
            "draining: /readyz answers 503, requests are still served"
        );
        accept_until(&listener, tokio::time::sleep(drain), &serve).await;
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: draining requests in flight"
    );
    let _ = stopping_tx.send(true);
    let grace = app.config.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "shutdown grace expired with requests still in flight"
        );
    }
    // Faults end first, so a held database lock lets pending writes commit.
    if let Some(faults) = &app.faults {
        faults.clear_all();
    }
    app.store.close().await;
    Ok(())
}

/// Accepts connections and hands each to `serve` until `until` resolves.
async fn accept_until(
    listener: &TcpListener,
    until: impl Future<Output = ()>,
    serve: &impl Fn(TcpStream),
) {
    let mut until = std::pin::pin!(until);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => serve(stream),
                Err(err) => {
                    // Out of file descriptors, usually: back off, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut until => return,
        }
    }
}

/// One accepted connection and what it needs.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Arc<App>,
    watcher: Watcher,
    stopping: watch::Receiver<bool>,
}

impl Conn {
    async fn serve(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        // hyper's header-read timeout starts once the protocol is known; a
        // client that connects and sends nothing is cut off here.
        let timeout = self.app.config.header_read_timeout;
        let mut first = [0u8; 1];
        tokio::select! {
            peeked = tokio::time::timeout(timeout, stream.peek(&mut first)) => {
                if !matches!(peeked, Ok(Ok(1..))) {
                    tracing::debug!("connection closed before its first request");
                    return;
                }
            }
            _ = self.stopping.wait_for(|stopping| *stopping) => return,
        }
        let app = Arc::clone(&self.app);
        let service = service_fn(move |req| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(app.handle(req).await) }
        });
        let conn = self.builder.serve_connection(TokioIo::new(stream), service);
        if let Err(err) = self.watcher.watch(conn).await {
            if let Some(status) = rejected_status(&*err)
                && self.app.config.request_metrics
            {
                self.app.metrics.http.rejected(status);
            }
            tracing::debug!(error = %err, "connection ended with an error");
        }
    }
}

/// The status hyper answered when it rejected a request itself, if that is
/// why the connection ended (the mapping of hyper's `Server::on_error`).
fn rejected_status(err: &(dyn std::error::Error + 'static)) -> Option<StatusCode> {
    let err = err.downcast_ref::<hyper::Error>()?;
    if !err.is_parse() || err.is_parse_status() || err.is_parse_version_h2() {
        return None;
    }
    Some(if !err.is_parse_too_large() {
        StatusCode::BAD_REQUEST
    } else if err.to_string().contains("URI") {
        // hyper tells a long URI from a large head only in its message.
        StatusCode::URI_TOO_LONG
    } else {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    })
}

/// Installs the SIGTERM and SIGINT handlers now (so a signal right after
/// start-up is not lost) and returns a future resolving on either.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
