//! The database-lock fault: a connection of its own, opened through the
//! store's interface ([`Store::lock_holder`]), takes the database's write
//! lock and holds it for `duty` of every period. Writers of every instance
//! sharing the database wait for it (SQLite: busy retries, then 503 past
//! the busy timeout), as they would behind a long migration or a stuck
//! batch job.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::burners::{self, Running};
use crate::serve::errors::ApiError;
use crate::serve::store::Store;

/// Starts holding the write lock; fails (503) when no connection opens.
pub fn hold(store: &Store, duty: f64, period: Duration) -> Result<Running, ApiError> {
    let mut holder = store.lock_holder()?;
    let (running, stop) = Running::new();
    burners::spawn("srelab-fault-db-lock", move || {
        let held_for = period.mul_f64(duty);
        while !stop.load(Relaxed) {
            let cycle = Instant::now();
            match holder.hold(cycle + period) {
                Ok(held) => {
                    if duty >= 1.0 {
                        wait_until(None, &stop);
                    } else {
                        wait_until(Some(cycle + held_for), &stop);
                    }
                    drop(held);
                }
                Err(err) => tracing::debug!(%err, "the database-lock fault did not get the lock"),
            }
            wait_until(Some(cycle + period), &stop);
        }
    });
    Ok(running)
}

/// Sleeps until `deadline` (or forever) or until `stop` is set.
fn wait_until(deadline: Option<Instant>, stop: &AtomicBool) {
    while !stop.load(Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(5));
    }
}
