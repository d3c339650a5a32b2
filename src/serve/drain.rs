//! Draining before a stop, so an instance behind a load balancer leaves
//! without failing a request: on SIGTERM it first reports not ready
//! (`/readyz` answers 503) and keeps serving for `--drain-delay`, long
//! enough for the balancer's health checks to take it out; only then does
//! it stop accepting and finish what is in flight.
//!
//! The delay applies only when something checks readiness: when no
//! `/readyz` request arrived within the last delay (an instance nobody
//! balances, a test), SIGTERM stops at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the instance is draining, and when readiness was last checked.
#[derive(Debug)]
pub struct Drain {
    started: Instant,
    /// Milliseconds from `started` to the latest `/readyz`, plus one; 0 when none came.
    last_probe: AtomicU64,
    draining: AtomicBool,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain {
            started: Instant::now(),
            last_probe: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        }
    }
}

impl Drain {
    /// Records a readiness check (a load balancer's, usually).
    pub fn probed(&self) {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        self.last_probe.store(now, Ordering::Relaxed);
    }

    /// Whether `/readyz` must answer 503 because the instance is stopping.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining; returns how long to keep serving: `delay` when
    /// readiness was checked within the last `delay`, else nothing.
    pub fn begin(&self, delay: Duration) -> Duration {
        self.draining.store(true, Ordering::Relaxed);
        let last = self.last_probe.load(Ordering::Relaxed);
        if last == 0 {
            return Duration::ZERO;
        }
        let since = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(last - 1));
        if since <= delay {
            delay
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_probe_no_delay() {
        let drain = Drain::default();
        assert!(!drain.draining());
        assert_eq!(drain.begin(Duration::from_secs(6)), Duration::ZERO);
        assert!(drain.draining());
    }

    #[test]
    fn a_recent_probe_means_the_whole_delay() {
        let drain = Drain::default();
        drain.probed();
        assert_eq!(drain.begin(Duration::from_secs(6)), Duration::from_secs(6));
    }

    #[test]
    fn a_probe_older_than_the_delay_does_not_count() {
        let drain = Drain::default();
        drain.probed();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(drain.begin(Duration::from_millis(10)), Duration::ZERO);
    }
}
