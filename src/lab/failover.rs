//! `srelab lab --check --lb`: failover under load. An open-model load goes
//! through HAProxy (`srelab load -r`, its failures read from its metrics
//! endpoint every [`POLL`]) beside writers that post items at a fixed rate
//! and record every acknowledged one; then:
//!
//! 1. crash: instance 1 gets SIGKILL; HAProxy's checks take it out
//!    (detection time); it stays out until `SrelabLbServersDown` fires, then
//!    restarts and is taken back in (recovery time). Failed requests must
//!    stay within [`Bound`], and none may fail once HAProxy marked it down.
//! 2. drain: instance 2 gets SIGTERM; it answers `/readyz` with 503 first,
//!    so HAProxy takes it out while it still serves, and only then exits:
//!    no request may fail and none may need resending.
//!
//! Last, the load stops gracefully and every acknowledged item is read back
//! through HAProxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::haproxy::{self, Timing};
use super::http::{self, Http, get_json, get_text, post_json};
use super::output::say;
use super::stack::{Lab, instance_name};
use super::wait;

/// The alert the crash waits for (prometheus/saturation.yml).
pub const SERVERS_DOWN_ALERT: &str = "SrelabLbServersDown";

/// The load tool's open-model rate and its most requests in flight.
const LOAD_RATE: u32 = 100;
const LOAD_CONCURRENCY: u32 = 32;
/// The writers' rate and their most posts in flight.
const WRITE_RATE: u32 = 20;
const WRITES_IN_FLIGHT: u32 = 16;
/// How often HAProxy's state and the failures are read.
const POLL: Duration = Duration::from_millis(50);
/// The longest any phase may take.
const LIMIT: Duration = Duration::from_secs(90);

/// The most requests a crash may fail: those in flight on the killed
/// instance (at most HAProxy's `maxconn` per server, and at most every
/// request in flight anywhere) plus those sent before its first failed
/// check (the whole rate over [`Timing::first_failure_limit`]: up to one
/// `inter` until the next check, plus that check's own time). HAProxy
/// resends the latter when their connection is refused (nothing was sent),
/// so on one host only requests in flight fail, and of those only POSTs:
/// GETs are resent when the server closes without an answer.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub in_flight: u64,
    pub before_check: u64,
}

impl Bound {
    /// For a load of `rate` requests per second with at most `in_flight`
    /// at once.
    pub fn new(t: &Timing, rate: f64, in_flight: u32) -> Bound {
        Bound {
            in_flight: t.maxconn.min(in_flight).into(),
            before_check: (rate * t.first_failure_limit().as_secs_f64()).ceil() as u64,
        }
    }

    /// The bound of this step's load (the load tool and the writers).
    pub fn of(t: &Timing) -> Bound {
        let rate = f64::from(LOAD_RATE + WRITE_RATE);
        Bound::new(t, rate, LOAD_CONCURRENCY + WRITES_IN_FLIGHT)
    }

    pub fn total(&self) -> u64 {
        self.in_flight + self.before_check
    }
}

/// What the failover showed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub detected: Duration,
    pub alert_after: Duration,
    pub recovered: Duration,
    pub failed_crash: u64,
    pub failed_after_down: u64,
    pub resent_crash: u64,
    pub drain_out: Duration,
    pub drain_exit: Duration,
    pub failed_drain: u64,
    pub resent_drain: u64,
    pub load: String,
    pub acknowledged: usize,
}

impl Outcome {
    /// Lines for the check's summary.
    pub fn lines(&self, bound: Bound) -> Vec<(&'static str, String)> {
        let s = |d: Duration| format!("{:.1}s", d.as_secs_f64());
        vec![
            (
                "crash (kill -9)",
                format!(
                    "taken out after {}, back in {} after restart, {SERVERS_DOWN_ALERT} fired after {}",
                    s(self.detected),
                    s(self.recovered),
                    s(self.alert_after)
                ),
            ),
            (
                "  failed requests",
                format!(
                    "{} (bound {}: {} in flight + {} sent before the first failed check), {} after it was out, {} resent by HAProxy",
                    self.failed_crash,
                    bound.total(),
                    bound.in_flight,
                    bound.before_check,
                    self.failed_after_down,
                    self.resent_crash
                ),
            ),
            (
                "drain (SIGTERM)",
                format!(
                    "taken out after {} while serving, exited after {}, {} failed, {} resent",
                    s(self.drain_out),
                    s(self.drain_exit),
                    self.failed_drain,
                    self.resent_drain
                ),
            ),
            ("  load through LB", self.load.clone()),
            (
                "  acknowledged",
                format!("{} writes, all read back", self.acknowledged),
            ),
        ]
    }

    /// Each gate the failover breached.
    pub fn problems(&self, bound: Bound, timing: &Timing) -> Vec<String> {
        let mut out = Vec::new();
        if self.failed_crash > bound.total() {
            out.push(format!(
                "the crash failed {} requests, more than the bound {}",
                self.failed_crash,
                bound.total()
            ));
        }
        if self.failed_after_down > 0 {
            out.push(format!(
                "{} requests failed after HAProxy took the crashed instance out",
                self.failed_after_down
            ));
        }
        if self.detected > timing.detection_limit() {
            out.push(format!(
                "HAProxy took {:.1}s to take the crashed instance out (limit {:?})",
                self.detected.as_secs_f64(),
                timing.detection_limit()
            ));
        }
        if self.failed_drain > 0 || self.resent_drain > 0 {
            out.push(format!(
                "the drain failed {} and resent {} requests; it must cost none",
                self.failed_drain, self.resent_drain
            ));
        }
        out
    }
}

/// Acknowledged writes and failed ones.
#[derive(Default)]
struct Ledger {
    acked: Mutex<Vec<(i64, serde_json::Value)>>,
    failed: AtomicU64,
}

/// The failover's moving parts: the load, the writers, the addresses.
struct Run {
    http: Http,
    lb: String,
    exporter: String,
    load_metrics: String,
    ledger: Arc<Ledger>,
}

impl Run {
    /// Failed requests so far: the load tool's and the writers'.
    async fn failures(&self) -> Result<u64, String> {
        let text = get_text(&self.http, &self.load_metrics)
            .await
            .ok_or("the load tool's metrics do not answer")?;
        Ok(load_failures(&text) + self.ledger.failed.load(Ordering::Relaxed))
    }

    async fn exporter(&self) -> Result<String, String> {
        get_text(&self.http, &self.exporter)
            .await
            .ok_or_else(|| format!("HAProxy's exporter {} does not answer", self.exporter))
    }

    async fn state(&self, server: &str) -> Option<String> {
        let text = self.exporter().await.ok()?;
        haproxy::server_states(&text).remove(server)
    }

    async fn resent(&self) -> Result<u64, String> {
        Ok(haproxy::resent(&self.exporter().await?) as u64)
    }

    /// Waits until HAProxy reports `server` in `state` (or the limit).
    async fn wait_state(&self, server: &str, state: &str) -> Result<Duration, String> {
        wait::until(LIMIT, POLL, || async {
            self.state(server).await.as_deref() == Some(state)
        })
        .await
        .ok_or_else(|| format!("HAProxy did not report {server} {state} within {LIMIT:?}"))
    }
}

/// Runs the failover; an error names the step that failed.
pub async fn run(lab: &mut Lab) -> Result<Outcome, String> {
    let Some((lb, exporter)) = lab.plan.lb_addrs() else {
        return Err("no HAProxy in this lab".into());
    };
    let report = lab.state.root().join("failover-load.json");
    let run = Run {
        http: http::client(),
        lb: format!("http://{lb}"),
        exporter: format!("http://{exporter}/metrics"),
        load_metrics: format!("http://{}/metrics", lab.plan.load_addr()),
        ledger: Arc::new(Ledger::default()),
    };
    lab.start_load_with("failover-load", &load_args(&run.lb, lab, &report))
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_at_rate(
        run.http.clone(),
        format!("{}/api/items", run.lb),
        Arc::clone(&run.ledger),
        Arc::clone(&stop),
    ));
    let result = phases(lab, &run).await;
    stop.store(true, Ordering::Relaxed);
    let _ = writer.await;
    let status = lab.wait_load(Duration::ZERO).await;
    let mut outcome = result?;
    outcome.load = load_summary(&report, status);
    outcome.acknowledged = read_back(&run).await?;
    Ok(outcome)
}

fn load_args(lb: &str, lab: &Lab, report: &std::path::Path) -> Vec<String> {
    let args = [
        "--target",
        lb,
        "--rate",
        &LOAD_RATE.to_string(),
        "--concurrency",
        &LOAD_CONCURRENCY.to_string(),
        "--mix",
        "list=2,create=2,get=1",
        "--duration",
        "10m",
        "--metrics-listen",
        &lab.plan.load_addr().to_string(),
        "--max-error-ratio",
        "1",
        "--quiet",
        "--output",
        "json",
        "--output-file",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(report.display().to_string());
    args
}

async fn phases(lab: &mut Lab, run: &Run) -> Result<Outcome, String> {
    let mut o = Outcome::default();
    let (first, second) = (instance_name(0), instance_name(1));
    // The load runs, both servers are in.
    wait::until(LIMIT, POLL, || async {
        run.failures().await.is_ok()
            && run.state(&first).await.as_deref() == Some("UP")
            && run.state(&second).await.as_deref() == Some("UP")
    })
    .await
    .ok_or("the failover's load did not start, or a server is not UP")?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    say(format_args!("failover: kill -9 {first} under load"));
    let (f0, r0) = (run.failures().await?, run.resent().await?);
    lab.kill_instance(0);
    o.detected = run.wait_state(&first, "DOWN").await?;
    let f_down = run.failures().await?;
    say(format_args!(
        "failover: HAProxy took {first} out after {:.1}s; waiting for {SERVERS_DOWN_ALERT}",
        o.detected.as_secs_f64()
    ));
    let firing = format!(r#"ALERTS{{alertname="{SERVERS_DOWN_ALERT}",alertstate="firing"}}"#);
    let t = Instant::now();
    wait::until(LIMIT, Duration::from_millis(500), || async {
        lab.prom.query(&firing).await.is_ok_and(|s| !s.is_empty())
    })
    .await
    .ok_or_else(|| format!("{SERVERS_DOWN_ALERT} did not fire within {LIMIT:?}"))?;
    o.alert_after = o.detected + t.elapsed();
    lab.restart_instance(0).map_err(|e| e.to_string())?;
    o.recovered = run.wait_state(&first, "UP").await?;
    taken_back(run, lab, 0).await?;
    let f1 = run.failures().await?;
    (o.failed_crash, o.failed_after_down) = (f1 - f0, f1 - f_down);
    o.resent_crash = run.resent().await? - r0;
    say(format_args!(
        "failover: {first} back in after {:.1}s; {} failed, {} resent",
        o.recovered.as_secs_f64(),
        o.failed_crash,
        o.resent_crash
    ));

    say(format_args!("drain: SIGTERM to {second} under load"));
    let r1 = run.resent().await?;
    lab.terminate_instance(1);
    let t = Instant::now();
    let mut out = None;
    let exited = loop {
        if out.is_none() && run.state(&second).await.as_deref() == Some("DOWN") {
            out = Some(t.elapsed());
        }
        if lab.instance_stopped(1).is_some() {
            break t.elapsed();
        }
        if t.elapsed() > LIMIT {
            return Err(format!("{second} did not exit within {LIMIT:?} of SIGTERM"));
        }
        tokio::time::sleep(POLL).await;
    };
    o.drain_out = out.ok_or_else(|| {
        format!(
            "{second} exited {:.1}s after SIGTERM before HAProxy took it out: it did not drain",
            exited.as_secs_f64()
        )
    })?;
    o.drain_exit = exited;
    lab.restart_instance(1).map_err(|e| e.to_string())?;
    run.wait_state(&second, "UP").await?;
    taken_back(run, lab, 1).await?;
    o.failed_drain = run.failures().await? - f1;
    o.resent_drain = run.resent().await? - r1;
    say(format_args!(
        "drain: {second} out after {:.1}s, exited after {:.1}s, back in; {} failed",
        o.drain_out.as_secs_f64(),
        o.drain_exit.as_secs_f64(),
        o.failed_drain
    ));
    Ok(o)
}

/// Waits until instance `i` serves API requests again (through HAProxy).
async fn taken_back(run: &Run, lab: &Lab, i: u16) -> Result<(), String> {
    let url = format!("http://{}/metrics", lab.plan.instance_addr(i));
    let served = || async {
        get_text(&run.http, &url)
            .await
            .map_or(0.0, |t| api_requests(&t))
    };
    let before = served().await;
    wait::until(LIMIT, POLL, || async { served().await > before })
        .await
        .map(|_| ())
        .ok_or_else(|| {
            format!(
                "{} served no request after it was back UP",
                instance_name(i)
            )
        })
}

/// Posts items at [`WRITE_RATE`] (each on its own task, at most
/// [`WRITES_IN_FLIGHT`] at once) until `stop`, recording each 201.
async fn write_at_rate(http: Http, url: String, ledger: Arc<Ledger>, stop: Arc<AtomicBool>) {
    let slots = Arc::new(Semaphore::new(WRITES_IN_FLIGHT as usize));
    let every = Duration::from_secs(1) / WRITE_RATE;
    let mut tick = tokio::time::interval(every);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0u64.. {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (http, url, ledger) = (http.clone(), url.clone(), Arc::clone(&ledger));
        tasks.spawn(async move {
            let body = serde_json::json!({"name": format!("failover-{i}"), "value": i});
            match post_json(&http, &url, &body).await {
                Some((201, item)) if item["id"].is_i64() => {
                    let id = item["id"].as_i64().unwrap_or_default();
                    ledger.acked.lock().await.push((id, item));
                }
                _ => {
                    ledger.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(slot);
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Reads every acknowledged item back through HAProxy; their number.
async fn read_back(run: &Run) -> Result<usize, String> {
    let acked = run.ledger.acked.lock().await;
    for (id, item) in acked.iter() {
        match get_json(&run.http, &format!("{}/api/items/{id}", run.lb)).await {
            Some((200, got)) if got == *item => {}
            other => return Err(format!("acknowledged item {id} read back as {other:?}")),
        }
    }
    Ok(acked.len())
}

/// Requests that did not get the right answer, in the load tool's metrics.
fn load_failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("srelab_load_requests_total{") && !l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Requests to `/api/…` routes an instance counted, in its metrics.
fn api_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains("route=\"/api/"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The load tool's own account of the run, from its JSON report.
fn load_summary(report: &std::path::Path, status: Option<std::process::ExitStatus>) -> String {
    let status = status.map_or("did not run".into(), |s| s.to_string());
    let parsed = std::fs::read_to_string(report)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let Some(steady) = parsed.as_ref().map(|r| &r["srelab"]["phases"]["steady"]) else {
        return format!("no report ({status})");
    };
    let failed = steady["unexpected"].as_u64().unwrap_or(0)
        + steady["transport_errors"].as_u64().unwrap_or(0);
    format!(
        "the load tool sent {} requests, {failed} failed ({}; {status})",
        steady["requests"].as_u64().unwrap_or(0),
        report.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_follows_the_template() {
        let b = Bound::of(&Timing::of_template());
        assert_eq!(b.in_flight, 32, "HAProxy's maxconn per server");
        assert_eq!(
            b.before_check, 360,
            "120/s over 1s to the next check + 2s for it"
        );
    }

    #[test]
    fn failures_from_the_load_metrics() {
        let text = "srelab_load_requests_total{target=\"t\",method=\"GET\",route=\"/api/items\",outcome=\"ok\"} 90\n\
            srelab_load_requests_total{target=\"t\",method=\"POST\",route=\"/api/items\",outcome=\"unexpected_status\"} 2\n\
            srelab_load_requests_total{target=\"t\",method=\"POST\",route=\"/api/items\",outcome=\"transport_error\"} 1\n";
        assert_eq!(load_failures(text), 3);
        let text = "http_requests_total{method=\"GET\",route=\"/api/items\",status=\"200\"} 4\n\
            http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 9\n";
        assert_eq!(api_requests(text), 4.0);
    }
}
