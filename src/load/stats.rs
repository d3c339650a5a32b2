//! Per-request statistics, kept by phase, target and kind.
//!
//! Workers record into one of a few shards (worker id modulo the shard
//! count), each behind its own mutex, so 1,000 workers neither contend on
//! one lock nor each hold their own histograms. The report merges the
//! shards once, at the end.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use hdrhistogram::Histogram;

use super::{check::Outcome, mix::Kind};

/// Which part of the run a request belongs to; each is reported apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// rlt's `--warmup` iterations.
    Warmup,
    /// Requests due before `--ramp` ended.
    Ramp,
    /// Everything after: what gates judge.
    Steady,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Warmup, Phase::Ramp, Phase::Steady];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Ramp => "ramp",
            Phase::Steady => "steady",
        }
    }
}

/// How many shards the workers' statistics are spread over: a few per
/// runtime thread, so two workers on different threads rarely share one.
pub fn shard_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 2
}

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

/// Records `d` into a microsecond histogram.
pub fn record_micros(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    // `record` grows the auto-resizing histogram; `saturating_record` would clamp.
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// A microsecond histogram value in seconds.
pub fn micros_to_secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The statistics of one (phase, target, kind).
#[derive(Debug, Clone)]
pub struct Cell {
    pub latency: Histogram<u64>,
    pub outcomes: [u64; Outcome::ALL.len()],
    pub statuses: BTreeMap<u16, u64>,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            latency: histogram(),
            outcomes: [0; Outcome::ALL.len()],
            statuses: BTreeMap::new(),
        }
    }
}

impl Cell {
    /// Adds another cell's counts.
    pub fn merge(&mut self, other: &Cell) {
        self.latency
            .add(&other.latency)
            .expect("auto-resizing histograms merge");
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }

    /// Requests counted, whatever their outcome.
    pub fn requests(&self) -> u64 {
        self.outcomes.iter().sum()
    }
}

/// Identifies a cell.
pub type Key = (Phase, usize, Kind);

/// One finished request.
pub struct Sample {
    pub key: Key,
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub latency: Duration,
}

/// The shared, sharded statistics of a run.
pub struct Stats {
    targets: usize,
    /// Each shard is a dense table indexed by [`Stats::slot`].
    shards: Vec<Mutex<Vec<Option<Cell>>>>,
}

impl Stats {
    pub fn new(shards: usize, targets: usize) -> Self {
        let slots = Phase::ALL.len() * targets * Kind::ALL.len();
        Stats {
            targets,
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(vec![None; slots]))
                .collect(),
        }
    }

    fn slot(&self, (phase, target, kind): Key) -> usize {
        (phase as usize * self.targets + target) * Kind::ALL.len() + kind.index()
    }

    fn key(&self, slot: usize) -> Key {
        let kind = Kind::ALL[slot % Kind::ALL.len()];
        let rest = slot / Kind::ALL.len();
        (Phase::ALL[rest / self.targets], rest % self.targets, kind)
    }

    /// Records a request finished by `worker`.
    pub fn record(&self, worker: u32, s: Sample) {
        let slot = self.slot(s.key);
        let shard = &self.shards[worker as usize % self.shards.len()];
        let mut cells = shard.lock().unwrap_or_else(|e| e.into_inner());
        let cell = cells[slot].get_or_insert_with(Cell::default);
        record_micros(&mut cell.latency, s.latency);
        cell.outcomes[s.outcome.index()] += 1;
        if let Some(status) = s.status {
            *cell.statuses.entry(status).or_default() += 1;
        }
    }

    /// Every cell, merged over the shards.
    pub fn merged(&self) -> BTreeMap<Key, Cell> {
        let mut out: BTreeMap<Key, Cell> = BTreeMap::new();
        for shard in &self.shards {
            let cells = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (slot, cell) in cells.iter().enumerate() {
                if let Some(cell) = cell {
                    out.entry(self.key(slot)).or_default().merge(cell);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_back_to_keys() {
        let stats = Stats::new(2, 3);
        for phase in Phase::ALL {
            for target in 0..3 {
                for kind in Kind::ALL {
                    let key = (phase, target, kind);
                    assert_eq!(stats.key(stats.slot(key)), key);
                }
            }
        }
        let sample = || Sample {
            key: (Phase::Steady, 2, Kind::Get),
            outcome: Outcome::Ok,
            status: Some(200),
            latency: Duration::from_millis(3),
        };
        stats.record(0, sample());
        stats.record(1, sample());
        let merged = stats.merged();
        let cell = &merged[&(Phase::Steady, 2, Kind::Get)];
        assert_eq!((cell.requests(), cell.statuses[&200]), (2, 2));
        assert_eq!(merged.len(), 1);
    }
}
