//! Real PostgreSQL for the tests: each test gets its own cluster in a
//! temporary directory, on a Unix socket there (no TCP port), started
//! through the lab's own [`Cluster`] (so running as root works the same
//! way: as `nobody`). `initdb` runs once per machine and PostgreSQL
//! installation into the system's temporary directory (which `nobody` can
//! reach, wherever the checkout lives); each cluster starts from a copy of
//! that template.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::Signal;
use srelab::lab::postgres::{Binaries, Cluster};

use super::ChildGuard;

/// The PostgreSQL binaries, or a panic saying how to get them.
pub fn binaries() -> Binaries {
    Binaries::find(
        std::env::var_os("SRELAB_POSTGRES_BIN_DIR")
            .as_deref()
            .map(Path::new),
    )
    .unwrap_or_else(|e| panic!("these tests need PostgreSQL: {e}"))
}

/// A template cluster made by `initdb` once, reused by every test binary.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let bins = binaries();
        let base = std::env::temp_dir();
        let name = format!("srelab-pg-template{}", bins.dir.display()).replace('/', "_");
        let done = base.join(&name);
        if done.join("data/PG_VERSION").exists() {
            return done;
        }
        let partial = base.join(format!("{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).unwrap();
        open_up(&partial);
        let cluster = Cluster::new(&partial).unwrap();
        cluster
            .init(&bins, &partial.join("initdb.log"))
            .unwrap_or_else(|e| panic!("initdb for the test template: {e}"));
        // Another test binary may have won the race; either copy is good.
        if std::fs::rename(&partial, &done).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        done
    })
}

/// Lets the unprivileged user PostgreSQL runs as (when root) through `dir`.
fn open_up(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A running cluster owned by one test; stopped when dropped.
pub struct Postgres {
    pub cluster: Cluster,
    bins: Binaries,
    server: Option<ChildGuard>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Copies the template into a new temporary directory and starts it.
    pub fn start() -> Postgres {
        let template = template();
        let dir = tempfile::tempdir().unwrap();
        open_up(dir.path());
        let root = dir.path().join("pg");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success(), "copying the template cluster failed");
        let cluster = Cluster::new(&root).unwrap();
        let bins = binaries();
        assert!(!cluster.init(&bins, &root.join("initdb.log")).unwrap());
        let log = dir.path().join("postgres.log");
        let mut pg = Postgres {
            cluster,
            bins,
            server: None,
            log,
            _dir: dir,
        };
        pg.restart();
        pg
    }

    /// A URL of a new database `name` (created now).
    pub fn database(&self, name: &str) -> String {
        runtime()
            .block_on(self.cluster.create_database(name, Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("{e}; log:\n{}", self.log_tail()));
        self.cluster.url(name)
    }

    /// Starts the server (again), and waits until it accepts connections.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .cluster
            .command(&self.bins)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start postgres");
        self.server = Some(ChildGuard::new("postgres", child).stop_with(Signal::SIGINT));
        self.database("postgres");
    }

    /// Fast shutdown (SIGINT: clients are disconnected, commits kept).
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// Runs `sql` in database `db` (on a connection of its own) and
    /// returns the rows.
    pub fn query(&self, db: &str, sql: &str) -> Vec<tokio_postgres::Row> {
        Postgres::query_with(&self.client(db), sql, &[])
    }

    /// A client of database `db` with a connection of its own, for tests
    /// that read rows from many threads while servers write them.
    pub fn client(&self, db: &str) -> tokio_postgres::Client {
        let url = self.cluster.url(db);
        runtime().block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            tokio::spawn(conn);
            client
        })
    }

    /// Runs one query on `client` (from [`Postgres::client`]).
    pub fn query_with(
        client: &tokio_postgres::Client,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Vec<tokio_postgres::Row> {
        runtime()
            .block_on(client.query(sql, params))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        srelab::lab::process::tail(&self.log, 20)
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}
