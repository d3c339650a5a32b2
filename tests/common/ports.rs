//! Ports for programs that must be told a port in advance (the lab's
//! children), where binding `127.0.0.1:0` and reading the address back is
//! not possible.
//!
//! A port found free by binding and releasing it can be taken again before
//! the program binds it. The ports handed out here are below the kernel's
//! ephemeral range, so no `connect()` and no `bind(…:0)` anywhere on the
//! machine can take them meanwhile; within one test process each is handed
//! out once. Only a program binding that exact port on purpose can still
//! race us.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out.
const LOW: u32 = 10_000;

/// The first port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p| p > LOW + 1000)
        .unwrap_or(32_768)
}

/// `n` consecutive ports that nothing listens on, outside the ephemeral
/// range, never handed out before by this process; returns the first.
pub fn unused_ports(n: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = ephemeral_start() - LOW;
    // Where this process starts in the range: apart from other test processes.
    let seed = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let offset = NEXT.fetch_add(u32::from(n), Ordering::Relaxed);
        let first = LOW + (seed + offset) % span;
        if first + u32::from(n) > LOW + span {
            continue;
        }
        let free = (0..u32::from(n)).all(|i| {
            // Binding and dropping: a port someone listens on fails here.
            TcpListener::bind(("127.0.0.1", (first + i) as u16)).is_ok()
        });
        if free {
            return first as u16;
        }
    }
    panic!("no {n} consecutive free ports between {LOW} and the ephemeral range");
}

/// One port that nothing listens on (see [`unused_ports`]).
pub fn unused_port() -> u16 {
    unused_ports(1)
}
