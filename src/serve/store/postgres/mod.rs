//! The PostgreSQL backend: a server that the instances of many hosts share.
//!
//! - [`url`]: the `--db` URL, completed as libpq would, shown without password.
//! - [`pool`]: deadpool-postgres over tokio-postgres (async, so nothing
//!   blocks the runtime's threads), with its saturation metrics.
//! - [`migrate`]: versioned migrations under an advisory lock.
//! - [`writer`]: group commit of concurrent inserts.
//!
//! Faults: every operation has a deadline (`--statement-timeout`, server
//! side as `statement_timeout`, client side around each call), a lost
//! server turns into [`StoreError`]s (503) and a failing readiness probe,
//! and the pool drops broken connections and opens new ones as soon as the
//! server answers again. Ids come from one identity sequence, so they are
//! unique across every instance and host.

pub mod lock_holder;
pub mod migrate;
pub mod pool;
pub mod url;
pub mod writer;

use std::future::Future;
use std::time::{Duration, Instant};

use prometheus::Registry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::Row;

use super::{Item, NewItem, StoreError};
use crate::serve::config::StoreConfig;
use crate::serve::metrics::DbMetrics;
pub use lock_holder::LockHolder;
use pool::Connections;
use url::PgUrl;
use writer::{Limits, Writer};

const GET_ITEM: &str = "SELECT id, name, value, created_at FROM items WHERE id = $1";
const LIST_ITEMS: &str =
    "SELECT id, name, value, created_at FROM items WHERE id < $1 ORDER BY id DESC LIMIT $2";

/// How often start-up asks again while waiting for the server (`--db-wait`).
const CONNECT_RETRY: Duration = Duration::from_millis(500);

/// Handle to the pool and the writer task of one process.
pub struct Store {
    conns: Connections,
    writer: Writer,
    timeout: Duration,
}

impl Store {
    /// Connects (waiting up to `--db-wait` for the server), migrates, and
    /// starts the writer task.
    pub async fn open(
        url: &PgUrl,
        config: &StoreConfig,
        metrics: DbMetrics,
        registry: &Registry,
    ) -> Result<Store, StoreError> {
        let conns = Connections::new(url, config, registry)?;
        let deadline = Instant::now() + config.connect_wait;
        let mut client = loop {
            match conns.get().await {
                Ok(client) => break client,
                Err(err) if Instant::now() + CONNECT_RETRY < deadline => {
                    tracing::info!(database = %url, error = %err, "waiting for the database");
                    tokio::time::sleep(CONNECT_RETRY).await;
                }
                Err(err) => return Err(err),
            }
        };
        migrate::run(&mut client).await?;
        drop(client);
        let limits = Limits {
            max: config.batch_max,
            wait: config.batch_wait,
            // Half the pool writes at most; reads keep the rest.
            slots: (config.pool_size / 2).max(1),
            timeout: config.statement_timeout * 2,
        };
        tracing::info!(database = %url, pool = config.pool_size, "PostgreSQL store open");
        Ok(Store {
            writer: Writer::start(conns.clone(), limits, metrics),
            conns,
            timeout: config.statement_timeout * 2,
        })
    }

    /// A session of the pool's, to hold the write lock with.
    pub async fn lock_holder(&self) -> Result<LockHolder, StoreError> {
        Ok(LockHolder::new(self.conns.get().await?))
    }

    /// Stores an item; returns once its transaction has committed.
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        self.writer.insert(item).await
    }

    /// The item with this id, if any.
    pub async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        self.deadline(async {
            let client = self.conns.get().await?;
            let stmt = client
                .prepare_cached(GET_ITEM)
                .await
                .map_err(|e| db_error(&e))?;
            let row = client
                .query_opt(&stmt, &[&id])
                .await
                .map_err(|e| db_error(&e))?;
            row.as_ref().map(row_to_item).transpose()
        })
        .await
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub async fn list(&self, before: i64, limit: u32) -> Result<Vec<Item>, StoreError> {
        self.deadline(async {
            let client = self.conns.get().await?;
            let stmt = client
                .prepare_cached(LIST_ITEMS)
                .await
                .map_err(|e| db_error(&e))?;
            let limit = i64::from(limit);
            let rows = client
                .query(&stmt, &[&before, &limit])
                .await
                .map_err(|e| db_error(&e))?;
            rows.iter().map(row_to_item).collect()
        })
        .await
    }

    /// Checks that the server answers and accepts writes (not a standby).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.deadline(async {
            let client = self.conns.get().await?;
            let row = client
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await
                .map_err(|e| db_error(&e))?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::ReadOnly);
            }
            Ok(())
        })
        .await
    }

    /// Commits what is queued, then closes the pool.
    pub async fn close(&self) {
        self.writer.stop().await;
        self.conns.close();
    }

    /// Fails `op` with a timeout should the server stop answering.
    async fn deadline<T>(
        &self,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, op)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)))
    }
}

/// A driver error as the API reports it (the server's message when there is one).
pub(crate) fn db_error(err: &tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) => StoreError::Postgres(format!("{}: {}", db.severity(), db.message())),
        None => StoreError::Postgres(err.to_string()),
    }
}

fn row_to_item(row: &Row) -> Result<Item, StoreError> {
    let created_at: OffsetDateTime = row.try_get(3).map_err(|e| db_error(&e))?;
    Ok(Item {
        id: row.try_get(0).map_err(|e| db_error(&e))?,
        name: row.try_get(1).map_err(|e| db_error(&e))?,
        value: row.try_get(2).map_err(|e| db_error(&e))?,
        created_at: created_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Postgres(e.to_string()))?,
    })
}
