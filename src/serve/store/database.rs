//! Which database `--db` names: a SQLite file, or a PostgreSQL server by URL.
//! The password of a URL never appears in `Display`, `Debug` or errors.

use std::fmt;
use std::path::PathBuf;

use super::postgres::url::{PgUrl, UrlError};

/// The database an instance keeps its items in.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file; the instances of one host may share it.
    Sqlite(PathBuf),
    /// A PostgreSQL server that many hosts may share.
    Postgres(Box<PgUrl>),
}

/// Why `--db` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("--db: invalid PostgreSQL URL: {0}")]
    Url(#[from] UrlError),
}

impl Database {
    /// A `postgres://` or `postgresql://` URL, else a SQLite path.
    pub fn parse(raw: &str) -> Result<Database, DatabaseError> {
        if PgUrl::is_url(raw) {
            Ok(Database::Postgres(Box::new(PgUrl::parse(raw)?)))
        } else {
            Ok(Database::Sqlite(PathBuf::from(raw)))
        }
    }

    /// The backend's name, as logs and docs call it.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// The path, or the URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_a_path() {
        assert!(matches!(
            Database::parse("postgresql://u@h/d").unwrap(),
            Database::Postgres(_)
        ));
        assert!(matches!(
            Database::parse("postgres://u@h/d").unwrap(),
            Database::Postgres(_)
        ));
        assert!(matches!(
            Database::parse("postgres.db").unwrap(),
            Database::Sqlite(_)
        ));
        let shown = Database::parse("postgres://u:s3cret@h:5433/d").unwrap();
        assert_eq!(shown.to_string(), "postgres://u@h:5433/d");
        assert!(!format!("{shown:?}").contains("s3cret"));
    }
}
