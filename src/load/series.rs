//! Per-second time series: what the workers record each second, and the
//! compact store of the seconds that are over.
//!
//! A request counts in the second its answer arrived (seconds since the main
//! phase began), per target and kind, with its outcome and its latency in a
//! small HDR histogram (2 significant digits: 1% is plenty for a chart).
//! Workers record into [`Recent`], which lives in their statistics shard
//! (the same lock as the whole-run cells, so no extra lock per request). A
//! roll about twice a second ([`Recent::take`], [`Seconds::absorb`]) moves the seconds that are
//! over out of every shard, merges them and seals each into a V2-serialized
//! histogram of a few hundred bytes, so a long run keeps little per second.
//! Sealed seconds merge exactly: the coordinator of several workers adds
//! theirs up second by second.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{check::Outcome, mix::Kind, stats};

/// Significant digits of the per-second histograms.
const DIGITS: u8 = 2;

/// A second stays open this long after it ended, for answers recorded late
/// (a worker descheduled between reading the clock and taking the lock).
pub const SETTLE_SECONDS: u32 = 2;

/// A per-second latency histogram in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new(DIGITS).expect("2 significant digits is valid")
}

/// One (second, target, kind) while it can still grow.
#[derive(Clone)]
pub struct Bucket {
    pub outcomes: [u64; Outcome::ALL.len()],
    pub latency: Histogram<u64>,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            outcomes: [0; Outcome::ALL.len()],
            latency: histogram(),
        }
    }

    fn add(&mut self, other: &Bucket) {
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        self.latency
            .add(&other.latency)
            .expect("auto-resizing histograms merge");
    }
}

/// The open seconds of one statistics shard: a handful of entries, the
/// newest last; each holds one optional bucket per (target, kind) slot.
#[derive(Default)]
pub struct Recent {
    seconds: Vec<(u32, Vec<Option<Bucket>>)>,
}

impl Recent {
    /// Records one answer of `slot` in `second`; `slots` is the table size.
    pub fn record(&mut self, second: u32, slot: usize, slots: usize, outcome: Outcome, us: u64) {
        let index = match self.seconds.iter().rposition(|(s, _)| *s == second) {
            Some(i) => i,
            None => {
                self.seconds.push((second, vec![None; slots]));
                self.seconds.len() - 1
            }
        };
        let bucket = self.seconds[index].1[slot].get_or_insert_with(Bucket::new);
        bucket.outcomes[outcome.index()] += 1;
        stats::record_value(&mut bucket.latency, us);
    }

    /// Takes the seconds up to `last` (all of them with `None`, at the end
    /// of the run).
    pub fn take(&mut self, last: Option<u32>) -> Vec<(u32, Vec<Option<Bucket>>)> {
        let (done, open) = std::mem::take(&mut self.seconds)
            .into_iter()
            .partition(|(s, _)| last.is_none_or(|l| *s <= l));
        self.seconds = open;
        done
    }
}

/// A second that is over: counts, and the latency histogram serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub outcomes: [u64; Outcome::ALL.len()],
    /// HDR histogram, V2 with DEFLATE (the format every HDR library reads).
    pub latency: Vec<u8>,
}

impl Sealed {
    fn seal(bucket: &Bucket) -> Sealed {
        Sealed {
            outcomes: bucket.outcomes,
            latency: stats::serialize(&bucket.latency),
        }
    }

    /// Back to a bucket; fails on bytes that are not a histogram.
    pub fn open(&self) -> Result<Bucket, String> {
        Ok(Bucket {
            outcomes: self.outcomes,
            latency: stats::deserialize(&self.latency)?,
        })
    }
}

/// The sealed seconds of a run (or of several workers, merged), keyed by
/// second, then (target, kind) slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seconds {
    pub slots: BTreeMap<u32, BTreeMap<(usize, Kind), Sealed>>,
    /// The tool's own CPU per second: the highest sample, share of the cores.
    pub cpu: BTreeMap<u32, f64>,
}

impl Seconds {
    /// Merges the buckets taken out of the shards ([`Recent::take`]) with
    /// what is already sealed, and seals them. `key` names a slot.
    pub fn absorb(
        &mut self,
        taken: impl IntoIterator<Item = (u32, Vec<Option<Bucket>>)>,
        key: impl Fn(usize) -> (usize, Kind),
    ) {
        let mut open: BTreeMap<(u32, usize), Bucket> = BTreeMap::new();
        for (second, buckets) in taken {
            for (slot, bucket) in buckets.into_iter().enumerate() {
                let Some(bucket) = bucket else { continue };
                match open.entry((second, slot)) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(bucket);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().add(&bucket);
                    }
                }
            }
        }
        for ((second, slot), bucket) in open {
            self.add(second, key(slot), &bucket);
        }
    }

    /// Adds a bucket to the sealed one of (second, key), if any.
    fn add(&mut self, second: u32, key: (usize, Kind), bucket: &Bucket) {
        let slots = self.slots.entry(second).or_default();
        let sealed = match slots.get(&key).map(Sealed::open) {
            Some(Ok(mut before)) => {
                before.add(bucket);
                Sealed::seal(&before)
            }
            _ => Sealed::seal(bucket),
        };
        slots.insert(key, sealed);
    }

    /// Adds another run's seconds (a worker's share) to these.
    pub fn merge(&mut self, other: &Seconds) -> Result<(), String> {
        for (second, slots) in &other.slots {
            for (key, sealed) in slots {
                self.add(*second, *key, &sealed.open()?);
            }
        }
        for (second, cpu) in &other.cpu {
            let max = self.cpu.entry(*second).or_default();
            *max = max.max(*cpu);
        }
        Ok(())
    }

    /// Records a CPU sample taken during `second`.
    pub fn cpu_sample(&mut self, second: u32, share: f64) {
        let max = self.cpu.entry(second).or_default();
        *max = max.max(share);
    }

    /// How many seconds the series covers (the last second with data + 1).
    pub fn len(&self) -> usize {
        let last = self.slots.keys().next_back().copied();
        last.map_or(0, |s| s as usize + 1)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(slot: usize) -> (usize, Kind) {
        (slot / Kind::ALL.len(), Kind::ALL[slot % Kind::ALL.len()])
    }

    #[test]
    fn rolled_seconds_merge_exactly_across_shards_and_late_answers() {
        let slots = 2 * Kind::ALL.len();
        let (mut a, mut b) = (Recent::default(), Recent::default());
        a.record(0, 1, slots, Outcome::Ok, 1000);
        b.record(0, 1, slots, Outcome::TransportError, 3000);
        b.record(3, 7, slots, Outcome::Ok, 50);
        let mut seconds = Seconds::default();
        seconds.absorb(a.take(Some(1)).into_iter().chain(b.take(Some(1))), key);
        assert_eq!(seconds.slots.len(), 1, "second 3 is still open");
        // An answer for second 0 recorded after it was sealed, far slower
        // than any before (the sealed histogram must grow to take it).
        a.record(0, 1, slots, Outcome::Ok, 2_000_000);
        seconds.absorb(a.take(None).into_iter().chain(b.take(None)), key);
        let zero = seconds.slots[&0][&key(1)].open().unwrap();
        assert_eq!(zero.outcomes[Outcome::Ok.index()], 2);
        assert_eq!(zero.outcomes[Outcome::TransportError.index()], 1);
        assert_eq!(zero.latency.len(), 3);
        assert_eq!(
            zero.latency.max(),
            zero.latency.highest_equivalent(2_000_000)
        );
        assert_eq!(seconds.len(), 4);

        let mut merged = Seconds::default();
        merged.merge(&seconds).unwrap();
        merged.merge(&seconds).unwrap();
        let zero = merged.slots[&0][&key(1)].open().unwrap();
        assert_eq!(zero.latency.len(), 6);
        assert_eq!(zero.outcomes[Outcome::Ok.index()], 4);
    }
}
