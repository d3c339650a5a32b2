//! PostgreSQL in the lab (and in the tests): a throwaway cluster in a
//! directory of its own, `initdb` once and `postgres` on a Unix socket in
//! that directory (no TCP port, so nothing can clash), trust
//! authentication for the superuser `srelab` (only the cluster's owner and
//! root can open the socket directory).
//!
//! PostgreSQL refuses to run as root. When the lab (or a test) runs as
//! root, `initdb` and `postgres` run as the unprivileged user `nobody`,
//! which owns the data and socket directories; every directory above them
//! must then be searchable by others, and [`Cluster::init`] says which is
//! not.
//!
//! ```text
//! DIR/data/   the cluster (kept between runs)
//! DIR/run/    the socket, .s.PGSQL.5432
//! ```
//!
//! The lab's cluster is `STATE/postgres`; the PostgreSQL exporter, when
//! found, reads it over the same socket.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::unistd::{Gid, Uid, User};
use tokio::time::Instant;

use super::binaries;
use super::error::LabError;
use super::state::StateDir;

/// The superuser `initdb` creates, and the user the instances connect as.
pub const SUPERUSER: &str = "srelab";
/// The lab's database.
pub const DATABASE: &str = super::defaults::POSTGRES_DATABASE;
/// Who runs PostgreSQL when the lab runs as root.
pub const UNPRIVILEGED_USER: &str = "nobody";
/// The socket's port number (its file name; nothing listens on TCP).
pub const SOCKET_PORT: u16 = 5432;
/// Debian's directory of versioned PostgreSQL installations.
const DEBIAN_DIR: &str = "/usr/lib/postgresql";

/// Said when `initdb`/`postgres` are missing.
pub const HINT: &str = "install the Debian package `postgresql` (apt-get install postgresql), or run `nix run .#lab -- --backend postgres`, or name the directory with --postgres-bin-dir / SRELAB_POSTGRES_BIN_DIR";

/// The directory holding `initdb` and `postgres`.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    /// The explicit directory when given, else the one on PATH holding
    /// `initdb`, else Debian's newest `/usr/lib/postgresql/VERSION/bin`.
    pub fn find(explicit: Option<&Path>) -> Result<Binaries, LabError> {
        let complete = |dir: &Path| {
            ["initdb", "postgres"]
                .iter()
                .all(|b| binaries::is_executable(&dir.join(b)))
        };
        let missing = |problem: String| LabError::MissingBinary {
            what: "PostgreSQL (initdb and postgres)",
            problem,
            hint: HINT,
        };
        if let Some(dir) = explicit {
            return if complete(dir) {
                Ok(Binaries { dir: dir.into() })
            } else {
                Err(missing(format!("not found in {}", dir.display())))
            };
        }
        let on_path = binaries::on_path("initdb").and_then(|p| p.parent().map(Path::to_owned));
        let found = on_path
            .filter(|d| complete(d))
            .or_else(|| debian_dirs().into_iter().find(|d| complete(d)));
        found
            .map(|dir| Binaries { dir })
            .ok_or_else(|| missing(format!(" on PATH or in {DEBIAN_DIR}/VERSION/bin")))
    }

    pub fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub fn postgres(&self) -> PathBuf {
        self.dir.join("postgres")
    }
}

/// Debian's `…/VERSION/bin` directories, newest version first.
fn debian_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_DIR) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// PostgreSQL as the lab runs it: the binaries, and the exporter when found.
#[derive(Debug, Clone)]
pub struct LabPostgres {
    pub bins: Binaries,
    /// `postgres_exporter` / `prometheus-postgres-exporter`, when it runs.
    pub exporter_bin: Option<PathBuf>,
    pub exporter_port: u16,
}

impl LabPostgres {
    /// The cluster in the state directory (kept between runs, like the SQLite file).
    pub fn cluster(state: &StateDir) -> Result<Cluster, LabError> {
        Cluster::new(&state.root().join("postgres"))
    }

    /// The exporter's command, reading the lab's database over the socket.
    pub fn exporter_command(&self, cluster: &Cluster, listen: SocketAddr) -> Option<Command> {
        let bin = self.exporter_bin.as_ref()?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address={listen}")).env(
            "DATA_SOURCE_NAME",
            format!("{}&sslmode=disable", cluster.url(DATABASE)),
        );
        Some(cmd)
    }
}

/// One cluster's directories and who runs it.
#[derive(Debug, Clone)]
pub struct Cluster {
    root: PathBuf,
    /// The unprivileged user's ids when running as root.
    run_as: Option<(Uid, Gid)>,
}

impl Cluster {
    /// A cluster under `root` (absolute); nothing is created yet.
    pub fn new(root: &Path) -> Result<Cluster, LabError> {
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name(UNPRIVILEGED_USER)
                .ok()
                .flatten()
                .ok_or_else(|| LabError::Postgres(format!(
                    "running as root, PostgreSQL needs the unprivileged user `{UNPRIVILEGED_USER}`, which does not exist here"
                )))?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        Ok(Cluster {
            root: root.to_owned(),
            run_as,
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// A URL for `srelab serve --db` (and the exporter) to reach database `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@/{db}?host={}&port={SOCKET_PORT}",
            self.socket_dir().display()
        )
    }

    /// Creates the directories and runs `initdb` unless the data directory
    /// already holds a cluster; returns whether it did.
    pub fn init(&self, bins: &Binaries, log: &Path) -> Result<bool, LabError> {
        for dir in [self.data_dir(), self.socket_dir()] {
            std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(LabError::io(&dir))?;
            if let Some((uid, gid)) = self.run_as {
                nix::unistd::chown(&dir, Some(uid), Some(gid))
                    .map_err(|e| LabError::io(&dir)(e.into()))?;
            }
        }
        if self.run_as.is_some() {
            self.check_reachable()?;
        }
        if self.data_dir().join("PG_VERSION").exists() {
            return Ok(false);
        }
        let mut cmd = self.as_owner(Command::new(bins.initdb()));
        cmd.arg("--pgdata")
            .arg(self.data_dir())
            .args(["--username", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-instructions"]);
        let out = std::fs::File::create(log).map_err(LabError::io(log))?;
        let err = out.try_clone().map_err(LabError::io(log))?;
        let status = cmd
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|source| LabError::Spawn {
                what: "initdb".into(),
                program: bins.initdb(),
                source,
            })?;
        if !status.success() {
            return Err(LabError::Postgres(format!(
                "initdb failed ({status}); see {}:\n{}",
                log.display(),
                super::process::tail(log, 15)
            )));
        }
        Ok(true)
    }

    /// The command running the server: Unix socket only, durable commits
    /// (`fsync` on, the server's default), small enough for a laptop.
    pub fn command(&self, bins: &Binaries) -> Command {
        let mut cmd = self.as_owner(Command::new(bins.postgres()));
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(SOCKET_PORT.to_string())
            .args(["-c", "listen_addresses="])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=64MB"]);
        cmd
    }

    /// Waits until the server accepts connections, then creates database
    /// `db` unless it exists.
    pub async fn create_database(&self, db: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let client = loop {
            match tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    break client;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "PostgreSQL not accepting connections after {limit:?}: {e}"
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        if !exists {
            let quoted = db.replace('"', "\"\"");
            client
                .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `cmd` set to run as the cluster's owner.
    fn as_owner(&self, mut cmd: Command) -> Command {
        use std::os::unix::process::CommandExt as _;
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups when root sets a uid.
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    /// Every directory above the cluster must let the unprivileged user through.
    fn check_reachable(&self) -> Result<(), LabError> {
        for dir in self.root.ancestors() {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            if meta.permissions().mode() & 0o001 == 0 {
                return Err(LabError::Postgres(format!(
                    "PostgreSQL runs as `{UNPRIVILEGED_USER}` when started by root, and {} is not searchable by others: `chmod o+x {}`, or use a --state-dir elsewhere",
                    dir.display(),
                    dir.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_directory_without_the_binaries_is_named_with_the_package() {
        let err = Binaries::find(Some(Path::new("/nonexistent"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("in /nonexistent"), "{msg}");
        assert!(
            msg.contains("`postgresql`") && msg.contains("nix run .#lab"),
            "{msg}"
        );
    }

    #[test]
    fn urls_name_the_socket_directory() {
        let cluster = Cluster::new(Path::new("/x/pg")).unwrap();
        assert_eq!(
            cluster.url("items"),
            "postgresql://srelab@/items?host=/x/pg/run&port=5432"
        );
    }
}
