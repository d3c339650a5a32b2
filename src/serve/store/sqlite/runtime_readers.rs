//! Point reads on the async runtime's own threads: one read-only
//! connection per runtime worker, so a GET by id needs no hand-off to the
//! reader pool and back (two cross-thread wake-ups, the larger part of its
//! cost under load).
//!
//! Running SQLite on a runtime thread is acceptable for this read because
//! it does not wait for locks: a primary-key lookup touches a handful of
//! pages (from SQLite's or the kernel's cache: microseconds), readers do
//! not wait for the writer under WAL, and these connections have no busy
//! handler. A WAL reader is refused only while another connection recovers
//! the WAL index after a crash; then, or when another thread holds the
//! slot, the read goes to the pool, which waits as long as the busy timeout
//! allows. Lists (up to 100 rows) stay on the pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::db::Db;
use crate::serve::store::{Item, StoreError};

/// One connection per slot; a thread always uses the same slot.
pub struct RuntimeReaders {
    slots: Box<[Mutex<Db>]>,
}

impl RuntimeReaders {
    /// Takes the connections, opened with [`Role::RuntimeReader`](super::db::Role).
    pub fn new(dbs: Vec<Db>) -> RuntimeReaders {
        RuntimeReaders {
            slots: dbs.into_iter().map(Mutex::new).collect(),
        }
    }

    /// The item with this id, if it can be read without waiting.
    pub fn try_get(&self, id: i64) -> Option<Result<Option<Item>, StoreError>> {
        let slot = self.slots.get(thread_index() % self.slots.len().max(1))?;
        slot.try_lock().ok()?.try_get(id)
    }
}

/// A small number, fixed per thread and distinct for the first threads to ask.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed));
    INDEX.with(|i| *i)
}
