//! Real HAProxy for the tests: the lab's one configuration
//! (`haproxy/srelab.cfg`, rendered by [`srelab::lab::haproxy::render`])
//! in front of the given servers, in a temporary directory, checked by
//! `haproxy -c` and run in the foreground; its state read from its own
//! Prometheus exporter.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use srelab::lab::haproxy::{self, Server};

use super::ports::unused_port;
use super::tools::HAPROXY;
use super::{ChildGuard, request};

/// HAProxy's binary on PATH, or a panic naming its package.
pub fn binary() -> PathBuf {
    HAPROXY.path()
}

/// A running HAProxy and its temporary directory.
pub struct Haproxy {
    pub guard: ChildGuard,
    /// Where clients send requests.
    pub addr: SocketAddr,
    /// Its Prometheus exporter.
    pub exporter: SocketAddr,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts HAProxy in front of `servers` (name, address) and waits until
/// it listens and reports every server UP.
pub fn start(servers: &[(&str, SocketAddr)]) -> Haproxy {
    let dir = tempfile::tempdir().unwrap();
    // HAProxy cannot report a port 0 it bound: it gets ports in advance.
    let addr: SocketAddr = ([127, 0, 0, 1], unused_port()).into();
    let exporter: SocketAddr = ([127, 0, 0, 1], unused_port()).into();
    let servers: Vec<Server> = servers
        .iter()
        .map(|(name, a)| Server {
            name: (*name).to_owned(),
            address: a.to_string(),
        })
        .collect();
    let config = dir.path().join("haproxy.cfg");
    let text = haproxy::render(&addr.to_string(), &exporter.to_string(), &servers);
    std::fs::write(&config, text).unwrap();
    let bin = binary();
    haproxy::check_config(&bin, &config).unwrap_or_else(|e| panic!("{e}"));
    // Its warnings (a server going DOWN) go to a log beside the configuration.
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    let child = Command::new(&bin)
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cannot start haproxy");
    let lb = Haproxy {
        guard: ChildGuard::new("haproxy", child),
        addr,
        exporter,
        config,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() || TcpStream::connect(exporter).is_err() {
        assert!(
            Instant::now() < deadline,
            "HAProxy does not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for s in &servers {
        lb.wait_state(&s.name, "UP", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("HAProxy did not report {} UP", s.name));
    }
    lb
}

impl Haproxy {
    /// The exporter's `/metrics` text.
    pub fn metrics(&self) -> String {
        let r = request(self.exporter, "GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200, "HAProxy's exporter: {}", r.text());
        r.text()
    }

    /// Each server of the srelab backend and its state.
    pub fn states(&self) -> BTreeMap<String, String> {
        haproxy::server_states(&self.metrics())
    }

    /// Requests HAProxy sent again (retried or redispatched).
    pub fn resent(&self) -> u64 {
        haproxy::resent(&self.metrics()) as u64
    }

    /// Polls every 20 ms until `server` is in `state`: how long that took.
    pub fn wait_state(&self, server: &str, state: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.states().get(server).map(String::as_str) == Some(state) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
