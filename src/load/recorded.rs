//! What one run recorded, raw: the cells' histograms and counts, the sealed
//! seconds of the time series and the monitor's data. Reports are built
//! from it; the workers of a distributed run send it to the coordinator,
//! which adds theirs up exactly (histograms merge, counts sum) before the
//! report and the gates see the whole.

use std::{collections::BTreeMap, time::Duration, time::SystemTime};

use super::{
    monitor::MonitorData,
    outliers::Outliers,
    series::Seconds,
    stats::{Cell, Key},
};

/// The raw record of a run (or of several, merged).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Per (phase, target, kind).
    pub cells: BTreeMap<Key, Cell>,
    /// The time series.
    pub seconds: Seconds,
    pub monitor: MonitorData,
    /// Length of the main phase, capped at `-d` (the graceful stop is not
    /// load); the longest of the merged runs.
    pub elapsed: Duration,
    /// When the main phase began (the earliest of the merged runs).
    pub started_at: Option<SystemTime>,
    /// The slowest and failed requests (`--outliers`).
    pub outliers: Outliers,
}

impl Recorded {
    /// Adds another run's record (a worker's share of the same run).
    pub fn merge(&mut self, other: &Recorded) -> Result<(), String> {
        for (key, cell) in &other.cells {
            self.cells.entry(*key).or_default().merge(cell);
        }
        self.seconds.merge(&other.seconds)?;
        self.monitor.merge(&other.monitor);
        self.elapsed = self.elapsed.max(other.elapsed);
        self.outliers.merge(&other.outliers);
        self.started_at = match (self.started_at, other.started_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }
}
