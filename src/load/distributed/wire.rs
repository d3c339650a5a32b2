//! A run's [`Recorded`] as JSON for the wire: counts as numbers, histograms
//! as base64 of HDR's V2 format with DEFLATE, so the coordinator merges the
//! workers' histograms exactly (not their percentiles).

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::load::{
    check::Outcome,
    mix::Kind,
    monitor::{CpuStats, Lags, MonitorData},
    outliers::Outliers,
    recorded::Recorded,
    series::{Sealed, Seconds},
    stats::{self, Cell, Phase},
};

type Outcomes = [u64; Outcome::ALL.len()];

/// [`Recorded`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRecord {
    pub cells: Vec<WireCell>,
    pub seconds: Vec<WireSecond>,
    /// (second, the tool's highest CPU share in it).
    pub cpu: Vec<(u32, f64)>,
    pub monitor: WireMonitor,
    pub elapsed_seconds: f64,
    /// Seconds since the Unix epoch, by the worker's clock.
    pub started_at: Option<f64>,
    /// The slowest and failed requests (`--outliers`).
    #[serde(default)]
    pub outliers: Outliers,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireCell {
    pub phase: String,
    pub target: usize,
    pub kind: String,
    pub outcomes: Outcomes,
    pub statuses: BTreeMap<u16, u64>,
    pub latency: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireSecond {
    pub second: u32,
    pub target: usize,
    pub kind: String,
    pub outcomes: Outcomes,
    pub latency: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireMonitor {
    pub schedule_lag: String,
    pub timer_lag: String,
    pub started: u64,
    pub late: u64,
    pub interrupted: u64,
    pub interrupted_writes: u64,
    pub cpu_samples: u64,
    pub cpu_saturated: u64,
    pub cpu_max: f64,
}

/// A histogram as base64 of its V2 DEFLATE bytes.
pub fn encode(h: &Histogram<u64>) -> String {
    STANDARD.encode(stats::serialize(h))
}

/// A histogram back from [`encode`].
pub fn decode(s: &str) -> Result<Histogram<u64>, String> {
    stats::deserialize(&bytes(s)?)
}

fn bytes(s: &str) -> Result<Vec<u8>, String> {
    STANDARD.decode(s).map_err(|e| format!("not base64: {e}"))
}

fn kind(name: &str) -> Result<Kind, String> {
    Kind::from_name(name).ok_or_else(|| format!("unknown kind `{name}`"))
}

impl WireRecord {
    pub fn of(r: &Recorded) -> WireRecord {
        let m = &r.monitor;
        WireRecord {
            cells: r
                .cells
                .iter()
                .map(|((phase, target, kind), cell)| WireCell {
                    phase: phase.name().into(),
                    target: *target,
                    kind: kind.name().into(),
                    outcomes: cell.outcomes,
                    statuses: cell.statuses.clone(),
                    latency: encode(&cell.latency),
                })
                .collect(),
            seconds: r
                .seconds
                .slots
                .iter()
                .flat_map(|(second, slots)| {
                    slots.iter().map(|((target, kind), sealed)| WireSecond {
                        second: *second,
                        target: *target,
                        kind: kind.name().into(),
                        outcomes: sealed.outcomes,
                        latency: STANDARD.encode(&sealed.latency),
                    })
                })
                .collect(),
            cpu: r.seconds.cpu.iter().map(|(s, c)| (*s, *c)).collect(),
            monitor: WireMonitor {
                schedule_lag: encode(&m.lags.all),
                timer_lag: encode(&m.lags.timer),
                started: m.started,
                late: m.late,
                interrupted: m.interrupted,
                interrupted_writes: m.interrupted_writes,
                cpu_samples: m.cpu.samples,
                cpu_saturated: m.cpu.saturated,
                cpu_max: m.cpu.max,
            },
            elapsed_seconds: r.elapsed.as_secs_f64(),
            started_at: r.started_at.and_then(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs_f64())
            }),
            outliers: r.outliers.clone(),
        }
    }

    /// The record; `targets` bounds the target indices a worker may send.
    pub fn into_recorded(self, targets: usize) -> Result<Recorded, String> {
        let target = |t: usize| {
            (t < targets)
                .then_some(t)
                .ok_or_else(|| format!("target {t} of {targets}"))
        };
        let mut cells = BTreeMap::new();
        for c in self.cells {
            let phase = Phase::from_name(&c.phase).ok_or(format!("unknown phase `{}`", c.phase))?;
            let cell = Cell {
                latency: decode(&c.latency)?,
                outcomes: c.outcomes,
                statuses: c.statuses,
            };
            cells.insert((phase, target(c.target)?, kind(&c.kind)?), cell);
        }
        let mut seconds = Seconds::default();
        for s in self.seconds {
            let sealed = Sealed {
                outcomes: s.outcomes,
                latency: bytes(&s.latency)?,
            };
            sealed.open()?;
            seconds
                .slots
                .entry(s.second)
                .or_default()
                .insert((target(s.target)?, kind(&s.kind)?), sealed);
        }
        seconds.cpu = self.cpu.into_iter().collect();
        let m = self.monitor;
        Ok(Recorded {
            cells,
            seconds,
            monitor: MonitorData {
                lags: Lags {
                    all: decode(&m.schedule_lag)?,
                    timer: decode(&m.timer_lag)?,
                },
                started: m.started,
                late: m.late,
                interrupted: m.interrupted,
                interrupted_writes: m.interrupted_writes,
                cpu: CpuStats {
                    samples: m.cpu_samples,
                    saturated: m.cpu_saturated,
                    max: m.cpu_max,
                },
            },
            elapsed: Duration::try_from_secs_f64(self.elapsed_seconds)
                .map_err(|e| format!("elapsed: {e}"))?,
            started_at: self
                .started_at
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .map(|d| SystemTime::UNIX_EPOCH + d),
            outliers: self.outliers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::{Sample, Stats};

    #[test]
    fn a_record_survives_the_wire_exactly() {
        let stats = Stats::new(2, 2);
        for (i, ms) in [3u64, 5, 8, 13, 21, 34].iter().enumerate() {
            stats.record(
                i as u32,
                Sample {
                    key: (Phase::Steady, i % 2, Kind::List),
                    outcome: Outcome::Ok,
                    status: Some(200),
                    latency: Duration::from_millis(*ms),
                    second: Some(i as u32 / 2),
                },
            );
        }
        stats.roll(None);
        let recorded = Recorded {
            cells: stats.merged(),
            seconds: stats.seconds(),
            monitor: crate::load::monitor::Monitor::default().snapshot(),
            elapsed: Duration::from_millis(2500),
            started_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            outliers: {
                let mut o = crate::load::outliers::Outliers::new(2);
                let slow = Duration::from_millis(900);
                o.offer(crate::load::outliers::Outlier::new(
                    7,
                    1,
                    Kind::Create,
                    None,
                    Outcome::TransportError,
                    slow,
                ));
                o
            },
        };
        let json = serde_json::to_string(&WireRecord::of(&recorded)).unwrap();
        let back: WireRecord = serde_json::from_str(&json).unwrap();
        let back = back.into_recorded(2).unwrap();
        assert_eq!(back.cells.len(), recorded.cells.len());
        for (key, cell) in &recorded.cells {
            assert_eq!(back.cells[key].latency, cell.latency);
            assert_eq!(back.cells[key].outcomes, cell.outcomes);
        }
        assert_eq!(back.seconds, recorded.seconds);
        assert_eq!(back.elapsed, recorded.elapsed);
        assert_eq!(back.started_at, recorded.started_at);
        assert_eq!(back.outliers.failed(), recorded.outliers.failed());
        assert_eq!(back.outliers.slowest()[0].k, 7);
        let bad: WireRecord = serde_json::from_str(&json).unwrap();
        assert!(bad.into_recorded(1).unwrap_err().contains("target 1 of 1"));
    }
}
