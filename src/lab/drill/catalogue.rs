//! The drill's faults: how each is injected and cleared, which alert must
//! be delivered for it (and which others it may also cause), and the bound
//! on its detection and resolution, derived from the scaled rules and the
//! lab's timing so the table can say what each bound is made of.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::scale::TimeScale;
use crate::lab::defaults::LB_BACKEND;
use crate::slo::duration::PromDuration;
use crate::slo::spec::{Kind, Slo, Spec};

/// A fault of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultName {
    InstanceDown,
    ErrorRatio,
    Latency,
    Cpu,
    Memory,
    DbLock,
    /// With `--lb`: one instance out of HAProxy's backend.
    BackendDown,
}

impl FaultName {
    /// In the order the drill runs them.
    pub const ALL: [FaultName; 7] = [
        FaultName::InstanceDown,
        FaultName::ErrorRatio,
        FaultName::Latency,
        FaultName::Cpu,
        FaultName::Memory,
        FaultName::DbLock,
        FaultName::BackendDown,
    ];

    /// The faults a lab can inject: all of them, but `backend-down` only
    /// with HAProxy in front (`--lb`).
    pub fn available(lb: bool) -> Vec<FaultName> {
        FaultName::ALL
            .into_iter()
            .filter(|f| lb || *f != FaultName::BackendDown)
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultName::InstanceDown => "instance-down",
            FaultName::ErrorRatio => "error-ratio",
            FaultName::Latency => "latency",
            FaultName::Cpu => "cpu",
            FaultName::Memory => "memory",
            FaultName::DbLock => "db-lock",
            FaultName::BackendDown => "backend-down",
        }
    }
}

impl fmt::Display for FaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultName::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = FaultName::ALL.iter().map(|f| f.name()).collect();
                format!("`{s}` is not a drill fault ({})", all.join(", "))
            })
    }
}

/// How fast the lab sees and tells: what every bound is made of.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub scale: TimeScale,
    /// Scrape and rule evaluation interval.
    pub scrape: Duration,
    /// Alertmanager's wait before a new group's first notification.
    pub group_wait: Duration,
    /// Alertmanager's wait before telling a changed group again (resolutions).
    pub group_interval: Duration,
    /// For the delivery itself.
    pub slack: Duration,
    /// How long a stopped instance goes on serving (and being scraped):
    /// `srelab serve`'s drain delay when a load balancer checks its
    /// readiness (`--lb`), else nothing.
    pub drain: Duration,
}

impl Timing {
    fn scaled(&self, nominal: &str) -> Duration {
        let d: PromDuration = nominal.parse().unwrap_or(PromDuration { ms: 0 });
        self.scale.apply(d).as_std()
    }

    /// Seeing a change and telling it: a scrape, an evaluation, the
    /// group's wait, the slack.
    fn tell_new(&self) -> Duration {
        2 * self.scrape + self.group_wait + self.slack
    }

    /// Telling a resolution: a scrape, an evaluation, the group interval, the slack.
    fn tell_resolved(&self) -> Duration {
        2 * self.scrape + self.group_interval + self.slack
    }
}

/// What the drill does for one fault, and what it expects.
#[derive(Debug, Clone)]
pub struct Step {
    pub fault: FaultName,
    /// The alert that must be delivered, and the labels it must carry.
    pub expected: String,
    pub expected_labels: Vec<(&'static str, String)>,
    /// Alerts the fault may also cause (its symptoms), never unexpected.
    pub allowed: &'static [&'static str],
    pub detect_bound: Duration,
    /// What the detection bound is made of.
    pub detect_why: String,
    pub resolve_bound: Duration,
    pub resolve_why: String,
}

/// The error ratio the drill injects on every instance: above the fast
/// page's threshold (14.4 × 0.1% = 1.44%) by seven times.
pub const ERROR_RATIO: f64 = 0.1;
/// Latency added to `/api/items` on every instance: past the 250 ms SLO.
pub const ADDED_LATENCY_MS: u32 = 300;
/// Share of the latency SLO's requests that go to `/api/items` in the
/// drill's load mix (list=2, create=2, get=1).
pub const SLOW_SHARE: f64 = 0.8;
/// Share of the latency SLO's requests that write (create=2 of list=2,
/// create=2, get=1), which wait behind a held database lock.
pub const CREATE_SHARE: f64 = 0.4;
/// The database lock is held this share of every period...
pub const LOCK_DUTY: f64 = 0.9;
/// ... of this length: the 900 ms hold stays below the 5 s busy and
/// statement timeouts, so writes wait and none fails.
pub const LOCK_PERIOD: Duration = Duration::from_secs(1);
/// The memory growth the drill injects, as a multiple of the growth the
/// alert is meant to catch (90% of the host's memory within 4 hours).
pub const MEMORY_GROWTH_FACTOR: f64 = 2.5;

/// The SLO of `kind` the drill's faults burn (the first of its kind).
pub fn slo_of(spec: &Spec, kind: Kind) -> Option<&Slo> {
    spec.slos.iter().find(|s| s.kind == kind)
}

/// The store the lab's instances use: what a held database lock shows as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// SQLite counts the writers' retries (`srelab_db_busy_retries_total`).
    Sqlite,
    /// PostgreSQL queues the writers: their latency is what shows.
    Postgres,
}

/// The step of `fault` against instance `victim` (an `IP:PORT`), its
/// burn-rate expectations read from the SLO file.
pub fn step(fault: FaultName, victim: &str, t: &Timing, spec: &Spec, store: Store) -> Step {
    let secs = |d: Duration| format!("{:.0}s", d.as_secs_f64());
    let victim_label = || vec![("instance", victim.to_owned())];
    // The fastest page: its long window, and the error ratio it fires at.
    let page = spec
        .alerts
        .iter()
        .filter(|a| a.severity == "critical")
        .min_by_key(|a| a.long);
    // The page's long window reaches its threshold after this share of it,
    // at an error ratio of `ratio`.
    let burn = |kind: Kind, ratio: f64| {
        let (Some(slo), Some(page)) = (slo_of(spec, kind), page) else {
            return (String::from("(no SLO)"), Duration::ZERO, String::new());
        };
        let long = t.scale.apply(page.long).as_std();
        let fill = long.mul_f64((page.threshold(slo) / ratio).min(1.0));
        let why = format!(
            "{} window ({}) reaches {}x budget in {} + {}",
            page.long,
            secs(long),
            crate::slo::rules::num(page.factor(slo)),
            secs(fill),
            secs(t.tell_new())
        );
        (slo.alert_name(), fill, why)
    };
    let page_window = || {
        page.map(|p| vec![("long_window", p.long.to_string())])
            .unwrap_or_default()
    };
    let short_drain = page.map_or(Duration::ZERO, |p| t.scale.apply(p.short).as_std());
    let resolve_burn = short_drain + t.tell_resolved();
    let resolve_burn_why = format!(
        "the short window ({}) drains + {}",
        secs(short_drain),
        secs(t.tell_resolved())
    );
    match fault {
        FaultName::InstanceDown => {
            let for_ = t.scaled("10s");
            let drain = if t.drain.is_zero() {
                String::new()
            } else {
                format!("drain {} + ", secs(t.drain))
            };
            Step {
                fault,
                expected: "SrelabInstanceDown".into(),
                expected_labels: victim_label(),
                // With --lb, HAProxy sees it too (and spreads unevenly
                // while the restarted instance catches up).
                allowed: &["SrelabLbServersDown", "SrelabLbImbalance"],
                detect_bound: t.drain + for_ + t.tell_new(),
                detect_why: format!("{drain}for {} + {}", secs(for_), secs(t.tell_new())),
                resolve_bound: t.tell_resolved() + t.scrape,
                resolve_why: format!("restart + {}", secs(t.tell_resolved() + t.scrape)),
            }
        }
        FaultName::BackendDown => {
            // HAProxy takes the stopped instance out, then the alert's `for:`.
            let checks = crate::lab::haproxy::Timing::of_template();
            let (out, back) = (checks.detection_limit(), checks.rise_limit());
            let for_ = t.scaled("10s");
            Step {
                fault,
                expected: "SrelabLbServersDown".into(),
                expected_labels: vec![("proxy", LB_BACKEND.to_owned())],
                // The instance is down for Prometheus too.
                allowed: &["SrelabInstanceDown", "SrelabLbImbalance"],
                detect_bound: out + for_ + t.tell_new(),
                detect_why: format!(
                    "HAProxy takes it out {:.1}s + for {} + {}",
                    out.as_secs_f64(),
                    secs(for_),
                    secs(t.tell_new())
                ),
                resolve_bound: back + t.tell_resolved() + t.scrape,
                resolve_why: format!(
                    "restart, HAProxy takes it back {:.1}s + {}",
                    back.as_secs_f64(),
                    secs(t.tell_resolved() + t.scrape)
                ),
            }
        }
        FaultName::ErrorRatio | FaultName::Latency => {
            let (expected, fill, detect_why) = if fault == FaultName::ErrorRatio {
                burn(Kind::Availability, ERROR_RATIO)
            } else {
                burn(Kind::Latency, SLOW_SHARE)
            };
            let allowed: &[&str] = if fault == FaultName::ErrorRatio {
                &["SrelabHighErrorRatio"]
            } else {
                &["SrelabHighLatencyP99", "SrelabLbLatencyP99High"]
            };
            Step {
                fault,
                expected,
                expected_labels: page_window(),
                allowed,
                detect_bound: fill + t.tell_new(),
                detect_why,
                resolve_bound: resolve_burn,
                resolve_why: resolve_burn_why,
            }
        }
        FaultName::Cpu => {
            let for_ = t.scaled("5m");
            // The host gauge is sampled every 2s before it is scraped.
            let sample = Duration::from_secs(2);
            Step {
                fault,
                expected: "SrelabCpuSaturation".into(),
                expected_labels: vec![],
                allowed: &[
                    "SrelabLatencyBudgetBurn",
                    "SrelabHighLatencyP99",
                    "SrelabLbLatencyP99High",
                ],
                detect_bound: sample + for_ + t.tell_new(),
                detect_why: format!(
                    "host sample 2s + for {} + {}",
                    secs(for_),
                    secs(t.tell_new())
                ),
                resolve_bound: sample + t.tell_resolved(),
                resolve_why: format!("host sample 2s + {}", secs(t.tell_resolved())),
            }
        }
        FaultName::Memory => {
            let window = t.scaled("30m");
            let for_ = t.scaled("15m");
            // predict_linear's slope over the window reaches the alerting
            // growth once about 40% of the window has grown at 2.5 times it.
            let fill = window.mul_f64(0.5);
            Step {
                fault,
                expected: "SrelabMemoryGrowth".into(),
                expected_labels: victim_label(),
                allowed: &[],
                detect_bound: fill + for_ + t.tell_new(),
                detect_why: format!(
                    "half the {} window + for {} + {}",
                    secs(window),
                    secs(for_),
                    secs(t.tell_new())
                ),
                resolve_bound: fill + t.tell_resolved(),
                resolve_why: format!(
                    "the fall enters the {} window + {}",
                    secs(window),
                    secs(t.tell_resolved())
                ),
            }
        }
        FaultName::DbLock if store == Store::Postgres => {
            // Inserts wait for the lock: those arriving while it has more
            // than the latency threshold left to run miss the SLO, and
            // count only once they end (up to a whole hold later).
            let hold = LOCK_PERIOD.mul_f64(LOCK_DUTY);
            let threshold = slo_of(spec, Kind::Latency)
                .and_then(|s| s.threshold)
                .map_or(Duration::ZERO, PromDuration::as_std);
            let slow = CREATE_SHARE * hold.saturating_sub(threshold).as_secs_f64()
                / LOCK_PERIOD.as_secs_f64();
            let (expected, fill, why) = burn(Kind::Latency, slow);
            Step {
                fault,
                expected,
                expected_labels: page_window(),
                allowed: &[
                    "SrelabHighLatencyP99",
                    "SrelabLbLatencyP99High",
                    "SrelabAvailabilityBudgetBurn",
                    "SrelabHighErrorRatio",
                ],
                detect_bound: hold + fill + t.tell_new(),
                detect_why: format!(
                    "a write ends up to the {}s hold later + {why} ({:.1}% of requests slow)",
                    hold.as_secs_f64(),
                    slow * 100.0
                ),
                resolve_bound: resolve_burn,
                resolve_why: resolve_burn_why,
            }
        }
        FaultName::DbLock => {
            let window = t.scaled("5m");
            let for_ = t.scaled("5m");
            let fill = window.mul_f64(0.25);
            Step {
                fault,
                expected: "SrelabSqliteBusyRetriesClimbing".into(),
                expected_labels: victim_label(),
                allowed: &[
                    "SrelabLatencyBudgetBurn",
                    "SrelabHighLatencyP99",
                    "SrelabLbLatencyP99High",
                    "SrelabAvailabilityBudgetBurn",
                    "SrelabHighErrorRatio",
                ],
                detect_bound: fill + for_ + t.tell_new(),
                detect_why: format!(
                    "retries fill a quarter of the {} window + for {} + {}",
                    secs(window),
                    secs(for_),
                    secs(t.tell_new())
                ),
                resolve_bound: window + t.tell_resolved(),
                resolve_why: format!(
                    "the {} window drains + {}",
                    secs(window),
                    secs(t.tell_resolved())
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            scale: TimeScale {
                factor: 60,
                floor: PromDuration::from_secs(8),
            },
            scrape: Duration::from_secs(2),
            group_wait: Duration::from_secs(2),
            group_interval: Duration::from_secs(5),
            slack: Duration::from_secs(5),
            drain: Duration::ZERO,
        }
    }

    #[test]
    fn bounds_follow_the_scaled_windows() {
        let t = timing();
        let spec = Spec::parse("slo", crate::verify::assets::SLO_SPEC).unwrap();
        let down = step(FaultName::InstanceDown, "a:1", &t, &spec, Store::Sqlite);
        assert_eq!(down.detect_bound, Duration::from_secs(8 + 4 + 2 + 5));
        let errors = step(FaultName::ErrorRatio, "a:1", &t, &spec, Store::Sqlite);
        // 1h/60 = 60s; 1.44% of 10% of it: 8.64s.
        assert_eq!(errors.detect_bound.as_millis(), 8640 + 11_000);
        assert_eq!(errors.expected, "SrelabAvailabilityBudgetBurn");
        let slow = step(FaultName::Latency, "a:1", &t, &spec, Store::Sqlite);
        // 14.4 × 1% = 14.4% of 80% slow: 0.18 of 60s.
        assert_eq!(slow.detect_bound.as_millis(), 10_800 + 11_000);
        // 40% writes, slow when they come with more than 250 ms of the
        // 900 ms hold left: 26% of the requests; 14.4 / 26 of 60s.
        let lock = step(FaultName::DbLock, "a:1", &t, &spec, Store::Postgres);
        assert_eq!(lock.expected, "SrelabLatencyBudgetBurn");
        let fill = 60.0 * 0.144 / (0.4 * 0.65);
        let want = 0.9 + fill + 11.0;
        assert!(
            (lock.detect_bound.as_secs_f64() - want).abs() < 0.01,
            "{lock:?}"
        );
        // HAProxy's detection (1s + 0.5s + 2 checks of 2s) + for 8s + 11s.
        let lb = step(FaultName::BackendDown, "a:1", &t, &spec, Store::Sqlite);
        assert_eq!(lb.expected, "SrelabLbServersDown");
        assert_eq!(lb.detect_bound.as_millis(), 5_500 + 8_000 + 11_000);
        assert!(!FaultName::available(false).contains(&FaultName::BackendDown));
        assert_eq!(FaultName::available(true), FaultName::ALL);
        for f in FaultName::ALL {
            let s = step(f, "a:1", &t, &spec, Store::Sqlite);
            assert!(s.detect_bound < Duration::from_secs(60), "{f}: {s:?}");
            assert_eq!(f.name().parse::<FaultName>().unwrap(), f);
        }
        assert!(
            "fire"
                .parse::<FaultName>()
                .unwrap_err()
                .contains("instance-down")
        );
    }
}
