//! A connection of its own that can take the database's write lock and
//! hold it: what the database-lock fault (`srelab serve --faults`) uses.
//! The SQLite backend takes the lock with `BEGIN IMMEDIATE` on a writer
//! connection, as the store's own writer does (but without the turnstile,
//! as another program would).

use std::time::Instant;

use super::StoreError;
use super::sqlite::{Db, WriteTx};

/// A connection for holding the write lock.
pub struct LockHolder {
    db: Db,
}

/// The write lock, held until dropped (the transaction rolls back).
pub struct Held<'a> {
    _tx: WriteTx<'a>,
}

impl LockHolder {
    pub(super) fn new(db: Db) -> LockHolder {
        LockHolder { db }
    }

    /// Takes the write lock, waiting for other writers until `deadline`.
    pub fn hold(&mut self, deadline: Instant) -> Result<Held<'_>, StoreError> {
        Ok(Held {
            _tx: self.db.begin_write(deadline)?,
        })
    }
}
