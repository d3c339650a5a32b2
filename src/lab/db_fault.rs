//! `srelab lab --check --backend postgres`'s database fault: under a write
//! load of its own (which records the id of every 201), stop PostgreSQL
//! until `SrelabDatabaseUnavailable` fires for every instance and each
//! answers `/readyz` with 503, start it again, wait until every instance is
//! ready and the alert resolved (no instance restarted), then read every
//! acknowledged item back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::defaults::JOB;
use super::stack::Lab;

/// The alert the database fault waits for (prometheus/alerts.yml).
pub const DATABASE_ALERT: &str = "SrelabDatabaseUnavailable";

/// How long each phase may take.
const LIMIT: Duration = Duration::from_secs(90);
/// Concurrent writers.
const WRITERS: usize = 4;

type Http = Client<HttpConnector, Full<Bytes>>;

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
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
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
async fn poll<F, Fut>(limit: Duration, mut ok: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// Posts items to `url` until `stop`, recording 201s and counting 503s.
async fn write_until(http: Http, url: String, w: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let body = serde_json::json!({"name": format!("db-fault-{w}-{i}"), "value": i}).to_string();
        let req = http::Request::post(format!("{url}/api/items"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)));
        let Ok(req) = req else { return };
        match answer(&http, req).await {
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

async fn get_json(http: &Http, url: &str) -> Option<(u16, serde_json::Value)> {
    let req = http::Request::get(url).body(Full::new(Bytes::new())).ok()?;
    answer(http, req).await
}

/// Sends `req` (10 s at most) and parses the JSON answer.
async fn answer(http: &Http, req: http::Request<Full<Bytes>>) -> Option<(u16, serde_json::Value)> {
    let resp = tokio::time::timeout(Duration::from_secs(10), http.request(req))
        .await
        .ok()?
        .ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, serde_json::from_slice(&body).unwrap_or_default()))
}
