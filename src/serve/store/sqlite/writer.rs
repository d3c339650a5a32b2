//! The writer thread: one per process, owning the only write connection.
//!
//! Group commit: it waits for a first write (and up to `--batch-wait` for
//! more), takes the write lock, then takes everything queued meanwhile (up
//! to `--batch-max` in all), commits it in one transaction, and answers
//! each request. With `synchronous=FULL` one fsync covers the whole batch,
//! and a 201 is only sent after its batch is durable. Taking the queue
//! after the lock matters with several instances: the writes that piled up
//! while another process held the lock all go into the next commit.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::db::{Db, WriteTx};
use super::turnstile::Turnstile;
use crate::serve::config::StoreConfig;
use crate::serve::metrics::DbMetrics;
use crate::serve::store::{Item, NewItem, StoreError};

/// A request to the writer thread.
pub enum Job {
    /// Store an item; answered after commit.
    Insert {
        item: NewItem,
        reply: oneshot::Sender<Result<Item, StoreError>>,
    },
    /// Take the write lock and release it (readiness); while the last
    /// commit failed for a full disk, also commit a one-page write.
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
    pub fn start(db: Db, turnstile: Turnstile, config: &StoreConfig, metrics: DbMetrics) -> Writer {
        let (tx, rx) = mpsc::channel();
        let batch = Batcher {
            db,
            turnstile,
            queue: Queue {
                rx,
                max: config.batch_max,
                wait: config.batch_wait,
                metrics: metrics.clone(),
            },
            full: false,
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

    /// Queues the job `make` builds around a reply channel, and waits for
    /// the answer.
    pub async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply))?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
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
    turnstile: Turnstile,
    queue: Queue,
    /// The last commit failed because the disk is full.
    full: bool,
}

impl Batcher {
    fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Ok(first) = self.queue.rx.recv() else {
                break;
            };
            let mut batch = Vec::new();
            stopping = self.queue.take(first, &mut batch);
            if !stopping && !self.queue.wait.is_zero() {
                stopping = self
                    .queue
                    .collect(&mut batch, Some(Instant::now() + self.queue.wait));
            }
            if batch.is_empty() {
                continue;
            }
            // Writes that arrive while this process waits for the lock
            // (another instance is committing) join the batch.
            let deadline = self.db.deadline();
            let turn = match self.turnstile.enter(deadline) {
                Ok(turn) => Some(turn),
                Err(err) => {
                    tracing::debug!(error = %err, "writing without the turnstile");
                    None
                }
            };
            let began = self.db.begin_write(deadline);
            stopping |= self.queue.collect(&mut batch, None);
            let probe = self.full;
            let result = began.and_then(|tx| write_all(tx, &batch, probe, &self.queue.metrics));
            drop(turn);
            match &result {
                Ok(_) => self.full = false,
                Err(StoreError::Full) => self.full = true,
                Err(_) => {}
            }
            answer(batch, result);
        }
        tracing::debug!("database writer stopped");
    }
}

/// The receiving end of the writer's queue and the batch limits.
struct Queue {
    rx: Receiver<Job>,
    max: usize,
    wait: Duration,
    metrics: DbMetrics,
}

impl Queue {
    /// Adds `job` to `batch`; returns true for a stop request.
    fn take(&self, job: Job, batch: &mut Vec<Job>) -> bool {
        self.metrics.queue_depth.dec();
        match job {
            Job::Stop => true,
            job => {
                batch.push(job);
                false
            }
        }
    }

    /// Moves queued jobs into `batch` until it is full, the queue is empty
    /// and `deadline` (if any) has passed; returns true when a stop was
    /// received or every sender is gone.
    fn collect(&self, batch: &mut Vec<Job>, deadline: Option<Instant>) -> bool {
        while batch.len() < self.max {
            let job = match self.rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => {
                    let Some(left) =
                        deadline.and_then(|d| d.checked_duration_since(Instant::now()))
                    else {
                        return false;
                    };
                    match self.rx.recv_timeout(left) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => return false,
                        Err(RecvTimeoutError::Disconnected) => return true,
                    }
                }
            };
            if self.take(job, batch) {
                return true;
            }
        }
        false
    }
}

/// Inserts the batch's items in `tx` and commits; with `probe`, a batch of
/// readiness checks alone writes a page too, to learn whether a commit fits
/// on the disk again. On any error the transaction rolls back whole.
fn write_all(
    tx: WriteTx<'_>,
    batch: &[Job],
    probe: bool,
    metrics: &DbMetrics,
) -> Result<Vec<Item>, StoreError> {
    let mut stored = Vec::with_capacity(batch.len());
    for job in batch {
        if let Job::Insert { item, .. } = job {
            stored.push(tx.insert(item)?);
        }
    }
    if probe && stored.is_empty() {
        tx.touch()?;
    }
    tx.commit()?;
    if !stored.is_empty() {
        metrics.batch_size.observe(stored.len() as f64);
    }
    Ok(stored)
}

/// Answers every job of a committed (or failed) batch, in order.
fn answer(batch: Vec<Job>, result: Result<Vec<Item>, StoreError>) {
    let mut stored = result.map(Vec::into_iter);
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
