//! USE metrics of the host, as the original blog's psutil gauges showed
//! them: CPU utilisation ratio, memory used and total bytes, and
//! pressure-stall (PSI) totals where `/proc/pressure` exists. A background
//! task reads procfs every [`INTERVAL`]; the reads are of small in-kernel
//! files and never block on disk.

use std::time::Duration;

use procfs::{CpuPressure, Current, CurrentSI, IoPressure, KernelStats, Meminfo, MemoryPressure};
use prometheus::{CounterVec, Gauge, Opts, Registry};

/// How often the host is sampled.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The host gauges and counters; cheap to clone.
#[derive(Clone)]
pub struct HostMetrics {
    cpu: Gauge,
    memory_used: Gauge,
    memory_total: Gauge,
    pressure: CounterVec,
}

impl HostMetrics {
    /// Creates and registers the host metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<HostMetrics> {
        let cpu = Gauge::new(
            "srelab_host_cpu_utilization_ratio",
            "Share of host CPU time not idle over the last sampling interval (0..1).",
        )?;
        let memory_used = Gauge::new(
            "srelab_host_memory_used_bytes",
            "Host memory in use: MemTotal minus MemAvailable.",
        )?;
        let memory_total = Gauge::new("srelab_host_memory_total_bytes", "Host memory in total.")?;
        let pressure = CounterVec::new(
            Opts::new(
                "srelab_host_pressure_stalled_seconds_total",
                "Time tasks were stalled waiting for a resource (Linux PSI).",
            ),
            &["resource", "kind"],
        )?;
        registry.register(Box::new(cpu.clone()))?;
        registry.register(Box::new(memory_used.clone()))?;
        registry.register(Box::new(memory_total.clone()))?;
        registry.register(Box::new(pressure.clone()))?;
        Ok(HostMetrics {
            cpu,
            memory_used,
            memory_total,
            pressure,
        })
    }
}

/// Samples the host every [`INTERVAL`], forever.
pub async fn run(metrics: HostMetrics) {
    let mut sampler = Sampler::default();
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        ticker.tick().await;
        sampler.sample(&metrics);
    }
}

/// The previous sample, for deltas.
#[derive(Default)]
struct Sampler {
    cpu: Option<(u64, u64)>,
    pressure: [Option<u64>; 5],
}

/// The PSI series: resource, kind.
const PRESSURE: [(&str, &str); 5] = [
    ("cpu", "some"),
    ("memory", "some"),
    ("memory", "full"),
    ("io", "some"),
    ("io", "full"),
];

impl Sampler {
    fn sample(&mut self, metrics: &HostMetrics) {
        if let Ok(stats) = KernelStats::current() {
            let (busy, total) = cpu_busy_total(&stats.total);
            let (prev_busy, prev_total) = self.cpu.unwrap_or((0, 0));
            let delta_total = total.saturating_sub(prev_total);
            if delta_total > 0 {
                let ratio = busy.saturating_sub(prev_busy) as f64 / delta_total as f64;
                metrics.cpu.set(ratio.clamp(0.0, 1.0));
            }
            self.cpu = Some((busy, total));
        }
        if let Ok(mem) = Meminfo::current() {
            let available = mem.mem_available.unwrap_or(mem.mem_free);
            metrics.memory_total.set(mem.mem_total as f64);
            metrics
                .memory_used
                .set(mem.mem_total.saturating_sub(available) as f64);
        }
        for (i, total) in pressure_totals().into_iter().enumerate() {
            let Some(total) = total else { continue };
            let delta = total.saturating_sub(self.pressure[i].unwrap_or(0));
            let (resource, kind) = PRESSURE[i];
            metrics
                .pressure
                .with_label_values(&[resource, kind])
                .inc_by(delta as f64 / 1e6);
            self.pressure[i] = Some(total);
        }
    }
}

/// Busy and total jiffies: busy is everything but idle and iowait.
fn cpu_busy_total(t: &procfs::CpuTime) -> (u64, u64) {
    let idle = t.idle + t.iowait.unwrap_or(0);
    let busy = t.user
        + t.nice
        + t.system
        + t.irq.unwrap_or(0)
        + t.softirq.unwrap_or(0)
        + t.steal.unwrap_or(0);
    (busy, busy + idle)
}

/// PSI totals in microseconds, in [`PRESSURE`] order; `None` where absent.
fn pressure_totals() -> [Option<u64>; 5] {
    let cpu = CpuPressure::current().ok();
    let memory = MemoryPressure::current().ok();
    let io = IoPressure::current().ok();
    [
        cpu.map(|p| p.some.total),
        memory.as_ref().map(|p| p.some.total),
        memory.map(|p| p.full.total),
        io.as_ref().map(|p| p.some.total),
        io.map(|p| p.full.total),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_sets_the_gauges() {
        let registry = Registry::new();
        let metrics = HostMetrics::new(&registry).unwrap();
        Sampler::default().sample(&metrics);
        assert!(metrics.memory_total.get() > 0.0);
        assert!(metrics.memory_used.get() > 0.0);
        let cpu = metrics.cpu.get();
        assert!((0.0..=1.0).contains(&cpu), "{cpu}");
        let exported = registry.gather();
        let has_psi = exported
            .iter()
            .any(|f| f.name() == "srelab_host_pressure_stalled_seconds_total");
        assert_eq!(has_psi, std::path::Path::new("/proc/pressure/cpu").exists());
    }
}
