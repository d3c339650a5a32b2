//! The reader pool: a few threads, each owning one read-only connection and
//! its own queue; reads are dealt out round-robin. (One queue shared behind
//! a mutex would wake two threads per read: the receiver, then the next
//! waiter for the mutex.)

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;
use super::sqlite::Db;

type Task = Box<dyn FnOnce(&mut Db) + Send>;

enum Msg {
    Run(Task),
    Stop,
}

/// Handle to the reader threads.
pub struct Readers {
    queues: Vec<Sender<Msg>>,
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Readers {
    /// Starts one thread per connection.
    pub fn start(dbs: Vec<Db>) -> Readers {
        let (queues, threads) = dbs
            .into_iter()
            .enumerate()
            .map(|(i, db)| {
                let (tx, rx) = mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name(format!("srelab-db-reader-{i}"))
                    .spawn(move || serve(db, rx))
                    .expect("spawning a thread only fails when the process is out of resources");
                (tx, thread)
            })
            .unzip();
        Readers {
            queues,
            next: AtomicUsize::new(0),
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
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[i]
            .send(Msg::Run(task))
            .map_err(|_| StoreError::Closed)?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Asks every thread to stop; the returned function waits for them.
    pub fn stop(&self) -> impl FnOnce() + Send + use<> {
        for queue in &self.queues {
            let _ = queue.send(Msg::Stop);
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

fn serve(mut db: Db, rx: Receiver<Msg>) {
    while let Ok(Msg::Run(task)) = rx.recv() {
        // A panicking query loses its answer (the caller sees `Closed`),
        // not the thread.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| task(&mut db)));
    }
}
