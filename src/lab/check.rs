//! `srelab lab --check`: start everything, drive load, run verify while it
//! runs, inject a fault (stop one instance) until the instance-down alert
//! fires, restart it until it recovers; on PostgreSQL, stop the database
//! under load until its alert fires ([`db_fault`]); stop everything. Prints the figures
//! (time until every target is up, total time, peak memory); the exit code
//! is the verdict.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;

use super::defaults::JOB;
use super::haproxy::Timing;
use super::output::{esay, say};
use super::process;
use super::run::{STARTUP_LIMIT, Signals, print_notices};
use super::stack::{Lab, Plan, instance_name};
use super::{db_fault, failover, overload};
use crate::verify;
use crate::verify::alert::{self, State, Want};

/// The spec's log signal of the error lines that `--check` forces (with Loki).
pub const ERROR_LINES: &str = "error_lines";

/// The alert the fault injection waits for (prometheus/alerts.yml).
pub const INSTANCE_DOWN_ALERT: &str = "SrelabInstanceDown";

/// How long the fault injection waits for the alert, and for recovery.
const FAULT_LIMIT: Duration = Duration::from_secs(90);

/// Options of `--check`.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub fault: bool,
    /// What verify checks (read before anything starts).
    pub verify: verify::Config,
}

/// What the check saw.
#[derive(Debug, Default)]
struct Verdict {
    targets_up: Option<Duration>,
    verify: Option<(bool, Duration)>,
    alert_fired: Option<(String, Duration)>,
    recovered: Option<Duration>,
    database_fault: Option<db_fault::Outcome>,
    failover: Option<failover::Outcome>,
    overload: Option<overload::Outcome>,
    problems: Vec<String>,
}

/// Runs the check; exit 0 when everything passed, 1 otherwise.
pub async fn run(plan: Plan, opts: Options) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let mut lab = Lab::prepare(plan)?;
    print_notices(&lab);
    let mut v = Verdict::default();
    tokio::select! {
        r = steps(&mut lab, &opts, started, &mut v) => {
            if let Err(e) = r {
                v.problems.push(format!("{e:#}"));
            }
        }
        name = signals.recv() => v.problems.push(format!("interrupted by {name}")),
    }
    let peaks = lab.shutdown();
    say(render(&v, started.elapsed(), &peaks).trim_end());
    for p in &v.problems {
        esay(format_args!("check: {p}"));
    }
    Ok(if v.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn steps(
    lab: &mut Lab,
    opts: &Options,
    started: Instant,
    v: &mut Verdict,
) -> anyhow::Result<()> {
    lab.start().await?;
    lab.wait_targets(false, STARTUP_LIMIT).await?;
    v.targets_up = Some(started.elapsed());
    say(format_args!(
        "lab: every scrape target up after {:.1}s; load for {}",
        started.elapsed().as_secs_f64(),
        humantime::format_duration(opts.duration)
    ));
    if lab.grafana_healthy(Duration::from_secs(60)).await == Some(false) {
        v.problems.push(format!(
            "grafana did not answer /api/health within 60s; see {}",
            lab.state.log("grafana").display()
        ));
    }
    verify_under_load(lab, opts, v).await?;
    if v.problems.is_empty() && opts.fault {
        fault(lab, v).await?;
    }
    if v.problems.is_empty() && opts.fault && lab.plan.lb.is_some() {
        load_balancer(lab, v).await;
    }
    if v.problems.is_empty() && opts.fault && lab.plan.postgres.is_some() {
        match db_fault::inject(lab).await {
            Ok(outcome) => v.database_fault = Some(outcome),
            Err(problem) => v.problems.push(format!("database fault: {problem}")),
        }
    }
    Ok(())
}

/// Drives the load tool for the duration and runs verify meanwhile.
async fn verify_under_load(lab: &mut Lab, opts: &Options, v: &mut Verdict) -> anyhow::Result<()> {
    lab.start_load(opts.duration, false)?;
    lab.wait_targets(true, Duration::from_secs(30)).await?;
    if let Some(logs) = &lab.plan.logs {
        super::logs::ready(lab, logs, STARTUP_LIMIT)
            .await
            .map_err(anyhow::Error::msg)?;
        super::logs::force_server_errors(lab)
            .await
            .map_err(|e| anyhow::anyhow!("forcing a 5xx for the error lines: {e}"))?;
    }
    let t = Instant::now();
    let report = verify::check::run(&opts.verify).await?;
    say(report.table().trim_end());
    v.verify = Some((report.ok(), t.elapsed()));
    v.problems.extend(report.problems());
    let load = lab.wait_load(opts.duration + Duration::from_secs(30)).await;
    match load {
        Some(s) if s.success() => {}
        Some(s) => v.problems.push(format!(
            "load tool exited with {s}; see {}",
            lab.state.log("load").display()
        )),
        None => v.problems.push("load tool did not run".into()),
    }
    Ok(())
}

/// Stops the first instance until the instance-down alert fires, then
/// restarts it until it is up and the alert resolved (Prometheus' alerts
/// API, through `verify alert`, as the NixOS VM test asks it).
async fn fault(lab: &mut Lab, v: &mut Verdict) -> anyhow::Result<()> {
    let victim = lab.plan.instance_addr(0).to_string();
    say(format_args!(
        "fault: stopping {} ({victim})",
        instance_name(0)
    ));
    lab.stop_instance(0);
    let prom = lab.prom.clone();
    let labels = [("job", JOB), ("instance", victim.as_str())];
    let firing = Want::new(INSTANCE_DOWN_ALERT, State::Firing, &labels);
    let children = |lab: &mut Lab| lab.check_children().map_err(|e| e.to_string());
    match alert::wait(&prom, &firing, FAULT_LIMIT, || children(lab)).await {
        Ok(after) => {
            v.alert_fired = Some((victim.clone(), after));
            say(format_args!(
                "fault: {INSTANCE_DOWN_ALERT} firing after {:.1}s; restarting",
                after.as_secs_f64()
            ));
        }
        Err(e) => {
            v.problems.push(format!("{e} after stopping {victim}"));
            return Ok(());
        }
    }
    lab.restart_instance(0)?;
    let t = Instant::now();
    let resolved = Want::new(INSTANCE_DOWN_ALERT, State::Inactive, &labels);
    let recovered = match lab.wait_targets(false, FAULT_LIMIT).await {
        Ok(()) => {
            let left = FAULT_LIMIT.saturating_sub(t.elapsed());
            alert::wait(&prom, &resolved, left, || children(lab)).await
        }
        Err(e) => Err(e.to_string()),
    };
    match recovered {
        Ok(_) => {
            v.recovered = Some(t.elapsed());
            say(format_args!(
                "fault: {victim} up and the alert resolved after {:.1}s",
                t.elapsed().as_secs_f64()
            ));
        }
        Err(e) => v.problems.push(format!(
            "{victim} did not recover (up and alert resolved) within {FAULT_LIMIT:?}: {e}"
        )),
    }
    Ok(())
}

/// With `--lb`: the failover (crash, drain) and the overload.
async fn load_balancer(lab: &mut Lab, v: &mut Verdict) {
    match failover::run(lab).await {
        Ok(outcome) => {
            let bound = failover::Bound::of(&Timing::of_template());
            v.problems
                .extend(outcome.problems(bound, &Timing::of_template()));
            v.failover = Some(outcome);
        }
        Err(problem) => v.problems.push(format!("failover: {problem}")),
    }
    if v.problems.is_empty() {
        match overload::run(lab).await {
            Ok(outcome) => v.overload = Some(outcome),
            Err(problem) => v.problems.push(format!("overload: {problem}")),
        }
    }
}

fn render(v: &Verdict, total: Duration, peaks: &BTreeMap<String, u64>) -> String {
    let secs = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    let verdict = if v.problems.is_empty() {
        "PASSED"
    } else {
        "FAILED"
    };
    let mut out = format!("\nlab check: {verdict}\n");
    let mut line = |k: &str, val: String| out.push_str(&format!("  {k:<22}{val}\n"));
    line(
        "all targets up after",
        v.targets_up.map_or("-".into(), secs),
    );
    line(
        "verify",
        v.verify.map_or("-".into(), |(ok, d)| {
            format!("{} after {}", if ok { "passed" } else { "failed" }, secs(d))
        }),
    );
    line(
        "instance-down alert",
        v.alert_fired.as_ref().map_or("-".into(), |(who, d)| {
            format!("fired {} after stopping {who}", secs(*d))
        }),
    );
    line(
        "recovery",
        v.recovered.map_or("-".into(), |d| {
            format!("up and resolved {} after restart", secs(d))
        }),
    );
    if let Some(f) = &v.database_fault {
        line(
            "database fault",
            format!(
                "alert after {}, recovered {} after restart, {} acknowledged writes all read back ({} refused while down)",
                secs(f.alert_after),
                secs(f.recovered_after),
                f.acknowledged,
                f.refused
            ),
        );
    }
    if let Some(f) = &v.failover {
        for (k, val) in f.lines(failover::Bound::of(&Timing::of_template())) {
            line(k, val);
        }
    }
    if let Some(o) = &v.overload {
        line("overload", o.line());
    }
    line("total", secs(total));
    line("peak memory", memory(peaks));
    out
}

/// The sum of every child's peak resident memory, plus the lab's own.
fn memory(peaks: &BTreeMap<String, u64>) -> String {
    let own = process::vm_hwm_kib(std::process::id()).unwrap_or(0);
    let total: u64 = peaks.values().sum::<u64>() + own;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let parts: Vec<String> = peaks
        .iter()
        .map(|(n, k)| format!("{n} {:.1}", mib(*k)))
        .chain([format!("lab {:.1}", mib(own))])
        .collect();
    format!(
        "{:.1} MiB (sum of VmHWM, MiB: {})",
        mib(total),
        parts.join(", ")
    )
}
