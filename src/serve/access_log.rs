//! The access log: one structured line per request that `--access-log`
//! selects, with method, route template, status, duration, body bytes, the
//! instance and the request id. It goes through `tracing` (target
//! `srelab::access`), so `--log-format json` makes it a JSON line for Loki
//! and `RUST_LOG` can still silence it.
//!
//! The house rule is "nothing per request above `debug`": the access log is
//! its one, deliberate exception, and by default it only logs the requests
//! worth reading: `--access-log slow=250ms` logs server errors, requests
//! whose client went away (499) and requests slower than 250 ms (the p99
//! alert's threshold), and nothing else. Deciding costs a comparison per
//! request; writing a line costs a few microseconds, only for those.
//!
//! `--access-log-sample N` adds 1 in N of the other requests (counted per
//! runtime thread, so no shared counter), at `info`: a steady trickle that
//! shows every instance's traffic in Loki without a line per request.
//!
//! Levels: a 5xx is `error`, a 499 or a slow request `warn`, anything else
//! (`all`, or sampled) `info`.

use std::cell::Cell;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode};

use super::metrics::CLIENT_CLOSED;
use super::request_id;
use super::routes::Route;

/// The default mode: errors and requests slower than the p99 alert's 250 ms.
pub const DEFAULT: &str = "slow=250ms";

/// Which requests get a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// None.
    Off,
    /// Server errors (5xx) and requests whose client went away (499).
    Errors,
    /// Errors, and requests that took at least this long.
    Slow(Duration),
    /// Every request.
    All,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "off" => Ok(Mode::Off),
            "errors" => Ok(Mode::Errors),
            "all" => Ok(Mode::All),
            _ => match s.strip_prefix("slow=") {
                Some(d) => humantime::parse_duration(d)
                    .map(Mode::Slow)
                    .map_err(|e| format!("`{d}` is not a duration: {e}")),
                None => Err(format!(
                    "`{s}` is not one of all, errors, slow=DURATION, off"
                )),
            },
        }
    }
}

/// How a logged request is rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    Error,
    Warn,
    Info,
}

impl Mode {
    /// Whether a request with `status` that took `elapsed` gets a line, and at which level.
    #[inline]
    pub fn rate(self, status: StatusCode, elapsed: Duration) -> Option<Rating> {
        let error = status.is_server_error() || status == CLIENT_CLOSED;
        let slow = matches!(self, Mode::Slow(limit) if elapsed >= limit);
        let logged = match self {
            Mode::Off => false,
            Mode::Errors => error,
            Mode::Slow(_) => error || slow,
            Mode::All => true,
        };
        if !logged {
            None
        } else if status.is_server_error() {
            Some(Rating::Error)
        } else if error || slow {
            Some(Rating::Warn)
        } else {
            Some(Rating::Info)
        }
    }
}

/// The access log of one service instance.
#[derive(Debug, Clone)]
pub struct AccessLog {
    pub mode: Mode,
    /// Also 1 in this many of the other requests (0: none; not with `off`).
    pub sample: u32,
    /// How the instance is named in its lines (as Prometheus' `instance` label).
    pub instance: String,
}

/// One request as the access log sees it.
pub struct Entry<'a> {
    pub method: &'a Method,
    pub route: Route,
    pub status: StatusCode,
    pub elapsed: Duration,
    /// Response body bytes (0 when the client went away).
    pub bytes: u64,
    pub request_id: &'a HeaderValue,
}

impl AccessLog {
    /// Logs `entry` if the mode selects it.
    #[inline]
    pub fn record(&self, entry: &Entry<'_>) {
        if let Some(rating) = self.mode.rate(entry.status, entry.elapsed) {
            self.write(rating, entry);
        } else if self.sample > 0 && self.mode != Mode::Off && sampled(self.sample) {
            self.write(Rating::Info, entry);
        }
    }

    #[cold]
    fn write(&self, rating: Rating, e: &Entry<'_>) {
        let method = e.method.as_str();
        let route = e.route.template();
        let status = e.status.as_u16();
        // Milliseconds with microsecond precision.
        let duration_ms = e.elapsed.as_micros() as f64 / 1e3;
        let bytes = e.bytes;
        let instance = self.instance.as_str();
        let request_id = request_id::as_str(e.request_id);
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "srelab::access",
                    $level,
                    method,
                    route,
                    status,
                    duration_ms,
                    bytes,
                    instance,
                    request_id,
                    "request"
                )
            };
        }
        match rating {
            Rating::Error => line!(tracing::Level::ERROR),
            Rating::Warn => line!(tracing::Level::WARN),
            Rating::Info => line!(tracing::Level::INFO),
        }
    }
}

thread_local! {
    /// Requests this thread passed over since its last sampled one.
    static SKIPPED: Cell<u32> = const { Cell::new(0) };
}

/// Whether this request is the thread's 1 in `n`.
fn sampled(n: u32) -> bool {
    SKIPPED.with(|skipped| {
        let now = skipped.get() + 1;
        let hit = now >= n;
        skipped.set(if hit { 0 } else { now });
        hit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn modes_parse() {
        assert_eq!("all".parse(), Ok(Mode::All));
        assert_eq!("off".parse(), Ok(Mode::Off));
        assert_eq!("errors".parse(), Ok(Mode::Errors));
        assert_eq!(DEFAULT.parse(), Ok(Mode::Slow(MS(250))));
        assert!("slow=fast".parse::<Mode>().unwrap_err().contains("fast"));
        assert!(
            "some"
                .parse::<Mode>()
                .unwrap_err()
                .contains("slow=DURATION")
        );
    }

    #[test]
    fn each_mode_selects_what_it_says() {
        let ok = StatusCode::OK;
        let not_found = StatusCode::NOT_FOUND;
        let failed = StatusCode::INTERNAL_SERVER_ERROR;
        let slow = Mode::Slow(MS(100));
        assert_eq!(Mode::Off.rate(failed, MS(900)), None);
        assert_eq!(Mode::Errors.rate(ok, MS(900)), None);
        assert_eq!(Mode::Errors.rate(not_found, MS(1)), None);
        assert_eq!(Mode::Errors.rate(failed, MS(1)), Some(Rating::Error));
        assert_eq!(Mode::Errors.rate(CLIENT_CLOSED, MS(1)), Some(Rating::Warn));
        assert_eq!(slow.rate(ok, MS(99)), None);
        assert_eq!(slow.rate(ok, MS(100)), Some(Rating::Warn));
        assert_eq!(slow.rate(failed, MS(1)), Some(Rating::Error));
        assert_eq!(Mode::All.rate(ok, MS(1)), Some(Rating::Info));
        assert_eq!(Mode::All.rate(not_found, MS(1)), Some(Rating::Info));
        assert_eq!(Mode::All.rate(failed, MS(1)), Some(Rating::Error));
    }

    #[test]
    fn sampling_takes_one_in_n_per_thread() {
        let hits = std::thread::spawn(|| (0..1000).filter(|_| sampled(100)).count())
            .join()
            .unwrap();
        assert_eq!(hits, 10);
        let every = std::thread::spawn(|| (0..5).filter(|_| sampled(1)).count())
            .join()
            .unwrap();
        assert_eq!(every, 5);
    }
}
