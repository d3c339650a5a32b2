//! The tool watching itself: schedule lag, dropped arrivals and its own CPU.
//!
//! When the tool cannot keep its schedule, the latency it reports would
//! partly be its own; the report then says so and marks the run as not
//! trustworthy instead of blaming the server.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::stats::{histogram, micros_to_secs, record_micros, shard_count};

/// A worker waking this late after sleeping until a due time means the
/// tool itself is behind (tokio's timer alone is good to about 1 ms).
const TIMER_LAG_LIMIT: Duration = Duration::from_millis(10);
/// An arrival started this late because no worker was free is "late".
const LATE_LIMIT: Duration = Duration::from_millis(10);
/// A CPU sample at or above this share of the cores counts as saturated.
const SATURATED: f64 = 0.95;
/// Share of arrivals that may go unsent, or of CPU samples that may be
/// saturated, before the run is not trustworthy.
const TOLERATED: f64 = 0.01;
const CPU_TOLERATED: f64 = 0.1;
const CPU_SAMPLE: Duration = Duration::from_millis(250);

/// Counters shared by the workers.
pub struct Monitor {
    /// Arrivals the workers started (open model) or requests begun (closed).
    pub started: AtomicU64,
    /// Requests still unanswered when the grace after the end of the run
    /// (or Ctrl-C) ran out; the server may still have served them.
    pub interrupted: AtomicU64,
    /// Of those, writes (`create`): each may or may not have been stored.
    pub interrupted_writes: AtomicU64,
    late: AtomicU64,
    /// Sharded by worker, as the request statistics are.
    lags: Box<[Mutex<Lags>]>,
    cpu: Mutex<CpuStats>,
}

/// How late arrivals started: all of them, and those whose worker slept
/// until the due time (the tool's own timer lag).
#[derive(Debug, Clone)]
pub struct Lags {
    pub all: Histogram<u64>,
    pub timer: Histogram<u64>,
}

impl Default for Lags {
    fn default() -> Self {
        Self::new()
    }
}

impl Lags {
    pub fn new() -> Self {
        Lags {
            all: histogram(),
            timer: histogram(),
        }
    }
}

/// The tool's CPU samples: how many, how many saturated, the highest share.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CpuStats {
    pub samples: u64,
    pub saturated: u64,
    pub max: f64,
}

/// What the monitor saw, as raw counts and histograms: several runs' data
/// (the workers of a distributed run) add up exactly before the verdict.
#[derive(Debug, Clone)]
pub struct MonitorData {
    pub lags: Lags,
    pub started: u64,
    pub late: u64,
    pub interrupted: u64,
    pub interrupted_writes: u64,
    pub cpu: CpuStats,
}

impl MonitorData {
    /// Adds another run's data.
    pub fn merge(&mut self, other: &MonitorData) {
        for (into, from) in [
            (&mut self.lags.all, &other.lags.all),
            (&mut self.lags.timer, &other.lags.timer),
        ] {
            into.add(from).expect("auto-resizing histograms merge");
        }
        self.started += other.started;
        self.late += other.late;
        self.interrupted += other.interrupted;
        self.interrupted_writes += other.interrupted_writes;
        self.cpu.samples += other.cpu.samples;
        self.cpu.saturated += other.cpu.saturated;
        self.cpu.max = self.cpu.max.max(other.cpu.max);
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            started: AtomicU64::new(0),
            interrupted: AtomicU64::new(0),
            interrupted_writes: AtomicU64::new(0),
            late: AtomicU64::new(0),
            lags: (0..shard_count())
                .map(|_| Mutex::new(Lags::new()))
                .collect(),
            cpu: Mutex::default(),
        }
    }
}

impl Monitor {
    /// Records how late an arrival started; `slept` says whether its worker
    /// was idle and waited for the due time (then lateness is the tool's own).
    pub fn arrival(&self, worker: u32, lag: Duration, slept: bool) {
        let shard = &self.lags[worker as usize % self.lags.len()];
        let mut lags = shard.lock().unwrap_or_else(|e| e.into_inner());
        record_micros(&mut lags.all, lag);
        if slept {
            record_micros(&mut lags.timer, lag);
        } else if lag > LATE_LIMIT {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Samples the process's CPU time until the returned task is aborted;
    /// each sample also goes to `each` (for the time series).
    pub fn spawn_cpu_sampler(
        self: &std::sync::Arc<Self>,
        each: impl Fn(f64) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let monitor = self.clone();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        tokio::spawn(async move {
            let mut last = (Instant::now(), cpu_seconds());
            let mut tick = tokio::time::interval(CPU_SAMPLE);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = (Instant::now(), cpu_seconds());
                let (Some(cpu), Some(before)) = (now.1, last.1) else {
                    continue;
                };
                let wall = now.0.duration_since(last.0).as_secs_f64();
                let share = (cpu - before) / (wall * cores);
                monitor.cpu_sample(share);
                each(share);
                last = now;
            }
        })
    }

    /// Records one CPU sample: the share of all cores the process used.
    fn cpu_sample(&self, share: f64) {
        let mut s = self.cpu.lock().unwrap_or_else(|e| e.into_inner());
        s.samples += 1;
        s.saturated += u64::from(share >= SATURATED);
        s.max = s.max.max(share);
    }

    /// The verdict, given how many arrivals were due (open model only).
    pub fn verdict(&self, due: Option<u64>, workers: u32) -> SelfReport {
        self.snapshot().verdict(due, workers)
    }

    /// The counts and histograms so far, merged over the shards.
    pub fn snapshot(&self) -> MonitorData {
        let mut lags = Lags::new();
        for shard in &self.lags {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (into, from) in [(&mut lags.all, &shard.all), (&mut lags.timer, &shard.timer)] {
                into.add(from).expect("auto-resizing histograms merge");
            }
        }
        MonitorData {
            lags,
            started: self.started.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            interrupted: self.interrupted.load(Ordering::Relaxed),
            interrupted_writes: self.interrupted_writes.load(Ordering::Relaxed),
            cpu: *self.cpu.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl MonitorData {
    /// The verdict, given how many arrivals were due (open model only) and
    /// how many workers (`-c`) could send them.
    pub fn verdict(&self, due: Option<u64>, workers: u32) -> SelfReport {
        let Lags {
            all: lag,
            timer: timer_lag,
        } = &self.lags;
        let cpu = self.cpu;
        let started = self.started;
        let dropped = due.map(|d| d.saturating_sub(started));
        let mut warnings = Vec::new();
        let timer_p99 = micros_to_secs(timer_lag.value_at_quantile(0.99));
        if !timer_lag.is_empty() && timer_behind(timer_p99) {
            warnings.push(format!(
                "the tool itself fell behind its schedule: timer lag p99 {:.1} ms (limit {} ms)",
                timer_p99 * 1e3,
                TIMER_LAG_LIMIT.as_millis()
            ));
        }
        if let (Some(due), Some(dropped)) = (due, dropped)
            && dropped as f64 > TOLERATED * due as f64
        {
            warnings.push(format!(
                "{dropped} of {due} scheduled arrivals were never sent: all {workers} workers were busy; raise -c"
            ));
        }
        if cpu_behind(cpu.saturated, cpu.samples) {
            warnings.push(format!(
                "the tool's own CPU was saturated in {} of {} samples (max {:.0}% of the cores)",
                cpu.saturated,
                cpu.samples,
                cpu.max * 100.0
            ));
        }
        SelfReport {
            trustworthy: warnings.is_empty(),
            warnings,
            schedule_lag: (!lag.is_empty()).then(|| LagReport::of(lag)),
            timer_lag: (!timer_lag.is_empty()).then(|| LagReport::of(timer_lag)),
            arrivals_due: due,
            arrivals_started: started,
            dropped_arrivals: dropped,
            late_arrivals: self.late,
            interrupted: self.interrupted,
            interrupted_writes: self.interrupted_writes,
            cpu_samples: cpu.samples,
            cpu_saturated_samples: cpu.saturated,
            cpu_max_ratio: cpu.max,
        }
    }
}

/// A timer lag p99 the tool's own schedule cannot afford.
fn timer_behind(p99_seconds: f64) -> bool {
    p99_seconds > TIMER_LAG_LIMIT.as_secs_f64()
}

/// Too many CPU samples saturated for the tool to be trusted.
fn cpu_behind(saturated: u64, samples: u64) -> bool {
    samples > 0 && saturated as f64 > CPU_TOLERATED * samples as f64
}

impl SelfReport {
    /// Whether the tool itself fell behind (its timer lagged, or its CPU
    /// was saturated), as opposed to arrivals left unsent because every
    /// worker was waiting for a slow server. A capacity search sizes `-c`
    /// so that the latter happens only when the server is far too slow.
    pub fn tool_fell_behind(&self) -> bool {
        self.timer_lag.as_ref().is_some_and(|l| timer_behind(l.p99)) || self.cpu_saturated()
    }

    /// Whether the tool's own CPU was saturated too often.
    pub fn cpu_saturated(&self) -> bool {
        cpu_behind(self.cpu_saturated_samples, self.cpu_samples)
    }
}

/// The CPU seconds this process used so far, from procfs.
pub fn cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// Lag percentiles in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LagReport {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl LagReport {
    fn of(h: &Histogram<u64>) -> Self {
        LagReport {
            p50: micros_to_secs(h.value_at_quantile(0.5)),
            p99: micros_to_secs(h.value_at_quantile(0.99)),
            max: micros_to_secs(h.max()),
        }
    }
}

/// What the tool saw of itself; `trustworthy` is false with reasons in `warnings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfReport {
    pub trustworthy: bool,
    pub warnings: Vec<String>,
    /// Start minus due time of every arrival (open model).
    pub schedule_lag: Option<LagReport>,
    /// The same, only for arrivals whose worker was idle: the tool's own lag.
    pub timer_lag: Option<LagReport>,
    pub arrivals_due: Option<u64>,
    pub arrivals_started: u64,
    pub dropped_arrivals: Option<u64>,
    /// Arrivals started over 10 ms late because every worker was busy;
    /// their latency counts from the due time, so it includes the wait.
    pub late_arrivals: u64,
    /// Requests still unanswered when the grace after the run ran out.
    pub interrupted: u64,
    /// Of those, writes: the database may hold up to this many items more
    /// than `items_created`.
    pub interrupted_writes: u64,
    pub cpu_samples: u64,
    pub cpu_saturated_samples: u64,
    pub cpu_max_ratio: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsent_arrivals_and_timer_lag_make_the_run_untrustworthy() {
        let m = Monitor::default();
        m.started.store(990, Ordering::Relaxed);
        m.arrival(0, Duration::from_micros(800), true);
        m.arrival(1, Duration::from_millis(50), false);
        let ok = m.verdict(Some(1000), 4);
        assert!(ok.trustworthy, "{:?}", ok.warnings);
        assert_eq!((ok.dropped_arrivals, ok.late_arrivals), (Some(10), 1));

        let bad = m.verdict(Some(1100), 4);
        assert!(!bad.trustworthy);
        assert!(
            bad.warnings[0].contains("110 of 1100"),
            "{:?}",
            bad.warnings
        );
        assert!(
            !bad.tool_fell_behind(),
            "busy workers are the server's doing"
        );

        for i in 0..10 {
            m.arrival(i, Duration::from_millis(30), true);
        }
        let late = m.verdict(Some(1000), 4);
        assert!(
            late.warnings[0].contains("timer lag"),
            "{:?}",
            late.warnings
        );
        assert!(late.tool_fell_behind());
    }

    #[test]
    fn a_saturated_cpu_in_more_than_a_tenth_of_the_samples_is_untrustworthy() {
        let m = Monitor::default();
        for share in [0.2, 0.5, 0.97, 0.3, 0.1, 0.2, 0.4, 0.3, 0.2, 0.94] {
            m.cpu_sample(share);
        }
        let ok = m.verdict(None, 4);
        assert!(
            ok.trustworthy,
            "one saturated sample in ten: {:?}",
            ok.warnings
        );
        assert_eq!((ok.cpu_samples, ok.cpu_saturated_samples), (10, 1));
        m.cpu_sample(0.95);
        let bad = m.verdict(None, 4);
        assert!(!bad.trustworthy);
        assert_eq!(
            bad.warnings,
            ["the tool's own CPU was saturated in 2 of 11 samples (max 97% of the cores)"]
        );
    }
}
