//! `srelab serve` when something runs out: file descriptors (accept fails
//! with EMFILE), the `--max-connections` cap under a flood of idle
//! connections, and a full disk under the SQLite database.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{HttpConn, Server, sample, serve_command, start_serve};
use nix::sys::resource::{Resource, setrlimit};

/// The JSON log events a child writes on stderr, collected as they come.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<serde_json::Value>>>);

impl Logs {
    fn collect(server: &mut Server) -> Logs {
        let logs = Logs::default();
        let stderr = server.guard.take_stderr().expect("stderr is piped");
        let events = Arc::clone(&logs.0);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    events.lock().unwrap().push(event);
                }
            }
        });
        logs
    }

    /// The events whose message starts with `prefix`.
    fn with_message(&self, prefix: &str) -> Vec<serde_json::Value> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| e["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .cloned()
            .collect()
    }
}

/// Polls `/metrics` on `conn` until `series` reaches `at_least`.
fn wait_for_metric(conn: &mut HttpConn, series: &str, at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = conn.send("GET", "/metrics", &[], b"", true).unwrap().text();
        let value = sample(&metrics, series).unwrap_or(0.0);
        if value >= at_least {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {value}, below {at_least}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn out_of_fds_the_server_keeps_serving_logs_rarely_and_recovers_alone() {
    // Room for the runtime and SQLite's files on a machine with many cores
    // (one reader connection per core), far below the test's own limit.
    const LIMIT: u64 = 256;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(
        &dir.path().join("fd.db"),
        &[
            "--readers",
            "1",
            "--no-host-metrics",
            "--log-format",
            "json",
            "--header-read-timeout",
            "60s",
        ],
    );
    cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
    // Soft and hard limit both low: the server cannot raise it further.
    // SAFETY: setrlimit is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| setrlimit(Resource::RLIMIT_NOFILE, LIMIT, LIMIT).map_err(Into::into));
    }
    let mut server = start_serve(cmd);
    let logs = Logs::collect(&mut server);
    let mut kept = HttpConn::connect(server.addr).unwrap();
    assert_eq!(
        kept.send("GET", "/healthz", &[], b"", true).unwrap().status,
        200
    );

    // Idle connections until the server has no descriptor left, and more
    // that wait in the backlog.
    let free = LIMIT as usize - open_fds(server.guard.pid());
    let flood: Vec<TcpStream> = (0..free + 10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let fd_errors = r#"srelab_accept_errors_total{reason="fd_limit"}"#;
    wait_for_metric(&mut kept, fd_errors, 1.0);
    let out_of_fds = Instant::now();
    // The open connection is still served while accepts fail.
    assert_eq!(
        kept.send("GET", "/healthz", &[], b"", true).unwrap().status,
        200
    );
    wait_for_metric(&mut kept, fd_errors, 5.0);
    // Hold the shortage for half the log interval (5 s): under the old
    // fixed 50 ms retry that was some 50 warnings.
    let held = Duration::from_millis(2500);
    std::thread::sleep(held.saturating_sub(out_of_fds.elapsed()));
    let warnings = logs.with_message("accept failed");
    assert_eq!(warnings.len(), 1, "one warning per interval: {warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN");

    drop(flood);
    let fresh = common::request(server.addr, "GET", "/healthz", &[], b"");
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    let metrics = server.metrics();
    let failed: f64 = ["fd_limit", "memory", "other"]
        .iter()
        .map(|r| {
            sample(
                &metrics,
                &format!(r#"srelab_accept_errors_total{{reason="{r}"}}"#),
            )
            .unwrap()
        })
        .sum();
    assert!(failed >= 5.0, "{metrics}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        if let Some(event) = logs.with_message("accepting connections again").pop() {
            break event;
        }
        assert!(Instant::now() < deadline, "no recovery line");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(recovered["failures"].as_f64(), Some(failed), "{recovered}");
    let raised = logs.with_message("open-file limit");
    assert_eq!(raised[0]["limit"], LIMIT, "{raised:?}");
}

#[test]
fn past_the_connection_cap_a_new_connection_waits_for_an_idle_one_to_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_serve(
        &dir.path().join("cap.db"),
        &[
            "--max-connections",
            "4",
            "--header-read-timeout",
            "1s",
            "--no-host-metrics",
        ],
    );
    // Two connections that never send, two idle after one request: the cap.
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut idle: Vec<HttpConn> = (0..2)
        .map(|_| {
            let mut conn = HttpConn::connect(server.addr).unwrap();
            assert_eq!(
                conn.send("GET", "/healthz", &[], b"", true).unwrap().status,
                200
            );
            conn
        })
        .collect();
    let addr = server.addr;
    let fresh = std::thread::spawn(move || {
        let start = Instant::now();
        let response = common::request(addr, "GET", "/healthz", &[], b"");
        (response, start.elapsed())
    });
    let waits = wait_for_metric(&mut idle[0], "srelab_connection_limit_waits_total", 1.0);
    let metrics = idle[0]
        .send("GET", "/metrics", &[], b"", true)
        .unwrap()
        .text();
    assert_eq!(
        sample(&metrics, "srelab_connections_open"),
        Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "srelab_connections_max"),
        Some(4.0),
        "{metrics}"
    );
    assert!(waits >= 1.0);

    // The fresh connection is served once an idle one is cut off by the
    // header-read timeout (1 s); its client waits up to 30 s.
    let (response, waited) = fresh.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    println!("/healthz answered after {waited:?} behind the cap");
    for mut conn in silent {
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(
            conn.read(&mut [0u8; 16]).unwrap(),
            0,
            "a silent connection was closed"
        );
    }
}

/// A small tmpfs mounted for the test's life (needs root, as in CI).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test mounts a small tmpfs to fill: run it as root (CI does)"
        );
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("cannot run mount (util-linux)");
        assert!(status.success(), "mount -t tmpfs failed: {status}");
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(nix::libc::ENOSPC) => return,
            Err(err) => panic!("filling {}: {err}", path.display()),
        }
    }
}

fn names(conn: &mut HttpConn) -> Vec<String> {
    let page = conn
        .send("GET", "/api/items?limit=100", &[], b"", true)
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    let mut names: Vec<String> = page.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_is_a_503_loses_nothing_and_writes_resume_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let _fs = Tmpfs::mount(&mnt, "2m");
    let server = common::spawn_serve(
        &mnt.join("full.db"),
        &["--readers", "1", "--no-host-metrics"],
    );
    let mut conn = HttpConn::connect(server.addr).unwrap();
    let mut post = |name: &str| {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let headers = [("Content-Type", "application/json")];
        conn.send("POST", "/api/items", &headers, body.as_bytes(), true)
            .unwrap()
    };
    let mut stored = vec![];
    assert_eq!(post("before-full").status, 201);
    stored.push("before-full".to_owned());

    let filler = mnt.join("filler");
    fill(&filler);
    // At most 90, so one page of the list (100) shows every item.
    let refused = (0..90)
        .map(|i| {
            (
                format!("while-full-{i:03}"),
                post(&format!("while-full-{i:03}")),
            )
        })
        .find_map(|(name, response)| match response.status {
            201 => {
                stored.push(name);
                None
            }
            _ => Some(response),
        })
        .expect("90 writes fit on a full disk");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.error_code(), "database_full");
    // Still full: refused again, and not ready; reads go on.
    assert_eq!(post("still-full").status, 503);
    let mut conn = HttpConn::connect(server.addr).unwrap();
    let ready = conn.send("GET", "/readyz", &[], b"", true).unwrap();
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.error_code(), "database_full");
    stored.sort();
    assert_eq!(names(&mut conn), stored, "exactly the acknowledged writes");
    let metrics = server.metrics();
    assert!(sample(&metrics, r#"srelab_db_errors_total{op="insert"}"#).unwrap() >= 2.0);

    // Space returns: ready again and writes succeed, same process.
    std::fs::remove_file(&filler).unwrap();
    let ready = conn.send("GET", "/readyz", &[], b"", true).unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    let body = r#"{"name":"after-full"}"#;
    let headers = [("Content-Type", "application/json")];
    let created = conn
        .send("POST", "/api/items", &headers, body.as_bytes(), true)
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    stored.push("after-full".to_owned());
    stored.sort();
    assert_eq!(names(&mut conn), stored);
}
