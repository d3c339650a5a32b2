//! The PostgreSQL writer: one task per process that commits concurrent
//! POSTs together, like SQLite's writer thread.
//!
//! It takes a first write (and up to `--batch-wait` more), waits for one
//! of a few batch slots, then takes everything queued meanwhile (up to
//! `--batch-max` in all) and inserts the batch with one statement,
//! `INSERT … SELECT FROM unnest(…)`, in its own transaction: one round
//! trip and one WAL flush for the whole batch. With `synchronous_commit=on`
//! the statement returns only once the commit is on disk, so a 201 is never
//! sent for a write that could be lost. Several batches may be in flight
//! at once (on different connections), so one slow commit does not stall
//! the queue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::pool::Connections;
use crate::serve::metrics::DbMetrics;
use crate::serve::store::{Item, NewItem, StoreError};

/// Rows come back in the order of `ord`, so the i-th row answers the i-th
/// write (checked by name and value; see [`answers`]).
const INSERT: &str = "INSERT INTO items (name, value)
    SELECT name, value FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY AS t(name, value, ord)
    ORDER BY ord
    RETURNING id, name, value, created_at";

struct Job {
    item: NewItem,
    reply: oneshot::Sender<Result<Item, StoreError>>,
}

enum Msg {
    Insert(Job),
    /// Commit what is queued before this, then end.
    Stop,
}

/// Batch limits and what a batch needs.
#[derive(Clone)]
pub struct Limits {
    pub max: usize,
    pub wait: Duration,
    /// Batches committing at once.
    pub slots: usize,
    /// The longest one batch may take, client side.
    pub timeout: Duration,
}

/// Handle to the writer task.
pub struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
    task: Mutex<Option<JoinHandle<()>>>,
    metrics: DbMetrics,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn start(conns: Connections, limits: Limits, metrics: DbMetrics) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let batcher = Batcher {
            rx,
            conns,
            limits,
            metrics: metrics.clone(),
        };
        Writer {
            tx,
            task: Mutex::new(Some(tokio::spawn(batcher.run()))),
            metrics,
        }
    }

    /// Queues an insert and waits until it is committed (or failed).
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Insert(Job { item, reply }))?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        self.metrics.queue_depth.inc();
        self.tx.send(msg).map_err(|_| {
            self.metrics.queue_depth.dec();
            StoreError::Closed
        })
    }

    /// Commits what is queued and waits for the task to end.
    pub async fn stop(&self) {
        let _ = self.send(Msg::Stop);
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Batcher {
    rx: mpsc::UnboundedReceiver<Msg>,
    conns: Connections,
    limits: Limits,
    metrics: DbMetrics,
}

impl Batcher {
    async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(self.limits.slots.max(1)));
        let mut running = JoinSet::new();
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.recv().await else {
                break;
            };
            let mut batch = Vec::new();
            stopping = self.take(first, &mut batch);
            if !stopping && !self.limits.wait.is_zero() {
                stopping = self
                    .collect_until(&mut batch, Instant::now() + self.limits.wait)
                    .await;
            }
            if batch.is_empty() {
                continue;
            }
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            // Writes that arrived while every slot was busy join this batch.
            stopping |= self.collect_now(&mut batch);
            let (conns, limits, metrics) = (
                self.conns.clone(),
                self.limits.clone(),
                self.metrics.clone(),
            );
            running.spawn(async move {
                let result = match tokio::time::timeout(limits.timeout, write(&conns, &batch)).await
                {
                    Ok(result) => result,
                    Err(_) => Err(StoreError::Timeout(limits.timeout)),
                };
                if let Ok(rows) = &result {
                    metrics.batch_size.observe(rows.len() as f64);
                }
                answer(batch, result);
                drop(slot);
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
        tracing::debug!("database writer stopped");
    }

    /// Adds an insert to `batch`; true for a stop request.
    fn take(&self, msg: Msg, batch: &mut Vec<Job>) -> bool {
        self.metrics.queue_depth.dec();
        match msg {
            Msg::Insert(job) => {
                batch.push(job);
                false
            }
            Msg::Stop => true,
        }
    }

    /// Moves what is queued now into `batch`, up to the limit.
    fn collect_now(&mut self, batch: &mut Vec<Job>) -> bool {
        while batch.len() < self.limits.max {
            match self.rx.try_recv() {
                Ok(msg) => {
                    if self.take(msg, batch) {
                        return true;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return false,
                Err(mpsc::error::TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// Moves queued writes into `batch` until it is full or `deadline`.
    async fn collect_until(&mut self, batch: &mut Vec<Job>, deadline: Instant) -> bool {
        while batch.len() < self.limits.max {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(msg)) => {
                    if self.take(msg, batch) {
                        return true;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

/// Inserts the batch in one statement (one transaction).
async fn write(conns: &Connections, batch: &[Job]) -> Result<Vec<Item>, StoreError> {
    let names: Vec<&str> = batch.iter().map(|j| j.item.name.as_str()).collect();
    let values: Vec<Option<f64>> = batch.iter().map(|j| j.item.value).collect();
    let client = conns.get().await?;
    let stmt = client
        .prepare_cached(INSERT)
        .await
        .map_err(|e| super::db_error(&e))?;
    let rows = client
        .query(&stmt, &[&names, &values])
        .await
        .map_err(|e| super::db_error(&e))?;
    rows.iter().map(super::row_to_item).collect()
}

/// Answers every job of a committed (or failed) batch.
fn answer(batch: Vec<Job>, result: Result<Vec<Item>, StoreError>) {
    match result {
        Ok(items) => {
            for (job, item) in answers(batch, items) {
                let _ = job.reply.send(item);
            }
        }
        Err(err) => {
            for job in batch {
                let _ = job.reply.send(Err(err.clone()));
            }
        }
    }
}

/// Pairs each job with its row: by position (the statement keeps the
/// order), falling back to the first unused row with the same name and
/// value should a server ever return them in another order.
fn answers(batch: Vec<Job>, items: Vec<Item>) -> Vec<(Job, Result<Item, StoreError>)> {
    let same = |job: &Job, item: &Item| {
        job.item.name == item.name
            && job.item.value.map(f64::to_bits) == item.value.map(f64::to_bits)
    };
    let in_order = batch.len() == items.len() && batch.iter().zip(&items).all(|(j, i)| same(j, i));
    if in_order {
        return batch.into_iter().zip(items.into_iter().map(Ok)).collect();
    }
    let mut left: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    batch
        .into_iter()
        .map(|job| {
            let found = left
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|i| same(&job, i)))
                .and_then(Option::take)
                .ok_or_else(|| {
                    StoreError::Postgres("a stored row went missing from the answer".into())
                });
            (job, found)
        })
        .collect()
}
