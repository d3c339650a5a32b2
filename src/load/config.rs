//! The validated settings of one run, built from [`Args`] with a full struct
//! literal so a new flag fails to compile until it is wired.

use std::time::Duration;

use super::{args::Args, args::Think, mix::Mix, schedule::Schedule, target::Target};

/// Everything the workers need, fixed for the run.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<Target>,
    pub mix: Mix,
    pub think: Option<Think>,
    pub ramp: Duration,
    /// After the ramp, how long requests at the full rate still count as
    /// the ramp phase: a capacity step's settle, which is not judged.
    pub settle: Duration,
    pub seed: u64,
    pub work_ms: u32,
    pub request_timeout: Duration,
    /// How long requests in flight when the run ends may take to finish.
    pub graceful_stop: Duration,
    pub workers: u32,
    pub warmup: u64,
    pub duration: Option<Duration>,
    pub iterations: Option<u64>,
    /// `Some` in the open model (`--rate`).
    pub schedule: Option<Schedule>,
    /// Which requests of the run this process sends (all, unless it is one
    /// of several workers).
    pub share: Share,
    /// How many of the slowest and failed requests to keep (`--outliers`).
    pub outliers: usize,
}

/// A worker's share of a run split over `count` processes: request `k` of
/// the run is sent by the process whose `index` is `k % count`, so the
/// shares interleave (as k6's execution segments do) and together make
/// exactly the requests, due times and `--seed` sequence of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: u32,
    pub count: u32,
}

impl Share {
    /// The whole run.
    pub const ALL: Share = Share { index: 0, count: 1 };

    /// The run's request number of this share's `seq`-th request.
    pub fn request(self, seq: u64) -> u64 {
        seq * u64::from(self.count) + u64::from(self.index)
    }

    /// How many of the run's first `n` requests are this share's.
    pub fn of(self, n: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        (n + count - 1 - index) / count
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Config {
    /// The part of the main phase reported as the ramp: ramp and settle.
    pub fn unjudged(&self) -> Duration {
        self.ramp + self.settle
    }

    pub fn from_args(args: &Args) -> Config {
        let load = &args.load;
        let ramp = load.ramp.map_or(Duration::ZERO, Into::into);
        Config {
            targets: load.targets.clone(),
            mix: load.mix.clone(),
            think: load.think,
            ramp,
            settle: Duration::ZERO,
            seed: load.seed.unwrap_or_else(rand::random),
            work_ms: load.work_ms,
            request_timeout: load.request_timeout.into(),
            graceful_stop: load.graceful_stop.into(),
            workers: args.bench.concurrency.get(),
            warmup: args.bench.warmup,
            duration: args.bench.duration.map(Into::into),
            iterations: args.bench.iterations.map(|n| n.get()),
            schedule: args
                .bench
                .rate
                .map(|r| Schedule::new(f64::from(r.get()), ramp)),
            share: Share::ALL,
            outliers: usize::from(load.outliers),
        }
    }
}

/// SplitMix64: a tiny, well-mixed hash so request `k` of seed `s` is the
/// same request on every run, whatever the concurrency.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_interleave_and_cover_every_request_once() {
        let shares = [0, 1, 2].map(|index| Share { index, count: 3 });
        let mut sent: Vec<u64> = shares
            .iter()
            .flat_map(|s| (0..s.of(10)).map(|seq| s.request(seq)))
            .collect();
        sent.sort();
        assert_eq!(sent, (0..10).collect::<Vec<_>>());
        assert_eq!(shares.map(|s| s.of(10)), [4, 3, 3]);
        assert_eq!(Share::ALL.request(7), 7);
        assert_eq!(Share::ALL.of(7), 7);
    }
}
