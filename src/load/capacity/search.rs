//! The search itself, with no I/O: which rate to try next, and what the
//! verdicts so far say. The rate doubles from the start rate until a step
//! fails, then the bracket between the highest pass and the lowest fail is
//! bisected until it is narrower than the precision. An untrustworthy step
//! (the tool could not keep up) is tried once more, and a second time
//! ends the search: it is never taken for a server failure.
//!
//! Being pure, it is tested here on simulated servers, deterministically.

use serde::{Deserialize, Serialize};

/// What the search may try and when it is done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The first step's rate (requests per second).
    pub start: f64,
    /// The highest rate ever tried.
    pub max: f64,
    /// The bracket is narrow enough when `fail - pass <= precision * pass`.
    pub precision: f64,
}

/// A step's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every objective of the SLO was met, and the tool kept up.
    Pass,
    /// An objective was missed: the server's failure.
    Fail,
    /// The server clearly collapsed; the step was cut short.
    Collapse,
    /// The tool itself could not keep up: says nothing about the server.
    Untrusted,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Collapse => "collapse",
            Verdict::Untrusted => "untrusted",
        }
    }
}

/// Why a step was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Doubling from the start rate.
    Up,
    /// Halving the bracket.
    Bisect,
    /// The same rate again after an untrustworthy step.
    Retry,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Up => "up",
            Stage::Bisect => "bisect",
            Stage::Retry => "retry",
        }
    }
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum End {
    /// The capacity: passes at `capacity`, fails at `fails_at`, and the
    /// two are within the precision.
    Found { capacity: f64, fails_at: f64 },
    /// Even the start rate failed.
    BelowLowest { fails_at: f64 },
    /// The maximum rate passed: the capacity is at least that.
    AtMaxRate { capacity: f64 },
    /// The tool could not keep up twice at `untrusted_at`; the capacity is
    /// at least `capacity` (when a step passed), and unknown above.
    ClientLimited {
        capacity: Option<f64>,
        untrusted_at: f64,
    },
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Try { rate: f64, stage: Stage },
    Done(End),
}

/// The state of one search.
#[derive(Debug, Clone)]
pub struct Search {
    bounds: Bounds,
    pass: Option<f64>,
    fail: Option<f64>,
    /// A rate whose step was untrustworthy once.
    retry: Option<f64>,
    end: Option<End>,
}

impl Search {
    pub fn new(bounds: Bounds) -> Search {
        Search {
            bounds,
            pass: None,
            fail: None,
            retry: None,
            end: None,
        }
    }

    /// The highest passing and the lowest failing rate so far.
    pub fn bracket(&self) -> (Option<f64>, Option<f64>) {
        (self.pass, self.fail)
    }

    /// The next step, or the end.
    pub fn next(&self) -> Next {
        if let Some(end) = self.end {
            return Next::Done(end);
        }
        if let Some(rate) = self.retry {
            return Next::Try {
                rate,
                stage: Stage::Retry,
            };
        }
        match (self.pass, self.fail) {
            (Some(pass), Some(fail)) => Next::Try {
                rate: midpoint(pass, fail),
                stage: Stage::Bisect,
            },
            (Some(pass), None) => Next::Try {
                rate: (pass * 2.0).min(self.bounds.max),
                stage: Stage::Up,
            },
            // A failure before any pass ends the search at once.
            (None, _) => Next::Try {
                rate: self.bounds.start,
                stage: Stage::Up,
            },
        }
    }

    /// Learns the verdict of the step at `rate`.
    pub fn record(&mut self, rate: f64, verdict: Verdict) {
        if self.end.is_some() {
            return;
        }
        match verdict {
            Verdict::Untrusted if self.retry == Some(rate) => {
                self.end = Some(End::ClientLimited {
                    capacity: self.pass,
                    untrusted_at: rate,
                });
                return;
            }
            Verdict::Untrusted => {
                self.retry = Some(rate);
                return;
            }
            Verdict::Pass => {
                self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
                if rate >= self.bounds.max {
                    self.end = Some(End::AtMaxRate { capacity: rate });
                }
            }
            Verdict::Fail | Verdict::Collapse => {
                self.fail = Some(self.fail.map_or(rate, |f| f.min(rate)));
                if self.pass.is_none() {
                    self.end = Some(End::BelowLowest { fails_at: rate });
                }
            }
        }
        self.retry = None;
        if let (None, Some(pass), Some(fail)) = (self.end, self.pass, self.fail)
            && fail - pass <= self.bounds.precision * pass
        {
            self.end = Some(End::Found {
                capacity: pass,
                fails_at: fail,
            });
        }
    }

    /// The most steps a search of these bounds takes when no step is
    /// untrustworthy: the doublings from the start to the maximum, then
    /// the halvings of a bracket of width 1 (fail = 2 × pass at most)
    /// down to the precision, each plus one for rounding.
    pub fn max_steps(bounds: Bounds) -> u32 {
        let up = (bounds.max / bounds.start).log2().ceil().max(0.0) as u32 + 1;
        let bisect = (1.0 / bounds.precision).log2().ceil().max(0.0) as u32 + 1;
        up + bisect
    }
}

/// A rate strictly inside (pass, fail): their mean, in whole requests per
/// second when the bracket is wide enough for that.
fn midpoint(pass: f64, fail: f64) -> f64 {
    let mid = (pass + fail) / 2.0;
    let whole = mid.round();
    if whole > pass && whole < fail {
        whole
    } else {
        mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        start: 10.0,
        max: 100_000.0,
        precision: 0.05,
    };

    /// Runs a search against `server` (rate → verdict); returns the end and
    /// every rate tried.
    fn simulate(bounds: Bounds, mut server: impl FnMut(f64) -> Verdict) -> (End, Vec<f64>) {
        let mut search = Search::new(bounds);
        let mut tried = Vec::new();
        loop {
            match search.next() {
                Next::Done(end) => return (end, tried),
                Next::Try { rate, .. } => {
                    assert!(tried.len() < 200, "no end after {tried:?}");
                    tried.push(rate);
                    search.record(rate, server(rate));
                }
            }
        }
    }

    fn threshold(capacity: f64) -> impl FnMut(f64) -> Verdict {
        move |rate| {
            if rate <= capacity {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
    }

    #[test]
    fn brackets_the_capacity_within_the_precision_in_bounded_steps() {
        let bound = Search::max_steps(BOUNDS);
        assert_eq!(bound, 15 + 6);
        for capacity in [
            10.0, 11.0, 19.5, 37.0, 190.0, 411.0, 1000.0, 5_000.0, 77_777.0,
        ] {
            let (end, tried) = simulate(BOUNDS, threshold(capacity));
            let End::Found {
                capacity: found,
                fails_at,
            } = end
            else {
                panic!("{capacity}: {end:?} after {tried:?}");
            };
            assert!(
                found <= capacity && capacity < fails_at,
                "{capacity}: {end:?}"
            );
            assert!(fails_at - found <= 0.05 * found, "{capacity}: {end:?}");
            assert!(tried.len() as u32 <= bound, "{capacity}: {tried:?}");
            // Doubling, then bisecting: no rate is tried twice.
            let mut sorted = tried.clone();
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
            assert_eq!(sorted.len(), tried.len(), "{tried:?}");
        }
    }

    #[test]
    fn a_known_search_step_by_step() {
        let (end, tried) = simulate(BOUNDS, threshold(410.0));
        assert_eq!(
            tried,
            [10., 20., 40., 80., 160., 320., 640., 480., 400., 440., 420.]
        );
        // 420 - 400 is 5% of 400: narrow enough.
        assert_eq!(
            end,
            End::Found {
                capacity: 400.0,
                fails_at: 420.0
            }
        );
    }

    #[test]
    fn a_noisy_server_still_ends_within_the_bound() {
        // Around the knee the verdict flips pseudo-randomly (a busy machine).
        let mut x: u64 = 7;
        let noisy = |rate: f64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let coin = (x >> 33).is_multiple_of(2);
            if rate < 300.0 || (rate < 500.0 && coin) {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        };
        let (end, tried) = simulate(BOUNDS, noisy);
        assert!(matches!(end, End::Found { .. }), "{end:?}");
        assert!(tried.len() as u32 <= Search::max_steps(BOUNDS));
    }

    #[test]
    fn lowest_step_failing_ends_at_once() {
        let (end, tried) = simulate(BOUNDS, threshold(5.0));
        assert_eq!(end, End::BelowLowest { fails_at: 10.0 });
        assert_eq!(tried, [10.0]);
        let (end, _) = simulate(BOUNDS, |_| Verdict::Collapse);
        assert_eq!(end, End::BelowLowest { fails_at: 10.0 });
    }

    #[test]
    fn the_maximum_rate_caps_the_doubling() {
        let bounds = Bounds {
            max: 100.0,
            ..BOUNDS
        };
        let (end, tried) = simulate(bounds, threshold(1e9));
        assert_eq!(end, End::AtMaxRate { capacity: 100.0 });
        assert_eq!(tried, [10., 20., 40., 80., 100.]);
        // A failure at the cap bisects below it.
        let (end, _) = simulate(bounds, threshold(90.0));
        assert!(
            matches!(end, End::Found { capacity, fails_at } if capacity <= 90.0 && fails_at > 90.0)
        );
    }

    #[test]
    fn an_untrustworthy_step_is_retried_once_then_ends_the_search() {
        // Untrusted once at 40: retried, passes, the search goes on.
        let mut seen40 = 0;
        let (end, tried) = simulate(BOUNDS, |rate| {
            if rate == 40.0 {
                seen40 += 1;
                if seen40 == 1 {
                    return Verdict::Untrusted;
                }
            }
            threshold(100.0)(rate)
        });
        assert!(matches!(end, End::Found { .. }), "{end:?}");
        assert_eq!(&tried[..4], [10., 20., 40., 40.]);

        // Untrusted from 80 on: never counted as a failure.
        let (end, tried) = simulate(BOUNDS, |rate| {
            if rate >= 80.0 {
                Verdict::Untrusted
            } else {
                Verdict::Pass
            }
        });
        assert_eq!(
            end,
            End::ClientLimited {
                capacity: Some(40.0),
                untrusted_at: 80.0
            }
        );
        assert_eq!(tried, [10., 20., 40., 80., 80.]);
    }

    #[test]
    fn midpoints_are_whole_when_they_can_be() {
        assert_eq!(midpoint(320.0, 640.0), 480.0);
        assert_eq!(midpoint(410.0, 421.0), 416.0);
        assert_eq!(midpoint(1.0, 2.0), 1.5);
        assert_eq!(midpoint(10.0, 11.0), 10.5);
    }
}
