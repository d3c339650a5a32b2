//! The reader pool: a few threads, each owning one read-only connection,
//! taking jobs from one shared queue.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
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
    tx: Sender<Msg>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Readers {
    /// Starts one thread per connection.
    pub fn start(dbs: Vec<Db>) -> Readers {
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        let threads = dbs
            .into_iter()
            .enumerate()
            .map(|(i, db)| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("srelab-db-reader-{i}"))
                    .spawn(move || serve(db, &rx))
                    .expect("spawning a thread only fails when the process is out of resources")
            })
            .collect();
        Readers {
            tx,
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
        self.tx
            .send(Msg::Run(task))
            .map_err(|_| StoreError::Closed)?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Asks every thread to stop; the returned function waits for them.
    pub fn stop(&self) -> impl FnOnce() + Send + use<> {
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for _ in &threads {
            let _ = self.tx.send(Msg::Stop);
        }
        move || {
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

fn serve(mut db: Db, rx: &Mutex<Receiver<Msg>>) {
    loop {
        let msg = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match msg {
            Ok(Msg::Run(task)) => {
                // A panicking query loses its answer (the caller sees
                // `Closed`), not the thread.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| task(&mut db)));
            }
            Ok(Msg::Stop) | Err(_) => return,
        }
    }
}
