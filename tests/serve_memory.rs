//! `srelab serve`'s memory under a flood of large (allowed) bodies, bodies
//! past the limit and slow bodies: the peak RSS of a real child (`VmHWM` in
//! `/proc/PID/status`) stays under the bound its configuration implies
//! (README, "When something runs out"):
//!
//! ```text
//! peak RSS ≤ idle RSS + SQLite page caches + max-connections × per connection
//! per connection = hyper's HTTP/1 read buffer (at most 416 KiB)
//!                + 2 × --max-body-bytes (the body and its growing copy)
//!                + 64 KiB (task, write buffer, response, decoding)
//! ```
//!
//! Without `--max-connections` nothing but the open-file limit bounds the
//! connections, so nothing bounds the memory: the cap is what makes it hold.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{HttpConn, serve_command, start_serve};

const KIB: u64 = 1024;
const MAX_BODY: usize = 256 << 10;
const CAP: usize = 32;
const READERS: u64 = 4;
/// hyper 1.x's `DEFAULT_MAX_BUFFER_SIZE` (8192 + 4096 × 100), the most an
/// HTTP/1 connection's read buffer grows to.
const HYPER_READ_BUFFER: u64 = 8192 + 4096 * 100;
const PER_CONNECTION_OTHER: u64 = 64 * KIB;
/// SQLite's default `cache_size` for the writer (2000 KiB) and the 1 MiB the
/// store gives each reader.
const SQLITE_CACHES: u64 = 2000 * KIB + READERS * 1024 * KIB;

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(6);
/// Clients of each kind: together more than the cap, so some wait.
const FAST_CLIENTS: usize = 24;
const SLOW_CLIENTS: usize = 16;
const OVERSIZED_CLIENTS: usize = 4;

/// `VmHWM` (peak) and `VmRSS` of `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
        let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
        kib * KIB
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A valid item padded with JSON whitespace to `len` bytes.
fn near_limit_body(len: usize) -> Vec<u8> {
    let mut body = br#"{"name":"large","value":1}"#.to_vec();
    body.resize(len, b' ');
    body
}

fn post_head(addr: SocketAddr, length: Option<usize>) -> String {
    let framing = match length {
        Some(len) => format!("Content-Length: {len}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    format!(
        "POST /api/items HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )
}

/// Posts near-limit bodies, one connection each, until `until`; counts 201s.
fn flood_large(addr: SocketAddr, until: Instant, created: &AtomicUsize) {
    let body = near_limit_body(MAX_BODY - 16);
    let mut raw = post_head(addr, Some(body.len())).into_bytes();
    raw.extend_from_slice(&body);
    while Instant::now() < until {
        let Ok(mut conn) = HttpConn::connect(addr) else {
            continue;
        };
        if let Ok(response) = conn.send_raw(&raw) {
            assert_eq!(response.status, 201, "{}", response.text());
            created.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends chunked bodies of 32 times the limit until `until`; counts the
/// 413s read (the server closes before the client finishes writing). Were
/// the limit not enforced while reading, these alone would pass the bound.
fn flood_oversized(addr: SocketAddr, until: Instant, refused: &AtomicUsize) {
    let chunk = near_limit_body(16 << 10);
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            continue;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut write = || -> std::io::Result<()> {
            stream.write_all(post_head(addr, None).as_bytes())?;
            for _ in 0..(32 * MAX_BODY / chunk.len()) {
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                stream.write_all(&chunk)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")
        };
        let _ = write();
        let mut answer = [0u8; 12];
        if stream.read_exact(&mut answer).is_ok() && answer.ends_with(b"413") {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Announces a near-limit body and sends it 4 bytes per 100 ms until `until`.
fn trickle(addr: SocketAddr, until: Instant) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(post_head(addr, Some(MAX_BODY - 16)).as_bytes())
        .unwrap();
    while Instant::now() < until {
        if stream.write_all(b"    ").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn peak_memory_under_floods_of_large_oversized_and_slow_bodies_stays_under_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cap = CAP.to_string();
    let max_body = MAX_BODY.to_string();
    let readers = READERS.to_string();
    let args = [
        "--max-connections",
        cap.as_str(),
        "--max-body-bytes",
        max_body.as_str(),
        "--readers",
        readers.as_str(),
        "--header-read-timeout",
        "30s",
        "--no-host-metrics",
    ];
    let server = start_serve(serve_command(&dir.path().join("memory.db"), &args));
    let addr = server.addr;
    let pid = server.guard.pid();

    // Warm up every path the floods take, then take the idle figure.
    for _ in 0..20 {
        let body = near_limit_body(MAX_BODY - 16);
        let response = server.post_json("/api/items", std::str::from_utf8(&body).unwrap());
        assert_eq!(response.status, 201, "{}", response.text());
        assert_eq!(server.get("/api/items?limit=100").status, 200);
    }
    let (idle, _) = memory(pid);

    let until = Instant::now() + FLOOD;
    let created = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        clients.push(std::thread::spawn(move || trickle(addr, until)));
    }
    for _ in 0..FAST_CLIENTS {
        let created = Arc::clone(&created);
        clients.push(std::thread::spawn(move || {
            flood_large(addr, until, &created)
        }));
    }
    for _ in 0..OVERSIZED_CLIENTS {
        let refused = Arc::clone(&refused);
        clients.push(std::thread::spawn(move || {
            flood_oversized(addr, until, &refused)
        }));
    }
    let mut peak_seen = 0;
    while Instant::now() < until {
        peak_seen = peak_seen.max(memory(pid).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    for client in clients {
        client.join().unwrap();
    }
    let (peak, rss) = memory(pid);

    let per_connection = HYPER_READ_BUFFER + 2 * MAX_BODY as u64 + PER_CONNECTION_OTHER;
    let bound = idle + SQLITE_CACHES + CAP as u64 * per_connection;
    let created = created.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    eprintln!(
        "memory under {FAST_CLIENTS} near-limit ({} KiB), {OVERSIZED_CLIENTS} oversized and \
         {SLOW_CLIENTS} slow (4 B / 100 ms) clients for {FLOOD:?}, cap {CAP}: \
         {created} bodies of {} KiB stored, {refused} oversized refused; \
         idle {:.1} MiB, peak (VmHWM) {:.1} MiB (+{:.1} MiB), RSS at the end {:.1} MiB, \
         highest RSS sampled {:.1} MiB; bound {:.1} MiB = idle + {:.1} MiB SQLite caches \
         + {CAP} × {:.0} KiB per connection",
        MAX_BODY >> 10,
        MAX_BODY >> 10,
        mib(idle),
        mib(peak),
        mib(peak - idle),
        mib(rss),
        mib(peak_seen),
        mib(bound),
        mib(SQLITE_CACHES),
        per_connection as f64 / KIB as f64,
    );
    assert!(
        created >= FAST_CLIENTS,
        "the flood stored only {created} large bodies"
    );
    assert!(refused > 0, "no oversized body was refused with 413");
    assert!(
        peak <= bound,
        "peak RSS {:.1} MiB is over the bound {:.1} MiB",
        mib(peak),
        mib(bound)
    );
    assert_eq!(server.get("/healthz").status, 200);
}

/// A body that has not fully arrived within `--body-read-timeout` gets 408
/// `body_timeout` and its connection is closed, which frees its place under
/// the cap: with `--max-connections 1`, a probe queued behind a trickling
/// body is answered once the body timed out.
#[test]
fn a_slow_body_gets_408_after_the_body_read_timeout_and_frees_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--max-connections",
        "1",
        "--body-read-timeout",
        "1s",
        "--header-read-timeout",
        "30s",
    ];
    let server = start_serve(serve_command(&dir.path().join("slow.db"), &args));
    let addr = server.addr;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(post_head(addr, Some(1000)).as_bytes())
        .unwrap();
    let trickler = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..100 {
                if slow.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Queued behind the trickling body: the cap is 1.
    let probe = std::thread::spawn(move || {
        let mut conn = HttpConn::connect(addr).unwrap();
        conn.send("GET", "/healthz", &[], b"", false)
            .unwrap()
            .status
    });
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer)
        .expect("the server closes the connection after its 408");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"body_timeout""#), "{answer}");
    // Without the timeout the body would hold the only place for good and
    // the probe would time out.
    assert_eq!(probe.join().unwrap(), 200);
    drop(slow);
    trickler.join().unwrap();
    let metrics = server.metrics();
    assert_eq!(
        common::sample(
            &metrics,
            r#"http_requests_total{method="POST",route="/api/items",status="408"}"#
        ),
        Some(1.0),
        "the 408 is counted"
    );
}
