//! `/metrics` of `srelab serve`: valid for promtool, the contract's names
//! present, bounded labels, panics counted as 500s.

mod common;

use std::process::Stdio;

use common::tools::promtool_check_metrics;

use common::{HttpConn, Server, request, sample, serve_command, spawn_serve, start_serve};

fn server(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("metrics.db"), extra);
    (dir, server)
}

fn drive_every_route(server: &Server) {
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"m"}"#).status,
        201
    );
    assert_eq!(server.post_json("/api/items", "{").status, 400);
    assert_eq!(server.get("/api/items/1").status, 200);
    assert_eq!(server.get("/api/items/77").status, 404);
    assert_eq!(server.get("/api/items").status, 200);
    assert_eq!(server.get("/api/work?ms=5").status, 200);
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.get("/nope").status, 404);
    assert_eq!(
        request(server.addr, "BREW", "/healthz", &[], b"").status,
        405
    );
}

#[test]
fn metrics_pass_promtool_and_carry_the_contract_names() {
    let (_dir, server) = server(&[]);
    // The host is sampled before the startup line: the first scrape has it.
    let first = server.metrics();
    assert!(first.contains("srelab_host_memory_total_bytes "), "{first}");
    drive_every_route(&server);
    let text = server.metrics();
    let report = promtool_check_metrics(&text);
    assert!(report.trim().is_empty(), "promtool complains:\n{report}");
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
        "process_start_time_seconds",
        "srelab_host_cpu_utilization_ratio",
        "srelab_host_memory_used_bytes",
        "srelab_host_memory_total_bytes",
        "srelab_db_operation_duration_seconds_bucket",
        "srelab_db_write_batch_size_bucket",
        "srelab_db_write_queue_depth",
        "srelab_db_busy_retries_total",
        "srelab_db_errors_total",
        "srelab_build_info",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from /metrics:\n{text}"
        );
    }
    if std::path::Path::new("/proc/pressure/cpu").exists() {
        assert!(
            text.contains(
                r#"srelab_host_pressure_stalled_seconds_total{kind="some",resource="cpu"}"#
            )
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(r#"srelab_build_info{revision="#));
    assert!(text.contains(&format!(r#"version="{version}"}} 1"#)));
    let counted = |series: &str| sample(&text, series).unwrap_or(0.0);
    assert_eq!(
        counted(r#"http_requests_total{method="POST",route="/api/items",status="201"}"#),
        1.0
    );
    assert_eq!(
        counted(r#"http_requests_total{method="GET",route="/api/items/{id}",status="404"}"#),
        1.0
    );
    assert_eq!(
        counted(r#"http_requests_total{method="other",route="/healthz",status="405"}"#),
        1.0
    );
    assert_eq!(
        counted(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(counted(r#"srelab_db_write_batch_size_count"#), 1.0);
}

/// `http_request_duration_seconds` holds the request's own time, in
/// seconds: `/api/work?ms=200` burns at least 200 ms, and the server cannot
/// have timed more than the client waited. Its one observation (the sum)
/// is counted in exactly the buckets at or above it.
#[test]
fn a_request_of_known_duration_lands_in_its_buckets_and_sum() {
    let (_dir, server) = server(&[]);
    let sent = std::time::Instant::now();
    assert_eq!(server.get("/api/work?ms=200").status, 200);
    let waited = sent.elapsed().as_secs_f64();
    let text = server.metrics();
    let series = |part: &str, le: &str| {
        let labels = r#"method="GET",route="/api/work""#;
        let value = sample(
            &text,
            &format!("http_request_duration_seconds_{part}{{{labels}{le}}}"),
        );
        value.unwrap_or_else(|| panic!("no {part}{le} for GET /api/work:\n{text}"))
    };
    assert_eq!(series("count", ""), 1.0);
    let took = series("sum", "");
    assert!(
        (0.2..=waited).contains(&took),
        "recorded {took}, the work takes 200 ms and the client waited {waited:.3} s"
    );
    for le in srelab::serve::metrics::LATENCY_BUCKETS {
        let expected = if took <= *le { 1.0 } else { 0.0 };
        assert_eq!(
            series("bucket", &format!(r#",le="{le}""#)),
            expected,
            "le={le}, took {took}"
        );
    }
    assert_eq!(series("bucket", r#",le="+Inf""#), 1.0);
}

/// `process_cpu_seconds_total` moves by the CPU time the process used, at
/// the kernel's resolution: 300 ms of work is a fraction of a second, not
/// 0 or 1 (the `prometheus` crate's own collector counts whole seconds).
#[test]
fn process_cpu_seconds_count_fractions_of_a_second() {
    let (_dir, server) = server(&["--no-host-metrics"]);
    let cpu = || sample(&server.metrics(), "process_cpu_seconds_total").unwrap();
    let before = cpu();
    assert_eq!(server.get("/api/work?ms=300").status, 200);
    let used = cpu() - before;
    assert!(
        used > 0.0 && used < 1.0,
        "{used} s of CPU counted for 300 ms of work"
    );
}

#[test]
fn route_label_stays_bounded_after_1000_unknown_paths() {
    let (_dir, server) = server(&[]);
    let mut conn = common::HttpConn::connect(server.addr).unwrap();
    for i in 0..1000 {
        let path = format!("/unknown/{i}/x{i}");
        let response = conn.send("GET", &path, &[], b"", true).unwrap();
        assert_eq!(response.status, 404);
    }
    let text = server.metrics();
    let routes: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_request"))
        .filter_map(|l| l.split("route=\"").nth(1)?.split('"').next())
        .collect();
    let allowed = [
        "/api/items",
        "/api/items/{id}",
        "/api/work",
        "/healthz",
        "/readyz",
        "/metrics",
        "unmatched",
    ];
    assert!(
        routes.iter().all(|r| allowed.contains(r)),
        "unexpected route labels: {routes:?}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1000.0)
    );
    let series = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .count();
    assert!(series <= 3, "too many series: {series}\n{text}");
}

#[test]
fn a_panicking_handler_is_a_counted_500_and_the_server_lives_on() {
    // The panics are expected: their log (with a backtrace under
    // RUST_BACKTRACE=1) is read here, not printed into the test output.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(&dir.path().join("metrics.db"), &["--debug-panic-route"]);
    cmd.stderr(Stdio::piped());
    let mut server = start_serve(cmd);
    let stderr = server.guard.take_stderr().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    for _ in 0..3 {
        let response = server.get("/debug/panic");
        assert_eq!(response.status, 500, "{}", response.text());
        assert_eq!(response.error_code(), "internal");
    }
    assert_eq!(server.get("/healthz").status, 200);
    let text = server.metrics();
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/debug/panic",status="500"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "http_requests_in_flight"),
        Some(1.0),
        "only the scrape"
    );
    server.guard.stop();
    let log = log.join().unwrap();
    assert_eq!(
        log.matches("handler panicked; answered 500").count(),
        3,
        "each panic is logged: {log}"
    );
}

#[test]
fn no_host_metrics_drops_only_the_host_family() {
    let (_dir, server) = server(&["--no-host-metrics"]);
    let text = server.metrics();
    assert!(!text.contains("srelab_host_"), "{text}");
    assert!(text.contains("process_cpu_seconds_total"));
    assert!(text.contains("srelab_build_info"));
}

#[test]
fn requests_hyper_rejects_before_routing_are_counted() {
    let (_dir, server) = server(&[]);
    let long_uri = format!(
        "GET /?pad={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(100_000)
    );
    // More headers than hyper's limit (100) is "head too large" to hyper.
    let many: String = (0..150).map(|i| format!("X-{i}: 1\r\n")).collect();
    let big_head = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    let mut expected = std::collections::BTreeMap::<u16, u32>::new();
    for raw in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
        long_uri.as_bytes(),
        big_head.as_bytes(),
    ] {
        let mut conn = HttpConn::connect(server.addr).unwrap();
        let response = conn.send_raw(raw).unwrap_or_else(|e| {
            panic!(
                "hyper answers {:?}...: {e}",
                String::from_utf8_lossy(&raw[..20])
            )
        });
        *expected.entry(response.status).or_default() += 1;
    }
    assert_eq!(
        expected.keys().copied().collect::<Vec<_>>(),
        [400, 414, 431],
        "the statuses hyper answers"
    );
    // Counted when the connection ends, just after the answer was sent.
    let counted = |status: u16| {
        sample(
            &server.metrics(),
            &format!(
                r#"http_requests_total{{method="other",route="unmatched",status="{status}"}}"#
            ),
        )
    };
    for (status, n) in expected {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while counted(status) != Some(f64::from(n)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(counted(status), Some(f64::from(n)), "status {status}");
    }
}
