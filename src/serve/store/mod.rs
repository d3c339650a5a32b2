//! The item store: the service's only state, in one SQLite file that
//! several instances may share.
//!
//! The rest of the service sees only [`Store`], [`Item`], [`NewItem`] and
//! [`StoreError`]; a PostgreSQL backend would sit beside [`sqlite`] behind
//! the same four async methods. Writes go to one [`writer`] thread per
//! process that commits them in groups, reads to a small [`readers`] pool;
//! only point reads that cannot wait run on the async runtime's threads
//! ([`runtime_readers`]). Instances on one file take turns at writing
//! through a [`turnstile`].

pub mod lock_holder;
pub mod readers;
pub mod runtime_readers;
pub mod sqlite;
pub mod turnstile;
pub mod writer;

use std::future::Future;
use std::time::Instant;

use serde::Serialize;

use super::config::StoreConfig;
use super::metrics::{DbMetrics, DbOp};
pub use lock_holder::LockHolder;
use readers::Readers;
use runtime_readers::RuntimeReaders;
use sqlite::Db;
use turnstile::Turnstile;
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
    runtime_readers: RuntimeReaders,
    metrics: DbMetrics,
    /// Kept to open the connection of a [`LockHolder`].
    config: StoreConfig,
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// writer and reader threads.
    pub fn open(config: &StoreConfig, metrics: DbMetrics) -> Result<Store, StoreError> {
        let mut writer_db = Db::open(config, sqlite::Role::Writer, metrics.busy_retries.clone())?;
        writer_db.migrate()?;
        let open = |count: usize, role| {
            (0..count)
                .map(|_| Db::open(config, role, metrics.busy_retries.clone()))
                .collect::<Result<Vec<_>, _>>()
        };
        let readers = open(config.readers, sqlite::Role::Reader)?;
        // As many as the runtime has worker threads (tokio's default).
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime_readers = open(workers, sqlite::Role::RuntimeReader)?;
        let turnstile = Turnstile::open(&config.path).map_err(|err| {
            StoreError::Sqlite(format!(
                "cannot open {}: {err}",
                Turnstile::path_for(&config.path).display()
            ))
        })?;
        Ok(Store {
            writer: Writer::start(writer_db, turnstile, config, metrics.clone()),
            readers: Readers::start(readers),
            runtime_readers: RuntimeReaders::new(runtime_readers),
            metrics,
            config: config.clone(),
        })
    }

    /// Stores an item; returns once its transaction has committed.
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        self.timed(
            DbOp::Insert,
            self.writer.call(|reply| Job::Insert { item, reply }),
        )
        .await
    }

    /// The item with this id, if any.
    pub async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        self.timed(DbOp::Get, async {
            match self.runtime_readers.try_get(id) {
                Some(result) => result,
                None => self.readers.run(move |db| db.get(id)).await,
            }
        })
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
            self.writer.call(|reply| Job::Ping { reply }).await
        })
        .await
    }

    /// A connection of its own that can take and hold the write lock (the
    /// database-lock fault).
    pub fn lock_holder(&self) -> Result<LockHolder, StoreError> {
        let db = Db::open(
            &self.config,
            sqlite::Role::Writer,
            self.metrics.busy_retries.clone(),
        )?;
        Ok(LockHolder::new(db))
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
