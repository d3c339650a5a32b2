//! One test suite, two stores: a test written against [`Backend`] runs on a
//! SQLite file and on PostgreSQL. [`both_backends!`] turns each named test
//! function into a test per backend.

use std::path::Path;

use time::format_description::well_known::Rfc3339;

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
        // A URL is no path, but `--db` takes either as one argument.
        spawn_serve(Path::new(&self.db), extra_args)
    }

    /// The PostgreSQL cluster (panics for SQLite).
    pub fn pg(&mut self) -> &mut Postgres {
        self.postgres.as_mut().expect("a PostgreSQL test database")
    }

    /// Every row of `items` by id: (id, name, value, created_at as RFC 3339).
    pub fn rows(&self) -> Vec<Row> {
        const SELECT: &str = "SELECT id, name, value, created_at FROM items ORDER BY id";
        match &self.postgres {
            Some(pg) => pg.query(PG_DB, SELECT).iter().map(pg_row).collect(),
            None => {
                let conn = rusqlite::Connection::open(&self.db).unwrap();
                let mut stmt = conn.prepare(SELECT).unwrap();
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
        }
    }

    /// A reader with a connection of its own: the database as another
    /// process sees it, not through the server under test.
    pub fn reader(&self) -> RowReader {
        match &self.postgres {
            Some(pg) => RowReader::Postgres(pg.client(PG_DB)),
            None => RowReader::Sqlite(
                rusqlite::Connection::open_with_flags(
                    &self.db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap(),
            ),
        }
    }
}

/// Reads single rows of `items` over its own connection ([`TestDb::reader`]).
pub enum RowReader {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl RowReader {
    /// The row with this id, as this connection sees it now.
    pub fn row(&self, id: i64) -> Option<Row> {
        const SELECT: &str = "SELECT id, name, value, created_at FROM items WHERE id = $1";
        match self {
            RowReader::Sqlite(conn) => {
                use rusqlite::OptionalExtension;
                conn.query_row(&SELECT.replace('$', "?"), [id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .unwrap()
            }
            RowReader::Postgres(client) => Postgres::query_with(client, SELECT, &[&id])
                .first()
                .map(pg_row),
        }
    }
}

fn pg_row(r: &tokio_postgres::Row) -> Row {
    let at: time::OffsetDateTime = r.get(3);
    (r.get(0), r.get(1), r.get(2), at.format(&Rfc3339).unwrap())
}

/// A row of `items`: id, name, value, created_at (RFC 3339).
pub type Row = (i64, String, Option<f64>, String);

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
