//! Per-request statistics, kept by phase, target and kind.
//!
//! Workers record into one of a few shards (worker id modulo the shard
//! count), each behind its own mutex, so 1,000 workers neither contend on
//! one lock nor each hold their own histograms. The report merges the
//! shards once, at the end. The same lock covers the shard's open seconds
//! of the time series ([`series`](super::series)), which [`Stats::roll`]
//! seals about twice a second.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use hdrhistogram::{
    Histogram,
    serialization::{Deserializer, Serializer, V2DeflateSerializer},
};

use super::{
    check::Outcome,
    mix::Kind,
    series::{Recent, SETTLE_SECONDS, Seconds},
};

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

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
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
    record_value(h, micros(d));
}

/// `d` in whole microseconds, at least 1 (HDR histograms start at 1).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Records a value, growing the auto-resizing histogram as needed.
pub fn record_value(h: &mut Histogram<u64>, value: u64) {
    // `record` grows the histogram; `saturating_record` would clamp.
    if h.record(value).is_err() {
        h.saturating_record(value);
    }
}

/// A histogram in HDR's V2 format with DEFLATE, which every HDR library
/// reads (Java, Go, Python, Rust).
pub fn serialize(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    bytes
}

/// A histogram back from [`serialize`]'s bytes (or plain V2), auto-resizing
/// again (HDR's format does not keep that) so others merge into it.
pub fn deserialize(mut bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes)
        .map_err(|e| format!("not an HDR histogram: {e:?}"))?;
    h.auto(true);
    Ok(h)
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
    /// The second of the main phase its answer arrived in (`None` in warm-up,
    /// which the time series leaves out).
    pub second: Option<u32>,
}

/// What one shard holds.
struct Shard {
    /// A dense table indexed by [`Stats::slot`].
    cells: Vec<Option<Cell>>,
    /// Open seconds of the time series, by (target, kind) slot.
    recent: Recent,
}

/// The shared, sharded statistics of a run.
pub struct Stats {
    targets: usize,
    shards: Vec<Mutex<Shard>>,
    /// The seconds that are over, sealed.
    sealed: Mutex<Seconds>,
}

impl Stats {
    pub fn new(shards: usize, targets: usize) -> Self {
        let slots = Phase::ALL.len() * targets * Kind::ALL.len();
        Stats {
            targets,
            shards: (0..shards.max(1))
                .map(|_| {
                    Mutex::new(Shard {
                        cells: vec![None; slots],
                        recent: Recent::default(),
                    })
                })
                .collect(),
            sealed: Mutex::default(),
        }
    }

    /// The (target, kind) slot of the time series, and back.
    fn series_slot(&self, target: usize, kind: Kind) -> usize {
        target * Kind::ALL.len() + kind.index()
    }

    fn series_key(slot: usize) -> (usize, Kind) {
        (slot / Kind::ALL.len(), Kind::ALL[slot % Kind::ALL.len()])
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
        let us = micros(s.latency);
        let series_slot = self.series_slot(s.key.1, s.key.2);
        let shard = &self.shards[worker as usize % self.shards.len()];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let cell = shard.cells[slot].get_or_insert_with(Cell::default);
        record_value(&mut cell.latency, us);
        cell.outcomes[s.outcome.index()] += 1;
        if let Some(status) = s.status {
            *cell.statuses.entry(status).or_default() += 1;
        }
        if let Some(second) = s.second {
            let slots = self.targets * Kind::ALL.len();
            shard
                .recent
                .record(second, series_slot, slots, s.outcome, us);
        }
    }

    /// Seals the seconds of the time series that ended before `now` (by
    /// [`SETTLE_SECONDS`]); with `None`, every second (at the end of a run).
    pub fn roll(&self, now: Option<u32>) {
        let last = match now {
            Some(now) if now < SETTLE_SECONDS => return,
            Some(now) => Some(now - SETTLE_SECONDS),
            None => None,
        };
        let mut taken = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            taken.extend(shard.recent.take(last));
        }
        let mut sealed = self.sealed.lock().unwrap_or_else(|e| e.into_inner());
        sealed.absorb(taken, Self::series_key);
    }

    /// Records the tool's CPU share sampled during `second`.
    pub fn cpu_sample(&self, second: u32, share: f64) {
        let mut sealed = self.sealed.lock().unwrap_or_else(|e| e.into_inner());
        sealed.cpu_sample(second, share);
    }

    /// The sealed seconds (call [`roll`](Self::roll) with `None` first to
    /// include the open ones).
    pub fn seconds(&self) -> Seconds {
        self.sealed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every cell, merged over the shards.
    pub fn merged(&self) -> BTreeMap<Key, Cell> {
        let mut out: BTreeMap<Key, Cell> = BTreeMap::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (slot, cell) in shard.cells.iter().enumerate() {
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
            second: Some(0),
        };
        stats.record(0, sample());
        stats.record(1, sample());
        let merged = stats.merged();
        let cell = &merged[&(Phase::Steady, 2, Kind::Get)];
        assert_eq!((cell.requests(), cell.statuses[&200]), (2, 2));
        assert_eq!(merged.len(), 1);
        stats.roll(Some(1));
        assert!(stats.seconds().is_empty(), "second 0 may still grow");
        stats.roll(None);
        let seconds = stats.seconds();
        let bucket = seconds.slots[&0][&(2, Kind::Get)].open().unwrap();
        assert_eq!(bucket.outcomes[Outcome::Ok.index()], 2);
    }
}
