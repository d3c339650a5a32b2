//! `srelab load`: the load tool, on rlt.
//!
//! rlt supplies the runner, the CLI for concurrency/duration/rate, the TUI,
//! the text/JSON reports and baselines; this module adds what rlt lacks.
//!
//! # Layout
//!
//! - [`args`]: the command line (rlt's `BenchCli` flattened in);
//!   [`config`]: the validated settings of a run.
//! - [`target`], [`mix`]: where requests go and which kinds they are.
//! - [`schedule`]: due times of the open model and the ramp.
//! - [`suite`]: the rlt bench suite, one request per iteration;
//!   [`client`]: per-worker HTTP/1.1 connections; [`http1`]: the bytes on
//!   the wire; [`check`]: what a correct answer is.
//! - [`stats`], [`monitor`]: what the workers record, about the server and
//!   about the tool itself.
//! - [`report`], [`text`], [`output`]: the srelab section beside rlt's report;
//!   [`gates`]: the CI gates; [`metrics`]: the tool's own metrics endpoint.
//! - [`run`]: one run from probe to exit code.

pub mod args;
pub mod check;
pub mod client;
pub mod config;
pub mod gates;
pub mod http1;
pub mod metrics;
pub mod mix;
pub mod monitor;
pub mod output;
pub mod probe;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stats;
pub mod suite;
pub mod target;
pub mod text;

use std::process::ExitCode;

pub use args::Args;

/// Runs `srelab load`; exit 0 when the gates pass, 1 when one fails or the
/// run fails, 2 for a flag mistake.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    if let Err(msg) = run::check_flags(&args) {
        eprintln!("error: {msg}");
        return Ok(ExitCode::from(2));
    }
    let config = config::Config::from_args(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run::run(args, config))
}
