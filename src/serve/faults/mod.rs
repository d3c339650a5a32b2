//! Faults the service can be told to have (`srelab serve --faults`), for
//! the lab's drill and for anyone learning what an alert sees.
//!
//! - [`kinds`]: what can be injected and its parameters, as the admin
//!   endpoint reads them (`{"kind":"error","route":"/api/items","ratio":0.5}`).
//! - [`admin`]: `GET|POST|DELETE /admin/faults` on the service's own port.
//! - [`burners`]: CPU burn and memory growth, each on threads of its own.
//! - [`db_lock`]: holding the database's write lock through the store.
//!
//! Request faults (an error ratio or added latency on a route) act in
//! [`Faults::before`], which the request path calls only when [`Faults::armed`]
//! says a request fault is set: one relaxed atomic load per request when
//! none is, nothing at all without `--faults`. Each kind is visible as
//! `srelab_fault_active{kind}` (registered always, so a dashboard panel
//! has data with faults off too).

pub mod admin;
pub mod burners;
pub mod db_lock;
pub mod kinds;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

use super::errors::ApiError;
use super::routes::Route;
use super::store::Store;
pub use kinds::{Fault, Kind};

/// `srelab_fault_active{kind}`: 1 while a fault of that kind is set.
#[derive(Clone)]
pub struct FaultMetrics {
    active: [IntGauge; Kind::ALL.len()],
}

impl FaultMetrics {
    /// Creates and registers the gauges, every kind at 0.
    pub fn new(registry: &Registry) -> prometheus::Result<FaultMetrics> {
        let vec = IntGaugeVec::new(
            Opts::new(
                "srelab_fault_active",
                "1 while a fault of this kind is injected through /admin/faults (srelab serve --faults).",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(vec.clone()))?;
        Ok(FaultMetrics {
            active: Kind::ALL.map(|k| vec.with_label_values(&[k.name()])),
        })
    }

    fn set(&self, kind: Kind, on: bool) {
        self.active[kind as usize].set(i64::from(on));
    }
}

/// The request faults of one route: all atomics, read without a lock.
#[derive(Default)]
struct RouteFaults {
    /// Share of requests answered 500, in millionths.
    error_ppm: AtomicU32,
    /// Added before the handler, in milliseconds.
    delay_ms: AtomicU32,
    /// Requests seen while an error ratio is set (spreads errors evenly).
    seen: AtomicU64,
}

impl RouteFaults {
    /// Whether the next request fails: exactly `ppm` in a million, evenly
    /// spread (the error count steps up when n·ratio crosses an integer).
    fn next_fails(&self, ppm: u32) -> bool {
        let n = self.seen.fetch_add(1, Relaxed);
        let ppm = u64::from(ppm);
        (n + 1) * ppm / 1_000_000 > n * ppm / 1_000_000
    }
}

/// A fault that is set, and the handle of its threads (process faults).
type SetFault = (Fault, Option<burners::Running>);

/// The faults of one service instance.
pub struct Faults {
    /// True while any request fault is set: the request path's only check.
    armed: AtomicBool,
    routes: [RouteFaults; Route::ALL.len()],
    /// What is set, as it was asked for (one per kind), with the threads
    /// of the process faults.
    set: Mutex<Vec<SetFault>>,
    metrics: FaultMetrics,
}

impl Faults {
    pub fn new(metrics: FaultMetrics) -> Faults {
        Faults {
            armed: AtomicBool::new(false),
            routes: Default::default(),
            set: Mutex::new(Vec::new()),
            metrics,
        }
    }

    /// Whether a request fault is set (one relaxed load).
    #[inline]
    pub fn armed(&self) -> bool {
        self.armed.load(Relaxed)
    }

    /// Applies the request faults of `route`: waits the added latency,
    /// then fails the request when its share of errors says so.
    pub async fn before(&self, route: Route) -> Result<(), ApiError> {
        let r = &self.routes[route.index()];
        let delay = r.delay_ms.load(Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay.into())).await;
        }
        let ppm = r.error_ppm.load(Relaxed);
        if ppm > 0 && r.next_fails(ppm) {
            return Err(ApiError::InjectedFault);
        }
        Ok(())
    }

    /// The faults set now, in the order they were set.
    pub fn list(&self) -> Vec<Fault> {
        self.lock().iter().map(|(f, _)| f.clone()).collect()
    }

    /// Sets `fault`, replacing one of the same kind; process faults start
    /// their threads (the database lock through `store`).
    pub async fn set(&self, fault: Fault, store: &Store) -> Result<(), ApiError> {
        let kind = fault.kind();
        self.clear(kind);
        let running = match &fault {
            Fault::Error { .. } | Fault::Latency { .. } => {
                self.set_routes(&fault);
                None
            }
            Fault::Cpu { threads, nice } => Some(burners::burn_cpu(*threads, *nice)),
            Fault::Memory {
                mib_per_second,
                max_mib,
            } => Some(burners::grow_memory(*mib_per_second, *max_mib)),
            Fault::DbLock { duty, period_ms } => {
                Some(db_lock::hold(store, *duty, Duration::from_millis(*period_ms)).await?)
            }
        };
        self.lock().push((fault, running));
        self.metrics.set(kind, true);
        Ok(())
    }

    /// Clears the fault of `kind`, if set; process faults' threads stop.
    pub fn clear(&self, kind: Kind) {
        let removed: Vec<_> = {
            let mut set = self.lock();
            let (gone, kept) = set.drain(..).partition(|(f, _)| f.kind() == kind);
            *set = kept;
            gone
        };
        if kind.on_requests() {
            for r in &self.routes {
                match kind {
                    Kind::Error => r.error_ppm.store(0, Relaxed),
                    _ => r.delay_ms.store(0, Relaxed),
                }
            }
            self.rearm();
        }
        // Dropping a running process fault stops its threads.
        drop(removed);
        self.metrics.set(kind, false);
    }

    /// Clears every fault (also at shutdown, so pending writes can commit).
    pub fn clear_all(&self) {
        for kind in Kind::ALL {
            self.clear(kind);
        }
    }

    fn set_routes(&self, fault: &Fault) {
        let route = match fault {
            Fault::Error { route, .. } | Fault::Latency { route, .. } => route,
            _ => return,
        };
        for r in Route::ALL.iter().filter(|r| kinds::targets(route, **r)) {
            let slot = &self.routes[r.index()];
            match fault {
                Fault::Error { ratio, .. } => {
                    slot.error_ppm.store((ratio * 1e6).round() as u32, Relaxed)
                }
                Fault::Latency { ms, .. } => slot.delay_ms.store(*ms, Relaxed),
                _ => {}
            }
        }
        self.rearm();
    }

    /// Arms the request path while any route has a request fault.
    fn rearm(&self) {
        let any = self
            .routes
            .iter()
            .any(|r| r.error_ppm.load(Relaxed) > 0 || r.delay_ms.load(Relaxed) > 0);
        self.armed.store(any, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SetFault>> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_ratio_fails_exactly_that_share_evenly() {
        let r = RouteFaults::default();
        let fails: Vec<bool> = (0..10).map(|_| r.next_fails(250_000)).collect();
        assert_eq!(fails.iter().filter(|f| **f).count(), 2, "{fails:?}");
        let r = RouteFaults::default();
        let n = (0..1_000_000).filter(|_| r.next_fails(1_000)).count();
        assert_eq!(n, 1_000);
        let r = RouteFaults::default();
        assert!((0..100).all(|_| r.next_fails(1_000_000)));
    }
}
