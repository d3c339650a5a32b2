//! The write lock held from a session of its own: `LOCK TABLE items IN
//! EXCLUSIVE MODE` inside a transaction, which every insert of every
//! instance waits behind (up to `--statement-timeout`) while reads go on.
//! The session is one of the pool's, for as long as the fault lasts.

use deadpool_postgres::Object;

use super::db_error;
use crate::serve::store::StoreError;

/// A session for holding the write lock.
pub struct LockHolder {
    client: Object,
}

impl LockHolder {
    pub(super) fn new(client: Object) -> LockHolder {
        LockHolder { client }
    }

    /// Takes the lock (waiting for writers in flight up to the statement timeout).
    pub async fn lock(&mut self) -> Result<(), StoreError> {
        self.client
            .batch_execute("BEGIN; LOCK TABLE items IN EXCLUSIVE MODE")
            .await
            .map_err(|e| db_error(&e))
    }

    /// Lets it go.
    pub async fn unlock(&mut self) -> Result<(), StoreError> {
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| db_error(&e))
    }
}
