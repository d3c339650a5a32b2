//! The SQLite backend: one file that the instances of one host share.
//!
//! Writes go to one [`writer`] thread per process that commits them in
//! groups, reads to a small [`readers`] pool; only point reads that cannot
//! wait run on the async runtime's threads ([`runtime_readers`]).
//! Instances on one file take turns at writing through a [`turnstile`].
//! [`db`] holds the connections: pragmas, migrations, busy handling, queries.

pub mod db;
pub mod lock_holder;
pub mod readers;
pub mod runtime_readers;
pub mod turnstile;
pub mod writer;

use std::path::{Path, PathBuf};

use super::{Item, NewItem, StoreError};
use crate::serve::config::StoreConfig;
use crate::serve::metrics::DbMetrics;
use db::{Db, Role};
pub use lock_holder::LockHolder;
use readers::Readers;
use runtime_readers::RuntimeReaders;
use turnstile::Turnstile;
use writer::{Job, Writer};

/// Handle to the database threads of one process.
pub struct Store {
    writer: Writer,
    readers: Readers,
    runtime_readers: RuntimeReaders,
    /// What it takes to open one more connection (a [`LockHolder`]).
    opener: Box<(PathBuf, StoreConfig, DbMetrics)>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database file, then
    /// starts the writer and reader threads.
    pub fn open(
        path: &Path,
        config: &StoreConfig,
        metrics: DbMetrics,
    ) -> Result<Store, StoreError> {
        let mut writer_db = Db::open(path, config, Role::Writer, metrics.busy_retries.clone())?;
        writer_db.migrate()?;
        let open = |count: usize, role| {
            (0..count)
                .map(|_| Db::open(path, config, role, metrics.busy_retries.clone()))
                .collect::<Result<Vec<_>, _>>()
        };
        let readers = open(config.readers, Role::Reader)?;
        // As many as the runtime has worker threads (tokio's default).
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime_readers = open(workers, Role::RuntimeReader)?;
        let turnstile = Turnstile::open(path).map_err(|err| {
            StoreError::Sqlite(format!(
                "cannot open {}: {err}",
                Turnstile::path_for(path).display()
            ))
        })?;
        Ok(Store {
            writer: Writer::start(writer_db, turnstile, config, metrics.clone()),
            readers: Readers::start(readers),
            runtime_readers: RuntimeReaders::new(runtime_readers),
            opener: Box::new((path.to_owned(), config.clone(), metrics)),
        })
    }

    /// Stores an item; returns once its transaction has committed.
    pub async fn insert(&self, item: NewItem) -> Result<Item, StoreError> {
        self.writer.call(|reply| Job::Insert { item, reply }).await
    }

    /// The item with this id, if any.
    pub async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        match self.runtime_readers.try_get(id) {
            Some(result) => result,
            None => self.readers.run(move |db| db.get(id)).await,
        }
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub async fn list(&self, before: i64, limit: u32) -> Result<Vec<Item>, StoreError> {
        self.readers.run(move |db| db.list(before, limit)).await
    }

    /// Checks that the database is readable and writable (takes the write
    /// lock and releases it).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.readers.run(|db| db.ping()).await?;
        self.writer.call(|reply| Job::Ping { reply }).await
    }

    /// A writer connection of its own, to hold the write lock with.
    pub fn lock_holder(&self) -> Result<LockHolder, StoreError> {
        let (path, config, metrics) = &*self.opener;
        let db = Db::open(path, config, Role::Writer, metrics.busy_retries.clone())?;
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
}
