//! srelab: a reproducible SRE lab.
//!
//! # Layout
//!
//! - [`serve`]: the instrumented HTTP service (hyper + tokio, SQLite, RED and
//!   USE metrics).
//! - [`load`]: the load tool, built on rlt, with weighted scenarios,
//!   correctness checks and SLO gates.
//! - [`lab`]: brings up instances, Prometheus and Grafana with generated
//!   configuration.
//! - [`verify`]: checks through Prometheus that every signal of the spec
//!   exists for every instance.
//! - [`slo`]: the SLO file turned into recording rules, burn-rate alerts,
//!   their unit tests, error-budget panels and load gates.
//! - [`contract`]: the metric names and buckets all of them share.
//!
//! `main.rs` only parses the command line, calls [`run`] and prints an
//! error with [`error_line`] and [`exit_code`].

pub mod contract;
pub mod lab;
pub mod load;
pub mod serve;
pub mod slo;
pub mod verify;

use clap::{Parser, Subcommand};

/// The command line of the `srelab` binary.
#[derive(Debug, Parser)]
#[command(name = "srelab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each module owns its own arguments.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the instrumented HTTP API.
    Serve(serve::Args),
    /// Generate load against one or more instances.
    Load(load::Args),
    /// Bring up instances, Prometheus and Grafana with one command.
    Lab(lab::Args),
    /// Check through Prometheus that every signal of the spec exists (run it under load).
    Verify(verify::Args),
    /// Generate the SLO rules, their tests and the error-budget dashboard; print load gates.
    Slo(slo::Args),
    /// Receive Alertmanager's webhook notifications into a JSON-lines file (what `srelab lab` runs itself).
    Receive(lab::receiver::Args),
}

/// Runs one parsed command line; the returned code is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::main(args),
        Command::Load(args) => load::main(args),
        Command::Lab(args) => lab::main(args),
        Command::Verify(args) => verify::main(args),
        Command::Slo(args) => slo::main(args),
        Command::Receive(args) => lab::receiver::main(args),
    }
}

/// A mistake in what the user gave (a flag's value, an input file): `main`
/// exits 2 for it, as clap does for a flag it cannot parse.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] pub anyhow::Error);

impl UsageError {
    /// Marks any error as the user's mistake.
    pub fn new(err: impl Into<anyhow::Error>) -> UsageError {
        UsageError(err.into())
    }
}

/// The exit code for an error `run` returned: 2 for a [`UsageError`], else 1.
pub fn exit_code(err: &anyhow::Error) -> std::process::ExitCode {
    if err.chain().any(|e| e.is::<UsageError>()) {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// An error and its causes on one line, each cause once: errors that
/// already print their source (`"{path}: {source}"`) are not repeated.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_names_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let spec = verify::spec::SpecError::Read {
            path: "/nonexistent.toml".into(),
            source: io,
        };
        let err = anyhow::Error::new(spec).context("--spec");
        assert_eq!(
            error_line(&err),
            "--spec: cannot read the spec /nonexistent.toml: entity not found"
        );
        assert_eq!(exit_code(&err), std::process::ExitCode::FAILURE);
        let usage = anyhow::Error::new(UsageError::new(err));
        assert_eq!(exit_code(&usage), std::process::ExitCode::from(2));
        assert!(error_line(&usage).starts_with("--spec: cannot read"));
    }
}
