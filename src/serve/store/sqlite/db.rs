//! SQLite connections: pragmas, the versioned migrations, the busy
//! handling, and the queries.
//!
//! Lock waits: SQLite's busy handler here polls every few hundred
//! microseconds for up to [`BUSY_SLICE`], so a writer waiting on another
//! process gets the lock soon after it is released. When a slice runs out,
//! the operation is retried with backoff (counted in
//! `srelab_db_busy_retries_total`) until `--busy-timeout` has passed, then
//! fails with [`StoreError::Busy`] (503).

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::serve::config::{StoreConfig, Synchronous};
use crate::serve::store::{Item, NewItem, StoreError};

/// How long SQLite's busy handler polls before the operation is retried.
pub const BUSY_SLICE: Duration = Duration::from_millis(100);

/// The schema, one entry per version; `PRAGMA user_version` is the number
/// of entries applied. Append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        value REAL,
        created_at TEXT NOT NULL
    );"];

const GET_ITEM: &str = "SELECT id, name, value, created_at FROM items WHERE id = ?1";
const LIST_ITEMS: &str =
    "SELECT id, name, value, created_at FROM items WHERE id < ?1 ORDER BY id DESC LIMIT ?2";

/// Page cache of each reader connection (negative: KiB, SQLite's unit).
const READER_CACHE_KIB: i64 = -1024;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    /// A reader on a thread of its own: waits for locks up to the busy timeout.
    Reader,
    /// A reader used on an async runtime thread: never waits for a lock.
    RuntimeReader,
}

/// One connection with its busy budget.
pub struct Db {
    conn: Connection,
    busy_timeout: Duration,
    busy_retries: IntCounter,
}

impl Db {
    /// Opens a connection to `path`, creating the file if needed.
    pub fn open(
        path: &Path,
        config: &StoreConfig,
        role: Role,
        busy_retries: IntCounter,
    ) -> Result<Db, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_handler(Some(poll_lock))?;
        let mut db = Db {
            conn,
            busy_timeout: config.busy_timeout,
            busy_retries,
        };
        let mode: String = db.retry(|conn| {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite(format!(
                "the WAL journal mode is not available here (got {mode})"
            )));
        }
        let synchronous = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        db.conn.pragma_update(None, "synchronous", synchronous)?;
        if role != Role::Writer {
            db.conn.pragma_update(None, "query_only", true)?;
            // Each reader keeps the hot b-tree pages; the kernel's page
            // cache holds the rest. Keeps RSS low with several readers.
            db.conn
                .pragma_update(None, "cache_size", READER_CACHE_KIB)?;
        }
        if role == Role::RuntimeReader {
            db.conn.busy_handler(None)?;
        }
        Ok(db)
    }

    /// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction,
    /// so instances starting together apply each exactly once.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        let version = self.retry(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version >= MIGRATIONS.len() {
                return Ok(version);
            }
            for sql in &MIGRATIONS[version..] {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
            tx.commit()?;
            Ok(version)
        })?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Sqlite(format!(
                "schema version {version} is newer than this srelab knows ({})",
                MIGRATIONS.len()
            )));
        }
        Ok(())
    }

    /// Takes the write lock (`BEGIN IMMEDIATE`), waiting for other
    /// connections until `deadline`.
    pub fn begin_write(&mut self, deadline: Instant) -> Result<WriteTx<'_>, StoreError> {
        self.retry_until(deadline, |conn| conn.execute_batch("BEGIN IMMEDIATE"))?;
        Ok(WriteTx {
            conn: &self.conn,
            open: true,
        })
    }

    /// The item with this id.
    pub fn get(&mut self, id: i64) -> Result<Option<Item>, StoreError> {
        self.retry(|conn| select_item(conn, id))
    }

    /// The item with this id, in one attempt: `None` when the database is
    /// busy (so a [`Role::RuntimeReader`] never waits).
    pub fn try_get(&mut self, id: i64) -> Option<Result<Option<Item>, StoreError>> {
        match select_item(&self.conn, id) {
            Err(err) if is_busy(&err) => None,
            result => Some(result.map_err(StoreError::from)),
        }
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub fn list(&mut self, before: i64, limit: u32) -> Result<Vec<Item>, StoreError> {
        self.retry(|conn| {
            let mut stmt = conn.prepare_cached(LIST_ITEMS)?;
            let rows = stmt.query_map((before, limit), row_to_item)?;
            rows.collect()
        })
    }

    /// A read of the items table.
    pub fn ping(&mut self) -> Result<(), StoreError> {
        self.retry(|conn| {
            conn.prepare_cached("SELECT max(id) FROM items")?
                .query_row([], |r| r.get::<_, Option<i64>>(0))
                .map(|_| ())
        })
    }

    /// The deadline of an operation starting now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.busy_timeout
    }

    /// Runs `op`, retrying while the database is busy, up to the busy timeout.
    fn retry<T>(
        &mut self,
        op: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let deadline = self.deadline();
        self.retry_until(deadline, op)
    }

    /// Runs `op`, retrying while the database is busy, until `deadline`.
    fn retry_until<T>(
        &mut self,
        deadline: Instant,
        mut op: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut backoff = Duration::from_millis(1);
        loop {
            BUSY_SINCE.set(None);
            match op(&mut self.conn) {
                Err(err) if is_busy(&err) => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::Busy);
                    }
                    self.busy_retries.inc();
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                result => return result.map_err(StoreError::from),
            }
        }
    }
}

fn select_item(conn: &Connection, id: i64) -> rusqlite::Result<Option<Item>> {
    conn.prepare_cached(GET_ITEM)?
        .query_row([id], row_to_item)
        .optional()
}

/// An open write transaction; rolled back unless committed.
pub struct WriteTx<'a> {
    conn: &'a Connection,
    open: bool,
}

impl WriteTx<'_> {
    /// Inserts one item; `created_at` is now.
    pub fn insert(&self, item: &NewItem) -> Result<Item, StoreError> {
        let created_at = now_rfc3339();
        self.conn
            .prepare_cached("INSERT INTO items (name, value, created_at) VALUES (?1, ?2, ?3)")?
            .execute((&item.name, item.value, &created_at))?;
        Ok(Item {
            id: self.conn.last_insert_rowid(),
            name: item.name.clone(),
            value: item.value,
            created_at,
        })
    }

    /// Commits: with `synchronous=FULL` the writes are durable on return.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: row.get(0)?,
        name: row.get(1)?,
        value: row.get(2)?,
        created_at: row.get(3)?,
    })
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

thread_local! {
    /// When the current lock wait began; each connection lives on one thread.
    static BUSY_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's busy handler: poll the lock with short sleeps for up to
/// [`BUSY_SLICE`]. `count` is the number of earlier calls for this wait.
fn poll_lock(count: i32) -> bool {
    let now = Instant::now();
    let since = match BUSY_SINCE.get() {
        Some(since) if count > 0 => since,
        _ => {
            BUSY_SINCE.set(Some(now));
            now
        }
    };
    if now.duration_since(since) >= BUSY_SLICE {
        return false;
    }
    let micros = (100 * (count as u64 + 1)).min(1000);
    std::thread::sleep(Duration::from_micros(micros));
    true
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(dir: &tempfile::TempDir) -> (PathBuf, StoreConfig) {
        let path = dir.path().join("m.db");
        let config = StoreConfig {
            database: crate::serve::store::Database::Sqlite(path.clone()),
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_millis(200),
            batch_max: 8,
            batch_wait: Duration::ZERO,
            readers: 1,
            pool_size: 2,
            statement_timeout: Duration::from_secs(1),
            connect_wait: Duration::ZERO,
        };
        (path, config)
    }

    fn open((path, config): &(PathBuf, StoreConfig)) -> Db {
        let retries = IntCounter::new("r", "r").unwrap();
        Db::open(path, config, Role::Writer, retries).unwrap()
    }

    #[test]
    fn migrations_apply_once_and_record_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir);
        let mut db = open(&config);
        db.migrate().unwrap();
        db.migrate().unwrap();
        let mut other = open(&config);
        other.migrate().unwrap();
        let version: usize = db
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let mode: String = db
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn every_connection_runs_with_the_pragmas_of_its_role() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, synchronous) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let (path, base) = config(&dir);
            let config = StoreConfig {
                synchronous: mode,
                ..base
            };
            for role in [Role::Writer, Role::Reader, Role::RuntimeReader] {
                let retries = IntCounter::new("r", "r").unwrap();
                let db = Db::open(&path, &config, role, retries).unwrap();
                let pragma = |name| -> i64 {
                    db.conn
                        .pragma_query_value(None, name, |r| r.get(0))
                        .unwrap()
                };
                let reader = role != Role::Writer;
                assert_eq!(pragma("synchronous"), synchronous, "{role:?} with {mode:?}");
                assert_eq!(pragma("query_only"), i64::from(reader), "{role:?}");
                if reader {
                    // 1 MiB (a negative cache_size counts KiB; a positive one, pages).
                    assert_eq!(pragma("cache_size"), -1024, "{role:?}");
                }
            }
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir);
        let mut db = open(&config);
        db.conn.pragma_update(None, "user_version", 99).unwrap();
        let err = db.migrate().unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn a_write_lock_held_elsewhere_past_the_timeout_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir);
        let mut db = open(&config);
        db.migrate().unwrap();
        let holder = Connection::open(&config.0).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let deadline = Instant::now() + Duration::from_millis(150);
        assert!(matches!(db.begin_write(deadline), Err(StoreError::Busy)));
        holder.execute_batch("ROLLBACK").unwrap();
        let tx = db.begin_write(db.deadline()).unwrap();
        let item = tx
            .insert(&NewItem {
                name: "x".into(),
                value: None,
            })
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(db.get(item.id).unwrap(), Some(item));
    }
}
