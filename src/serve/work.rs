//! `GET /api/work?ms=N`: CPU-bound work for about N milliseconds, so the lab
//! can drive CPU utilisation. It runs on tokio's blocking pool, never on the
//! async worker threads.

use std::time::{Duration, Instant};

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
    let ms = ms_param(query)?;
    let result = tokio::task::spawn_blocking(move || burn(Duration::from_millis(ms as u64)))
        .await
        .map_err(|_| ApiError::Internal)?;
    Ok(h::json(StatusCode::OK, &WorkDone { ms, result }))
}

/// The required `ms` of the query, 1 to [`MAX_MS`] (400 otherwise).
pub fn ms_param(query: Option<&str>) -> Result<i64, ApiError> {
    let mut ms = None;
    for (key, value) in h::query_pairs(query) {
        if key == "ms" {
            ms = Some(h::int_param("ms", value, 1, MAX_MS)?);
        }
    }
    ms.ok_or_else(|| ApiError::MalformedQuery(format!("ms=1..={MAX_MS} is required")))
}

/// Iterates a xorshift generator until `duration` has passed.
fn burn(duration: Duration) -> u64 {
    let start = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while start.elapsed() < duration {
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
    fn burn_takes_about_the_requested_time() {
        let start = Instant::now();
        burn(Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
