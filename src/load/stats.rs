//! Per-request statistics, kept by phase, target and kind.
//!
//! Workers record into one of a few shards (worker id modulo the shard
//! count), each behind its own mutex, so 1,000 workers neither contend on
//! one lock nor each hold their own histograms. The report merges the
//! shards once, at the end.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

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
    shards: Vec<Mutex<HashMap<Key, Cell>>>,
}

impl Stats {
    pub fn new(shards: usize) -> Self {
        Stats {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    /// Records a request finished by `worker`.
    pub fn record(&self, worker: u32, s: Sample) {
        let shard = &self.shards[worker as usize % self.shards.len()];
        let mut cells = shard.lock().unwrap_or_else(|e| e.into_inner());
        let cell = cells.entry(s.key).or_default();
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
            for (key, cell) in cells.iter() {
                out.entry(*key).or_default().merge(cell);
            }
        }
        out
    }
}
