//! Request ids: the `X-Request-Id` a client (the load tool, HAProxy) sent,
//! when it is safe to log and echo, else a fresh one; the answer carries it
//! back and the access log records it, so one request can be found on both
//! sides.
//!
//! A received id is kept only if it is 1 to [`MAX_LEN`] bytes of
//! `A-Z a-z 0-9 - _ . : + = / @` (UUIDs, HAProxy's `unique-id-format`
//! output, the load tool's ids). Anything else (too long, control
//! characters, spaces, quotes, bytes that are not ASCII) is replaced whole,
//! never trimmed or escaped: a log line never holds a byte the client chose
//! outside that set. Fresh ids are 16 hex digits: 8 of a per-process random
//! prefix, then 8 of a counter (more past 2^32 requests), so they are unique
//! within a process, sort in arrival order, and the prefix tells processes
//! apart.

use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;
use http::header::HeaderName;

/// The header carrying the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id kept from a request.
pub const MAX_LEN: usize = 128;

/// Makes fresh ids for one service instance.
pub struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new(rand::random())
    }
}

impl RequestIds {
    /// A generator whose ids start with `prefix`.
    pub fn new(prefix: u32) -> RequestIds {
        RequestIds {
            prefix,
            next: AtomicU64::new(0),
        }
    }

    /// The id of a request: the received one when [`valid`], else a fresh one.
    pub fn for_request(&self, received: Option<&HeaderValue>) -> HeaderValue {
        match received {
            Some(v) if valid(v.as_bytes()) => v.clone(),
            _ => self.fresh(),
        }
    }

    /// A new id: the prefix and the counter in lower-case hex.
    pub fn fresh(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 24];
        let mut len = hex(&mut buf, u64::from(self.prefix), 8);
        len += hex(&mut buf[len..], n, 8);
        HeaderValue::from_bytes(&buf[..len]).expect("hex digits are a valid header value")
    }
}

/// Writes `n` in hex, at least `width` digits, into `out`; returns the length.
fn hex(out: &mut [u8], n: u64, width: usize) -> usize {
    let digits = (16 - n.leading_zeros() as usize / 4).max(width);
    for (i, b) in out[..digits].iter_mut().enumerate() {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
        *b = b"0123456789abcdef"[nibble as usize];
    }
    digits
}

/// Whether a received id may be kept: 1..=[`MAX_LEN`] bytes of the safe set.
pub fn valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+=/@".contains(&b))
}

/// The id as text; a kept or fresh id is always ASCII.
pub fn as_str(id: &HeaderValue) -> &str {
    id.to_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_ids_are_kept_others_replaced() {
        let ids = RequestIds::new(7);
        for keep in [
            "abc",
            "7f000001:c3d4_7f000001:1f90_65a1b2c3_0001:1a2b",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "load-1a2b3c4d-000000000042",
        ] {
            let v = HeaderValue::from_static(keep);
            assert_eq!(ids.for_request(Some(&v)), v, "{keep}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            b"" as &[u8],
            long.as_bytes(),
            b"has space",
            b"quote\"d",
            b"tab\there",
            b"caf\xc3\xa9",
            b"\xff\xfe",
            b"new\x7fline",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
        assert!(valid("a".repeat(MAX_LEN).as_bytes()));
        let replaced = ids.for_request(Some(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
        assert_eq!(replaced.len(), 16);
        assert!(valid(replaced.as_bytes()));
    }

    #[test]
    fn fresh_ids_are_the_prefix_then_the_counter() {
        let a = RequestIds::new(0x1a2b);
        assert_eq!(a.fresh(), "00001a2b00000000");
        assert_eq!(a.fresh(), "00001a2b00000001");
        a.next.store(u64::from(u32::MAX) + 1, Ordering::Relaxed);
        assert_eq!(a.fresh(), "00001a2b100000000");
        a.next.store(u64::MAX, Ordering::Relaxed);
        let last = a.fresh();
        assert_eq!(last, "00001a2bffffffffffffffff");
        assert!(valid(last.as_bytes()));
        assert_ne!(RequestIds::new(2).fresh(), RequestIds::new(1).fresh());
    }
}
