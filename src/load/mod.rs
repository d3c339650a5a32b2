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
//! - [`series`]: the per-second time series as recorded;
//!   [`recorded`]: a run's raw record, which the workers of a distributed
//!   run send and the coordinator merges.
//! - [`report`], [`timeline`], [`text`], [`output`]: the srelab section
//!   beside rlt's report; [`html`]: the same as a page with charts;
//!   [`baseline`]: saved reports; [`render`]: `srelab load report FILE`.
//! - [`gates`]: the CI gates; [`metrics`]: the tool's own metrics endpoint.
//! - [`outliers`]: request ids (`X-Request-Id`) and the slowest and failed
//!   requests, to find in the servers' logs.
//! - [`step`]: one load step in-process; [`run`]: one run from probe to
//!   exit code.
//! - [`distributed`]: `--worker` and `--workers`, one run over several
//!   processes or machines.
//! - [`capacity`]: `--find-capacity`, steps at rising rates until the SLO
//!   breaks, bisected down to a bracket.

pub mod args;
pub mod baseline;
pub mod capacity;
pub mod check;
pub mod client;
pub mod config;
pub mod distributed;
pub mod gates;
pub mod html;
pub mod http1;
pub mod metrics;
pub mod mix;
pub mod monitor;
pub mod outliers;
pub mod output;
pub mod probe;
pub mod recorded;
pub mod render;
pub mod report;
pub mod run;
pub mod schedule;
pub mod series;
pub mod stats;
pub mod step;
pub mod suite;
pub mod target;
pub mod text;
pub mod timeline;

use std::process::ExitCode;

pub use args::Args;

/// Runs `srelab load`; exit 0 when the gates pass, 1 when one fails or the
/// run fails, 2 for a flag mistake.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(args::LoadCommand::Report(report)) = &args.command {
        return render::main(report);
    }
    if let Err(msg) = run::check_flags(&args)
        .and_then(|()| distributed::check_flags(&args))
        .and_then(|()| capacity::args::check_flags(&args))
    {
        eprintln!("error: {msg}");
        return Ok(ExitCode::from(2));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(listen) = args.load.listen.filter(|_| args.load.worker) {
        return runtime.block_on(distributed::worker::serve(listen));
    }
    let config = config::Config::from_args(&args);
    if args.load.capacity.find_capacity {
        return runtime.block_on(capacity::run(args, config));
    }
    if !args.load.workers.is_empty() {
        return runtime.block_on(distributed::coordinator::run(args, config));
    }
    runtime.block_on(run::run(args, config))
}
