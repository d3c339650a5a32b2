//! The write lock held from a connection of its own: `BEGIN IMMEDIATE` on a
//! writer connection, as the store's writer takes it (but without the
//! turnstile, as another program would). Every instance sharing the file
//! waits behind it; reads go on (WAL).

use std::time::Instant;

use super::db::{Db, WriteTx};
use crate::serve::store::StoreError;

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
