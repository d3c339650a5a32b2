//! A PostgreSQL URL as `--db` gives it: parsed by tokio-postgres (TCP or
//! Unix-socket hosts, `?host=/dir`, options), completed the way libpq would
//! (the OS user, the default socket directory, a password from PGPASSFILE or
//! `~/.pgpass`), and shown without its password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio_postgres::config::Host;

/// The default port, as pgpass entries name it.
const DEFAULT_PORT: u16 = 5432;
/// libpq's default socket directory on Debian and NixOS.
const DEFAULT_SOCKET_DIR: &str = "/run/postgresql";

/// Why a URL was refused. Never holds the URL itself (it may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{0}")]
    Parse(String),
}

/// A parsed PostgreSQL URL.
#[derive(Clone)]
pub struct PgUrl {
    config: tokio_postgres::Config,
}

impl PgUrl {
    /// Whether `raw` is a PostgreSQL URL rather than a file path.
    pub fn is_url(raw: &str) -> bool {
        raw.starts_with("postgres://") || raw.starts_with("postgresql://")
    }

    /// Parses `raw`; fills in the user, host and password libpq would use.
    pub fn parse(raw: &str) -> Result<PgUrl, UrlError> {
        let mut config = tokio_postgres::Config::from_str(raw)
            // tokio-postgres' messages name the option, never its value.
            .map_err(|e| UrlError::Parse(e.to_string()))?;
        if config.get_user().is_none() {
            config.user(os_user());
        }
        if config.get_hosts().is_empty() {
            config.host_path(DEFAULT_SOCKET_DIR);
        }
        if config.get_password().is_none()
            && let Some(file) = pgpass_file()
            && let Some(password) = pgpass_lookup(&file, &config)
        {
            config.password(password);
        }
        Ok(PgUrl { config })
    }

    /// The connection configuration (with the password, if any).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The first host's port.
    fn port(&self) -> u16 {
        self.config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(DEFAULT_PORT)
    }

    fn dbname(&self) -> &str {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or_default()
    }
}

/// `postgres://USER@HOST:PORT/DB` (a socket directory as `?host=`), no password.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.config.get_user().unwrap_or_default();
        let (host, socket) = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => (name.clone(), None),
            Some(Host::Unix(dir)) => (String::new(), Some(dir.display().to_string())),
            None => (String::new(), None),
        };
        write!(f, "postgres://{user}@{host}")?;
        if socket.is_none() || self.port() != DEFAULT_PORT {
            write!(f, ":{}", self.port())?;
        }
        write!(f, "/{}", self.dbname())?;
        if let Some(dir) = socket {
            write!(f, "?host={dir}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

/// The OS user running this process, libpq's default user name.
fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into())
}

/// PGPASSFILE, else `~/.pgpass`.
fn pgpass_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass"))
}

/// The password of the first matching `host:port:db:user:password` line.
/// Like libpq, a file others may read is ignored (with a warning).
fn pgpass_lookup(file: &Path, config: &tokio_postgres::Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "password file has group or world access; it is ignored (chmod 0600 it)"
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let url = PgUrl {
        config: config.clone(),
    };
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        // libpq matches a socket directory as `localhost`.
        _ => "localhost".into(),
    };
    let port = url.port().to_string();
    let wanted = [
        host.as_str(),
        port.as_str(),
        url.dbname(),
        config.get_user().unwrap_or_default(),
    ];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(split_pgpass_line)
        .find(|fields| {
            fields.len() == 5
                && fields[..4]
                    .iter()
                    .zip(wanted)
                    .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// Splits a pgpass line at unescaped colons; `\:` and `\\` are literal.
fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap_or(&mut String::new()).push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_hides_the_password_and_shows_socket_hosts() {
        let url = PgUrl::parse("postgresql://app:hunter2@db.example:6543/items").unwrap();
        assert_eq!(url.to_string(), "postgres://app@db.example:6543/items");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.config().get_password(), Some(&b"hunter2"[..]));
        let socket = PgUrl::parse("postgres://app@/items?host=/tmp/pg").unwrap();
        assert_eq!(socket.to_string(), "postgres://app@/items?host=/tmp/pg");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let err = PgUrl::parse("postgres://u:hunter2@h:notaport/d").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        assert_eq!(
            split_pgpass_line(r"h:5432:d\:b:u:p\\w"),
            ["h", "5432", "d:b", "u", r"p\w"]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\nlocalhost:5432:items:app:right\n*:*:*:*:fallback\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = |raw: &str| tokio_postgres::Config::from_str(raw).unwrap();
        let socket = config("postgres://app@/items?host=/tmp/x");
        assert_eq!(pgpass_lookup(&file, &socket).as_deref(), Some("right"));
        let tcp = config("postgres://app@db:5432/items");
        assert_eq!(pgpass_lookup(&file, &tcp).as_deref(), Some("fallback"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            pgpass_lookup(&file, &socket),
            None,
            "a readable file is ignored"
        );
    }
}
