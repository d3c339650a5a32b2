//! One test suite, two stores: a test written against [`Backend`] runs on a
//! SQLite file and on PostgreSQL. [`both_backends!`] turns each named test
//! function into a test per backend.

use std::path::Path;

use super::postgres::Postgres;
use super::{Server, spawn_serve};

/// Which store a test's instances use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database of one backend, owned by one test.
pub struct TestDb {
    /// What `--db` gets: a file path or a URL.
    pub db: String,
    pub postgres: Option<Postgres>,
    _dir: tempfile::TempDir,
}

/// The database name tests use on their own cluster.
pub const PG_DB: &str = "srelab_test";

impl TestDb {
    /// A new empty database (a cluster of its own for PostgreSQL).
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let (db, postgres) = match backend {
            Backend::Sqlite => (path_str(&dir.path().join("test.db")), None),
            Backend::Postgres => {
                let pg = Postgres::start();
                (pg.database(PG_DB), Some(pg))
            }
        };
        TestDb {
            db,
            postgres,
            _dir: dir,
        }
    }

    /// Starts `srelab serve --db THIS EXTRA…`.
    pub fn serve(&self, extra_args: &[&str]) -> Server {
        spawn_serve(&self.db, extra_args)
    }

    /// The PostgreSQL cluster (panics for SQLite).
    pub fn pg(&mut self) -> &mut Postgres {
        self.postgres.as_mut().expect("a PostgreSQL test database")
    }

    /// The number of rows in `items`.
    pub fn count_items(&self) -> i64 {
        match &self.postgres {
            Some(pg) => pg.query(PG_DB, "SELECT count(*) FROM items")[0].get(0),
            None => rusqlite::Connection::open(&self.db)
                .unwrap()
                .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
                .unwrap(),
        }
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("temporary paths are UTF-8").to_owned()
}

/// `both_backends!(a, b)` defines `sqlite::a`, `postgres::a`, … calling
/// `a(Backend::Sqlite)` and `a(Backend::Postgres)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::common::backend::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::common::backend::Backend::Postgres) })*
        }
    };
}
