//! `srelab lab --check --backend postgres`'s database fault: under a write
//! load of its own (which records the id of every 201), stop PostgreSQL
//! until `SrelabDatabaseUnavailable` fires for every instance and each
//! answers `/readyz` with 503, start it again, wait until every instance is
//! ready and the alert resolved (no instance restarted), then read every
//! acknowledged item back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::defaults::JOB;
use super::http::{self, Http, get_json, post_json};
use super::stack::Lab;

/// The alert the database fault waits for (prometheus/alerts.yml).
pub const DATABASE_ALERT: &str = "SrelabDatabaseUnavailable";

/// How long each phase may take.
const LIMIT: Duration = Duration::from_secs(90);
/// Concurrent writers.
const WRITERS: usize = 4;

/// What the fault showed.
#[derive(Debug)]
pub struct Outcome {
    pub alert_after: Duration,
    pub recovered_after: Duration,
    pub acknowledged: usize,
    pub refused: usize,
}

/// Acknowledged writes (id and the JSON answered) and refusals seen.
#[derive(Default)]
struct Seen {
    acked: Mutex<Vec<(i64, serde_json::Value)>>,
    refused: AtomicUsize,
}

/// Runs the fault; an error names the step that failed.
pub async fn inject(lab: &mut Lab) -> Result<Outcome, String> {
    let http = http::client();
    let urls: Vec<String> = (0..lab.plan.instances)
        .map(|i| format!("http://{}", lab.plan.instance_addr(i)))
        .collect();
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (http, url) = (http.clone(), urls[w % urls.len()].clone());
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            tokio::spawn(write_until(http, url, w, seen, stop))
        })
        .collect();
    let result = steps(lab, &http, &urls, &seen).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let (alert_after, recovered_after) = result?;
    let acked = seen.acked.lock().await;
    for (id, item) in acked.iter() {
        let url = format!("{}/api/items/{id}", urls[0]);
        match get_json(&http, &url).await {
            Some((200, got)) if got == *item => {}
            Some((status, got)) => {
                return Err(format!(
                    "acknowledged item {id} read back as {status} {got}"
                ));
            }
            None => return Err(format!("acknowledged item {id}: no answer from {url}")),
        }
    }
    Ok(Outcome {
        alert_after,
        recovered_after,
        acknowledged: acked.len(),
        refused: seen.refused.load(Ordering::Relaxed),
    })
}

async fn steps(
    lab: &mut Lab,
    http: &Http,
    urls: &[String],
    seen: &Seen,
) -> Result<(Duration, Duration), String> {
    let acked = || async { seen.acked.lock().await.len() };
    if !poll(LIMIT, || async { acked().await >= 50 }).await {
        return Err("fewer than 50 writes acknowledged before the fault".into());
    }
    super::output::say("fault: stopping PostgreSQL under write load");
    lab.stop_postgres();
    let t = Instant::now();
    let firing =
        format!(r#"ALERTS{{alertname="{DATABASE_ALERT}",alertstate="firing",job="{JOB}"}}"#);
    let instances = urls.len();
    let all_firing = || async {
        lab.prom
            .query(&firing)
            .await
            .is_ok_and(|s| s.len() == instances)
    };
    if !poll(LIMIT, all_firing).await {
        return Err(format!(
            "{DATABASE_ALERT} did not fire for every instance within {LIMIT:?}"
        ));
    }
    let alert_after = t.elapsed();
    for url in urls {
        match get_json(http, &format!("{url}/readyz")).await {
            Some((503, _)) => {}
            other => {
                return Err(format!(
                    "{url}/readyz answered {other:?} with the database down"
                ));
            }
        }
    }
    super::output::say(format_args!(
        "fault: {DATABASE_ALERT} firing and every instance not ready after {:.1}s; starting PostgreSQL",
        alert_after.as_secs_f64()
    ));
    lab.start_postgres().await.map_err(|e| e.to_string())?;
    let t = Instant::now();
    let before = acked().await;
    let recovered = || async {
        for url in urls {
            if get_json(http, &format!("{url}/readyz")).await.map(|r| r.0) != Some(200) {
                return false;
            }
        }
        lab.prom.query(&firing).await.is_ok_and(|s| s.is_empty()) && acked().await > before + 50
    };
    if !poll(LIMIT, recovered).await {
        return Err(format!(
            "instances not ready, writing and the alert resolved within {LIMIT:?} of restarting PostgreSQL"
        ));
    }
    lab.check_children().map_err(|e| e.to_string())?;
    Ok((alert_after, t.elapsed()))
}

/// Polls `ok` every half second until it holds or `limit` passes.
async fn poll<F, Fut>(limit: Duration, ok: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    super::wait::until(limit, Duration::from_millis(500), ok)
        .await
        .is_some()
}

/// Posts items to `url` until `stop`, recording 201s and counting 503s.
async fn write_until(http: Http, url: String, w: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let url = format!("{url}/api/items");
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let body = serde_json::json!({"name": format!("db-fault-{w}-{i}"), "value": i});
        match post_json(&http, &url, &body).await {
            Some((201, item)) => {
                if let Some(id) = item["id"].as_i64() {
                    seen.acked.lock().await.push((id, item));
                }
            }
            _ => {
                seen.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
