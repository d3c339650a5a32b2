//! `srelab lab --drill`: proves the alerts good. Under steady open-model
//! load, a baseline with no fault must bring no notification; then each
//! fault of the [`catalogue`] in turn must bring its alert, *delivered* by
//! Alertmanager to the lab's receiver within a stated bound, no alert it
//! does not explain, and a resolution once cleared. Prints a table (fault,
//! expected alert, detection and resolution times with their bounds,
//! unexpected notifications); exit 1 on any miss.
//!
//! - [`scale`]: the rules' windows compressed in time (a 30-day SLO cannot
//!   be exercised in a minute).
//! - [`catalogue`]: the faults, their alerts and bounds.
//! - [`admin`]: the instances' `/admin/faults`; [`host`]: whether the host
//!   is busy with other work (the CPU step cannot be judged then).

pub mod admin;
pub mod catalogue;
pub mod host;
pub mod scale;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::output::{esay, say};
use super::receiver::{Notification, NotifiedAlert};
use super::run::{STARTUP_LIMIT, Signals, print_notices};
use super::stack::{Lab, Plan, instance_name};
use crate::slo::spec::Spec;
use catalogue::{FaultName, Step, Timing};

/// The load the drill runs unless options after `--` say otherwise: an
/// open model (the arrivals do not slow down when the service does), the
/// mix the latency step counts on, and no error gate (faults cause errors).
pub const LOAD: [&str; 8] = [
    "--rate",
    "50",
    "--concurrency",
    "64",
    "--mix",
    "list=2,create=2,get=1",
    "--max-error-ratio",
    "1",
];

/// Options of `--drill`.
#[derive(Debug, Clone)]
pub struct Options {
    pub timing: Timing,
    pub baseline: Duration,
    pub faults: Vec<FaultName>,
}

/// What one row of the table says.
#[derive(Debug, Clone)]
struct Outcome {
    fault: String,
    expected: String,
    detected: Option<Duration>,
    detect_bound: Option<Duration>,
    resolved: Option<Duration>,
    resolve_bound: Option<Duration>,
    unexpected: Vec<String>,
    /// Why the row is not judged (the host is busy), if so.
    not_judged: Option<String>,
    /// What the bounds are made of.
    why: String,
    /// When the row began (the next one's start ends it), and the alerts
    /// it explains: an alert that *started* in the row's time and is not
    /// explained by it is unexpected, whenever its notification came (an
    /// inhibited ticket is told only once its page resolves).
    started: SystemTime,
    explained: BTreeSet<String>,
}

impl Outcome {
    fn passed(&self) -> bool {
        let within = |t: Option<Duration>, b: Option<Duration>| match (t, b) {
            (Some(t), Some(b)) => t <= b,
            (None, None) => true,
            _ => false,
        };
        self.not_judged.is_some()
            || (within(self.detected, self.detect_bound)
                && within(self.resolved, self.resolve_bound)
                && self.unexpected.is_empty())
    }
}

/// What the drill saw, for the table and the exit code.
#[derive(Default)]
struct Drill {
    rows: Vec<Outcome>,
    problems: Vec<String>,
    /// Alerts that are not the drill's to judge (a busy host's CPU alert).
    noise: BTreeSet<String>,
    notes: Vec<String>,
}

/// Added to every bound's slack when other programs keep the host's CPU
/// busy (measured before the baseline).
const BUSY_SLACK: Duration = Duration::from_secs(5);

/// The host-wide alert that other programs can fire on their own.
const HOST_CPU_ALERT: &str = "SrelabCpuSaturation";

/// Whether other programs use more than half the host's CPU now (sampled
/// for 2 s). The first time they do, the host-wide CPU alert becomes noise
/// (the CPU step is not judged, the alert never unexpected), every bound
/// gets [`BUSY_SLACK`] more, and a note says when it was seen.
async fn busy_host(lab: &mut Lab, d: &mut Drill, timing: &mut Timing, when: &str) -> bool {
    let share = host::others_share(&lab.pids(), Duration::from_secs(2)).await;
    let Some(share) = share.filter(|s| *s > 0.5) else {
        return false;
    };
    if d.noise.insert(HOST_CPU_ALERT.into()) {
        // Prometheus, Alertmanager and the instances wait for the CPU too.
        timing.slack += BUSY_SLACK;
        d.notes.push(format!(
            "other programs used {:.0}% of this host's CPU {when}: the host-wide \
             {HOST_CPU_ALERT} is theirs to trigger, so the cpu step is not judged and that \
             alert is not counted as unexpected; every later bound has {}s more slack, since \
             scrapes, rule evaluations and deliveries wait for the CPU too",
            share * 100.0,
            BUSY_SLACK.as_secs()
        ));
    }
    true
}

/// Runs the drill; exit 0 when every step passed.
pub async fn run(plan: Plan, opts: Options) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let mut lab = Lab::prepare(plan)?;
    print_notices(&lab);
    let mut d = Drill::default();
    tokio::select! {
        r = steps(&mut lab, &opts, &mut d) => {
            if let Err(e) = r {
                d.problems.push(format!("{e:#}"));
            }
        }
        name = signals.recv() => d.problems.push(format!("interrupted by {name}")),
    }
    lab.shutdown();
    say(render(&d, &opts, started.elapsed()).trim_end());
    for p in &d.problems {
        esay(format_args!("drill: {p}"));
    }
    let failed = !d.problems.is_empty() || d.rows.iter().any(|r| !r.passed());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn steps(lab: &mut Lab, opts: &Options, d: &mut Drill) -> anyhow::Result<()> {
    let spec = Spec::parse("spec/slo.toml", crate::verify::assets::SLO_SPEC)?;
    lab.start().await?;
    lab.wait_targets(false, STARTUP_LIMIT).await?;
    anyhow::ensure!(
        lab.receiver.is_some(),
        "the drill needs Alertmanager and the receiver"
    );
    lab.start_load(Duration::from_secs(3600), false)?;
    lab.wait_targets(true, Duration::from_secs(30)).await?;
    say(format_args!(
        "drill: the lab is up, load runs; windows and `for:` compressed {}x (at least {})",
        opts.timing.scale.factor, opts.timing.scale.floor
    ));
    // Warm-up: caches fill, the first requests' latency leaves the windows.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut timing = opts.timing;
    busy_host(lab, d, &mut timing, "before the drill").await;
    quiet(lab, d, None, Duration::from_secs(90)).await;
    baseline(opts, d).await;
    let victim = lab.plan.instance_addr(0);
    for fault in &opts.faults {
        lab.check_children()?;
        let store = if lab.plan.postgres.is_some() {
            catalogue::Store::Postgres
        } else {
            catalogue::Store::Sqlite
        };
        let step = catalogue::step(*fault, &victim.to_string(), &timing, &spec, store);
        quiet(lab, d, Some(&step), Duration::from_secs(90)).await;
        let mut outcome = run_step(lab, &step, d).await?;
        // Other programs that took the CPU during the step: the host-wide
        // CPU alert is theirs from then on, and the CPU step's own
        // resolution cannot be told from theirs.
        let during = format!("during the {} step", step.fault);
        if busy_host(lab, d, &mut timing, &during).await {
            outcome.explained.insert(HOST_CPU_ALERT.into());
            if step.fault == FaultName::Cpu && outcome.not_judged.is_none() {
                outcome.not_judged = Some("the host got busy with other programs".into());
            }
        }
        say(format_args!(
            "drill: {} {}",
            step.fault,
            if outcome.passed() { "passed" } else { "FAILED" }
        ));
        d.rows.push(outcome);
    }
    // The load's own verdict does not matter (faults cause errors); stop it.
    lab.wait_load(Duration::ZERO).await;
    attribute(&mut d.rows, &received(lab));
    Ok(())
}

/// Waits until Prometheus has no pending alert (it would fire during the
/// next step and be taken for its doing) and `next`'s alert is not firing
/// (its detection would be no detection). Alerts of earlier steps that
/// still fire on long windows may go on: only alerts that *start* firing
/// during a step are judged. Before the baseline (`next` is `None`) no
/// alert may be active at all.
async fn quiet(lab: &mut Lab, d: &mut Drill, next: Option<&Step>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        if let Ok(samples) = lab.prom.query("ALERTS").await {
            last = samples
                .iter()
                .filter(|s| !d.noise.contains(s.label("alertname")))
                .filter(|s| {
                    // Before the baseline: nothing at all may be active.
                    next.is_none()
                        || s.label("alertstate") == "pending"
                        || next.is_some_and(|step| {
                            s.label("alertname") == step.expected
                                && step.expected_labels.iter().all(|(k, v)| s.label(k) == v)
                        })
                })
                .map(|s| format!("{} ({})", s.label("alertname"), s.label("alertstate")))
                .collect();
            if last.is_empty() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    d.problems.push(format!(
        "still active after waiting {limit:?} before {}: {}",
        next.map_or("the baseline".into(), |s| s.fault.to_string()),
        last.join(", ")
    ));
}

/// Every notification of this run, in the order received.
fn received(lab: &Lab) -> Vec<Notification> {
    lab.receiver
        .as_ref()
        .map(|r| r.received())
        .unwrap_or_default()
}

/// The alerts that started firing at or after `from` (their first firing
/// notification, or the first after a resolution; a group notification
/// that repeats an alert already firing does not count), with when.
fn fired_since(
    all: &[Notification],
    from: std::time::Instant,
) -> Vec<(std::time::Instant, &NotifiedAlert)> {
    let mut firing: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for n in all {
        for a in &n.alerts {
            let was_firing = firing.contains(a.fingerprint.as_str());
            if a.status == "firing" {
                firing.insert(&a.fingerprint);
                if !was_firing && n.received >= from {
                    out.push((n.received, a));
                }
            } else {
                firing.remove(a.fingerprint.as_str());
            }
        }
    }
    out
}

/// Gives each row the alerts that started (by Prometheus' `startsAt`)
/// between its start and the next row's, that it does not explain.
fn attribute(rows: &mut [Outcome], all: &[Notification]) {
    let mut alerts: Vec<(SystemTime, &NotifiedAlert)> = all
        .iter()
        .flat_map(|n| n.alerts.iter())
        .filter(|a| a.status == "firing")
        .filter_map(|a| Some((a.starts()?, a)))
        .collect();
    alerts.sort_by(|(t, a), (u, b)| t.cmp(u).then(a.fingerprint.cmp(&b.fingerprint)));
    alerts.dedup_by(|(t, a), (u, b)| t == u && a.fingerprint == b.fingerprint);
    let ends: Vec<Option<SystemTime>> = rows
        .iter()
        .skip(1)
        .map(|r| Some(r.started))
        .chain([None])
        .collect();
    for (row, end) in rows.iter_mut().zip(ends) {
        let mut out: Vec<String> = alerts
            .iter()
            .filter(|(t, a)| {
                *t >= row.started && end.is_none_or(|e| *t < e) && !row.explained.contains(a.name())
            })
            .map(|(_, a)| a.describe())
            .collect();
        out.sort();
        out.dedup();
        row.unexpected = out;
    }
}

async fn baseline(opts: &Options, d: &mut Drill) {
    say(format_args!(
        "drill: baseline, no fault, for {}",
        humantime::format_duration(opts.baseline)
    ));
    let started = SystemTime::now();
    tokio::time::sleep(opts.baseline).await;
    d.rows.push(Outcome {
        fault: format!("baseline {}", humantime::format_duration(opts.baseline)),
        expected: "none".into(),
        detected: None,
        detect_bound: None,
        resolved: None,
        resolve_bound: None,
        unexpected: Vec::new(),
        not_judged: None,
        why: String::new(),
        started,
        explained: d.noise.clone(),
    });
}

/// Injects `step`'s fault, waits for its alert's delivery, clears it,
/// waits for the resolution.
async fn run_step(lab: &mut Lab, step: &Step, d: &Drill) -> anyhow::Result<Outcome> {
    let mut explained: BTreeSet<String> = d.noise.clone();
    explained.insert(step.expected.clone());
    explained.extend(step.allowed.iter().map(|a| a.to_string()));
    let mut outcome = Outcome {
        fault: step.fault.to_string(),
        expected: step.expected.clone(),
        detected: None,
        detect_bound: Some(step.detect_bound),
        resolved: None,
        resolve_bound: Some(step.resolve_bound),
        unexpected: Vec::new(),
        not_judged: None,
        why: format!(
            "detection: {}; resolution: {}",
            step.detect_why, step.resolve_why
        ),
        started: SystemTime::now(),
        explained: explained.clone(),
    };
    if d.noise.contains(&step.expected) {
        outcome.not_judged = Some("the host is busy with other programs".into());
        return Ok(outcome);
    }
    let matches = |a: &NotifiedAlert| {
        a.name() == step.expected
            && step
                .expected_labels
                .iter()
                .all(|(k, v)| a.labels.get(*k) == Some(v))
    };
    say(format_args!(
        "drill: {}: expecting {} within {:.0}s",
        step.fault,
        step.expected,
        step.detect_bound.as_secs_f64()
    ));
    let t0 = std::time::Instant::now();
    inject(lab, step.fault).await?;
    // Wait past the bound (to report how late), but not forever.
    let limit = (step.detect_bound * 2).max(Duration::from_secs(60));
    let detected = wait_for(lab, limit, |all| {
        fired_since(all, t0)
            .into_iter()
            .find(|(_, a)| matches(a))
            .map(|(t, _)| t)
    })
    .await;
    clear(lab, step.fault).await?;
    let t1 = std::time::Instant::now();
    if detected.is_some() {
        let limit = (step.resolve_bound * 2).max(Duration::from_secs(60));
        outcome.resolved = wait_for(lab, limit, |all| {
            // Every alert of the step's kind that fired must resolve.
            let mut last = None;
            for (_, fired) in fired_since(all, t0).into_iter().filter(|(_, a)| matches(a)) {
                let at = all.iter().find(|n| {
                    n.received >= t1
                        && n.alerts
                            .iter()
                            .any(|a| a.fingerprint == fired.fingerprint && a.status == "resolved")
                })?;
                last = last.max(Some(at.received));
            }
            last
        })
        .await
        .map(|t| t.duration_since(t1));
    }
    let all = received(lab);
    if let Some(n) = all
        .iter()
        .find(|n| n.received >= t0 && n.alerts.iter().any(&matches))
    {
        outcome.expected = format!("{} ({})", step.expected, n.receiver);
    }
    outcome.detected = detected.map(|t| t.duration_since(t0));
    Ok(outcome)
}

/// Polls the notifications until `found` returns the instant it was
/// satisfied, or `limit` passes (or a child of the lab dies).
async fn wait_for(
    lab: &mut Lab,
    limit: Duration,
    found: impl Fn(&[Notification]) -> Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(t) = found(&received(lab)) {
            return Some(t);
        }
        if lab.check_children().is_err() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Every instance's address.
fn instances(lab: &Lab) -> Vec<std::net::SocketAddr> {
    (0..lab.plan.instances)
        .map(|i| lab.plan.instance_addr(i))
        .collect()
}

async fn inject(lab: &mut Lab, fault: FaultName) -> anyhow::Result<()> {
    let victim = lab.plan.instance_addr(0);
    let set = |addr, json: String| async move { admin::set(addr, &json).await };
    match fault {
        FaultName::InstanceDown | FaultName::BackendDown => {
            say(format_args!("drill: stopping {}", instance_name(0)));
            lab.stop_instance(0);
        }
        FaultName::ErrorRatio => {
            for addr in instances(lab) {
                let json = format!(r#"{{"kind":"error","ratio":{}}}"#, catalogue::ERROR_RATIO);
                set(addr, json).await.map_err(anyhow::Error::msg)?;
            }
        }
        FaultName::Latency => {
            for addr in instances(lab) {
                let json = format!(
                    r#"{{"kind":"latency","route":"/api/items","ms":{}}}"#,
                    catalogue::ADDED_LATENCY_MS
                );
                set(addr, json).await.map_err(anyhow::Error::msg)?;
            }
        }
        FaultName::Cpu => set(victim, r#"{"kind":"cpu"}"#.into())
            .await
            .map_err(anyhow::Error::msg)?,
        FaultName::Memory => {
            let (per_second, max) = memory_growth();
            let json =
                format!(r#"{{"kind":"memory","mib_per_second":{per_second},"max_mib":{max}}}"#);
            set(victim, json).await.map_err(anyhow::Error::msg)?;
        }
        FaultName::DbLock => {
            let json = format!(
                r#"{{"kind":"db_lock","duty":{},"period_ms":{}}}"#,
                catalogue::LOCK_DUTY,
                catalogue::LOCK_PERIOD.as_millis()
            );
            set(victim, json).await.map_err(anyhow::Error::msg)?;
        }
    }
    Ok(())
}

async fn clear(lab: &mut Lab, fault: FaultName) -> anyhow::Result<()> {
    match fault {
        FaultName::InstanceDown | FaultName::BackendDown => {
            lab.restart_instance(0)?;
        }
        _ => {
            for addr in instances(lab) {
                admin::clear(addr).await.map_err(anyhow::Error::msg)?;
            }
        }
    }
    Ok(())
}

/// The memory growth to inject, in MiB/s, and its cap: 2.5 times the rate
/// that fills 90% of the host's memory in 4 hours (what the alert is
/// meant to catch), for at most two minutes.
fn memory_growth() -> (u32, u32) {
    let total = procfs::Current::current()
        .map(|m: procfs::Meminfo| m.mem_total)
        .unwrap_or(8 << 30);
    let per_second = catalogue::MEMORY_GROWTH_FACTOR * 0.9 * total as f64 / (4.0 * 3600.0);
    let mib = ((per_second / 1048576.0).ceil() as u32).clamp(1, 1024);
    (mib, (mib * 120).min(65_536))
}

fn render(d: &Drill, opts: &Options, total: Duration) -> String {
    let secs = |t: Option<Duration>| t.map_or("-".into(), |t| format!("{:.1}s", t.as_secs_f64()));
    let verdict = if d.problems.is_empty() && d.rows.iter().all(Outcome::passed) {
        "PASSED"
    } else {
        "FAILED"
    };
    let mut out = format!(
        "\nlab drill: {verdict} (windows and `for:` compressed {}x, at least {}; total {:.0}s)\n",
        opts.timing.scale.factor,
        opts.timing.scale.floor,
        total.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  {:<14} {:<38} {:>9} {:>7} {:>9} {:>7}  unexpected",
        "fault", "expected alert (receiver)", "detected", "bound", "resolved", "bound"
    );
    for r in &d.rows {
        let mark = if r.passed() { "" } else { "  <- MISS" };
        let unexpected = match &r.not_judged {
            Some(why) => format!("not judged: {why}"),
            None => r.unexpected.len().to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<14} {:<38} {:>9} {:>7} {:>9} {:>7}  {unexpected}{mark}",
            r.fault,
            r.expected,
            secs(r.detected),
            secs(r.detect_bound),
            secs(r.resolved),
            secs(r.resolve_bound),
        );
        for u in &r.unexpected {
            let _ = writeln!(out, "      unexpected: {u}");
        }
    }
    out.push_str("  bounds:\n");
    for r in d.rows.iter().filter(|r| !r.why.is_empty()) {
        let _ = writeln!(out, "    {:<14} {}", r.fault, r.why);
    }
    for n in &d.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}
