//! Helpers of the lab and verify tests: the srelab binary, `srelab lab` on
//! free ports, a guarded child process, a real Prometheus on a port it picked itself, and the check that
//! no process of a lab is left running. Ports and programs come from
//! `tests/common` (`ports`, `tools`), which every user of this module
//! declares beside it.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::ports::unused_port;
use crate::common::tools::PROMETHEUS;

/// The srelab binary under test.
pub fn srelab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_srelab"))
}

/// `srelab lab` with its instances' ports from `base`, Prometheus on
/// `prometheus`, every other component on a free port, and the state
/// directory `state`; callers add what they turn off.
pub fn lab_on_ports(state: &Path, base: u16, prometheus: u16) -> Command {
    let mut cmd = srelab();
    cmd.args(["lab", "--base-port", &base.to_string()])
        .args(["--prometheus-port", &prometheus.to_string()]);
    for flag in [
        "--node-exporter-port",
        "--load-metrics-port",
        "--grafana-port",
        "--alertmanager-port",
        "--receiver-port",
    ] {
        cmd.arg(flag).arg(unused_port().to_string());
    }
    cmd.arg("--state-dir").arg(state);
    cmd
}

pub fn prometheus_bin() -> PathBuf {
    PROMETHEUS.path()
}

/// A child process that is stopped (SIGTERM, grace, SIGKILL) when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Sends a signal.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid()), sig);
    }

    /// Waits for the exit up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.0.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.signal(Signal::SIGTERM);
            if self.wait(Duration::from_secs(15)).is_none() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
}

/// A real Prometheus scraping itself as job `job` every second.
pub struct Prometheus {
    pub url: String,
    _guard: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on `127.0.0.1:0`, reads the port it bound from its
    /// log, then points its self-scrape at that port (SIGHUP reloads the
    /// configuration) and waits for the first scrape.
    pub fn start(job: &str) -> Prometheus {
        Prometheus::start_with_rules(job, None)
    }

    /// Also evaluates the alert rules `rules` (YAML) every second.
    pub fn start_with_rules(job: &str, rules: Option<&str>) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let rule_files = match rules {
            Some(text) => {
                let path = dir.path().join("rules.yml");
                std::fs::write(&path, text).unwrap();
                format!("rule_files: ['{}']\n", path.display())
            }
            None => String::new(),
        };
        let global = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{rule_files}"
        );
        std::fs::write(&config, &global).unwrap();
        let log_path = dir.path().join("log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        let mut guard = ChildGuard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(port) = listening_port(&log) {
                break port;
            }
            if let Ok(Some(status)) = guard.0.try_wait() {
                panic!("prometheus exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not listen within 30s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::fs::write(
            &config,
            format!(
                "{global}scrape_configs:\n  - job_name: '{job}'\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            ),
        )
        .unwrap();
        guard.signal(Signal::SIGHUP);
        let prom = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            _guard: guard,
            _dir: dir,
        };
        // The reload applied and the first scrape done.
        while !http_get(port, "/api/v1/query?query=up")
            .1
            .contains("\"value\"")
        {
            assert!(
                Instant::now() < deadline,
                "prometheus did not scrape within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prom
    }
}

/// The port of Prometheus' `msg="Listening on" … address=IP:PORT` log line
/// (logfmt, as Prometheus 2 and 3 both write it).
fn listening_port(log: &str) -> Option<u16> {
    log.lines()
        .filter(|l| l.contains("msg=\"Listening on\""))
        .flat_map(str::split_whitespace)
        .find_map(|field| field.strip_prefix("address="))
        .and_then(|addr| addr.rsplit_once(':')?.1.parse().ok())
}

/// A minimal HTTP/1.1 request to 127.0.0.1:port; returns (status, body). Status 0 when unreachable.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, dechunk(&raw, body))
}

pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, "")
}

/// Decodes a chunked body (hyper chunks bodies without a length).
fn dechunk(raw: &str, body: &str) -> String {
    let head = raw
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if !head.contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Every child the lab started in its last run, as (pid, name), from
/// STATE/logs/children.log (`started PID NAME` lines).
pub fn children_started(state: &Path) -> Vec<(String, String)> {
    let log = std::fs::read_to_string(state.join("logs/children.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.strip_prefix("started "))
        .filter_map(|l| l.split_once(' '))
        .map(|(pid, name)| (pid.to_owned(), name.to_owned()))
        .collect()
}

/// Panics when a process the lab started (STATE/logs/children.log) or
/// lists as running (STATE/pids), or any process naming the state
/// directory, is still running.
pub fn assert_nothing_left(state: &Path) {
    let mut left = Vec::new();
    let pids = std::fs::read_to_string(state.join("pids")).unwrap_or_default();
    let listed = pids.lines().filter_map(|l| l.split_once(' '));
    let listed = listed.map(|(pid, name)| (pid.to_owned(), name.to_owned()));
    for (pid, name) in children_started(state).into_iter().chain(listed) {
        if alive(&pid) {
            left.push(format!("{name} (pid {pid})"));
        }
    }
    let needle = state.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.parse::<u32>().is_err() || !alive(&pid) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            left.push(format!("pid {pid}: {cmdline}"));
        }
    }
    assert!(left.is_empty(), "processes left running: {left:?}");
}

/// Whether a process exists and is not a zombie.
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Runs `cmd` to its end; (exit code, stdout, stderr). Fails the test when
/// it still runs after `limit` (a fast failure that waits for a long
/// timeout is the bug such tests look for).
pub fn output_within(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    use std::process::Stdio;
    let mut child = ChildGuard(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.0.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.0.stderr.take().map(|p| Box::new(p) as _));
    let status = child
        .wait(limit)
        .unwrap_or_else(|| panic!("{cmd:?} still runs after {limit:?}"));
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (status.code().unwrap_or(-1), out, err)
}
