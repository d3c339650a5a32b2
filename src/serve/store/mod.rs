//! The item store: the service's only state, in a SQLite file the
//! instances of one host share, or in PostgreSQL that many hosts share.
//!
//! The rest of the service sees only [`Store`], [`Item`], [`NewItem`] and
//! [`StoreError`]: four async methods, whichever backend runs. Both keep
//! the same promises: a write is answered only once committed (group
//! commit: concurrent writes share one transaction), ids are unique and
//! increasing per database, lists page by keyset, and every operation is
//! timed in the `srelab_db_*` metrics here, at the one boundary.
//!
//! - [`database`]: what `--db` names (a path or a URL, the password hidden).
//! - [`sqlite`]: a writer thread, reader threads, point reads on the
//!   runtime's threads, and a turnstile between processes.
//! - [`postgres`]: a connection pool, an async writer task, versioned
//!   migrations under an advisory lock.
//!
//! Each backend can also lend a connection that holds its write lock
//! ([`LockHolder`]), for the database-lock fault.

pub mod database;
pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::time::Instant;

use serde::Serialize;

use super::config::StoreConfig;
use super::metrics::{DbMetrics, DbOp, Metrics};
pub use database::{Database, DatabaseError};

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
    #[error("{0}")]
    Postgres(String),
    #[error("no database connection within {0:?}")]
    Timeout(std::time::Duration),
    #[error("the database is read-only (a standby in recovery)")]
    ReadOnly,
    #[error("the database threads have stopped")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err.to_string())
    }
}

/// A connection of its own holding (or ready to hold) the database's
/// write lock: what the database-lock fault (`srelab serve --faults`) uses.
pub enum LockHolder {
    Sqlite(sqlite::LockHolder),
    Postgres(postgres::LockHolder),
}

/// One backend or the other; the HTTP layer only calls the methods below.
enum Backend {
    Sqlite(sqlite::Store),
    Postgres(postgres::Store),
}

/// Handle to the database of one process.
pub struct Store {
    backend: Backend,
    metrics: DbMetrics,
}

impl Store {
    /// Opens (creating or migrating as needed) the configured database.
    pub async fn open(config: &StoreConfig, metrics: &Metrics) -> Result<Store, StoreError> {
        let db = metrics.db.clone();
        let backend = match &config.database {
            // Opening a file at start-up; the runtime serves nothing yet.
            Database::Sqlite(path) => Backend::Sqlite(sqlite::Store::open(path, config, db)?),
            Database::Postgres(url) => {
                Backend::Postgres(postgres::Store::open(url, config, db, &metrics.registry).await?)
            }
        };
        Ok(Store {
            backend,
            metrics: metrics.db.clone(),
        })
    }

    /// Stores an item; returns once its transaction has committed.
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        self.timed(DbOp::Insert, async {
            match &self.backend {
                Backend::Sqlite(s) => s.insert(item).await,
                Backend::Postgres(s) => s.insert(item).await,
            }
        })
        .await
    }

    /// The item with this id, if any.
    pub async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        self.timed(DbOp::Get, async {
            match &self.backend {
                Backend::Sqlite(s) => s.get(id).await,
                Backend::Postgres(s) => s.get(id).await,
            }
        })
        .await
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub async fn list(&self, before: Option<i64>, limit: u32) -> Result<Vec<Item>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        self.timed(DbOp::List, async {
            match &self.backend {
                Backend::Sqlite(s) => s.list(before, limit).await,
                Backend::Postgres(s) => s.list(before, limit).await,
            }
        })
        .await
    }

    /// Checks that the database is readable and writable.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.timed(DbOp::Ready, async {
            match &self.backend {
                Backend::Sqlite(s) => s.ready().await,
                Backend::Postgres(s) => s.ready().await,
            }
        })
        .await
    }

    /// A connection of its own that can take and hold the database's write
    /// lock, as another program would (the database-lock fault).
    pub async fn lock_holder(&self) -> Result<LockHolder, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.lock_holder().map(LockHolder::Sqlite),
            Backend::Postgres(s) => s.lock_holder().await.map(LockHolder::Postgres),
        }
    }

    /// Commits what is queued, then closes the database.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
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
