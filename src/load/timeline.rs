//! The report's time series and latency distribution: what the HTML report
//! charts, in the JSON report so the page is derived from it alone.
//!
//! Seconds count from the start of the main phase (after warm-up); a
//! request counts in the second its answer arrived. Each series has one
//! value per second (`null` percentiles in a second without answers).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{
    check::Outcome,
    mix::Kind,
    series::{self, Bucket, Seconds},
    stats::{Cell, micros_to_secs},
};

/// Every series of a run, one value per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// Seconds covered (the length of every series below).
    pub seconds: usize,
    /// All requests.
    pub all: Points,
    /// Per kind of request (method and route), over all targets.
    pub routes: Vec<RoutePoints>,
    /// Per target, over all kinds.
    pub targets: Vec<TargetPoints>,
    /// The tool's own CPU, highest sample of the second as a share of its
    /// cores (`null` when not sampled).
    pub cpu: Vec<Option<f64>>,
}

/// Throughput, errors and latency percentiles per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Points {
    /// Answers (or transport errors) in the second.
    pub requests: Vec<u64>,
    /// Of those, not `ok`: unexpected answers and transport errors.
    pub errors: Vec<u64>,
    /// Latency percentiles in seconds; `null` without answers.
    pub p50: Vec<Option<f64>>,
    pub p90: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutePoints {
    pub kind: String,
    pub method: String,
    pub route: String,
    #[serde(flatten)]
    pub points: Points,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetPoints {
    pub url: String,
    #[serde(flatten)]
    pub points: Points,
}

impl Points {
    fn with_len(n: usize) -> Self {
        Points {
            requests: vec![0; n],
            errors: vec![0; n],
            p50: vec![None; n],
            p90: vec![None; n],
            p99: vec![None; n],
            max: vec![None; n],
        }
    }

    fn set(&mut self, second: usize, bucket: &Bucket) {
        let requests: u64 = bucket.outcomes.iter().sum();
        self.requests[second] = requests;
        self.errors[second] = requests - bucket.outcomes[Outcome::Ok.index()];
        let h = &bucket.latency;
        if !h.is_empty() {
            let q = |q: f64| Some(micros_to_secs(h.value_at_quantile(q)));
            self.p50[second] = q(0.5);
            self.p90[second] = q(0.9);
            self.p99[second] = q(0.99);
            self.max[second] = Some(micros_to_secs(h.max()));
        }
    }

    /// Seconds with at least one latency sample.
    pub fn answered_seconds(&self) -> usize {
        self.p50.iter().filter(|p| p.is_some()).count()
    }
}

/// Builds the timeline from the sealed seconds of a run.
pub fn build(seconds: &Seconds, targets: &[String]) -> Result<Timeline, String> {
    let n = seconds.len();
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| {
            seconds
                .slots
                .values()
                .any(|s| s.keys().any(|(_, kind)| kind == k))
        })
        .collect();
    let mut all = Points::with_len(n);
    let mut routes: Vec<Points> = kinds.iter().map(|_| Points::with_len(n)).collect();
    let mut per_target: Vec<Points> = targets.iter().map(|_| Points::with_len(n)).collect();
    for (second, slots) in &seconds.slots {
        let second = *second as usize;
        let mut total = empty();
        let mut by_kind: BTreeMap<Kind, Bucket> = BTreeMap::new();
        let mut by_target: BTreeMap<usize, Bucket> = BTreeMap::new();
        for ((target, kind), sealed) in slots {
            let bucket = sealed.open()?;
            add(&mut total, &bucket);
            add(by_kind.entry(*kind).or_insert_with(empty), &bucket);
            add(by_target.entry(*target).or_insert_with(empty), &bucket);
        }
        all.set(second, &total);
        for (i, kind) in kinds.iter().enumerate() {
            if let Some(b) = by_kind.get(kind) {
                routes[i].set(second, b);
            }
        }
        for (target, b) in by_target {
            if let Some(points) = per_target.get_mut(target) {
                points.set(second, &b);
            }
        }
    }
    Ok(Timeline {
        seconds: n,
        all,
        routes: kinds
            .iter()
            .zip(routes)
            .map(|(k, points)| RoutePoints {
                kind: k.name().into(),
                method: k.method().into(),
                route: k.route().into(),
                points,
            })
            .collect(),
        targets: targets
            .iter()
            .zip(per_target)
            .map(|(url, points)| TargetPoints {
                url: url.clone(),
                points,
            })
            .collect(),
        cpu: (0..n)
            .map(|s| seconds.cpu.get(&(s as u32)).copied())
            .collect(),
    })
}

fn empty() -> Bucket {
    Bucket {
        outcomes: [0; Outcome::ALL.len()],
        latency: series::histogram(),
    }
}

fn add(into: &mut Bucket, from: &Bucket) {
    for (a, b) in into.outcomes.iter_mut().zip(from.outcomes) {
        *a += b;
    }
    into.latency
        .add(&from.latency)
        .expect("auto-resizing histograms merge");
}

/// One bar of the latency distribution: requests whose latency is at most
/// `le` seconds and above the previous bar's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub le: f64,
    pub count: u64,
}

/// Bars per decade of latency (each bar's bound is 10^(1/10), about 1.26
/// times the previous one's), on fixed bounds so two runs compare bar by bar.
const BINS_PER_DECADE: f64 = 10.0;

/// The latency distribution of a cell, from its fastest to its slowest
/// bar, empty bars between included.
pub fn distribution(cell: &Cell) -> Vec<Bin> {
    distribution_of(&cell.latency)
}

fn distribution_of(h: &Histogram<u64>) -> Vec<Bin> {
    let mut counts: BTreeMap<i32, u64> = BTreeMap::new();
    for v in h.iter_recorded() {
        let us = h.highest_equivalent(v.value_iterated_to()).max(1) as f64;
        let bin = (us.log10() * BINS_PER_DECADE - 1e-9).ceil() as i32;
        *counts.entry(bin).or_default() += v.count_at_value();
    }
    let (Some(first), Some(last)) = (
        counts.keys().next().copied(),
        counts.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    (first..=last)
        .map(|bin| Bin {
            le: 10f64.powf(f64::from(bin) / BINS_PER_DECADE) / 1e6,
            count: counts.get(&bin).copied().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::record_value;

    #[test]
    fn bins_hold_every_request_on_fixed_bounds() {
        let mut cell = Cell::default();
        for us in [100, 100, 120, 1000, 5000] {
            record_value(&mut cell.latency, us);
        }
        let bins = distribution(&cell);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 5);
        assert!((bins[0].le - 100e-6).abs() < 1e-12, "{bins:?}");
        assert_eq!(bins[0].count, 2);
        assert_eq!(bins.len(), 18, "100 µs to 5 ms in tenths of a decade");
        assert!(bins.windows(2).all(|w| w[1].le > w[0].le));
    }
}
