//! The writer thread: one per process, owning the only write connection.
//!
//! Group commit: it takes every queued write (up to `--batch-max`, waiting
//! up to `--batch-wait` for more), commits them in one transaction, then
//! answers each request. With `synchronous=FULL` one fsync covers the whole
//! batch, and a 201 is only sent after its batch is durable.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::sqlite::Db;
use super::{Item, NewItem, StoreError};
use crate::serve::config::StoreConfig;
use crate::serve::metrics::DbMetrics;

/// A request to the writer thread.
pub enum Job {
    /// Store an item; answered after commit.
    Insert {
        item: NewItem,
        reply: oneshot::Sender<Result<Item, StoreError>>,
    },
    /// Take the write lock and release it (readiness).
    Ping {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Commit what is queued before this job, then exit.
    Stop,
}

/// Handle to the writer thread.
pub struct Writer {
    tx: Sender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    metrics: DbMetrics,
}

impl Writer {
    /// Starts the writer thread on `db`.
    pub fn start(db: Db, config: &StoreConfig, metrics: DbMetrics) -> Writer {
        let (tx, rx) = mpsc::channel();
        let batch = Batcher {
            db,
            rx,
            max: config.batch_max,
            wait: config.batch_wait,
            metrics: metrics.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("srelab-db-writer".into())
            .spawn(move || batch.run())
            .expect("spawning a thread only fails when the process is out of resources");
        Writer {
            tx,
            thread: Mutex::new(Some(thread)),
            metrics,
        }
    }

    /// Queues a job.
    pub fn send(&self, job: Job) -> Result<(), StoreError> {
        self.metrics.queue_depth.inc();
        self.tx.send(job).map_err(|_| {
            self.metrics.queue_depth.dec();
            StoreError::Closed
        })
    }

    /// Asks the thread to stop; the returned function waits for it.
    pub fn stop(&self) -> impl FnOnce() + Send + use<> {
        let _ = self.send(Job::Stop);
        let thread = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        move || {
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}

struct Batcher {
    db: Db,
    rx: Receiver<Job>,
    max: usize,
    wait: Duration,
    metrics: DbMetrics,
}

impl Batcher {
    fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Ok(first) = self.rx.recv() else { break };
            let mut batch = Vec::new();
            stopping = self.collect(first, &mut batch);
            if !batch.is_empty() {
                self.commit(batch);
            }
        }
        tracing::debug!("database writer stopped");
    }

    /// Fills `batch` from the queue; returns true when a stop was received
    /// or every sender is gone.
    fn collect(&mut self, first: Job, batch: &mut Vec<Job>) -> bool {
        let deadline = Instant::now() + self.wait;
        let mut next = Some(first);
        loop {
            if let Some(job) = next.take() {
                self.metrics.queue_depth.dec();
                match job {
                    Job::Stop => return true,
                    job => batch.push(job),
                }
            }
            if batch.len() >= self.max {
                return false;
            }
            match self.rx.try_recv() {
                Ok(job) => next = Some(job),
                Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    match self.rx.recv_timeout(deadline - now) {
                        Ok(job) => next = Some(job),
                        Err(RecvTimeoutError::Timeout) => return false,
                        Err(RecvTimeoutError::Disconnected) => return true,
                    }
                }
            }
        }
    }

    /// Commits the batch's inserts in one transaction and answers each job.
    fn commit(&mut self, batch: Vec<Job>) {
        let items: Vec<&NewItem> = batch
            .iter()
            .filter_map(|job| match job {
                Job::Insert { item, .. } => Some(item),
                _ => None,
            })
            .collect();
        let result = if items.is_empty() {
            self.db.ping_write().map(|()| Vec::new())
        } else {
            self.metrics.batch_size.observe(items.len() as f64);
            self.db.insert_batch(&items)
        };
        let mut stored = match result {
            Ok(stored) => Ok(stored.into_iter()),
            Err(err) => Err(err),
        };
        for job in batch {
            match job {
                Job::Insert { reply, .. } => {
                    let answer = match &mut stored {
                        Ok(items) => items.next().ok_or(StoreError::Closed),
                        Err(err) => Err(err.clone()),
                    };
                    let _ = reply.send(answer);
                }
                Job::Ping { reply } => {
                    let _ = reply.send(stored.as_ref().map(|_| ()).map_err(Clone::clone));
                }
                Job::Stop => {}
            }
        }
    }
}
