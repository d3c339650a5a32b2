//! One run over several processes or machines: `srelab load --worker
//! --listen ADDR` on each client host, `srelab load --workers ADDR,ADDR …`
//! as the coordinator.
//!
//! The coordinator splits the run, not the rate: request `k` of the run is
//! sent by worker `k % n` (see [`Share`](super::config::Share)), at the due
//! time and with the plan it would have in a single process, so the total
//! rate and the `--seed` sequence are those of one run. Each worker runs its
//! share as one [`step`](super::step) and sends back its raw
//! [`Recorded`](super::recorded::Recorded) (HDR histograms, counts); the
//! coordinator adds them up exactly, builds one report and judges the gates
//! on the whole. A worker that dies, goes silent or could not keep up is
//! named in the report, and the run is not trustworthy.
//!
//! # Protocol
//!
//! Our own, small: one TCP connection per worker, one JSON object per line
//! ([`protocol::Message`]), the coordinator speaking first.
//!
//! ```text
//! coordinator                              worker
//!   {"hello":{"version","protocol"}}  ──▶
//!                                     ◀──  {"hello":{"version","protocol"}}  (or {"refused":…})
//!   {"plan":{share, targets, mix, …}} ──▶
//!                                     ◀──  "ready"                           (or {"failed":…})
//!   "start"                           ──▶
//!                                     ◀──  {"progress":{"started"}}       every second
//!                                     ◀──  {"done":{cells, seconds, monitor}}   histograms as
//!                                                                               base64 HDR V2
//! ```
//!
//! Either side refuses a peer of another srelab version. A worker serves
//! one coordinator at a time, then waits for the next; when its
//! coordinator goes away mid-run, it abandons the run.
//!
//! - [`protocol`]: the messages and their framing; [`wire`]: a run's
//!   record as JSON.
//! - [`worker`]: `--worker`; [`coordinator`]: `--workers`.

pub mod coordinator;
pub mod protocol;
pub mod wire;
pub mod worker;

use super::args::Args;

/// Flag mistakes of the distributed modes, reported like clap's (exit 2).
pub fn check_flags(args: &Args) -> Result<(), String> {
    let load = &args.load;
    let bench = &args.bench;
    if load.worker {
        let given = [
            ("--html", load.html.is_some()),
            ("--metrics-listen", load.metrics_listen.is_some()),
            ("--max-p99", !load.max_p99.is_empty()),
            ("--max-error-ratio", load.max_error_ratio.is_some()),
            ("--seed", load.seed.is_some()),
            ("--ramp", load.ramp.is_some()),
            ("--think", load.think.is_some()),
            ("-d/--duration", bench.duration.is_some()),
            ("-n/--iterations", bench.iterations.is_some()),
            ("-r/--rate", bench.rate.is_some()),
            ("-O/--output-file", bench.output_file.is_some()),
            ("--save-baseline", bench.save_baseline.is_some()),
            ("--baseline", bench.baseline.is_some()),
            ("--baseline-file", bench.baseline_file.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} is the coordinator's: a worker takes every setting of the run from its coordinator"
            ));
        }
        return Ok(());
    }
    if load.workers.is_empty() {
        return Ok(());
    }
    let given = [
        ("--save-baseline", bench.save_baseline.is_some()),
        ("--baseline", bench.baseline.is_some()),
        ("--baseline-file", bench.baseline_file.is_some()),
        ("--fail-on-regression", bench.fail_on_regression),
        ("--metrics-listen", load.metrics_listen.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        return Err(format!(
            "{flag} is not available with --workers: rlt's baselines and the metrics endpoint belong to one process (compare saved reports with `srelab load report FILE --baseline FILE`)"
        ));
    }
    if let Some((i, addr)) = load
        .workers
        .iter()
        .enumerate()
        .find(|(i, a)| load.workers[..*i].contains(a))
    {
        return Err(format!(
            "--workers names {addr} twice (entry {}): a worker serves one coordinator at a time",
            i + 1
        ));
    }
    let n = load.workers.len() as u32;
    if bench.concurrency.get() < n {
        return Err(format!(
            "-c {} is fewer than the {n} workers: each needs at least one connection",
            bench.concurrency
        ));
    }
    Ok(())
}
