//! When each request should start.
//!
//! Open model (`--rate R`): arrival `k` is due at a fixed offset from the
//! start, whatever happened to earlier requests; with `--ramp T` the arrival
//! rate grows linearly from 0 to R over T. Latency is measured from the due
//! time, so a stalled server cannot hide the requests it delayed
//! (coordinated omission). Closed model: worker `i` of `c` starts at
//! `T * i / c`, then sends its next request when the previous one is done.

use std::time::Duration;

/// The arrival schedule of the open model.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    rate: f64,
    ramp: f64,
}

impl Schedule {
    /// `rate` arrivals per second after a linear ramp of `ramp`.
    pub fn new(rate: f64, ramp: Duration) -> Self {
        Schedule {
            rate,
            ramp: ramp.as_secs_f64(),
        }
    }

    /// Arrivals scheduled while ramping up.
    fn ramp_arrivals(&self) -> f64 {
        self.rate * self.ramp / 2.0
    }

    /// The due time of arrival `k` (0-based), as an offset from the start.
    pub fn offset(&self, k: u64) -> Duration {
        let k = k as f64;
        let secs = if k < self.ramp_arrivals() {
            (2.0 * self.ramp * k / self.rate).sqrt()
        } else {
            self.ramp + (k - self.ramp_arrivals()) / self.rate
        };
        Duration::from_secs_f64(secs)
    }

    /// How many arrivals are due strictly before `elapsed`.
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let t = elapsed.as_secs_f64();
        let n = if t < self.ramp {
            self.rate * t * t / (2.0 * self.ramp)
        } else {
            self.ramp_arrivals() + self.rate * (t - self.ramp)
        };
        n.ceil() as u64
    }
}

/// The closed model's start offset of worker `id` of `workers`.
pub fn worker_start(ramp: Duration, id: u32, workers: u32) -> Duration {
    ramp.mul_f64(f64::from(id) / f64::from(workers.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_without_ramp() {
        let s = Schedule::new(100.0, Duration::ZERO);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(250), Duration::from_millis(2500));
        assert_eq!(s.due_before(Duration::from_secs(2)), 200);
    }

    #[test]
    fn due_before_counts_exactly_the_arrivals_offset_schedules() {
        let tick = Duration::from_micros(1);
        for s in [
            Schedule::new(100.0, Duration::ZERO),
            Schedule::new(100.0, Duration::from_secs(4)),
            Schedule::new(7.0, Duration::from_millis(2500)),
        ] {
            for k in 0..600 {
                let due = s.offset(k);
                assert_eq!(
                    s.due_before(due + tick),
                    k + 1,
                    "{s:?}: just after arrival {k}"
                );
                if due > tick {
                    assert_eq!(
                        s.due_before(due - tick),
                        k,
                        "{s:?}: just before arrival {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn ramp_then_steady() {
        let s = Schedule::new(100.0, Duration::from_secs(2));
        // 100 arrivals during the 2 s ramp, then 100 per second.
        assert_eq!(s.due_before(Duration::from_secs(2)), 100);
        assert_eq!(s.due_before(Duration::from_secs(3)), 200);
        assert_eq!(s.offset(100), Duration::from_secs(2));
        assert!(
            s.offset(25) > Duration::from_millis(990) && s.offset(25) < Duration::from_millis(1010)
        );
        assert_eq!(
            worker_start(Duration::from_secs(2), 1, 4),
            Duration::from_millis(500)
        );
    }
}
