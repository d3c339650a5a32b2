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
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Item, NewItem, StoreError};
use crate::serve::config::{StoreConfig, Synchronous};

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

const ITEM_COLUMNS: &str = "id, name, value, created_at";

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    Reader,
}

/// One connection with its busy budget.
pub struct Db {
    conn: Connection,
    busy_timeout: Duration,
    busy_retries: IntCounter,
}

impl Db {
    /// Opens a connection to `config.path`, creating the file if needed.
    pub fn open(
        config: &StoreConfig,
        role: Role,
        busy_retries: IntCounter,
    ) -> Result<Db, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&config.path, flags)?;
        conn.busy_handler(Some(poll_lock))?;
        let mut db = Db {
            conn,
            busy_timeout: config.busy_timeout,
            busy_retries,
        };
        db.retry(|conn| {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode WAL not supported here (got {mode})"
                )));
            }
            Ok(())
        })?;
        let synchronous = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        db.conn.pragma_update(None, "synchronous", synchronous)?;
        if role == Role::Reader {
            db.conn.pragma_update(None, "query_only", true)?;
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

    /// Inserts `items` in one transaction, committed before returning.
    pub fn insert_batch(&mut self, items: &[&NewItem]) -> Result<Vec<Item>, StoreError> {
        self.retry(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut stored = Vec::with_capacity(items.len());
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO items (name, value, created_at) VALUES (?1, ?2, ?3)",
                )?;
                for item in items {
                    let created_at = now_rfc3339();
                    stmt.execute((&item.name, item.value, &created_at))?;
                    stored.push(Item {
                        id: tx.last_insert_rowid(),
                        name: item.name.clone(),
                        value: item.value,
                        created_at,
                    });
                }
            }
            tx.commit()?;
            Ok(stored)
        })
    }

    /// The item with this id.
    pub fn get(&mut self, id: i64) -> Result<Option<Item>, StoreError> {
        self.retry(|conn| {
            let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1");
            conn.prepare_cached(&sql)?
                .query_row([id], row_to_item)
                .optional()
        })
    }

    /// Up to `limit` items with ids below `before`, newest first.
    pub fn list(&mut self, before: i64, limit: u32) -> Result<Vec<Item>, StoreError> {
        self.retry(|conn| {
            let sql =
                format!("SELECT {ITEM_COLUMNS} FROM items WHERE id < ?1 ORDER BY id DESC LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql)?;
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

    /// Takes the write lock and releases it.
    pub fn ping_write(&mut self) -> Result<(), StoreError> {
        self.retry(|conn| {
            conn.transaction_with_behavior(TransactionBehavior::Immediate)?
                .commit()
        })
    }

    /// Runs `op`, retrying while the database is busy, up to the busy timeout.
    fn retry<T>(
        &mut self,
        mut op: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(1);
        loop {
            BUSY_SINCE.set(None);
            match op(&mut self.conn) {
                Err(err) if is_busy(&err) => {
                    if start.elapsed() >= self.busy_timeout {
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
