//! The SLO a capacity search holds each step to: `--slo p99<50ms --slo
//! errors<0.1%`, optionally for one route or kind (`/api/items:p99<20ms`,
//! `create:errors<1%`), with the scopes of the gates (`--max-p99`).
//!
//! Latency objectives take any percentile (`p50`, `p99`, `p99.9`) of the
//! steady phase, counted from each request's due time; the error objective
//! counts unexpected answers, transport errors, and requests still
//! unanswered after the graceful stop. Every search has an error
//! objective: without one, [`DEFAULT_ERRORS`].

use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

use crate::load::{
    check::Outcome,
    gates::{self, GateResult, Scope},
    report,
    stats::{Cell, Key, Phase},
    text::ms,
};

/// The error objective of a search that names none.
pub const DEFAULT_ERRORS: f64 = 0.001;
/// The latency objective of a search that names no objective at all.
pub const DEFAULT_LATENCY: &str = "p99<50ms";

/// What an objective measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// A percentile (0 < quantile < 1) at most `limit`.
    Latency { quantile: f64, limit: Duration },
    /// The share of failed requests at most `max`.
    Errors { max: f64 },
}

/// One objective of the SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub scope: Scope,
    pub measure: Measure,
    /// What it measures as written: `p99`, `errors`.
    pub what: String,
    /// As the user wrote it (or the default's spelling).
    pub text: String,
}

impl FromStr for Objective {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            |why: String| format!("`{s}`: {why} (e.g. p99<50ms, errors<0.1%, /api/items:p99<20ms)");
        let (scope, rest) = match s.rsplit_once(':') {
            Some((scope, rest)) => (gates::parse_scope(scope).map_err(bad)?, rest),
            None => (Scope::All, s),
        };
        let (what, limit) = rest.split_once('<').ok_or_else(|| bad("no `<`".into()))?;
        let limit = limit.strip_prefix('=').unwrap_or(limit).trim();
        let what = what.trim();
        let measure = if what == "errors" {
            Measure::Errors {
                max: parse_ratio(limit).map_err(bad)?,
            }
        } else if let Some(p) = what.strip_prefix('p') {
            let quantile = p
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p < 100.0)
                .ok_or_else(|| {
                    bad(format!(
                        "`{what}` is not a percentile such as p50, p99, p99.9"
                    ))
                })?
                / 100.0;
            let limit = humantime::parse_duration(limit)
                .map_err(|e| bad(format!("`{limit}` is not a duration: {e}")))?;
            Measure::Latency { quantile, limit }
        } else {
            return Err(bad(format!("`{what}` is neither errors nor a percentile")));
        };
        Ok(Objective {
            scope,
            measure,
            what: what.to_owned(),
            text: s.trim().to_owned(),
        })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `0.1%` or `0.001`.
fn parse_ratio(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&(r / scale)) => Ok(r / scale),
        _ => Err(format!(
            "`{s}` is not a ratio between 0 and 1 (or 0% and 100%)"
        )),
    }
}

/// The objectives of a search: those given, plus the default error
/// objective when none is about errors; [`DEFAULT_LATENCY`] too when
/// nothing is given.
pub fn with_defaults(given: &[Objective]) -> Vec<Objective> {
    let mut all = given.to_vec();
    if all.is_empty() {
        all.push(DEFAULT_LATENCY.parse().expect("the default parses"));
    }
    if !all
        .iter()
        .any(|o| o.scope == Scope::All && matches!(o.measure, Measure::Errors { .. }))
    {
        all.push(Objective {
            scope: Scope::All,
            measure: Measure::Errors {
                max: DEFAULT_ERRORS,
            },
            what: "errors".into(),
            text: "errors<0.1%".into(),
        });
    }
    all
}

/// The largest latency limit of the objectives, if any.
pub fn latency_limit(objectives: &[Objective]) -> Option<Duration> {
    objectives
        .iter()
        .filter_map(|o| match o.measure {
            Measure::Latency { limit, .. } => Some(limit),
            Measure::Errors { .. } => None,
        })
        .max()
}

/// The tightest error limit of the objectives over all requests.
pub fn error_limit(objectives: &[Objective]) -> f64 {
    objectives
        .iter()
        .filter(|o| o.scope == Scope::All)
        .filter_map(|o| match o.measure {
            Measure::Errors { max } => Some(max),
            Measure::Latency { .. } => None,
        })
        .fold(1.0, f64::min)
}

/// The error ratio of a merged cell, counting `unanswered` requests (still
/// in flight when the step ended) as failed.
pub fn error_ratio(cell: &Cell, unanswered: u64) -> Option<f64> {
    let requests = cell.requests() + unanswered;
    let failed = requests - cell.outcomes[Outcome::Ok.index()];
    (requests > 0).then(|| failed as f64 / requests as f64)
}

/// Judges the steady phase of `cells` against each objective; requests
/// still unanswered at the end count as errors of the whole.
pub fn judge(
    objectives: &[Objective],
    cells: &BTreeMap<Key, Cell>,
    unanswered: u64,
) -> Vec<GateResult> {
    objectives
        .iter()
        .map(|o| {
            let cell = report::merge(cells.iter(), |k| {
                k.0 == Phase::Steady && o.scope.covers(k.2)
            });
            let unanswered = if o.scope == Scope::All { unanswered } else { 0 };
            let (limit, value) = match o.measure {
                Measure::Latency { quantile, limit } => (
                    limit.as_secs_f64(),
                    (!cell.latency.is_empty())
                        .then(|| cell.latency.value_at_quantile(quantile) as f64 / 1e6),
                ),
                Measure::Errors { max } => (max, error_ratio(&cell, unanswered)),
            };
            GateResult {
                gate: format!("slo {o}"),
                limit,
                value,
                passed: value.is_some_and(|v| v <= limit),
                default: false,
            }
        })
        .collect()
}

/// One judged objective as a few words: `p99 61.20ms > 50ms`.
pub fn describe(objective: &Objective, result: &GateResult) -> String {
    let op = if result.passed { "<=" } else { ">" };
    let scope = match &objective.scope {
        Scope::All => String::new(),
        scope => format!("{scope}: "),
    };
    let what = &objective.what;
    match (objective.measure, result.value) {
        (_, None) => format!("{scope}{what}: nothing measured"),
        (Measure::Latency { .. }, Some(v)) => {
            format!("{scope}{what} {} {op} {}", ms(v), ms(result.limit))
        }
        (Measure::Errors { .. }, Some(v)) => format!(
            "{scope}{what} {} {op} {}",
            percent(v),
            percent(result.limit)
        ),
    }
}

/// A ratio as a percentage with enough digits for small SLOs.
pub fn percent(r: f64) -> String {
    if r == 0.0 || r >= 0.01 {
        format!("{:.2}%", r * 100.0)
    } else {
        format!("{:.3}%", r * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{mix::Kind, stats};

    #[test]
    fn parses_objectives() {
        let o: Objective = "p99<50ms".parse().unwrap();
        assert_eq!(o.scope, Scope::All);
        assert_eq!(
            o.measure,
            Measure::Latency {
                quantile: 0.99,
                limit: Duration::from_millis(50)
            }
        );
        let o: Objective = "p99.9<=1s".parse().unwrap();
        assert!(
            matches!(o.measure, Measure::Latency { quantile, .. } if (quantile - 0.999).abs() < 1e-12)
        );
        let o: Objective = "errors<0.1%".parse().unwrap();
        assert_eq!(o.measure, Measure::Errors { max: 0.001 });
        assert_eq!(
            "errors<0.02".parse::<Objective>().unwrap().measure,
            Measure::Errors { max: 0.02 }
        );
        let o: Objective = "/api/items:p50<5ms".parse().unwrap();
        assert_eq!(o.scope, Scope::Route("/api/items".into()));
        let o: Objective = "create:errors<1%".parse().unwrap();
        assert_eq!(o.scope, Scope::Kind(Kind::Create));
        for bad in [
            "p99",
            "p100<1s",
            "p0<1s",
            "q99<1s",
            "p99<fast",
            "errors<2",
            "errors<150%",
            "/nope:p99<1s",
        ] {
            let err = bad.parse::<Objective>().unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults_add_an_error_objective() {
        let all = with_defaults(&[]);
        assert_eq!(
            all.iter().map(|o| o.text.as_str()).collect::<Vec<_>>(),
            ["p99<50ms", "errors<0.1%"]
        );
        let given: Vec<Objective> = vec!["p90<10ms".parse().unwrap()];
        assert_eq!(with_defaults(&given).len(), 2);
        let given: Vec<Objective> = vec!["errors<1%".parse().unwrap()];
        let all = with_defaults(&given);
        assert_eq!(all.len(), 1);
        assert_eq!(latency_limit(&all), None);
        assert_eq!(error_limit(&all), 0.01);
    }

    #[test]
    fn judges_the_steady_phase_and_counts_the_unanswered() {
        let mut cells = BTreeMap::new();
        let mut ok = Cell::default();
        for ms in 1..=100u64 {
            stats::record_value(&mut ok.latency, ms * 1000);
        }
        ok.outcomes[Outcome::Ok.index()] = 100;
        cells.insert((Phase::Steady, 0, Kind::List), ok);
        let mut slow = Cell::default();
        stats::record_value(&mut slow.latency, 10_000_000);
        slow.outcomes[Outcome::Ok.index()] = 1;
        // The settle (ramp phase) is not judged.
        cells.insert((Phase::Ramp, 0, Kind::List), slow);
        let objectives: Vec<Objective> = ["p99<100ms", "p50<40ms", "errors<1%", "create:p99<1ms"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let r = judge(&objectives, &cells, 0);
        assert!(r[0].passed, "{r:?}");
        assert!(!r[1].passed, "p50 is 50ms: {r:?}");
        assert!(r[2].passed);
        assert!(!r[3].passed && r[3].value.is_none(), "no create measured");
        assert_eq!(describe(&objectives[1], &r[1]), "p50 50.01ms > 40.00ms");
        // Two unanswered of 102 breach 1%.
        let r = judge(&objectives, &cells, 2);
        assert!(!r[2].passed);
        assert_eq!(describe(&objectives[2], &r[2]), "errors 1.96% > 1.00%");
    }
}
