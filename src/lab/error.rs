//! Errors of the lab, each naming the piece it concerns.

use std::path::PathBuf;

/// What can stop the lab from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A binary is missing or cannot run; `main` exits 2 for it.
    #[error("{what} {problem}; {hint}")]
    MissingBinary {
        what: &'static str,
        problem: String,
        hint: &'static str,
    },
    /// Every planned port that is taken, as `ADDR (what)`.
    #[error("{} {} {} already in use", if .0.len() == 1 { "port" } else { "ports" }, .0.join(", "), if .0.len() == 1 { "is" } else { "are" })]
    PortsInUse(Vec<String>),
    #[error("port {port} is planned for both {first} and {second}")]
    PortClash {
        port: u16,
        first: String,
        second: String,
    },
    #[error("--base-port {base} leaves no room for {instances} instances")]
    PortRange { base: u16, instances: u16 },
    #[error("cannot start {what} ({program}): {source}")]
    Spawn {
        what: String,
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} exited ({status}) during start-up; its log {log}:\n{tail}")]
    Exited {
        what: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the rules cannot be scaled for the drill: {0}")]
    Rules(String),
    #[error("scrape targets not up after {secs}s: {detail}")]
    TargetsNotUp { secs: u64, detail: String },
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("haproxy: {0}")]
    Haproxy(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LabError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { path, source }
    }
}
