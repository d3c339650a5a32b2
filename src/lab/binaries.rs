//! Finding the programs the lab runs: a flag or environment variable names
//! one explicitly (how the Nix app hands in pinned ones), else PATH.

use std::path::{Path, PathBuf};

use super::error::LabError;

/// Where to get Prometheus when it is missing.
pub const PROMETHEUS_HINT: &str = "get it with `nix run .#lab`, or install the distribution package `prometheus` (e.g. `apt-get install prometheus`), or name it with --prometheus-bin / SRELAB_PROMETHEUS";

/// A program the lab may run.
pub struct Program {
    /// What it is, for messages ("Prometheus").
    pub what: &'static str,
    /// Names to look for on PATH, in order.
    pub names: &'static [&'static str],
    /// Said when it is missing.
    pub hint: &'static str,
}

pub const PROMETHEUS: Program = Program {
    what: "Prometheus",
    names: &["prometheus"],
    hint: PROMETHEUS_HINT,
};
pub const GRAFANA: Program = Program {
    what: "Grafana",
    names: &["grafana", "grafana-server"],
    hint: "name it with --grafana-bin / SRELAB_GRAFANA",
};
pub const ALERTMANAGER: Program = Program {
    what: "Alertmanager",
    names: &["alertmanager", "prometheus-alertmanager"],
    hint: "install the distribution package `prometheus-alertmanager`, or name it with --alertmanager-bin / SRELAB_ALERTMANAGER",
};
pub const NODE_EXPORTER: Program = Program {
    what: "node exporter",
    names: &["node_exporter", "prometheus-node-exporter"],
    hint: "name it with --node-exporter-bin / SRELAB_NODE_EXPORTER",
};

pub const LOKI: Program = Program {
    what: "Loki",
    names: &["loki"],
    hint: "name it with --loki-bin / SRELAB_LOKI (Grafana's `grafana-loki` package; `nix run .#lab` brings it)",
};
pub const ALLOY: Program = Program {
    what: "Grafana Alloy",
    names: &["alloy"],
    hint: "name it with --alloy-bin / SRELAB_ALLOY (Grafana's `grafana-alloy` package; `nix run .#lab` brings it)",
};

pub const POSTGRES_EXPORTER: Program = Program {
    what: "PostgreSQL exporter",
    names: &["postgres_exporter", "prometheus-postgres-exporter"],
    hint: "name it with --postgres-exporter-bin / SRELAB_POSTGRES_EXPORTER",
};

impl Program {
    /// The explicit path when given (it must be an executable file), else
    /// the first name on PATH.
    pub fn find(&self, explicit: Option<&Path>) -> Result<PathBuf, LabError> {
        match explicit {
            Some(path) => match unusable(path) {
                None => Ok(path.to_owned()),
                Some(why) => Err(self.missing(format!("{why} at {}", path.display()))),
            },
            None => self.names.iter().find_map(|n| on_path(n)).ok_or_else(|| {
                self.missing(format!(
                    "not found on PATH (looked for {})",
                    self.names.join(", ")
                ))
            }),
        }
    }

    fn missing(&self, problem: String) -> LabError {
        LabError::MissingBinary {
            what: self.what,
            problem,
            hint: self.hint,
        }
    }
}

/// The first executable `name` in the directories of PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// Whether `path` is an executable file.
pub fn is_executable(path: &Path) -> bool {
    unusable(path).is_none()
}

/// Why `path` cannot be run, or `None` when it is an executable file.
fn unusable(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt as _;
    match path.metadata() {
        Err(_) => Some("not found"),
        Ok(m) if m.is_dir() => Some("is a directory"),
        Ok(m) if !m.is_file() => Some("is not a regular file"),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("is not executable"),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_must_exist() {
        let err = PROMETHEUS
            .find(Some(Path::new("/nonexistent/prometheus")))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("Prometheus not found at /nonexistent/prometheus;"),
            "{msg}"
        );
        assert!(
            msg.contains("nix run .#lab") && msg.contains("`prometheus`"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_executable_is_named_so() {
        let msg = PROMETHEUS
            .find(Some(Path::new("/etc/passwd")))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("Prometheus is not executable at /etc/passwd;"),
            "{msg}"
        );
        let msg = PROMETHEUS
            .find(Some(Path::new("/")))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("Prometheus is a directory"), "{msg}");
    }

    #[test]
    fn finds_sh_on_path() {
        assert!(on_path("sh").is_some());
        assert!(on_path("surely-no-such-program-here").is_none());
    }
}
