//! The item store: the service's only state, in one SQLite file that
//! several instances may share.
//!
//! The rest of the service sees only [`Store`], [`Item`], [`NewItem`] and
//! [`StoreError`]; a PostgreSQL backend would sit beside [`sqlite`] behind
//! the same four async methods. No database call runs on the async
//! runtime's threads: writes go to one [`writer`] thread per process that
//! commits them in groups, reads to a small [`readers`] pool.

pub mod readers;
pub mod sqlite;
pub mod writer;

use std::future::Future;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::oneshot;

use super::config::StoreConfig;
use super::metrics::{DbMetrics, DbOp};
use readers::Readers;
use sqlite::Db;
use writer::{Job, Writer};

/// A stored item, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub value: Option<f64>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// An item to store, already validated.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub name: String,
    pub value: Option<f64>,
}

/// Why a store operation failed; every variant means "503, try again".
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the database stayed locked by another connection past the busy timeout")]
    Busy,
    #[error("{0}")]
    Sqlite(String),
    #[error("the database threads have stopped")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err.to_string())
    }
}

/// Handle to the database threads of one process.
pub struct Store {
    writer: Writer,
    readers: Readers,
    metrics: DbMetrics,
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// writer and reader threads.
    pub fn open(config: &StoreConfig, metrics: DbMetrics) -> Result<Store, StoreError> {
        let mut writer_db = Db::open(config, sqlite::Role::Writer, metrics.busy_retries.clone())?;
        writer_db.migrate()?;
        let readers = (0..config.readers)
            .map(|_| Db::open(config, sqlite::Role::Reader, metrics.busy_retries.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Store {
            writer: Writer::start(writer_db, config, metrics.clone()),
            readers: Readers::start(readers),
            metrics,
        })
    }

    /// Stores an item; returns once its transaction has committed.
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        self.timed(DbOp::Insert, async {
            let (reply, rx) = oneshot::channel();
            self.writer.send(Job::Insert { item, reply })?;
            rx.await.unwrap_or(Err(StoreError::Closed))
        })
        .await
    }

    /// The item with this id, if any.
    pub async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        self.timed(DbOp::Get, self.readers.run(move |db| db.get(id)))
            .await
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub async fn list(&self, before: Option<i64>, limit: u32) -> Result<Vec<Item>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        self.timed(
            DbOp::List,
            self.readers.run(move |db| db.list(before, limit)),
        )
        .await
    }

    /// Checks that the database is readable and writable (takes the write
    /// lock and releases it).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.timed(DbOp::Ready, async {
            self.readers.run(|db| db.ping()).await?;
            let (reply, rx) = oneshot::channel();
            self.writer.send(Job::Ping { reply })?;
            rx.await.unwrap_or(Err(StoreError::Closed))
        })
        .await
    }

    /// Commits what is queued, then stops the database threads.
    pub async fn close(&self) {
        let writer = self.writer.stop();
        let readers = self.readers.stop();
        let _ = tokio::task::spawn_blocking(move || {
            writer();
            readers();
        })
        .await;
    }

    async fn timed<T>(
        &self,
        op: DbOp,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = fut.await;
        self.metrics.observe(op, start.elapsed(), result.is_ok());
        if let Err(err) = &result {
            tracing::debug!(op = ?op, error = %err, "database operation failed");
        }
        result
    }
}
