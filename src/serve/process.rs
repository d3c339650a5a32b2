//! The standard `process_*` metrics, with `process_cpu_seconds_total` at
//! the kernel's resolution (clock ticks, usually 10 ms).
//!
//! The `prometheus` crate's process collector exports CPU time as an
//! integer counter (tikv/rust-prometheus#451): a service using a tenth of
//! a core shows no CPU for ten seconds, then a whole second at once, so
//! `rate(process_cpu_seconds_total[1m])` is a step function. This collector
//! keeps the crate's other `process_*` metrics and replaces that one.

use std::sync::Mutex;

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Opts};

const CPU: &str = "process_cpu_seconds_total";

/// The process collector of this process.
pub struct ProcessMetrics {
    inner: ProcessCollector,
    cpu: Counter,
    /// Concurrent scrapes must not both add the same CPU time.
    updating: Mutex<()>,
}

impl ProcessMetrics {
    pub fn for_self() -> prometheus::Result<ProcessMetrics> {
        let help = "Total user and system CPU time spent in seconds.";
        Ok(ProcessMetrics {
            inner: ProcessCollector::for_self(),
            cpu: Counter::with_opts(Opts::new(CPU, help))?,
            updating: Mutex::new(()),
        })
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        let inner = self.inner.desc().into_iter().filter(|d| d.fq_name != CPU);
        inner.chain(self.cpu.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(total) = cpu_seconds() {
            let _one = self.updating.lock().unwrap_or_else(|e| e.into_inner());
            let past = self.cpu.get();
            if total > past {
                self.cpu.inc_by(total - past);
            }
        }
        let mut families: Vec<MetricFamily> = self
            .inner
            .collect()
            .into_iter()
            .filter(|f| f.name() != CPU)
            .collect();
        families.extend(self.cpu.collect());
        families
    }
}

/// User and system CPU time of this process, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}
