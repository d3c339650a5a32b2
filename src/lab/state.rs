//! The lab's state directory: the shared SQLite database (kept between
//! runs), logs, and the generated Prometheus and Grafana files.
//!
//! ```text
//! STATE/srelab.db                   the instances' database (stays)
//! STATE/postgres/                   or, with --backend postgres, the cluster (stays)
//! STATE/pids                        "PID NAME" of each child running now
//! STATE/logs/NAME.log               each child's stdout and stderr
//! STATE/logs/children.log           each child's start and exit, this run
//! STATE/prometheus/prometheus.yml   generated; alerts.yml beside it
//! STATE/prometheus/data/            TSDB, emptied on every start
//! STATE/grafana/…                   provisioning, dashboards, data
//! STATE/capacity-N.json             `--capacity`: the search with N instances
//! STATE/capacity.json               `--capacity`: the scaling curve
//! STATE/alertmanager/…              alertmanager.yml (generated), data/
//! STATE/notifications.jsonl         every notification received, this run
//! ```

use std::path::{Path, PathBuf};

use super::error::LabError;

/// The paths inside one state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the directory tree (absolute paths, since children get them).
    /// Prometheus' TSDB is emptied: stale series of an earlier run would
    /// otherwise count as instances for five minutes; so is Alertmanager's
    /// notification log, which would hold back a page it sent last run.
    pub fn prepare(root: &Path) -> Result<StateDir, LabError> {
        std::fs::create_dir_all(root).map_err(LabError::io(root))?;
        let root = std::fs::canonicalize(root).map_err(LabError::io(root))?;
        let dir = StateDir { root };
        let data = dir.prometheus_data();
        let am_data = dir.alertmanager().join("data");
        for stale in [&data, &am_data] {
            if stale.exists() {
                std::fs::remove_dir_all(stale).map_err(LabError::io(stale))?;
            }
        }
        for d in [dir.logs(), data, am_data, dir.grafana().join("data")] {
            std::fs::create_dir_all(&d).map_err(LabError::io(&d))?;
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite file all instances share.
    pub fn db(&self) -> PathBuf {
        self.root.join("srelab.db")
    }

    /// "PID NAME" of every child running now.
    pub fn pids(&self) -> PathBuf {
        self.root.join("pids")
    }

    /// Every start and exit of a child during the current run.
    pub fn children_log(&self) -> PathBuf {
        self.logs().join("children.log")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The log file of one child.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }

    pub fn prometheus(&self) -> PathBuf {
        self.root.join("prometheus")
    }

    pub fn prometheus_data(&self) -> PathBuf {
        self.prometheus().join("data")
    }

    pub fn grafana(&self) -> PathBuf {
        self.root.join("grafana")
    }

    pub fn alertmanager(&self) -> PathBuf {
        self.root.join("alertmanager")
    }

    /// Every notification the lab's receiver got in this run.
    pub fn notifications(&self) -> PathBuf {
        self.root.join("notifications.jsonl")
    }
}

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
    }
    std::fs::write(path, text).map_err(LabError::io(path))
}
