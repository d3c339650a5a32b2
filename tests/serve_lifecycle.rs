//! The life of a `srelab serve` process: configuration errors, environment
//! variables, log format, protocols, slow clients, a locked database, and
//! graceful shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{HttpConn, serve_command, spawn_serve, srelab_bin, start_serve};
use nix::sys::signal::Signal;

/// Runs `srelab ARGS` to completion; returns (exit code, stderr).
fn run_to_exit(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(srelab_bin())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_is_one_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let db = db.to_str().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (args, expected) in [
        (
            vec!["serve", "--listen", &taken, "--db", db],
            "error: cannot listen on",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                "/proc/nope/x.db",
            ],
            "error: cannot open database /proc/nope/x.db",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                db,
                "--readers",
                "0",
            ],
            "error: --readers must be at least 1",
        ),
    ] {
        let (code, stderr) = run_to_exit(&args, &[("RUST_LOG", "info")]);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    let (code, stderr) = run_to_exit(&["serve", "--busy-timeout", "soon"], &[]);
    assert_eq!(code, 2, "clap's own errors exit 2: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Every `SRELAB_*` variable of `srelab serve --help`, set to a value
/// other than its default: the logged configuration has each, and each
/// that can be seen from outside within a test does what it says.
#[test]
fn every_flag_reads_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let vars = [
        ("SRELAB_LISTEN", "127.0.0.1:0"),
        ("SRELAB_DB", db.to_str().unwrap()),
        ("SRELAB_MAX_BODY_BYTES", "64"),
        ("SRELAB_LOG_FORMAT", "json"),
        ("SRELAB_SYNCHRONOUS", "normal"),
        ("SRELAB_BUSY_TIMEOUT", "1500ms"),
        ("SRELAB_BATCH_MAX", "2"),
        ("SRELAB_BATCH_WAIT", "200ms"),
        ("SRELAB_READERS", "3"),
        // PostgreSQL's settings: logged here, their effects tested in
        // serve_postgres.rs.
        ("SRELAB_DB_POOL_SIZE", "5"),
        ("SRELAB_STATEMENT_TIMEOUT", "4s"),
        ("SRELAB_DB_WAIT", "7s"),
        ("SRELAB_DRAIN_DELAY", "2500ms"),
        ("SRELAB_SHUTDOWN_GRACE", "2s"),
        ("SRELAB_HEADER_READ_TIMEOUT", "3s"),
        // Its effect: tests/serve_memory.rs.
        ("SRELAB_BODY_READ_TIMEOUT", "9s"),
        ("SRELAB_MAX_CONNECTIONS", "50"),
        ("SRELAB_NO_HOST_METRICS", "true"),
        ("SRELAB_ACCESS_LOG", "all"),
        ("SRELAB_ACCESS_LOG_SAMPLE", "7"),
        ("SRELAB_INSTANCE", "env-instance:1"),
        ("SRELAB_FAULTS", "true"),
    ];
    let help = Command::new(srelab_bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let documented = help.matches("[env: SRELAB_").count();
    // SRELAB_NO_METRICS and SRELAB_DEBUG_PANIC_ROUTE are hidden (testing only).
    assert_eq!(
        documented,
        vars.len(),
        "--help lists other variables:\n{help}"
    );
    for (var, _) in vars {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }

    let mut cmd = Command::new(srelab_bin());
    cmd.arg("serve")
        .envs(vars)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut server = start_serve(cmd);
    assert_ne!(server.addr.port(), 8080, "SRELAB_LISTEN not used");
    assert!(db.exists(), "SRELAB_DB not used");
    // SRELAB_MAX_BODY_BYTES
    let long = format!(r#"{{"name":"{}"}}"#, "x".repeat(60));
    assert_eq!(server.post_json("/api/items", &long).status, 413);
    // SRELAB_BATCH_WAIT: a lone write waits for company; SRELAB_BATCH_MAX:
    // six writes at once go in batches of at most two.
    let sent = Instant::now();
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"a"}"#).status,
        201
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(200),
        "no batch wait"
    );
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                assert_eq!(
                    server.post_json("/api/items", r#"{"name":"b"}"#).status,
                    201
                )
            });
        }
    });
    let metrics = server.metrics();
    let value = |series: &str| common::sample(&metrics, series).unwrap_or(0.0);
    assert_eq!(value("srelab_db_write_batch_size_sum"), 7.0);
    assert_eq!(
        value(r#"srelab_db_write_batch_size_bucket{le="2"}"#),
        value("srelab_db_write_batch_size_count"),
        "a batch larger than SRELAB_BATCH_MAX"
    );
    // SRELAB_NO_HOST_METRICS
    assert!(!metrics.contains("srelab_host_"), "{metrics}");
    // SRELAB_MAX_CONNECTIONS
    assert_eq!(value("srelab_connections_max"), 50.0);
    // SRELAB_FAULTS: the admin endpoint is served.
    assert_eq!(server.get("/admin/faults").status, 200);
    // SRELAB_READERS: one thread per reader connection.
    let readers = std::fs::read_dir(format!("/proc/{}/task", server.guard.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("srelab-db-reade"))
        .count();
    assert_eq!(readers, 3, "reader threads");

    assert!(server.guard.stop().success());
    let mut stderr = String::new();
    server
        .guard
        .take_stderr()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // SRELAB_LOG_FORMAT: JSON lines; the configuration is one of them.
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let config = events
        .iter()
        .find(|e| e["message"] == "configuration")
        .and_then(|e| e["config"].as_str())
        .unwrap_or_else(|| panic!("no configuration logged:\n{stderr}"));
    for setting in [
        "listen: 127.0.0.1:0",
        &format!("database: Sqlite({:?})", db.to_str().unwrap()),
        "max_body_bytes: 64",
        "log_format: Json",
        "synchronous: Normal",
        "busy_timeout: 1.5s",
        "batch_max: 2",
        "batch_wait: 200ms",
        "readers: 3",
        "pool_size: 5",
        "statement_timeout: 4s",
        "connect_wait: 7s",
        "drain_delay: 2.5s",
        "shutdown_grace: 2s",
        "header_read_timeout: 3s",
        "body_read_timeout: 9s",
        "max_connections: Some(50)",
        "host_metrics: false",
        "access_log: All",
        "access_log_sample: 7",
        "instance: Some(\"env-instance:1\")",
        "faults: true",
    ] {
        assert!(config.contains(setting), "{setting:?} not in {config}");
    }
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(&dir.path().join("log.db"), &["--log-format", "json"]);
    cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
    let mut server = start_serve(cmd);
    assert!(server.guard.stop().success());
    let mut stderr = String::new();
    server
        .guard
        .take_stderr()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.lines().count() >= 2, "{stderr}");
    for line in stderr.lines() {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["level"].is_string(), "{line}");
    }
    assert!(stderr.contains("listening"), "{stderr}");
}

/// Waits until `/metrics` shows at least `n` requests in flight besides
/// the scrape itself.
fn wait_in_flight(server: &common::Server, n: usize) {
    let start = Instant::now();
    loop {
        let in_flight = common::sample(&server.metrics(), "http_requests_in_flight").unwrap_or(0.0);
        if in_flight >= (n + 1) as f64 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "requests never in flight"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_serve(&dir.path().join("term.db"), &["--batch-wait", "1s"]);
    let addr = server.addr;
    let work =
        std::thread::spawn(move || common::request(addr, "GET", "/api/work?ms=1000", &[], b""));
    // A write waiting in the writer's batch when the signal arrives.
    let post = std::thread::spawn(move || {
        common::request(
            addr,
            "POST",
            "/api/items",
            &[("Content-Type", "application/json")],
            br#"{"name":"in flight"}"#,
        )
    });
    wait_in_flight(&server, 2);
    server.guard.signal(Signal::SIGTERM);
    let work = work.join().unwrap();
    assert_eq!(work.status, 200, "{}", work.text());
    let post = post.join().unwrap();
    assert_eq!(post.status, 201, "{}", post.text());
    let status = server.guard.wait_timeout(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit after SIGTERM");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
    let conn = rusqlite::Connection::open(dir.path().join("term.db")).unwrap();
    let name: String = conn
        .query_row("SELECT name FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "in flight");
}

/// A request that outlives `--shutdown-grace` (a body that never finishes
/// arriving) does not hold the process: it exits 0 once the grace has
/// passed, not before (the request had its grace) and not only when the
/// client gives up.
#[test]
fn shutdown_grace_bounds_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(500);
    let mut server = spawn_serve(&dir.path().join("grace.db"), &["--shutdown-grace", "500ms"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(
            b"POST /api/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"name\":",
        )
        .unwrap();
    wait_in_flight(&server, 1);
    let signalled = Instant::now();
    server.guard.signal(Signal::SIGTERM);
    let status = server.guard.wait_timeout(Duration::from_secs(20));
    let took = signalled.elapsed();
    assert!(
        status.is_some(),
        "still running {took:?} after SIGTERM: the grace did not bound the drain"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        took >= grace,
        "exited {took:?} after SIGTERM, before the {grace:?} grace"
    );
    // The cut request's connection is closed, not left hanging.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    assert!(
        !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the cut connection stayed open: {read:?}"
    );
}

/// SIGTERM while a write waits in the writer's batch for more writes
/// (`--batch-wait` far longer than `--shutdown-grace`): the grace cuts the
/// drain, and stopping the writer commits the waiting batch at once, not
/// at the end of the batch wait, before the process exits 0.
#[test]
fn sigterm_commits_the_batch_the_writer_is_waiting_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let mut server = spawn_serve(&db, &["--batch-wait", "60s", "--shutdown-grace", "500ms"]);
    let addr = server.addr;
    let post = std::thread::spawn(move || {
        let mut conn = HttpConn::connect(addr).unwrap();
        let json = [("Content-Type", "application/json")];
        conn.send("POST", "/api/items", &json, br#"{"name":"waiting"}"#, false)
    });
    wait_in_flight(&server, 1);
    server.guard.signal(Signal::SIGTERM);
    let status = server.guard.wait_timeout(Duration::from_secs(30));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "no exit 0 within 30 s of SIGTERM: the writer waited out its batch"
    );
    // The client may or may not have heard back; if it did, it was a 201.
    if let Ok(response) = post.join().unwrap() {
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM items")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["waiting"], "the waiting batch was not committed");
}

/// A connection that does not complete its request head within
/// `--header-read-timeout` is closed without an answer, and, answered
/// nothing, is not counted in `http_requests_total`.
#[test]
fn slow_clients_are_cut_off_by_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(
        &dir.path().join("slow.db"),
        &["--header-read-timeout", "500ms"],
    );
    let cut_off = |partial: &[u8]| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(partial).unwrap();
        let start = Instant::now();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        // Well before the 10 s read timeout: the server closed it.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?} not cut off: {read:?}",
            String::from_utf8_lossy(partial)
        );
        assert_eq!(
            String::from_utf8_lossy(&answer),
            "",
            "a cut-off connection gets no answer"
        );
    };
    cut_off(b"");
    cut_off(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(server.get("/healthz").status, 200);
    let metrics = server.metrics();
    let counted: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    assert_eq!(
        counted,
        [r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#],
        "only the answered request is counted"
    );
}

#[tokio::test]
async fn http2_cleartext_is_served() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("h2.db"), &[]);
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    for _ in 0..3 {
        let req = http::Request::get(format!("{}/healthz", server.base_url))
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"ok"}"#);
    }
    // Close the client side before the guard's blocking stop.
    drop(sender);
    conn.abort();
    let _ = conn.await;
}

#[test]
fn a_database_locked_past_the_busy_timeout_is_503_and_readiness_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let server = spawn_serve(&db, &["--busy-timeout", "300ms"]);
    assert_eq!(
        server
            .post_json("/api/items", r#"{"name":"before"}"#)
            .status,
        201
    );

    let mut holder = rusqlite::Connection::open(&db).unwrap();
    let lock = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.error_code(), "database_busy");
    assert!(
        ready.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked")
    );
    let post = server.post_json("/api/items", r#"{"name":"blocked"}"#);
    assert_eq!(post.status, 503, "{}", post.text());
    assert_eq!(
        server.get("/api/items/1").status,
        200,
        "reads go on under WAL"
    );
    lock.rollback().unwrap();

    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"after"}"#).status,
        201
    );
    let metrics = server.metrics();
    let value = |series: &str| common::sample(&metrics, series).unwrap_or(0.0);
    assert!(value("srelab_db_busy_retries_total") >= 1.0, "{metrics}");
    assert_eq!(value(r#"srelab_db_errors_total{op="insert"}"#), 1.0);
    assert_eq!(value(r#"srelab_db_errors_total{op="ready"}"#), 1.0);
}
