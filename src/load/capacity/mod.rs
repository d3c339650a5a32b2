//! `srelab load --find-capacity`: the highest open-model rate that still
//! meets an SLO. Steps at fixed rates (a settle, then judged seconds)
//! double from `--start-rate` until one fails, then the bracket between
//! the highest pass and the lowest fail is halved until it is narrower
//! than `--precision`. A step counts only when the tool kept up; a step
//! that collapses is cut short, and the search waits for the servers to
//! drain before the next one.
//!
//! - [`args`]: the options and the search's settings; [`slo`]: the
//!   objectives and how a step is judged.
//! - [`search`]: the search itself, pure (tested on simulated servers).
//! - [`trial`]: one step, run and judged; [`quiet`]: waiting for the
//!   servers between steps; [`saturation`]: their signals in Prometheus.
//! - [`report`]: `srelab.capacity` in the JSON report, and the text.
//!
//! Exit codes: 0 a capacity was found; 1 the search could not run; 2 a
//! flag mistake; [`EXIT_BELOW_LOWEST`] even the first step failed;
//! [`EXIT_INCONCLUSIVE`] no bracket (the maximum rate passed, the tool
//! could not keep up, or the search was stopped).

pub mod args;
pub mod quiet;
pub mod report;
pub mod saturation;
pub mod search;
pub mod slo;
pub mod trial;

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use rlt::cli::ReportFormat;
use tokio::time::Instant;

use self::{
    args::Settings,
    report::{CapacityReport, StepRecord},
    search::{End, Next, Search, Verdict},
};
use super::{args::Args, config::Config, html, output, probe, report::Report, run, text};
use crate::verify::prom::Prometheus;

/// Exit code when even the first step missed the SLO.
pub const EXIT_BELOW_LOWEST: u8 = 3;
/// Exit code when the search ended without a bracket.
pub const EXIT_INCONCLUSIVE: u8 = 4;
/// How long the servers may take to drain after a failing step.
const QUIET_LIMIT: Duration = Duration::from_secs(30);
/// A client using this share of the machine's cores at the knee is named.
const CLIENT_SHARE_NOTED: f64 = 0.2;
/// Other programs using this many cores at the knee are named.
const OTHER_CORES_NOTED: f64 = 0.5;

/// Runs the search and returns the exit code.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    probe::reachable(&config.targets, config.request_timeout).await?;
    let settings = Settings::from_args(&args);
    let (metrics, server) = run::metrics_endpoint(&args, &config).await?;
    let prom = settings
        .prometheus
        .as_ref()
        .map(|(url, job)| (Prometheus::new(url), job.clone()));
    let stop = ctrl_c_flag();
    let tell = !args.bench.quiet;
    let quick = quiet::threshold(quiet::baseline(&config.targets, config.request_timeout).await);
    let load_before = load_average();
    let trial = trial::Trial {
        args: &args,
        base: &config,
        settings: &settings,
        metrics,
    };
    if tell {
        eprintln!(
            "capacity search: SLO {}; at most {} steps of {} + {} settle",
            objectives(&settings),
            Search::max_steps(settings.bounds),
            humantime::format_duration(settings.step),
            humantime::format_duration(settings.settle)
        );
    }
    let started = Instant::now();
    let mut search = Search::new(settings.bounds);
    let mut steps: Vec<StepRecord> = Vec::new();
    // The report of the step at the capacity (else the latest step's).
    let mut kept: Option<Report> = None;
    let mut stopped = None;
    let end = loop {
        let (rate, stage) = match search.next() {
            Next::Done(end) => break Some(end),
            Next::Try { rate, stage } => (rate, stage),
        };
        let index = steps.len() as u32 + 1;
        let mut stepped = trial.run(index, stage, rate).await?;
        if let Some((prom, job)) = &prom {
            stepped.record.server =
                Some(saturation::read(prom, job, &config.targets, stepped.judged).await);
        }
        let verdict = stepped.record.verdict;
        search.record(rate, verdict);
        if verdict == Verdict::Pass && search.bracket().0 == Some(rate) || kept.is_none() {
            kept = Some(stepped.report);
        }
        if stop.load(Ordering::Relaxed) {
            stopped = Some("interrupted (Ctrl-C)".to_owned());
        } else if matches!(verdict, Verdict::Fail | Verdict::Collapse)
            && matches!(search.next(), Next::Try { .. })
        {
            match quiet::wait(&config.targets, quick, QUIET_LIMIT).await {
                Some(waited) => stepped.record.cooldown_seconds = waited.as_secs_f64(),
                None => {
                    stepped.record.cooldown_seconds = QUIET_LIMIT.as_secs_f64();
                    stopped = Some(format!(
                        "the servers did not answer /healthz within {} of the step at {}/s",
                        humantime::format_duration(QUIET_LIMIT),
                        report::number(rate)
                    ));
                }
            }
        }
        if tell {
            eprintln!("{}", progress(&stepped.record));
        }
        steps.push(stepped.record);
        if matches!(search.next(), Next::Done(_)) {
            continue;
        }
        if stopped.is_some() || stop.load(Ordering::Relaxed) {
            stopped.get_or_insert_with(|| "interrupted (Ctrl-C)".to_owned());
            break None;
        }
    };
    if let Some(server) = server {
        server.abort();
    }
    let mut capacity = summary(&settings, &search, end, stopped, steps);
    capacity.search_seconds = started.elapsed().as_secs_f64();
    capacity.notes = notes(&capacity, &config, load_before);
    let mut report = kept.context("the search ran no step")?;
    let code = exit_code(&capacity);
    report.capacity = Some(capacity);
    write(&args, &report)?;
    if let Some(path) = &args.load.html {
        html::write(path, &report, None)?;
    }
    Ok(ExitCode::from(code))
}

/// The objectives as the user would write them.
fn objectives(settings: &Settings) -> String {
    let all: Vec<String> = settings.objectives.iter().map(|o| o.to_string()).collect();
    all.join(", ")
}

/// One line per finished step on stderr.
fn progress(s: &StepRecord) -> String {
    let ms = |v: Option<f64>| v.map_or("-".into(), text::ms);
    let mut line = format!(
        "step {} ({}) at {}/s: {} — achieved {}/s, p50 {}, p99 {}, errors {}",
        s.step,
        s.stage.name(),
        report::number(s.rate),
        s.verdict.name(),
        s.achieved.map_or("-".into(), |a| format!("{a:.1}")),
        ms(s.p50),
        ms(s.p99),
        s.error_ratio.map_or("-".into(), slo::percent),
    );
    if !s.why.is_empty() {
        line.push_str(&format!(" ({})", s.why.join("; ")));
    }
    line
}

/// A flag set by Ctrl-C: the step running then ends (rlt stops it) and
/// the search stops after it, reporting what ran.
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}

/// The capacity section, from how the search ended.
fn summary(
    settings: &Settings,
    search: &Search,
    end: Option<End>,
    stopped: Option<String>,
    steps: Vec<StepRecord>,
) -> CapacityReport {
    let (pass, fail) = search.bracket();
    let result = match end {
        Some(End::Found { .. }) => "found",
        Some(End::BelowLowest { .. }) => "below_lowest",
        Some(End::AtMaxRate { .. }) => "at_max_rate",
        Some(End::ClientLimited { .. }) => "client_limited",
        None => "stopped",
    };
    CapacityReport {
        result: result.into(),
        capacity: pass,
        fails_at: fail,
        bracket_ratio: pass.zip(fail).map(|(p, f)| (f - p) / p),
        stopped,
        slo: settings.objectives.iter().map(|o| o.to_string()).collect(),
        start_rate: settings.bounds.start,
        max_rate: settings.bounds.max,
        precision: settings.bounds.precision,
        step_seconds: settings.step.as_secs_f64(),
        settle_seconds: settings.settle.as_secs_f64(),
        latency_cap_seconds: settings.latency_cap.as_secs_f64(),
        collapse_error_ratio: settings.collapse_errors,
        search_seconds: 0.0,
        max_steps: Search::max_steps(settings.bounds),
        steps,
        notes: Vec::new(),
    }
}

/// What the reader should know beside the numbers: what the client cost at
/// the knee, how to move it elsewhere, and how busy the machine was.
fn notes(c: &CapacityReport, config: &Config, load_before: Option<f64>) -> Vec<String> {
    let mut notes = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let local = config
        .targets
        .iter()
        .any(|t| t.authority.starts_with("127.") || t.authority.starts_with("localhost"));
    let move_it = "to take the client off this machine, run the search from another host \
        (--target http://HOST:PORT of each instance; --workers does not drive a search yet)";
    let (pass, fail) = c.knee();
    let knee: Vec<&StepRecord> = pass.into_iter().chain(fail).collect();
    if let Some(behind) = c.steps.iter().rev().find(|s| s.client.fell_behind) {
        let counted = match behind.verdict {
            Verdict::Untrusted => "that step says nothing about the servers",
            Verdict::Pass => "the step passed all the same",
            Verdict::Fail | Verdict::Collapse => {
                "its breach went past what that lag explains, so it counted as the servers'"
            }
        };
        notes.push(format!(
            "the load tool itself fell behind at {}/s ({}): {counted}; {move_it}",
            report::number(behind.rate),
            behind.client.warnings.join("; ")
        ));
    }
    let share = knee
        .iter()
        .filter_map(|s| s.client.cpu_ratio)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if let Some(share) = share.filter(|s| *s >= CLIENT_SHARE_NOTED) {
        notes.push(format!(
            "the load tool used {:.0}% of this machine's {cores} cores at the knee{}; {move_it}",
            share * 100.0,
            if local {
                ": the servers on this machine had that much less CPU"
            } else {
                ""
            }
        ));
    }
    let busy = "so the capacity is lower and noisier than on a quiet machine";
    match other_cores(&knee, cores).filter(|_| local) {
        Some(other) if other >= OTHER_CORES_NOTED => notes.push(format!(
            "other programs used {other:.1} of the {cores} cores at the knee (the host's CPU less \
             the servers' and the load tool's): {busy}"
        )),
        Some(_) => {}
        // Without the servers' CPU, the load average before the search
        // (once it runs, the search itself raises it).
        None => {
            if let Some(load) = load_before.filter(|l| *l > cores as f64) {
                notes.push(format!(
                    "the load average was {load:.1} on {cores} cores before the search: other work \
                     shared the cores, {busy}"
                ));
            }
        }
    }
    notes
}

/// The CPU, in cores, that neither the servers nor the load tool used at
/// the knee's steps (the most of them): the host's utilisation less the
/// servers' process CPU and the tool's. Needs the servers' saturation (from
/// Prometheus) on the same host as the tool.
fn other_cores(knee: &[&StepRecord], cores: usize) -> Option<f64> {
    let cores = cores as f64;
    knee.iter()
        .filter_map(|s| {
            let server = s.server.as_ref()?;
            let host = server.host_cpu_ratio? * cores;
            Some((host - server.cpu_cores? - s.client.cpu_ratio? * cores).max(0.0))
        })
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

/// The one-minute load average, where the kernel reports it.
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn exit_code(c: &CapacityReport) -> u8 {
    match c.result.as_str() {
        "found" => 0,
        "below_lowest" => EXIT_BELOW_LOWEST,
        _ => EXIT_INCONCLUSIVE,
    }
}

/// Writes the report: JSON as `{"srelab": …}` with `capacity` inside, text
/// as the step table and then the report of the step at the capacity.
fn write(args: &Args, report: &Report) -> anyhow::Result<()> {
    let dest = args.bench.output_file.as_deref();
    match args.bench.output {
        ReportFormat::Json => output::write(ReportFormat::Json, dest, None, report),
        ReportFormat::Text => {
            let Some(capacity) = &report.capacity else {
                return output::write(ReportFormat::Text, dest, None, report);
            };
            let rate = report.rate.map_or("-".into(), report::number);
            let whole = format!(
                "{}\n[the step at {rate}/s]\n{}",
                capacity.render(&report.targets, &report.mix),
                text::render(report)
            );
            match dest {
                Some(path) => std::fs::write(path, whole)
                    .with_context(|| format!("writing {}", path.display())),
                None => {
                    print!("{whole}");
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step at the knee with the servers' and the host's CPU as a
    /// `lab --capacity` run on a quiet 2-core machine recorded them.
    fn step(host: f64, servers: f64, client: f64) -> StepRecord {
        serde_json::from_value(serde_json::json!({
            "step": 17, "stage": "bisect", "rate": 15600.0, "achieved": 15596.9,
            "requests": 124802, "p50": 0.0031, "p99": 0.0271, "error_ratio": 0.0,
            "verdict": "pass", "slo": [], "concurrency": 4096, "seconds": 10.3,
            "client": {"trustworthy": true, "fell_behind": false, "cpu_ratio": client,
                       "cpu_max_ratio": client, "timer_lag_p99": 0.001},
            "server": {"cpu_cores": servers, "host_cpu_ratio": host, "in_flight": 38.0}
        }))
        .unwrap()
    }

    #[test]
    fn other_programs_are_what_the_host_used_beyond_the_servers_and_the_tool() {
        // The search itself kept the machine busy: servers 1.31 cores, the
        // tool 27% of 2 cores, the host 96%: nobody else.
        let quiet = step(0.9585, 1.305, 0.274);
        let other = other_cores(&[&quiet], 2).unwrap();
        assert!((other - 0.064).abs() < 0.01, "{other}");
        // A build beside it: the host full, the servers and the tool held back.
        let busy = step(1.0, 0.6, 0.1);
        assert!((other_cores(&[&quiet, &busy], 2).unwrap() - 1.2).abs() < 1e-9);
        // Without the servers' CPU (no --prometheus) nothing can be said.
        let mut blind = step(1.0, 0.6, 0.1);
        blind.server = None;
        assert_eq!(other_cores(&[&blind], 2), None);
    }
}
