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

#[test]
fn every_flag_reads_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let mut cmd = Command::new(srelab_bin());
    cmd.arg("serve")
        .env("SRELAB_LISTEN", "127.0.0.1:0")
        .env("SRELAB_DB", &db)
        .env("SRELAB_MAX_BODY_BYTES", "16")
        .env("RUST_LOG", "warn");
    let server = start_serve(cmd);
    let response = server.post_json("/api/items", r#"{"name":"longer than 16"}"#);
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(
        server.post_json("/api/items", r#"{"name":"a"}"#).status,
        201
    );
    assert!(db.exists(), "SRELAB_DB not used");
    let (_, help) = {
        let out = Command::new(srelab_bin())
            .args(["serve", "--help"])
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for var in [
        "SRELAB_LISTEN",
        "SRELAB_DB",
        "SRELAB_MAX_BODY_BYTES",
        "SRELAB_LOG_FORMAT",
        "SRELAB_SYNCHRONOUS",
        "SRELAB_BUSY_TIMEOUT",
        "SRELAB_BATCH_MAX",
        "SRELAB_BATCH_WAIT",
        "SRELAB_READERS",
        "SRELAB_SHUTDOWN_GRACE",
        "SRELAB_HEADER_READ_TIMEOUT",
        "SRELAB_MAX_CONNECTIONS",
        "SRELAB_NO_HOST_METRICS",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
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

#[test]
fn shutdown_grace_bounds_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_serve(&dir.path().join("grace.db"), &["--shutdown-grace", "200ms"]);
    let addr = server.addr;
    let work = std::thread::spawn(move || {
        let mut conn = HttpConn::connect(addr).unwrap();
        conn.send("GET", "/api/work?ms=1000", &[], b"", false)
    });
    wait_in_flight(&server, 1);
    server.guard.signal(Signal::SIGTERM);
    let status = server.guard.wait_timeout(Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    // The cut request may or may not have been answered; it must not hang.
    let _ = work.join().unwrap();
}

#[test]
fn slow_clients_are_cut_off_by_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(
        &dir.path().join("slow.db"),
        &["--header-read-timeout", "500ms"],
    );
    let closed_within = |partial: &[u8]| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(partial).unwrap();
        let start = Instant::now();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        start.elapsed()
    };
    assert!(closed_within(b"") < Duration::from_secs(5), "silent client");
    assert!(
        closed_within(b"GET /healthz HTTP/1.1\r\nHost: x\r\n") < Duration::from_secs(5),
        "partial headers"
    );
    assert_eq!(server.get("/healthz").status, 200);
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
