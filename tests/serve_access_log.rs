//! The access log and request ids, through a real `srelab serve` whose
//! JSON log goes to a file: ids round-trip, hostile ids are replaced and
//! never logged, every line parses and carries its fields, and each
//! `--access-log` mode logs exactly what it says.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{HttpConn, Server, access_log};
use serde_json::Value;

/// A server with `--log-format json --access-log MODE`, its log in `log`.
fn serve(dir: &Path, log: &Path, mode: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--access-log", mode];
    args.extend_from_slice(extra);
    access_log::serve(&dir.join("access.db"), log, &args)
}

/// Waits until `log` holds `n` access lines (5 s at most), then returns them.
fn wait_lines(log: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = access_log::lines(log);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get_with_id(server: &Server, path: &str, id: &str) -> common::Response {
    common::request(server.addr, "GET", path, &[("X-Request-Id", id)], b"")
}

#[test]
fn ids_round_trip_and_lines_carry_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, "all", &["--instance", "app:8081"]);
    let sent = "load-00000007-000000000042";
    let r = get_with_id(&server, "/api/items?limit=3", sent);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some(sent));
    let made = server.get("/healthz");
    let made_id = made.header("x-request-id").unwrap().to_owned();
    assert!(
        made_id.len() == 16 && made_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made_id}"
    );
    let next = server.get("/nope");
    assert_ne!(next.header("x-request-id"), Some(made_id.as_str()));

    let lines = wait_lines(&log, 3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let list = &lines[0];
    assert_eq!(list["request_id"], sent);
    assert_eq!(list["method"], "GET");
    assert_eq!(list["route"], "/api/items");
    assert_eq!(list["status"], 200);
    assert_eq!(list["bytes"], r.body.len() as u64);
    assert_eq!(list["instance"], "app:8081");
    assert_eq!(list["level"], "INFO");
    assert_eq!(list["message"], "request");
    let ms = list["duration_ms"].as_f64().unwrap();
    assert!(ms > 0.0 && ms < 10_000.0, "{ms}");
    assert!(list["timestamp"].is_string());
    assert_eq!(lines[1]["request_id"], made_id.as_str());
    assert_eq!(lines[1]["route"], "/healthz");
    assert_eq!(lines[2]["route"], "unmatched");
    assert_eq!(lines[2]["status"], 404);
}

#[test]
fn the_default_instance_is_the_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, "all", &[]);
    server.get("/healthz");
    let lines = wait_lines(&log, 1);
    assert_eq!(lines[0]["instance"], server.addr.to_string());
}

#[test]
fn hostile_ids_are_replaced_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, "all", &[]);
    let huge = "x".repeat(4000);
    let hostile: [&[u8]; 5] = [
        huge.as_bytes(),
        b"evil\tid",
        b"a\"},{\"status\":200",
        b"caf\xc3\xa9-\xff\xfe",
        b"",
    ];
    let mut answered = Vec::new();
    for id in hostile {
        let mut conn = HttpConn::connect(server.addr).unwrap();
        let mut raw =
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: ".to_vec();
        raw.extend_from_slice(id);
        raw.extend_from_slice(b"\r\n\r\n");
        let r = conn.send_raw(&raw).unwrap();
        assert_eq!(r.status, 200, "{id:?}");
        let back = r.header("x-request-id").unwrap().to_owned();
        assert!(
            back.len() == 16 && back.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id:?} answered with {back:?}"
        );
        answered.push(back);
    }
    // A control character hyper itself refuses: a 400 before routing.
    let mut conn = HttpConn::connect(server.addr).unwrap();
    let r = conn
        .send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 400);

    let lines = wait_lines(&log, hostile.len());
    let logged: Vec<&str> = lines
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(logged, answered);
    drop(server);
    let raw = std::fs::read(&log).unwrap();
    let text = String::from_utf8(raw).expect("the log is UTF-8");
    assert!(!text.contains(&huge[..200]), "the huge id was logged");
    for needle in ["evil", "caf", "\\\"status\\\":200", "\u{1}"] {
        assert!(!text.contains(needle), "{needle:?} was logged:\n{text}");
    }
}

/// Sends the same requests to a server in `mode` and returns, per request
/// in order, whether it got a line and at which level.
fn logged_by(mode: &str) -> Vec<Option<String>> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, mode, &["--debug-panic-route"]);
    let requests = [
        ("/healthz", "fast"),
        ("/nope", "not-found"),
        ("/api/work?ms=150", "slow"),
        ("/debug/panic", "panic"),
    ];
    for (path, id) in requests {
        get_with_id(&server, path, id);
    }
    // A client that leaves before its answer: 499.
    let mut client = TcpStream::connect(server.addr).unwrap();
    client
        .write_all(b"GET /api/work?ms=800 HTTP/1.1\r\nHost: x\r\nX-Request-Id: gone\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(client);
    // A last request every mode but `off` logs, to know the log is complete.
    std::thread::sleep(Duration::from_millis(1000));
    get_with_id(&server, "/debug/panic", "last");
    let lines = wait_lines(&log, 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = lines;
    while mode != "off" && !lines.iter().any(|l| l["request_id"] == "last") {
        assert!(
            Instant::now() < deadline,
            "{mode}: no line for the last request"
        );
        std::thread::sleep(Duration::from_millis(20));
        lines = access_log::lines(&log);
    }
    ["fast", "not-found", "slow", "panic", "gone"]
        .iter()
        .map(|id| {
            let found: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == *id).collect();
            assert!(found.len() <= 1, "{mode}: {id} logged twice");
            found
                .first()
                .map(|l| l["level"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn each_mode_logs_what_it_says() {
    let level = |l: &str| Some(l.to_owned());
    //                       fast          404           slow 150 ms   5xx             499
    assert_eq!(logged_by("off"), [None, None, None, None, None]);
    assert_eq!(
        logged_by("errors"),
        [None, None, None, level("ERROR"), level("WARN")]
    );
    assert_eq!(
        logged_by("slow=100ms"),
        [None, None, level("WARN"), level("ERROR"), level("WARN")]
    );
    assert_eq!(
        logged_by("all"),
        [
            level("INFO"),
            level("INFO"),
            level("INFO"),
            level("ERROR"),
            level("WARN")
        ]
    );
}

#[test]
fn a_499_line_has_its_status_and_no_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, "errors", &[]);
    let mut client = TcpStream::connect(server.addr).unwrap();
    client
        .write_all(b"GET /api/work?ms=800 HTTP/1.1\r\nHost: x\r\nX-Request-Id: left\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(client);
    let lines = wait_lines(&log, 1);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["status"], 499);
    assert_eq!(lines[0]["bytes"], 0);
    assert_eq!(lines[0]["request_id"], "left");
    assert_eq!(lines[0]["route"], "/api/work");
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["level"], "WARN");
}

#[test]
fn a_mistaken_mode_is_one_line_and_exit_2() {
    let out = std::process::Command::new(common::srelab_bin())
        .args(["serve", "--access-log", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`sometimes` is not one of all, errors, slow=DURATION, off"),
        "{err}"
    );
}

#[test]
fn a_sample_adds_one_in_n_of_the_other_requests() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = serve(dir.path(), &log, "errors", &["--access-log-sample", "10"]);
    let mut conn = HttpConn::connect(server.addr).unwrap();
    for _ in 0..200 {
        let r = conn.send("GET", "/healthz", &[], b"", true).unwrap();
        assert_eq!(r.status, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    let lines = access_log::lines(&log);
    // Counted per runtime thread: each thread's remainder may go unlogged.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        (20 - threads..=20).contains(&lines.len()),
        "{} lines",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .all(|l| l["level"] == "INFO" && l["status"] == 200)
    );
}
