//! The promtool unit tests of the SLO rules: one file per alert policy
//! (`prometheus/slo.test-1h.yml`, named by the long window), each sampled
//! and evaluated at a step fitting its windows (a sixth of the short one),
//! so the 3-day policy costs hundreds of evaluations, not thousands.
//!
//! For every SLO and every policy: a steady error ratio just above the
//! policy's threshold fires it, one just below keeps it quiet, and a burn
//! that stopped a while ago keeps it quiet although its long window still
//! burns (the short window's job). One case per SLO, in the first file,
//! has no traffic at all: every recorded ratio is 0 and nothing fires.
//!
//! The expected alerts come from arithmetic on the input series, done here
//! without PromQL (the error ratio over a window is the bad requests over
//! the valid ones in it); promtool checks that the generated PromQL agrees.
//! Each series has noise the SLO must ignore: client-gone requests (499)
//! or routes outside the SLO, enough to flip every verdict if counted.

use std::fmt::Write as _;

use super::duration::PromDuration;
use super::rules::{description, num, ratio_record, summary};
use super::spec::{AlertPolicy, Kind, Slo, Spec};
use crate::contract::{CLIENT_CLOSED_STATUS, REQUEST_DURATION, REQUESTS_TOTAL};

/// Valid requests per step in the input series.
const TRAFFIC: u64 = 100_000;

/// A verdict closer than this share to a threshold is refused: Prometheus
/// 2.x and 3.x differ slightly at window edges, the tests must not.
const MARGIN: f64 = 0.08;

/// A stretch of the input: `steps` long at `ratio` bad requests.
#[derive(Debug, Clone, Copy)]
struct Segment {
    steps: u64,
    ratio: f64,
}

/// What a case checks at its end.
enum Check {
    /// Every alert of the SLO, labels and annotations: the ratio is the
    /// same in every window, so the alerts' values are exact.
    Alerts,
    /// One policy is quiet while its long window alone still burns.
    Stopped(usize),
    /// No alert, and every recorded ratio is 0.
    NoTraffic,
}

/// One test case: the traffic, and what is checked at its end.
struct Case {
    title: String,
    /// Sample (and evaluation) interval.
    step: PromDuration,
    traffic: u64,
    segments: Vec<Segment>,
    check: Check,
}

impl Case {
    fn steps(&self) -> u64 {
        self.segments.iter().map(|s| s.steps).sum()
    }

    fn end(&self) -> PromDuration {
        PromDuration {
            ms: self.steps() * self.step.ms,
        }
    }

    /// Bad and valid requests in each step (index 0 ends at one step).
    fn per_step(&self) -> Vec<(u64, u64)> {
        self.segments
            .iter()
            .flat_map(|s| {
                let bad = (s.ratio * self.traffic as f64).round() as u64;
                std::iter::repeat_n((bad, self.traffic), s.steps as usize)
            })
            .collect()
    }

    /// The error ratio over the last `window` at the end of the case, or
    /// `None` when the window holds fewer than two samples (no rate).
    fn ratio(&self, window: PromDuration) -> Option<f64> {
        (window.ms / self.step.ms >= 2).then(|| self.ratio_over(window))
    }

    /// The error ratio over the last `window` (at least one step).
    fn ratio_over(&self, window: PromDuration) -> f64 {
        let w = ((window.ms / self.step.ms) as usize).max(1);
        let steps = self.per_step();
        let from = steps.len().saturating_sub(w);
        let (bad, valid) = steps[from..]
            .iter()
            .fold((0, 0), |(b, v), (sb, sv)| (b + sb, v + sv));
        if valid == 0 {
            0.0
        } else {
            bad as f64 / valid as f64
        }
    }

    /// The policies that fire at the end, or an error when a ratio is too
    /// close to a threshold, or a window too short to say, to be sure.
    fn firing<'a>(
        &self,
        slo: &Slo,
        alerts: &'a [AlertPolicy],
    ) -> Result<Vec<&'a AlertPolicy>, String> {
        let mut out = Vec::new();
        for p in alerts {
            let t = p.threshold(slo);
            let (long, short) = (self.ratio_over(p.long), self.ratio_over(p.short));
            if long > t && short > t && self.ratio(p.short).is_none() {
                return Err(format!(
                    "{}: the {}/{} alert should fire but its short window has no rate at a step of {}",
                    self.title, p.long, p.short, self.step
                ));
            }
            if self.ratio(p.short).is_none() {
                // No rate at this step: it cannot fire, and need not.
                continue;
            }
            for r in [long, short] {
                if r > 0.0 && ((r - t).abs() / t) < MARGIN {
                    return Err(format!(
                        "{}: the ratio {r} is too close to the threshold {t} of the {}/{} alert",
                        self.title, p.long, p.short
                    ));
                }
            }
            if long > t && short > t {
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// The test file of each alert policy: its path under the repository root
/// and its text; or why a case would be ambiguous.
pub fn tests_yaml(spec: &Spec) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    for (i, p) in spec.alerts.iter().enumerate() {
        let step = step_for(p);
        let mut y = format!(
            "# Generated by `srelab slo generate` from spec/slo.toml (a test fails when it\n\
             # differs): `promtool test rules {path}`. The {long}/{short} burn-rate\n\
             # alerts fire just above their threshold, stay quiet just below it and once\n\
             # the burn has stopped (short window){no_traffic}. Sampled every {step}.\n\
             rule_files:\n  - slo.yml\n\nevaluation_interval: {step}\n\ntests:\n",
            path = test_path(p),
            long = p.long,
            short = p.short,
            no_traffic = if i == 0 {
                "; no traffic fires nothing"
            } else {
                ""
            },
        );
        for slo in &spec.slos {
            for case in cases(spec, slo, i, step) {
                case_yaml(&mut y, spec, slo, &case)?;
            }
        }
        files.push((test_path(p), y));
    }
    Ok(files)
}

/// The test file of a policy, named by its long window.
pub fn test_path(p: &AlertPolicy) -> String {
    format!("prometheus/slo.test-{}.yml", p.long)
}

/// A sixth of the short window, in whole minutes (at least one).
fn step_for(p: &AlertPolicy) -> PromDuration {
    PromDuration {
        ms: (p.short.ms / 6 / 60_000).max(1) * 60_000,
    }
}

/// The cases of policy `i` for one SLO (and, for the first policy, no traffic).
fn cases(spec: &Spec, slo: &Slo, i: usize, step: PromDuration) -> Vec<Case> {
    let p = &spec.alerts[i];
    let steps = |d: PromDuration| d.ms / step.ms;
    let t = p.threshold(slo);
    let name = format!("{}/{}", p.long, p.short);
    let mut cases = Vec::new();
    for (how, factor) in [("just above", 1.1), ("just below", 0.9)] {
        cases.push(Case {
            title: format!(
                "{}: a steady {} ratio {how} the {name} threshold ({})",
                slo.name,
                num(t * factor),
                num(t)
            ),
            step,
            traffic: TRAFFIC,
            segments: vec![Segment {
                steps: steps(p.long) + steps(p.short),
                ratio: (t * factor).min(1.0),
            }],
            check: Check::Alerts,
        });
    }
    // A burn of four times the threshold for half the long window, stopped
    // two short windows ago: the long window still burns at twice the
    // threshold, the short one not at all.
    cases.push(Case {
        title: format!(
            "{}: a burn stopped {} ago; its {} window still burns, its {} window not",
            slo.name,
            PromDuration { ms: 2 * p.short.ms },
            p.long,
            p.short
        ),
        step,
        traffic: TRAFFIC,
        segments: vec![
            Segment {
                steps: steps(p.long),
                ratio: 0.0,
            },
            Segment {
                steps: steps(p.long) / 2,
                ratio: (4.0 * t).min(1.0),
            },
            Segment {
                steps: 2 * steps(p.short),
                ratio: 0.0,
            },
        ],
        check: Check::Stopped(i),
    });
    if i == 0 {
        let longest = spec
            .alerts
            .iter()
            .map(|a| a.long)
            .max()
            .unwrap_or(slo.window);
        cases.push(Case {
            title: format!(
                "{}: no traffic at all: every ratio 0, nothing fires",
                slo.name
            ),
            step,
            traffic: 0,
            segments: vec![Segment {
                steps: steps(longest) / 12 + 10,
                ratio: 0.0,
            }],
            check: Check::NoTraffic,
        });
    }
    cases
}

fn case_yaml(y: &mut String, spec: &Spec, slo: &Slo, case: &Case) -> Result<(), String> {
    let firing = case.firing(slo, &spec.alerts)?;
    let end = case.end();
    let _ = write!(
        y,
        "  # {}\n  - interval: {}\n    input_series:\n",
        case.title, case.step
    );
    for (series, values) in input_series(spec, slo, case) {
        let _ = write!(
            y,
            "      - series: '{series}'\n        values: '{values}'\n"
        );
    }
    match case.check {
        Check::Alerts => alerts_yaml(y, spec, slo, case, &firing, end),
        Check::Stopped(i) => {
            let p = &spec.alerts[i];
            if firing.iter().any(|f| std::ptr::eq(*f, p)) {
                return Err(format!("{}: the policy still fires", case.title));
            }
            let long_burns = case.ratio(p.long).is_some_and(|r| r > p.threshold(slo));
            let _ = write!(
                y,
                "    promql_expr_test:\n      - expr: 'ALERTS{{alertname=\"{name}\",long_window=\"{long}\"}}'\n\
                 \x20       eval_time: {end}\n        exp_samples: []\n\
                 \x20     - expr: 'count({record}{{slo=\"{slo}\"}} > {t})'\n        eval_time: {end}\n\
                 \x20       exp_samples:\n          - labels: '{{}}'\n            value: {v}\n",
                name = slo.alert_name(),
                long = p.long,
                record = ratio_record(p.long),
                slo = slo.name,
                t = num(p.threshold(slo)),
                v = u8::from(long_burns),
            );
        }
        Check::NoTraffic => {
            alerts_yaml(y, spec, slo, case, &firing, end);
            y.push_str("    promql_expr_test:\n");
            for window in spec.windows() {
                let record = ratio_record(window);
                let _ = write!(
                    y,
                    "      - expr: '{record}{{slo=\"{slo}\"}}'\n        eval_time: {end}\n        exp_samples:\n\
                     \x20         - labels: '{record}{{job=\"{job}\",slo=\"{slo}\"}}'\n            value: 0\n",
                    slo = slo.name,
                    job = spec.job,
                );
            }
        }
    }
    y.push('\n');
    Ok(())
}

/// The alert_rule_test of a case: every alert of the SLO firing at `end`.
fn alerts_yaml(
    y: &mut String,
    spec: &Spec,
    slo: &Slo,
    case: &Case,
    firing: &[&AlertPolicy],
    end: PromDuration,
) {
    let _ = write!(
        y,
        "    alert_rule_test:\n      - eval_time: {end}\n        alertname: {}\n",
        slo.alert_name()
    );
    if firing.is_empty() {
        y.push_str("        exp_alerts: []\n");
        return;
    }
    y.push_str("        exp_alerts:\n");
    for p in firing {
        let factor = num(p.factor(slo));
        let value = humanize_percentage(case.ratio(p.long).unwrap_or_default());
        let desc =
            description(slo, p, &factor).replace("{{ $value | humanizePercentage }}", &value);
        let _ = write!(
            y,
            "          - exp_labels:\n              severity: {}\n              job: {}\n\
             \x20             slo: {}\n              long_window: {}\n              short_window: {}\n\
             \x20           exp_annotations:\n              summary: {}\n              description: {}\n",
            p.severity,
            spec.job,
            slo.name,
            p.long,
            p.short,
            quote(&summary(slo, &factor)),
            quote(&desc),
        );
    }
}

/// The input series of a case: what the SLO counts, and noise it must not.
fn input_series(spec: &Spec, slo: &Slo, case: &Case) -> Vec<(String, String)> {
    let minutes = case.per_step();
    let route = slo
        .routes
        .as_ref()
        .and_then(|r| r.first().cloned())
        .unwrap_or_else(|| "/api/items".into());
    // A route the SLO leaves out: /api/work when it names its routes
    // without it, else one outside the API.
    let outside = match &slo.routes {
        Some(rs) if !rs.iter().any(|r| r == "/api/work") => "/api/work",
        _ => "/healthz",
    };
    let labels = |route: &str, extra: &str| {
        format!(
            "job=\"{}\",instance=\"a\",method=\"GET\",route=\"{route}\"{extra}",
            spec.job
        )
    };
    let good: Vec<u64> = minutes.iter().map(|(b, v)| v - b).collect();
    let bad: Vec<u64> = minutes.iter().map(|(b, _)| *b).collect();
    let valid: Vec<u64> = minutes.iter().map(|(_, v)| *v).collect();
    // As many noise requests as valid ones, every one of them bad.
    let noise = valid.clone();
    match slo.kind {
        Kind::Availability => {
            let mut out = vec![(
                format!("{REQUESTS_TOTAL}{{{}}}", labels(&route, ",status=\"200\"")),
                counter(&good),
            )];
            // No traffic: no 5xx series at all (the ratio must still be 0).
            if case.traffic > 0 {
                out.push((
                    format!("{REQUESTS_TOTAL}{{{}}}", labels(&route, ",status=\"500\"")),
                    counter(&bad),
                ));
                out.push((
                    format!(
                        "{REQUESTS_TOTAL}{{{}}}",
                        labels(&route, &format!(",status=\"{CLIENT_CLOSED_STATUS}\""))
                    ),
                    counter(&noise),
                ));
                out.push((
                    format!("{REQUESTS_TOTAL}{{{}}}", labels(outside, ",status=\"500\"")),
                    counter(&noise),
                ));
            }
            out
        }
        Kind::Latency => {
            let le = slo.threshold.map_or(0.0, |t| t.as_secs_f64());
            let zero = vec![0; noise.len()];
            vec![
                (
                    format!(
                        "{REQUEST_DURATION}_bucket{{{}}}",
                        labels(&route, &format!(",le=\"{le}\""))
                    ),
                    counter(&good),
                ),
                (
                    format!("{REQUEST_DURATION}_count{{{}}}", labels(&route, "")),
                    counter(&valid),
                ),
                (
                    format!(
                        "{REQUEST_DURATION}_bucket{{{}}}",
                        labels(outside, &format!(",le=\"{le}\""))
                    ),
                    counter(&zero),
                ),
                (
                    format!("{REQUEST_DURATION}_count{{{}}}", labels(outside, "")),
                    counter(&noise),
                ),
            ]
        }
    }
}

/// promtool's expanding notation for a counter starting at 0 that grows by
/// `increments[i]` in step i+1: `0 100+100x29 3000+0x9 …`.
fn counter(increments: &[u64]) -> String {
    let mut out = String::from("0");
    let mut value = 0u64;
    let mut i = 0;
    while i < increments.len() {
        let step = increments[i];
        let run = increments[i..].iter().take_while(|&&s| s == step).count();
        value += step;
        let _ = write!(out, " {value}+{step}x{}", run - 1);
        value += step * (run as u64 - 1);
        i += run;
    }
    out
}

/// Go's `humanizePercentage`: the ratio times 100 with `%.4g`, then `%`.
fn humanize_percentage(ratio: f64) -> String {
    format!("{}%", g4(ratio * 100.0))
}

/// `%.4g` as Go prints it for numbers from 1e-4 to 1e4: four significant
/// digits, trailing zeros dropped.
fn g4(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let digits = 3 - x.abs().log10().floor() as i32;
    let text = format!("{:.*}", digits.max(0) as usize, x);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_in_expanding_notation() {
        assert_eq!(counter(&[2, 2, 2, 0, 0, 5]), "0 2+2x2 6+0x1 11+5x0");
        assert_eq!(counter(&[]), "0");
    }

    #[test]
    fn percentages_as_go_prints_them() {
        assert_eq!(humanize_percentage(0.01584), "1.584%");
        assert_eq!(humanize_percentage(0.0288), "2.88%");
        assert_eq!(humanize_percentage(1.0), "100%");
        assert_eq!(humanize_percentage(0.00099), "0.099%");
        assert_eq!(humanize_percentage(0.123456), "12.35%");
    }
}
