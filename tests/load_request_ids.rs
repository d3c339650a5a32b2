//! Request ids from `srelab load` to `srelab serve`'s access log: every
//! request carries `SEED-K`, request `k` keeps its id from run to run, and
//! the outliers a report lists (`--outliers`) are found in the servers'
//! logs, on the instance the report names, with the status it saw.

mod common;
mod load_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, access_log};
use load_support::run_load;
use serde_json::Value;

/// A server logging every request as JSON into `NAME.log`.
fn serve_logging(dir: &Path, name: &str) -> (Server, std::path::PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let args = ["--access-log", "all", "--instance", name];
    (access_log::serve(&dir.join("srelab.db"), &log, &args), log)
}

/// The access-log lines of `log`, by request id.
fn lines_by_id(log: &Path) -> BTreeMap<String, Value> {
    access_log::lines(log)
        .into_iter()
        .map(|v| (v["request_id"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// Waits until the logs together hold `n` access lines (10 s at most).
fn wait_for_lines(logs: &[&Path], n: usize) -> Vec<BTreeMap<String, Value>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all: Vec<_> = logs.iter().map(|l| lines_by_id(l)).collect();
        let count: usize = all.iter().map(BTreeMap::len).sum();
        if count >= n || Instant::now() > deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reports_outliers_are_in_the_servers_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, log_a) = serve_logging(dir.path(), "a");
    let (b, log_b) = serve_logging(dir.path(), "b");
    let html = dir.path().join("report.html");
    // `work` takes 300 ms and the client gives up after 150 ms: those fail
    // (transport errors), and the servers see their clients leave (499).
    let run = run_load(&[
        "--target",
        &a.base_url,
        "--target",
        &b.base_url,
        "--mix",
        "list=6,work=1",
        "--work-ms",
        "300",
        "--request-timeout",
        "150ms",
        "--seed",
        "7",
        "-c",
        "4",
        "-n",
        "70",
        "--outliers",
        "5",
        "--max-error-ratio",
        "1",
        "-q",
        "-o",
        "json",
        "--html",
        html.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();
    let logs = wait_for_lines(&[&log_a, &log_b], 72);

    // Every request reached a server with its id (the start-up probe's
    // /healthz has none: the server made one).
    let ks: BTreeSet<u64> = logs
        .iter()
        .flat_map(|l| l.keys())
        .filter_map(|id| id.strip_prefix("0000000000000007-"))
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(ks, (0..70).collect(), "ids seen by the servers");

    let outliers = &report["outliers"];
    let by_target = |t: &Value| match t.as_str().unwrap() {
        u if u == a.base_url => (&logs[0], "a"),
        u if u == b.base_url => (&logs[1], "b"),
        u => panic!("unknown target {u}"),
    };
    let slowest = outliers["slowest"].as_array().unwrap();
    assert_eq!(slowest.len(), 5, "{outliers:#}");
    for o in slowest {
        let (lines, instance) = by_target(&o["target"]);
        let line = &lines[o["request_id"].as_str().unwrap()];
        assert_eq!(line["instance"], instance);
        assert_eq!(
            line["route"], "/api/work",
            "the slowest are the work requests: {o}"
        );
    }
    let failed = outliers["failed"].as_array().unwrap();
    let work_requests = report["phases"]["steady"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "work")
        .unwrap()["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(outliers["failed_total"], work_requests);
    assert_eq!(failed.len(), 5.min(work_requests as usize));
    for o in failed {
        assert_eq!(o["outcome"], "transport_error");
        let (lines, _) = by_target(&o["target"]);
        let line = &lines[o["request_id"].as_str().unwrap()];
        assert_eq!(line["status"], 499, "{line}");
        assert_eq!(line["level"], "WARN");
        let id = o["request_id"].as_str().unwrap();
        let k = id.rsplit('-').next().unwrap();
        assert!(
            outliers["logql"].as_str().unwrap().contains(k),
            "{outliers:#}"
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    for o in slowest.iter().chain(failed) {
        let id = o["request_id"].as_str().unwrap();
        assert!(page.contains(&format!(r#"data-request-id="{id}""#)), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_k_keeps_its_id_from_run_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_logging(dir.path(), "a");
    let routes = |seed: &str| {
        let args = [
            "--target",
            &server.base_url,
            "--mix",
            "list=1,create=1,health=1",
            "--seed",
            seed,
            "-c",
            "1",
            "-n",
            "30",
            "-q",
            "-o",
            "json",
        ]
        .map(String::from);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = run_load(&args).await;
            assert_eq!(run.code, Some(0), "{run:?}");
        }
    };
    routes("9").await;
    routes("9").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = access_log::lines(&log);
    while lines.len() < 62 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        lines = access_log::lines(&log);
    }
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let from_load =
        |l: &&Value| l["route"] != "/healthz" || l["request_id"].as_str().unwrap().contains('-');
    for l in lines.iter().filter(from_load) {
        seen.entry(l["request_id"].as_str().unwrap())
            .or_default()
            .push(l["route"].as_str().unwrap());
    }
    assert_eq!(seen.len(), 30, "{seen:?}");
    for (id, routes) in &seen {
        assert!(id.starts_with("0000000000000009-"), "{id}");
        assert_eq!(routes.len(), 2, "{id}: {routes:?}");
        assert_eq!(
            routes[0], routes[1],
            "the same id names the same request: {id}"
        );
    }
    let kinds: BTreeSet<&str> = seen.values().map(|r| r[0]).collect();
    assert!(kinds.len() > 1, "{kinds:?}");
}
