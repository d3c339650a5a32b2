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
//!
//! `main.rs` only parses the command line and calls [`run`].

pub mod lab;
pub mod load;
pub mod serve;
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
    /// Check through Prometheus that every signal of the spec exists.
    Verify(verify::Args),
}

/// Runs one parsed command line; the returned code is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::main(args),
        Command::Load(args) => load::main(args),
        Command::Lab(args) => lab::main(args),
        Command::Verify(args) => verify::main(args),
    }
}
