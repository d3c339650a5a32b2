//! `srelab serve --faults`: each fault set through `/admin/faults` changes
//! the metric its alert reads (5xx counts, the latency histogram, process
//! CPU, resident memory, database busy retries and 503s), shows in
//! `srelab_fault_active{kind}`, and goes away when cleared; mistakes get
//! the service's JSON errors; without `--faults` the endpoint is not there.

mod common;

use std::time::{Duration, Instant};

use common::backend::{Backend, TestDb};
use common::{Server, request, sample, spawn_serve};

fn admin(server: &Server, method: &str, target: &str, body: &str) -> common::Response {
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    request(server.addr, method, target, headers, body.as_bytes())
}

fn set(server: &Server, fault: &str) {
    let r = admin(server, "POST", "/admin/faults", fault);
    assert_eq!(r.status, 200, "{fault}: {}", r.text());
}

fn clear(server: &Server, kind: &str) {
    let r = admin(server, "DELETE", &format!("/admin/faults?kind={kind}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
}

fn metric(server: &Server, series: &str) -> f64 {
    sample(&server.metrics(), series).unwrap_or(0.0)
}

fn active(server: &Server, kind: &str) -> f64 {
    metric(server, &format!("srelab_fault_active{{kind=\"{kind}\"}}"))
}

/// Polls `f` until it holds, failing with `what` after `limit`.
fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_the_flag_there_is_no_admin_endpoint_but_the_gauges_exist() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--no-host-metrics"]);
    let r = admin(&server, "GET", "/admin/faults", "");
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    for kind in ["error", "latency", "cpu", "memory", "db_lock"] {
        assert_eq!(active(&server, kind), 0.0, "{kind}");
    }
}

#[test]
fn mistakes_get_json_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--faults", "--no-host-metrics"]);
    for (body, status, code) in [
        ("{", 400, "malformed_json"),
        (r#"{"kind":"fire"}"#, 422, "invalid_field"),
        (r#"{"kind":"error","ratio":2}"#, 422, "invalid_field"),
        (
            r#"{"kind":"error","ratio":0.5,"route":"/metrics"}"#,
            422,
            "invalid_field",
        ),
        (r#"{"kind":"cpu","threads":0}"#, 422, "invalid_field"),
    ] {
        let r = admin(&server, "POST", "/admin/faults", body);
        assert_eq!(
            (r.status, r.error_code()),
            (status, code.to_owned()),
            "{body}: {}",
            r.text()
        );
    }
    let r = admin(&server, "DELETE", "/admin/faults?kind=fire", "");
    assert_eq!(
        (r.status, r.error_code()),
        (400, "malformed_query".to_owned())
    );
    let r = admin(&server, "PUT", "/admin/faults", "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, DELETE"));
    let r = admin(&server, "GET", "/admin/faults", "");
    assert_eq!(r.json(), serde_json::json!({"faults": []}));
}

#[test]
fn an_error_ratio_fails_that_share_of_one_route_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--faults", "--no-host-metrics"]);
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"a"}"#).status,
        201
    );
    set(
        &server,
        r#"{"kind":"error","route":"/api/items","ratio":0.5}"#,
    );
    let listed = admin(&server, "GET", "/admin/faults", "").json();
    assert_eq!(listed["faults"][0]["kind"], "error");
    assert_eq!(active(&server, "error"), 1.0);
    let statuses: Vec<u16> = (0..10).map(|_| server.get("/api/items").status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        5,
        "{statuses:?}"
    );
    let failed = server.get("/api/items");
    let failed = if failed.status == 500 {
        failed
    } else {
        server.get("/api/items")
    };
    assert_eq!(failed.error_code(), "injected_fault");
    assert_eq!(
        server.get("/api/items/1").status,
        200,
        "another route is untouched"
    );
    let five_hundreds = r#"http_requests_total{method="GET",route="/api/items",status="500"}"#;
    assert_eq!(metric(&server, five_hundreds), 6.0);
    clear(&server, "error");
    assert_eq!(active(&server, "error"), 0.0);
    assert!((0..10).all(|_| server.get("/api/items").status == 200));
    assert_eq!(metric(&server, five_hundreds), 6.0);
}

#[test]
fn added_latency_moves_requests_past_the_slo_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--faults", "--no-host-metrics"]);
    let fast = r#"http_request_duration_seconds_bucket{method="GET",route="/api/items",le="0.25"}"#;
    let all = r#"http_request_duration_seconds_count{method="GET",route="/api/items"}"#;
    assert_eq!(server.get("/api/items").status, 200);
    assert_eq!((metric(&server, fast), metric(&server, all)), (1.0, 1.0));
    set(
        &server,
        r#"{"kind":"latency","route":"/api/items","ms":300}"#,
    );
    for _ in 0..3 {
        assert_eq!(server.get("/api/items").status, 200);
    }
    assert_eq!(
        (metric(&server, fast), metric(&server, all)),
        (1.0, 4.0),
        "three requests slower than 250 ms"
    );
    assert_eq!(active(&server, "latency"), 1.0);
    clear(&server, "latency");
    assert_eq!(server.get("/api/items").status, 200);
    assert_eq!(metric(&server, fast), 2.0);
}

#[test]
fn cpu_burn_raises_process_cpu_and_stops_when_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--faults", "--no-host-metrics"]);
    let cpu = || metric(&server, "process_cpu_seconds_total");
    let before = cpu();
    // Normal priority, so the burn gets its share on a busy machine too.
    set(&server, r#"{"kind":"cpu","threads":2,"nice":0}"#);
    assert_eq!(active(&server, "cpu"), 1.0);
    eventually(Duration::from_secs(60), "process CPU +1s", || {
        cpu() >= before + 1.0
    });
    clear(&server, "cpu");
    assert_eq!(active(&server, "cpu"), 0.0);
    // The threads stop: CPU time stays nearly flat afterwards.
    std::thread::sleep(Duration::from_millis(300));
    let after_clear = cpu();
    std::thread::sleep(Duration::from_secs(2));
    assert!(cpu() < after_clear + 0.5, "still burning after the clear");
}

#[test]
fn memory_grows_up_to_its_cap_and_is_handed_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("db"), &["--faults", "--no-host-metrics"]);
    let rss = || metric(&server, "process_resident_memory_bytes") / 1048576.0;
    let before = rss();
    set(
        &server,
        r#"{"kind":"memory","mib_per_second":64,"max_mib":48}"#,
    );
    assert_eq!(active(&server, "memory"), 1.0);
    eventually(Duration::from_secs(30), "RSS +40 MiB", || {
        rss() >= before + 40.0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(rss() < before + 60.0, "grew past its 48 MiB cap: {}", rss());
    clear(&server, "memory");
    eventually(Duration::from_secs(30), "RSS back", || {
        rss() < before + 16.0
    });
}

/// A held write lock: writes wait and, past the timeout, fail with 503
/// (SQLite counts its retries); reads go on; a write succeeds once cleared.
fn a_held_database_lock_makes_writes_wait_and_fail(backend: Backend) {
    let db = TestDb::new(backend);
    let server = db.serve(&[
        "--faults",
        "--no-host-metrics",
        "--busy-timeout",
        "500ms",
        "--statement-timeout",
        "500ms",
    ]);
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"a"}"#).status,
        201
    );
    set(&server, r#"{"kind":"db_lock"}"#);
    assert_eq!(active(&server, "db_lock"), 1.0);
    // The lock is taken by a thread of the fault: the first write may slip in.
    eventually(
        Duration::from_secs(10),
        "a write refused behind the lock",
        || server.post_json("/api/items", r#"{"name":"b"}"#).status == 503,
    );
    if backend == Backend::Sqlite {
        assert!(metric(&server, "srelab_db_busy_retries_total") > 0.0);
    }
    let errors = r#"srelab_db_errors_total{op="insert"}"#;
    assert!(metric(&server, errors) >= 1.0);
    assert_eq!(server.get("/api/items/1").status, 200, "reads go on");
    clear(&server, "db_lock");
    assert_eq!(active(&server, "db_lock"), 0.0);
    eventually(Duration::from_secs(10), "a write after the clear", || {
        server.post_json("/api/items", r#"{"name":"c"}"#).status == 201
    });
}

both_backends!(a_held_database_lock_makes_writes_wait_and_fail);
