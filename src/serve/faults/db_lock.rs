//! The database-lock fault: a connection of its own, lent by the store
//! ([`Store::lock_holder`]), takes the database's write lock and holds it
//! for `duty` of every period. Writers of every instance sharing the
//! database wait behind it (SQLite: busy retries, then 503 past the busy
//! timeout; PostgreSQL: lock waits, then 503 past the statement timeout),
//! as they would behind a long migration or a stuck batch job; reads go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::burners::{self, Running};
use crate::serve::errors::ApiError;
use crate::serve::store::{LockHolder, Store, postgres, sqlite};

/// Starts holding the write lock; fails (503) when no connection opens.
pub async fn hold(store: &Store, duty: f64, period: Duration) -> Result<Running, ApiError> {
    let (running, stop) = Running::new();
    let held_for = period.mul_f64(duty);
    // Held to the end of the period when the duty is whole.
    let held_for = (duty < 1.0).then_some(held_for);
    match store.lock_holder().await? {
        LockHolder::Sqlite(holder) => {
            burners::spawn("srelab-fault-db-lock", move || {
                sqlite_loop(holder, held_for, period, &stop)
            });
        }
        LockHolder::Postgres(holder) => {
            tokio::spawn(postgres_loop(holder, held_for, period, stop));
        }
    }
    Ok(running)
}

fn sqlite_loop(
    mut holder: sqlite::LockHolder,
    held_for: Option<Duration>,
    period: Duration,
    stop: &AtomicBool,
) {
    while !stop.load(Relaxed) {
        let cycle = Instant::now();
        match holder.hold(cycle + period) {
            Ok(held) => {
                wait_until(held_for.map(|h| cycle + h), stop);
                drop(held);
            }
            Err(err) => tracing::debug!(%err, "the database-lock fault did not get the lock"),
        }
        wait_until(Some(cycle + period), stop);
    }
}

async fn postgres_loop(
    mut holder: postgres::LockHolder,
    held_for: Option<Duration>,
    period: Duration,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Relaxed) {
        let cycle = Instant::now();
        match holder.lock().await {
            Ok(()) => {
                while !stop.load(Relaxed) && held_for.is_none_or(|h| cycle.elapsed() < h) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if let Err(err) = holder.unlock().await {
                    tracing::debug!(%err, "the database-lock fault could not let the lock go");
                    return;
                }
            }
            Err(err) => tracing::debug!(%err, "the database-lock fault did not get the lock"),
        }
        while !stop.load(Relaxed) && cycle.elapsed() < period {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Sleeps until `deadline` (or forever) or until `stop` is set.
fn wait_until(deadline: Option<Instant>, stop: &AtomicBool) {
    while !stop.load(Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(5));
    }
}
