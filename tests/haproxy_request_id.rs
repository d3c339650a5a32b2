//! The request id through real HAProxy (the lab's one configuration,
//! `haproxy/srelab.cfg`) in front of two real `srelab serve` instances
//! logging every request: an `X-Request-Id` the client sends comes back
//! unchanged and is in the access log of the instance that answered, once;
//! without one, or with one the service refuses, the id the answer carries
//! is the one its instance logged.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::haproxy;
use common::{HttpConn, Response, Server, access_log};
use serde_json::Value;

/// Instance `name` logging every request into `DIR/NAME.log`.
fn instance(dir: &Path, name: &str) -> (Server, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let args = ["--access-log", "all", "--instance", name];
    (access_log::serve(&dir.join("srelab.db"), &log, &args), log)
}

/// The access-log lines of both logs whose request id is `id`.
fn logged(logs: &[PathBuf], id: &str) -> Vec<Value> {
    logs.iter()
        .flat_map(|l| access_log::lines(l))
        .filter(|v| v["request_id"] == id)
        .collect()
}

/// Waits until every id in `ids` has a line (10 s at most), then returns
/// each id's lines.
fn wait_logged(logs: &[PathBuf], ids: &[&str]) -> Vec<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Vec<Value>> = ids.iter().map(|id| logged(logs, id)).collect();
        if found.iter().all(|f| !f.is_empty()) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn id_of(r: &Response) -> String {
    r.header("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id in the answer: {:?}", r.headers))
        .to_owned()
}

#[test]
fn a_sent_request_id_comes_back_through_haproxy_and_reaches_the_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let (s1, log1) = instance(dir.path(), "s1");
    let (s2, log2) = instance(dir.path(), "s2");
    let lb = haproxy::start(&[("s1", s1.addr), ("s2", s2.addr)]);
    let logs = [log1, log2];
    let mut conn = HttpConn::connect(lb.addr).unwrap();

    // Ids as `srelab load` sends them, and one with every allowed character.
    let mut sent: Vec<String> = (0..8).map(|k| format!("00000000000000ff-{k}")).collect();
    sent.push("client_A.b:c@d/e+f=g-9".to_owned());
    for id in &sent {
        let r = conn
            .send("GET", "/api/items", &[("X-Request-Id", id)], b"", true)
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            id_of(&r),
            *id,
            "the answer through HAProxy carries the sent id"
        );
    }
    let ids: Vec<&str> = sent.iter().map(String::as_str).collect();
    let mut instances = std::collections::BTreeSet::new();
    for (id, lines) in ids.iter().zip(wait_logged(&logs, &ids)) {
        assert_eq!(lines.len(), 1, "{id}: one line on one instance: {lines:?}");
        let line = &lines[0];
        assert_eq!(line["route"], "/api/items", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        instances.insert(line["instance"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        instances.len(),
        2,
        "round robin: both instances logged some of the ids"
    );

    // No id, or one the service refuses (longer than 128 bytes): the
    // answer's id is a fresh one, and it is the one in the log.
    let long = "x".repeat(200);
    let mut fresh = Vec::new();
    for headers in [vec![], vec![("X-Request-Id", long.as_str())]] {
        let r = conn.send("GET", "/api/items", &headers, b"", true).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let id = id_of(&r);
        assert_ne!(id, long);
        fresh.push(id);
    }
    let ids: Vec<&str> = fresh.iter().map(String::as_str).collect();
    for (id, lines) in ids.iter().zip(wait_logged(&logs, &ids)) {
        assert_eq!(lines.len(), 1, "{id}: {lines:?}");
    }
    assert!(
        logged(&logs, &long).is_empty(),
        "a refused id is never logged"
    );
    drop(lb);
}
