//! Helpers of the `srelab load` tests: in-test HTTP servers that can fail,
//! slow down or stall on demand and record what they received, and a
//! runner for the real `srelab load` binary.
#![allow(dead_code)]

use std::{
    convert::Infallible,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::{net::TcpListener, sync::watch};

/// One request as a [`TestServer`] received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    /// When its head arrived.
    pub at: std::time::Instant,
}

/// A tiny HTTP server on 127.0.0.1:0 answering every request with `status`
/// after the configured delay, holding every answer back while stalled, and
/// recording what it received.
pub struct TestServer {
    pub url: String,
    /// Requests answered.
    pub requests: Arc<AtomicU64>,
    /// Every request received, in arrival order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stall: watch::Sender<bool>,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(status: u16) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stall, stalled) = watch::channel(false);
        let requests = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let state = (requests.clone(), seen.clone(), delay_ms.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (stalled, state) = (stalled.clone(), state.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (mut stalled, (counter, seen, delay_ms)) = (stalled.clone(), state.clone());
                    async move {
                        let at = std::time::Instant::now();
                        let method = req.method().to_string();
                        let path = req.uri().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        let body = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
                        seen.lock().unwrap().push(Seen {
                            method,
                            path,
                            body,
                            at,
                        });
                        let delay = delay_ms.load(Ordering::Relaxed);
                        if delay > 0 {
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                        }
                        let _ = stalled.wait_for(|s| !*s).await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        let resp = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from_static(b"{}")))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer {
            url,
            requests,
            seen,
            stall,
            delay_ms,
            task,
        }
    }

    /// The arguments of a quiet `srelab load` run of health checks against
    /// this server with a JSON report, then `extra`.
    pub fn health_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let base = [
            "--target", &self.url, "--mix", "health=1", "-q", "-o", "json",
        ];
        [&base[..], extra].concat()
    }

    /// When the requests of the run arrived, in order, in seconds after the probe
    /// that precedes the run: the run starts after the probe, so these are
    /// at least each request's time since the start of the run.
    pub fn arrival_times(&self) -> Vec<f64> {
        let seen = self.seen.lock().unwrap();
        let probe = seen[0].at;
        let mut times: Vec<f64> = seen[1..]
            .iter()
            .map(|s| s.at.duration_since(probe).as_secs_f64())
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    /// Holds back (true) or releases (false) every answer.
    pub fn stall(&self, on: bool) {
        self.stall.send_replace(on);
    }

    /// Answers every later request only after `delay`.
    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Waits until the server has answered at least `n` requests.
    pub async fn answered(&self, n: u64) {
        let wait = async {
            while self.requests.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("the server never answered {n} requests"));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A finished `srelab load` run.
#[derive(Debug)]
pub struct LoadRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl LoadRun {
    /// The whole JSON report (run with `-o json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "report is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The srelab section of the JSON report.
    pub fn srelab(&self) -> Value {
        self.json()["srelab"].clone()
    }
}

/// Starts `srelab load ARGS` (killed if dropped, e.g. when a test fails).
pub fn spawn_load(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_srelab"))
        .arg("load")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn srelab load")
}

/// Waits for a load run, failing the test after `limit`.
pub async fn finish(child: tokio::process::Child, limit: Duration) -> LoadRun {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("srelab load did not finish in time")
        .expect("wait for srelab load");
    LoadRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `srelab load ARGS` to the end (at most 30 s).
pub async fn run_load(args: &[&str]) -> LoadRun {
    finish(spawn_load(args), Duration::from_secs(30)).await
}

/// A number from the report, in a readable panic when missing.
pub fn num(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[part],
        };
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("no number at {path} in {v:#}"))
}

/// `GET url` on a fresh connection; the body as text.
pub async fn http_get(url: &str) -> String {
    let uri: hyper::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().as_str().to_string();
    let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = Request::get(path)
        .header("host", authority)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of `http_requests_total{method,route,status}` in a scrape (0 if absent).
pub fn server_count(scrape: &str, method: &str, route: &str, status: &str) -> u64 {
    scrape
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter(|l| {
            l.contains(&format!("method=\"{method}\""))
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}
