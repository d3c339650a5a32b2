//! The faults that can be injected, as the admin endpoint reads and
//! lists them (JSON with a `kind`), with their bounds checked.

use serde::{Deserialize, Serialize};

use crate::serve::errors::ApiError;
use crate::serve::routes::Route;

/// A kind of fault: the `kind` label of `srelab_fault_active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Error,
    Latency,
    Cpu,
    Memory,
    DbLock,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Error,
        Kind::Latency,
        Kind::Cpu,
        Kind::Memory,
        Kind::DbLock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Error => "error",
            Kind::Latency => "latency",
            Kind::Cpu => "cpu",
            Kind::Memory => "memory",
            Kind::DbLock => "db_lock",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it acts on requests (rather than on the process).
    pub fn on_requests(self) -> bool {
        matches!(self, Kind::Error | Kind::Latency)
    }
}

/// One fault with its parameters (defaults filled in when listed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer this share of the route's requests with 500 `injected_fault`.
    Error {
        /// A route template (`/api/items`); absent: every /api/ route.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<String>,
        ratio: f64,
    },
    /// Wait this long before handling each of the route's requests.
    Latency {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<String>,
        ms: u32,
    },
    /// Burn CPU on this many threads (default: one per core) at this
    /// nice value (default 19, the lowest priority: every idle cycle of
    /// the host, as a runaway batch job takes them, without starving the
    /// processes that measure it; 0 competes with everything).
    Cpu {
        #[serde(default = "cores")]
        threads: u32,
        #[serde(default = "default_nice")]
        nice: i32,
    },
    /// Allocate and touch memory at this rate, up to a cap.
    Memory {
        #[serde(default = "default_mib_per_second")]
        mib_per_second: u32,
        #[serde(default = "default_max_mib")]
        max_mib: u32,
    },
    /// Hold the database's write lock for `duty` of every period, from a
    /// connection of its own (writers wait, then fail past the busy timeout).
    DbLock {
        #[serde(default = "default_duty")]
        duty: f64,
        #[serde(default = "default_period_ms")]
        period_ms: u64,
    },
}

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
fn default_nice() -> i32 {
    19
}
fn default_mib_per_second() -> u32 {
    16
}
fn default_max_mib() -> u32 {
    1024
}
fn default_duty() -> f64 {
    1.0
}
fn default_period_ms() -> u64 {
    1000
}

impl Fault {
    pub fn kind(&self) -> Kind {
        match self {
            Fault::Error { .. } => Kind::Error,
            Fault::Latency { .. } => Kind::Latency,
            Fault::Cpu { .. } => Kind::Cpu,
            Fault::Memory { .. } => Kind::Memory,
            Fault::DbLock { .. } => Kind::DbLock,
        }
    }

    /// Checks the parameters' bounds; the error names the field (422).
    pub fn check(&self) -> Result<(), ApiError> {
        let bad = |msg: String| Err(ApiError::InvalidField(msg));
        match self {
            Fault::Error { route, ratio } => {
                check_route(route)?;
                if !(*ratio > 0.0 && *ratio <= 1.0) {
                    return bad(format!("ratio must be in (0, 1], got {ratio}"));
                }
            }
            Fault::Latency { route, ms } => {
                check_route(route)?;
                if !(1..=60_000).contains(ms) {
                    return bad(format!("ms must be 1..=60000, got {ms}"));
                }
            }
            Fault::Cpu { threads, nice } => {
                if !(1..=256).contains(threads) {
                    return bad(format!("threads must be 1..=256, got {threads}"));
                }
                if !(0..=19).contains(nice) {
                    return bad(format!("nice must be 0..=19, got {nice}"));
                }
            }
            Fault::Memory {
                mib_per_second,
                max_mib,
            } => {
                if !(1..=1024).contains(mib_per_second) {
                    return bad(format!(
                        "mib_per_second must be 1..=1024, got {mib_per_second}"
                    ));
                }
                if !(1..=65_536).contains(max_mib) {
                    return bad(format!("max_mib must be 1..=65536, got {max_mib}"));
                }
            }
            Fault::DbLock { duty, period_ms } => {
                if !(*duty > 0.0 && *duty <= 1.0) {
                    return bad(format!("duty must be in (0, 1], got {duty}"));
                }
                if !(10..=60_000).contains(period_ms) {
                    return bad(format!("period_ms must be 10..=60000, got {period_ms}"));
                }
            }
        }
        Ok(())
    }
}

/// The routes request faults may name: the API's.
fn api_routes() -> impl Iterator<Item = Route> {
    Route::ALL
        .into_iter()
        .filter(|r| r.template().starts_with("/api/"))
}

fn check_route(route: &Option<String>) -> Result<(), ApiError> {
    match route {
        Some(r) if !api_routes().any(|a| a.template() == r) => {
            let known: Vec<&str> = api_routes().map(Route::template).collect();
            Err(ApiError::InvalidField(format!(
                "route must be one of {} (or absent for all), got {:?}",
                known.join(", "),
                crate::serve::http::truncate(r, 100)
            )))
        }
        _ => Ok(()),
    }
}

/// Whether a request fault naming `route` (or none: every API route)
/// applies to `r`.
pub fn targets(route: &Option<String>, r: Route) -> bool {
    match route {
        Some(t) => r.template() == t,
        None => r.template().starts_with("/api/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Fault, String> {
        let f: Fault = serde_json::from_str(json).map_err(|e| e.to_string())?;
        f.check().map_err(|e| e.to_string())?;
        Ok(f)
    }

    #[test]
    fn faults_read_with_defaults_and_bounds() {
        assert_eq!(
            parse(r#"{"kind":"error","route":"/api/items","ratio":0.5}"#).unwrap(),
            Fault::Error {
                route: Some("/api/items".into()),
                ratio: 0.5
            }
        );
        assert!(matches!(
            parse(r#"{"kind":"db_lock"}"#).unwrap(),
            Fault::DbLock {
                duty: 1.0,
                period_ms: 1000
            }
        ));
        for (bad, want) in [
            (r#"{"kind":"error","ratio":0}"#, "ratio must be"),
            (
                r#"{"kind":"error","ratio":0.1,"route":"/metrics"}"#,
                "route must be one of",
            ),
            (r#"{"kind":"latency","ms":0}"#, "ms must be"),
            (r#"{"kind":"cpu","threads":0}"#, "threads must be"),
            (r#"{"kind":"memory","max_mib":0}"#, "max_mib must be"),
            (r#"{"kind":"fire"}"#, "unknown variant"),
            (r#"{"kind":"cpu","colour":1}"#, "unknown field"),
            (r#"{"ratio":0.1}"#, "missing field `kind`"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn a_fault_without_route_targets_the_api() {
        assert!(targets(&None, Route::Items));
        assert!(!targets(&None, Route::Metrics));
        assert!(targets(&Some("/api/work".into()), Route::Work));
        assert!(!targets(&Some("/api/work".into()), Route::Items));
    }
}
