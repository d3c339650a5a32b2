//! Accepting connections when something runs short: the open-file limit
//! raised at start, accept failures backed off and logged at a bounded
//! rate, and the optional `--max-connections` cap.
//!
//! - File descriptors: at start the soft `RLIMIT_NOFILE` is raised to the
//!   hard limit (as Go's runtime does). When `accept` still fails (EMFILE,
//!   ENFILE, …) the open connections go on being served, the loop backs off
//!   (5 ms doubling to 1 s), each failure counts in
//!   `srelab_accept_errors_total{reason}`, and at most one warning per
//!   [`LOG_INTERVAL`] says how many failed since the last one. The first
//!   accept that succeeds again resets the backoff and logs (at `info`, at
//!   most once per interval) how many failed in the run.
//! - `--max-connections N`: past the cap a new connection is not accepted;
//!   it waits in the kernel's listen backlog until an open one closes (as
//!   Go's `netutil.LimitListener`); each time accepting pauses at the cap
//!   counts in `srelab_connection_limit_waits_total`. Connections that send nothing,
//!   and HTTP/1.1 connections idle between requests, are closed after
//!   `--header-read-timeout`, so a flood of idle connections delays a new
//!   one by at most about that long.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use prometheus::IntGauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::ConnMetrics;

/// Shortest time between two log lines about failing accepts.
pub const LOG_INTERVAL: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Raises the soft open-file limit to the hard limit and logs both.
pub fn raise_fd_limit() {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit");
            return;
        }
    };
    if soft >= hard {
        tracing::info!(limit = soft, "open-file limit (soft = hard)");
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => tracing::info!(
            from = soft,
            to = hard,
            "open-file limit raised to the hard limit"
        ),
        Err(err) => {
            tracing::warn!(limit = soft, hard, error = %err, "cannot raise the open-file limit")
        }
    }
}

/// The listener with the cap and the failure bookkeeping.
pub struct Acceptor {
    listener: TcpListener,
    cap: Option<Arc<Semaphore>>,
    metrics: ConnMetrics,
    failures: Failures,
}

/// An accepted connection, counted in `srelab_connections_open` (and
/// holding its place under the cap) until dropped.
pub struct Accepted {
    pub stream: TcpStream,
    pub slot: Slot,
}

/// A connection's place: released when the connection's task ends.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    open: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Acceptor {
    /// Wraps `listener`; `max_connections` is the cap, if any.
    pub fn new(
        listener: TcpListener,
        max_connections: Option<usize>,
        metrics: ConnMetrics,
    ) -> Self {
        metrics.max.set(max_connections.map_or(0, |n| n as i64));
        Acceptor {
            listener,
            cap: max_connections.map(|n| Arc::new(Semaphore::new(n))),
            metrics,
            failures: Failures::default(),
        }
    }

    /// The next connection, once there is room for it under the cap.
    /// Cancel-safe: a connection is only taken from the backlog when returned.
    pub async fn next(&mut self) -> Accepted {
        let permit = match &self.cap {
            None => None,
            Some(cap) => match Arc::clone(cap).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.metrics.limit_waits.inc();
                    tracing::debug!("connection cap reached: waiting for a connection to close");
                    // The semaphore is never closed.
                    Arc::clone(cap).acquire_owned().await.ok()
                }
            },
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    self.failures.recovered();
                    self.metrics.open.inc();
                    return Accepted {
                        stream,
                        slot: Slot {
                            _permit: permit,
                            open: self.metrics.open.clone(),
                        },
                    };
                }
                Err(err) => {
                    let reason = reason(&err);
                    self.metrics
                        .accept_errors
                        .with_label_values(&[reason])
                        .inc();
                    let pause = self.failures.failed(&err);
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// The `reason` label of a failed accept.
fn reason(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => "fd_limit",
        Some(libc::ENOBUFS | libc::ENOMEM) => "memory",
        _ => "other",
    }
}

/// A run of failed accepts: the backoff and the rate-limited log.
#[derive(Default)]
struct Failures {
    /// Failures since the last accept that succeeded.
    run: u64,
    /// Failures not yet reported in a log line.
    unlogged: u64,
    backoff: Option<Duration>,
    last_warning: Option<Instant>,
    last_recovery: Option<Instant>,
}

impl Failures {
    /// Records a failure; returns how long to pause before the next attempt.
    fn failed(&mut self, err: &io::Error) -> Duration {
        self.run += 1;
        self.unlogged += 1;
        if due(&mut self.last_warning) {
            tracing::warn!(
                error = %err,
                failures = self.unlogged,
                "accept failed; serving the open connections and retrying with backoff"
            );
            self.unlogged = 0;
        }
        let pause = self.backoff.unwrap_or(MIN_BACKOFF);
        self.backoff = Some((pause * 2).min(MAX_BACKOFF));
        pause
    }

    /// Records a successful accept.
    fn recovered(&mut self) {
        if self.run == 0 {
            return;
        }
        if due(&mut self.last_recovery) {
            tracing::info!(failures = self.run, "accepting connections again");
        }
        self.run = 0;
        self.backoff = None;
    }
}

/// True (and the time noted) when the last log line is older than [`LOG_INTERVAL`].
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < LOG_INTERVAL) {
        return false;
    }
    *last = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_a_ceiling_and_resets_after_a_success() {
        let mut failures = Failures::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<_> = (0..10).map(|_| failures.failed(&emfile)).collect();
        assert_eq!(pauses[0], MIN_BACKOFF);
        assert_eq!(pauses[1], MIN_BACKOFF * 2);
        assert_eq!(*pauses.last().unwrap(), MAX_BACKOFF);
        // One warning went out; the other nine wait for the next one.
        assert_eq!(failures.unlogged, 9);
        failures.recovered();
        assert_eq!(failures.failed(&emfile), MIN_BACKOFF);
        assert_eq!(reason(&emfile), "fd_limit");
        assert_eq!(
            reason(&io::Error::from_raw_os_error(libc::ECONNABORTED)),
            "other"
        );
    }
}
