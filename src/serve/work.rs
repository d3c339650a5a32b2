//! `GET /api/work?ms=N`: CPU-bound work costing about N milliseconds of CPU
//! time, so the lab can drive CPU utilisation and a capacity search has a
//! known cost per request. It runs on tokio's blocking pool, never on the
//! async worker threads. The cost is the thread's CPU time, not wall time:
//! on a busy machine a request takes longer, as real CPU-bound work does,
//! instead of doing less.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

use http::StatusCode;
use serde::Serialize;

use super::errors::ApiError;
use super::http::{self as h, Response};

/// Largest accepted `ms`.
pub const MAX_MS: i64 = 1000;

#[derive(Serialize)]
struct WorkDone {
    ms: i64,
    result: u64,
}

/// Parses `ms`, burns CPU for that long, returns a checksum of the work.
pub async fn run(query: Option<&str>) -> Result<Response, ApiError> {
    let mut ms = None;
    for (key, value) in h::query_pairs(query) {
        if key == "ms" {
            ms = Some(h::int_param("ms", value, 1, MAX_MS)?);
        }
    }
    let ms = ms.ok_or_else(|| ApiError::MalformedQuery(format!("ms=1..={MAX_MS} is required")))?;
    let result = tokio::task::spawn_blocking(move || burn(Duration::from_millis(ms as u64)))
        .await
        .map_err(|_| ApiError::Internal)?;
    Ok(h::json(StatusCode::OK, &WorkDone { ms, result }))
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// Iterates a xorshift generator until this thread used `duration` of CPU.
fn burn(duration: Duration) -> u64 {
    let start = thread_cpu();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while thread_cpu().saturating_sub(start) < duration {
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        x = std::hint::black_box(x);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_uses_the_requested_cpu_time() {
        let (cpu, wall) = (thread_cpu(), std::time::Instant::now());
        burn(Duration::from_millis(20));
        assert!(thread_cpu() - cpu >= Duration::from_millis(20));
        assert!(wall.elapsed() >= Duration::from_millis(20));
    }
}
