//! The reader pool: a few threads, each owning one read-only connection and
//! its own queue.
//!
//! Reads go to the first reader with fewer than [`SPILL`] reads pending, so
//! under light load one thread stays busy and the others sleep, and more
//! threads join only as the load grows. Waking a sleeping thread costs
//! more than a point read, so spreading reads round-robin (or one queue
//! shared behind a mutex, which wakes two threads per read) is slower.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::db::Db;
use crate::serve::store::StoreError;

type Task = Box<dyn FnOnce(&mut Db) + Send>;

/// Pending reads at which the next reader is woken.
pub const SPILL: usize = 4;

enum Msg {
    Run(Task),
    Stop,
}

/// Handle to the reader threads.
pub struct Readers {
    queues: Vec<Queue>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// One reader's queue and how many reads it has pending (queued or running).
struct Queue {
    tx: Sender<Msg>,
    pending: Arc<AtomicUsize>,
}

impl Readers {
    /// Starts one thread per connection.
    pub fn start(dbs: Vec<Db>) -> Readers {
        let (queues, threads) = dbs
            .into_iter()
            .enumerate()
            .map(|(i, db)| {
                let (tx, rx) = mpsc::channel();
                let pending = Arc::new(AtomicUsize::new(0));
                let done = Arc::clone(&pending);
                let thread = std::thread::Builder::new()
                    .name(format!("srelab-db-reader-{i}"))
                    .spawn(move || serve(db, rx, &done))
                    .expect("spawning a thread only fails when the process is out of resources");
                (Queue { tx, pending }, thread)
            })
            .unzip();
        Readers {
            queues,
            threads: Mutex::new(threads),
        }
    }

    /// Runs `f` on a reader connection and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let task: Task = Box::new(move |db| {
            let _ = reply.send(f(db));
        });
        let queue = self.pick();
        queue.pending.fetch_add(1, Ordering::Relaxed);
        if queue.tx.send(Msg::Run(task)).is_err() {
            queue.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// The first reader below [`SPILL`] pending reads, else the least busy.
    fn pick(&self) -> &Queue {
        let pending = |q: &Queue| q.pending.load(Ordering::Relaxed);
        self.queues
            .iter()
            .find(|q| pending(q) < SPILL)
            .or_else(|| self.queues.iter().min_by_key(|q| pending(q)))
            .expect("the pool has at least one reader")
    }

    /// Asks every thread to stop; the returned function waits for them.
    pub fn stop(&self) -> impl FnOnce() + Send + use<> {
        for queue in &self.queues {
            let _ = queue.tx.send(Msg::Stop);
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        move || {
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

fn serve(mut db: Db, rx: Receiver<Msg>, pending: &AtomicUsize) {
    while let Ok(Msg::Run(task)) = rx.recv() {
        // A panicking query loses its answer (the caller sees `Closed`),
        // not the thread.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| task(&mut db)));
        pending.fetch_sub(1, Ordering::Relaxed);
    }
}
