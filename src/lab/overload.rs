//! `srelab lab --check --lb`: saturation alerts fired by load, for real.
//! The step measures what the instances sustain of `/api/work` (a short
//! closed-model run through HAProxy), drives an open-model load at twice
//! that until [`ALERTS`] fire (requests at each server near HAProxy's
//! maxconn, requests queueing in HAProxy), then stops the load and waits
//! until they resolve. (The instances' own in-flight gauge stays lower:
//! with the CPU saturated, requests wait unread in their sockets.)

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::output::say;
use super::stack::Lab;
use super::wait;

/// The saturation alerts the overload must fire (prometheus/saturation.yml).
pub const ALERTS: [&str; 2] = ["SrelabLbServerNearCapacity", "SrelabLbQueueing"];

/// Milliseconds of CPU per `/api/work` request.
const WORK_MS: u32 = 20;
/// The capacity run: its length and its workers.
const MEASURE: Duration = Duration::from_secs(4);
const MEASURE_CONCURRENCY: u32 = 8;
/// The overload: this many times the measured capacity, with enough
/// workers to fill every server's maxconn and HAProxy's queue.
const OVERLOAD: f64 = 2.0;
const OVERLOAD_CONCURRENCY: u32 = 160;
/// How long the alerts may take to fire, and to resolve.
const LIMIT: Duration = Duration::from_secs(120);

/// What the overload showed.
#[derive(Debug)]
pub struct Outcome {
    /// Requests per second the instances sustained (closed model).
    pub capacity: f64,
    pub rate: f64,
    /// Each alert and when it fired after the overload started.
    pub fired: Vec<(&'static str, Duration)>,
    /// How long after the load stopped every alert had resolved.
    pub resolved: Duration,
}

impl Outcome {
    /// The line for the check's summary.
    pub fn line(&self) -> String {
        let fired: Vec<String> = self
            .fired
            .iter()
            .map(|(a, d)| format!("{a} after {:.1}s", d.as_secs_f64()))
            .collect();
        format!(
            "measured {:.0} req/s of /api/work?ms={WORK_MS}, drove {:.0} req/s: {} fired; resolved {:.1}s after the load stopped",
            self.capacity,
            self.rate,
            fired.join(", "),
            self.resolved.as_secs_f64()
        )
    }
}

/// Runs the step; an error names what did not happen.
pub async fn run(lab: &mut Lab) -> Result<Outcome, String> {
    let target = lab
        .plan
        .load_targets()
        .into_iter()
        .next()
        .ok_or("no load target")?;
    let report = lab.state.root().join("capacity-load.json");
    let measure = [
        "--concurrency".to_owned(),
        MEASURE_CONCURRENCY.to_string(),
        "--duration".to_owned(),
        humantime::format_duration(MEASURE).to_string(),
        "--output".to_owned(),
        "json".to_owned(),
        "--output-file".to_owned(),
        report.display().to_string(),
    ];
    lab.start_load_with("capacity-load", &work_args(&target, &measure))
        .map_err(|e| e.to_string())?;
    lab.wait_load(MEASURE + Duration::from_secs(30)).await;
    let capacity = throughput(&report)?;
    let rate = (capacity * OVERLOAD).ceil();
    say(format_args!(
        "overload: the instances sustain {capacity:.0} req/s of /api/work?ms={WORK_MS}; driving {rate:.0} req/s until {} fire",
        ALERTS.join(" and ")
    ));
    let overload = [
        "--rate".to_owned(),
        rate.to_string(),
        "--concurrency".to_owned(),
        OVERLOAD_CONCURRENCY.to_string(),
        "--duration".to_owned(),
        "10m".to_owned(),
        "--metrics-listen".to_owned(),
        lab.plan.load_addr().to_string(),
        "--request-timeout".to_owned(),
        "30s".to_owned(),
    ];
    lab.start_load_with("overload", &work_args(&target, &overload))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let fired = fire(lab, started).await;
    lab.wait_load(Duration::ZERO).await;
    let fired = fired?;
    say("overload: load stopped; waiting until the alerts resolve");
    let quiet = wait::until(LIMIT, Duration::from_secs(1), || async {
        let mut any = false;
        for alert in ALERTS {
            any |= firing(lab, alert).await != Some(false);
        }
        !any
    })
    .await;
    let resolved = quiet
        .ok_or_else(|| format!("{ALERTS:?} still firing {LIMIT:?} after the overload stopped"))?;
    Ok(Outcome {
        capacity,
        rate,
        fired,
        resolved,
    })
}

/// Waits until every alert of [`ALERTS`] fires; when each did.
async fn fire(lab: &mut Lab, started: Instant) -> Result<Vec<(&'static str, Duration)>, String> {
    let mut fired: Vec<(&'static str, Duration)> = Vec::new();
    while fired.len() < ALERTS.len() {
        if started.elapsed() > LIMIT {
            let missing: Vec<&str> = ALERTS
                .into_iter()
                .filter(|a| !fired.iter().any(|(f, _)| f == a))
                .collect();
            return Err(format!(
                "{missing:?} did not fire within {LIMIT:?} of overload"
            ));
        }
        lab.check_children().map_err(|e| e.to_string())?;
        for alert in ALERTS {
            if !fired.iter().any(|(f, _)| *f == alert) && firing(lab, alert).await == Some(true) {
                say(format_args!(
                    "overload: {alert} firing after {:.1}s",
                    started.elapsed().as_secs_f64()
                ));
                fired.push((alert, started.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(fired)
}

/// Whether `alert` fires now (`None` when Prometheus does not answer).
async fn firing(lab: &Lab, alert: &str) -> Option<bool> {
    let query = format!(r#"ALERTS{{alertname="{alert}",alertstate="firing"}}"#);
    lab.prom.query(&query).await.ok().map(|s| !s.is_empty())
}

/// `srelab load` arguments for `/api/work` only, through `target`, quiet,
/// any answer accepted (overload fails requests on purpose), then `extra`.
fn work_args(target: &str, extra: &[String]) -> Vec<String> {
    let base = [
        "--target",
        target,
        "--mix",
        "list=0,create=0,get=0,work=1",
        "--work-ms",
        &WORK_MS.to_string(),
        "--max-error-ratio",
        "1",
        "--quiet",
    ];
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    args.extend(extra.iter().cloned());
    args
}

/// The steady throughput of a load report.
fn throughput(report: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(report)
        .map_err(|e| format!("the capacity run wrote no report {}: {e}", report.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))?;
    json["srelab"]["phases"]["steady"]["throughput"]
        .as_f64()
        .filter(|t| *t > 0.0)
        .ok_or_else(|| format!("no throughput in {}", report.display()))
}
