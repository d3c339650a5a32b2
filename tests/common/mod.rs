//! Shared helpers for the integration tests: a guard owning child
//! processes, `spawn_serve` (starts `srelab serve` on a free port and reads
//! its startup line), and a tiny blocking HTTP/1.1 client over a raw
//! `TcpStream`, so tests can also send what a polite client would not.
//! [`tools`] finds the external programs the tests run, on PATH only.
#![allow(dead_code)]

pub mod access_log;
pub mod backend;
pub mod haproxy;
pub mod inprocess;
pub mod lossy_vfs;
pub mod ports;
pub mod postgres;
pub mod sqlite_wal;
pub mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a guard waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The `srelab` binary built for these tests.
pub fn srelab_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_srelab"))
}

/// Owns a child process: on drop, SIGTERM, wait up to [`STOP_GRACE`], SIGKILL.
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    stop_signal: Signal,
}

impl ChildGuard {
    /// Takes ownership of `child`; `name` appears in panics.
    pub fn new(name: impl Into<String>, child: Child) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            name: name.into(),
            stop_signal: Signal::SIGTERM,
        }
    }

    /// Stops the child with `signal` instead of SIGTERM (PostgreSQL's fast
    /// shutdown is SIGINT).
    pub fn stop_with(mut self, signal: Signal) -> ChildGuard {
        self.stop_signal = signal;
        self
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status (panics if it does not exit in time).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(self.stop_signal);
        let status = self.wait_timeout(STOP_GRACE);
        status.unwrap_or_else(|| panic!("{} did not exit within {STOP_GRACE:?}", self.name))
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Takes the child's stdout, if piped and not yet taken.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut()?.stdout.take()
    }

    /// Takes the child's stderr, if piped and not yet taken.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut()?.stderr.take()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = kill(Pid::from_raw(child.id() as i32), self.stop_signal);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A running `srelab serve`.
pub struct Server {
    pub guard: ChildGuard,
    pub addr: SocketAddr,
    pub base_url: String,
}

impl Server {
    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], b"")
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &str) -> Response {
        request(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "{}", response.text());
        response.text()
    }
}

/// The value of the sample whose line in a `/metrics` text starts with
/// `series ` (the name and exact labels).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Starts `srelab serve --listen 127.0.0.1:0 --db DB EXTRA…` and waits for
/// its startup line (`listening on http://IP:PORT`). Logs go to the test's
/// stderr, at `warn` unless `RUST_LOG` says otherwise.
pub fn spawn_serve(db: &Path, extra_args: &[&str]) -> Server {
    let mut cmd = serve_command(db, extra_args);
    cmd.stderr(Stdio::inherit());
    start_serve(cmd)
}

/// The command line `spawn_serve` runs, for tests that need to adjust it
/// (environment, stderr) before [`start_serve`].
pub fn serve_command(db: &Path, extra_args: &[&str]) -> Command {
    let mut cmd = Command::new(srelab_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra_args)
        .stdin(Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    cmd
}

/// Starts a prepared `srelab serve` command and waits for its startup line.
pub fn start_serve(mut cmd: Command) -> Server {
    cmd.stdout(Stdio::piped());
    let child = cmd.spawn().expect("cannot start srelab serve");
    let mut guard = ChildGuard::new("srelab serve", child);
    let stdout = guard.take_stdout().expect("stdout is piped");
    let addr = read_startup_line(stdout, Duration::from_secs(30));
    Server {
        guard,
        addr,
        base_url: format!("http://{addr}"),
    }
}

fn read_startup_line(stdout: std::process::ChildStdout, timeout: Duration) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so the child never blocks on a full pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(timeout) {
        Ok(Some(Ok(line))) => line,
        Ok(other) => panic!("srelab serve exited before its startup line: {other:?}"),
        Err(_) => panic!("no startup line from srelab serve within {timeout:?}"),
    };
    line.strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text()))
            .to_owned()
    }
}

/// Sends one request on a new connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut conn = HttpConn::connect(addr).expect("cannot connect");
    conn.send(method, target, headers, body, false)
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// A keep-alive HTTP/1.1 connection.
pub struct HttpConn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl HttpConn {
    /// Connects to `addr` (timeouts: 5 s connect, 30 s read).
    pub fn connect(addr: SocketAddr) -> std::io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// Sends a request and reads its response.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body);
        self.send_raw(&raw)
    }

    /// Writes `raw` bytes as they are and reads one response.
    pub fn send_raw(&mut self, raw: &[u8]) -> std::io::Result<Response> {
        self.reader.get_mut().write_all(raw)?;
        read_response(&mut self.reader)
    }
}

fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<Response> {
    let bad = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidData, msg);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {trimmed:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(len) => {
            body.resize(len, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
