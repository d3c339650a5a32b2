//! One run over several worker processes (`srelab load --worker`) under a
//! coordinator (`srelab load --workers`), on 127.0.0.1 against real
//! `srelab serve`: the merged counts are the server's, the run's request
//! sequence is a single process's, the merged p99 is that of every
//! recorded latency, a killed worker is named and the run not trusted, and
//! a worker of another version is refused.

mod common;
mod load_support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{ChildGuard, spawn_serve};
use hdrhistogram::{Histogram, serialization::Deserializer};
use load_support::{finish, http_get, run_load, server_count, spawn_load};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// A running `srelab load --worker` and its address.
struct Worker {
    guard: ChildGuard,
    addr: String,
}

/// Starts `srelab load --worker --listen 127.0.0.1:0` and reads the address
/// it prints.
fn spawn_worker() -> Worker {
    let child = Command::new(common::srelab_bin())
        .args(["load", "--worker", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start srelab load --worker");
    let mut guard = ChildGuard::new("srelab load --worker", child);
    let mut lines = BufReader::new(guard.take_stdout().unwrap()).lines();
    let line = lines
        .next()
        .expect("the worker printed nothing")
        .expect("read the worker's stdout");
    std::thread::spawn(move || for _ in lines {});
    let addr = line
        .strip_prefix("worker listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Worker { guard, addr }
}

fn addresses(workers: &[Worker]) -> String {
    workers
        .iter()
        .map(|w| w.addr.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Requests per (method, route, status) over every phase of a report, for
/// one target.
fn counted(report: &Value, target: usize) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<(String, String, String, u64)> = Vec::new();
    for phase in report["phases"].as_object().unwrap().values() {
        for route in phase["targets"][target]["routes"].as_array().unwrap() {
            for (status, n) in route["statuses"].as_object().unwrap() {
                let key = (
                    route["method"].as_str().unwrap().to_owned(),
                    route["route"].as_str().unwrap().to_owned(),
                    status.clone(),
                );
                match out
                    .iter_mut()
                    .find(|(m, r, s, _)| (m, r, s) == (&key.0, &key.1, &key.2))
                {
                    Some(entry) => entry.3 += n.as_u64().unwrap(),
                    None => out.push((key.0, key.1, key.2, n.as_u64().unwrap())),
                }
            }
        }
    }
    out
}

/// An HDR histogram from a report's base64 field.
fn histogram(b64: &Value) -> Histogram<u64> {
    let bytes = STANDARD.decode(b64.as_str().unwrap()).unwrap();
    Deserializer::new().deserialize(&mut &bytes[..]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_count_what_the_server_counts_and_merge_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("srelab.db");
    let (a, b) = (spawn_serve(&db, &[]), spawn_serve(&db, &[]));
    let workers: Vec<Worker> = (0..3).map(|_| spawn_worker()).collect();
    let run = run_load(&[
        "--workers",
        &addresses(&workers),
        "--target",
        &a.base_url,
        "--target",
        &b.base_url,
        "--mix",
        "list=3,create=2,get=1",
        "-r",
        "150",
        "-c",
        "12",
        "-d",
        "3s",
        "--seed",
        "9",
        "--max-error-ratio",
        "0",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();

    // Each worker sent its share; together the schedule of one run.
    let shares: Vec<u64> = report["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["status"], "done", "{w:#}");
            assert_eq!(w["version"], env!("CARGO_PKG_VERSION"));
            w["requests"].as_u64().unwrap()
        })
        .collect();
    let total = report["phases"]["steady"]["requests"].as_u64().unwrap();
    assert_eq!(shares.iter().sum::<u64>(), total);
    assert!(shares.iter().all(|s| *s > 0), "{shares:?}");
    // 150/s for 3 s: the schedule of one process, every arrival that
    // started answered and counted (none dropped unless a worker fell
    // behind, which the report would say).
    let monitor = &report["monitor"];
    assert_eq!(monitor["arrivals_due"], 450, "{monitor:#}");
    assert_eq!(
        total + monitor["interrupted"].as_u64().unwrap(),
        monitor["arrivals_started"].as_u64().unwrap()
    );

    // The merged counts are the servers', route by route and status by
    // status, and the items created are the database's rows.
    let mut created = 0;
    for (i, server) in [&a, &b].iter().enumerate() {
        let scrape = http_get(&format!("{}/metrics", server.base_url)).await;
        let counts = counted(&report, i);
        assert!(counts.len() >= 2, "{report:#}");
        for (method, route, status, n) in counts {
            assert_eq!(
                server_count(&scrape, &method, &route, &status),
                n,
                "{method} {route} {status} on {}",
                server.base_url
            );
        }
        created += report["phases"]["steady"]["targets"][i]["items_created"]
            .as_u64()
            .unwrap();
    }
    let rows: u64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, created);

    // The merged p99 is the p99 of every latency the workers recorded:
    // record each worker's recorded values into one histogram, as a single
    // process would have, and compare.
    let mut single = Histogram::<u64>::new(3).unwrap();
    for w in report["workers"].as_array().unwrap() {
        let h = histogram(&w["steady_latency_hdr"]);
        for v in h.iter_recorded() {
            single
                .record_n(v.value_iterated_to(), v.count_at_value())
                .unwrap();
        }
    }
    assert_eq!(single.len(), total);
    let merged_p99 = report["phases"]["steady"]["latency"]["p99"]
        .as_f64()
        .unwrap();
    assert_eq!(
        merged_p99,
        single.value_at_quantile(0.99) as f64 / 1e6,
        "the merged p99 is the p99 of all recorded latencies"
    );
    let timeline_total: u64 = report["timeline"]["all"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        timeline_total, total,
        "the merged time series holds every request"
    );
}

/// With a mix whose kinds depend only on `--seed` and the request number
/// (no `get`, which reads back what earlier requests created), two workers
/// send exactly the requests of a single process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_send_the_requests_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let workers: Vec<Worker> = (0..2).map(|_| spawn_worker()).collect();
    let common = [
        "--target",
        &server.base_url,
        "--mix",
        "list=5,create=2,work=1,health=3",
        "--work-ms",
        "1",
        "--seed",
        "42",
        "-n",
        "301",
        "-c",
        "4",
        "-o",
        "json",
        "-q",
    ];
    let single = run_load(&common).await;
    assert_eq!(single.code, Some(0), "{single:?}");
    let split = run_load(&[&common[..], &["--workers", &addresses(&workers)]].concat()).await;
    assert_eq!(split.code, Some(0), "{split:?}");
    let per_kind = |report: &Value| -> Vec<(String, u64)> {
        report["phases"]["steady"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_owned(),
                    r["requests"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (one, two) = (per_kind(&single.srelab()), per_kind(&split.srelab()));
    assert_eq!(one.iter().map(|(_, n)| n).sum::<u64>(), 301);
    assert_eq!(one, two, "the same 301 requests, kind by kind");
    let shares: Vec<u64> = split.srelab()["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(shares, [151, 150]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_reported_and_the_run_is_not_trustworthy() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let mut workers: Vec<Worker> = (0..2).map(|_| spawn_worker()).collect();
    let child = spawn_load(&[
        "--workers",
        &addresses(&workers),
        "--target",
        &server.base_url,
        "--mix",
        "health=1",
        "-r",
        "100",
        "-c",
        "4",
        "-d",
        "4s",
        "-o",
        "json",
    ]);
    // Kill the second worker once the run is under way.
    let wait = async {
        loop {
            let scrape = http_get(&format!("{}/metrics", server.base_url)).await;
            if server_count(&scrape, "GET", "/healthz", "200") > 50 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the run never got under way");
    let killed = workers[1].addr.clone();
    workers[1].guard.kill9();
    let run = finish(child, Duration::from_secs(40)).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let report = run.srelab();
    assert_eq!(report["trustworthy"], false);
    assert_eq!(report["workers"][0]["status"], "done");
    assert_eq!(report["workers"][1]["status"], "died", "{report:#}");
    assert_eq!(report["workers"][1]["requests"], 0);
    let warnings = report["monitor"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("worker {killed} died")),
        "{warnings}"
    );
    assert!(
        run.stderr.contains(&format!("worker {killed} died")),
        "{}",
        run.stderr
    );
    // What the live worker sent is all there.
    assert_eq!(
        report["phases"]["steady"]["requests"],
        report["workers"][0]["requests"]
    );
}

/// A worker of another srelab version (here a test listener that speaks
/// the protocol's first line) is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        let hello: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        write
            .write_all(b"{\"hello\":{\"version\":\"0.0.0-other\",\"protocol\":1}}\n")
            .await
            .unwrap();
        let answer = lines.next_line().await.unwrap().unwrap_or_default();
        (hello, answer)
    });
    let real = spawn_worker();
    let run = run_load(&[
        "--workers",
        &format!("{},{addr}", real.addr),
        "--target",
        &server.base_url,
        "-n",
        "10",
        "-c",
        "2",
    ])
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let line = run.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(&format!(
            "error: worker {addr}: refused: it runs srelab 0.0.0-other"
        )) && line.contains(&format!("srelab {}", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    let (hello, answer) = fake.await.unwrap();
    assert_eq!(hello["hello"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(answer.starts_with("{\"refused\""), "{answer}");
    let scrape = http_get(&format!("{}/metrics", server.base_url)).await;
    assert_eq!(
        server_count(&scrape, "GET", "/api/items", "200"),
        0,
        "nothing ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_flag_mistakes_are_one_line_and_exit_2() {
    for args in [
        &["--worker", "--listen", "127.0.0.1:0", "-d", "5s"][..],
        &["--workers", "127.0.0.1:1,127.0.0.1:2", "-c", "1"],
        &["--workers", "127.0.0.1:1", "--baseline", "x"],
        &["--workers", "127.0.0.1:1,127.0.0.1:1", "-c", "2"],
        &["--worker"],
    ] {
        let run = run_load(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A coordinator that dies mid-run takes the run with it: its worker stops
/// sending at once and serves the next coordinator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_abandons_the_run_of_a_coordinator_that_died() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let worker = spawn_worker();
    let healthz = || async {
        let scrape = http_get(&format!("{}/metrics", server.base_url)).await;
        server_count(&scrape, "GET", "/healthz", "200")
    };
    let mut coordinator = spawn_load(&[
        "--workers",
        &worker.addr,
        "--target",
        &server.base_url,
        "--mix",
        "health=1",
        "-r",
        "100",
        "-c",
        "2",
        "-d",
        "60s",
        "-o",
        "json",
    ]);
    let under_way = async {
        while healthz().await < 50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), under_way)
        .await
        .expect("the run never got under way");
    coordinator.start_kill().unwrap();
    coordinator.wait().await.unwrap();
    // Requests in flight when it died may still finish; then nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = healthz().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(healthz().await, after, "the worker kept sending");

    let next = run_load(&[
        "--workers",
        &worker.addr,
        "--target",
        &server.base_url,
        "--mix",
        "health=1",
        "-n",
        "20",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(next.code, Some(0), "{next:?}");
    assert_eq!(next.srelab()["phases"]["steady"]["requests"], 20);
}

/// A worker stopped (SIGSTOP) for a few seconds mid-run falls silent: it is
/// named as lagging and the run is not trustworthy, though it finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lags_is_reported_and_the_run_is_not_trustworthy() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let workers: Vec<Worker> = (0..2).map(|_| spawn_worker()).collect();
    let child = spawn_load(&[
        "--workers",
        &addresses(&workers),
        "--target",
        &server.base_url,
        "--mix",
        "health=1",
        "-r",
        "50",
        "-c",
        "4",
        "-d",
        "8s",
        "-o",
        "json",
    ]);
    let under_way = async {
        loop {
            let scrape = http_get(&format!("{}/metrics", server.base_url)).await;
            if server_count(&scrape, "GET", "/healthz", "200") > 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), under_way)
        .await
        .expect("the run never got under way");
    workers[1].guard.signal(nix::sys::signal::Signal::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    workers[1].guard.signal(nix::sys::signal::Signal::SIGCONT);
    let run = finish(child, Duration::from_secs(40)).await;
    let report = run.srelab();
    assert_eq!(report["workers"][1]["status"], "done", "{report:#}");
    assert!(
        report["workers"][1]["max_silence_seconds"]
            .as_f64()
            .unwrap()
            > 3.0
    );
    assert_eq!(report["trustworthy"], false);
    let warnings = report["monitor"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("worker {} lagged: silent for", workers[1].addr)),
        "{warnings}"
    );
}
