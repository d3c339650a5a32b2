//! The verify spec (`spec/signals.toml`): which signals must exist, their
//! queries and what their values must satisfy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the spec {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid spec {origin}: {detail}")]
    Invalid { origin: String, detail: String },
}

/// The whole spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub dashboards: DashboardRules,
    /// How verify tells "no load" from missing signals; none: it does not.
    pub traffic: Option<Traffic>,
    #[serde(rename = "signal")]
    pub signals: Vec<Signal>,
    /// Log signals: LogQL metric queries asked of Loki (`verify --loki`),
    /// judged like the metric signals.
    #[serde(rename = "log", default)]
    pub logs: Vec<Signal>,
}

/// How dashboard panels are judged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardRules {
    /// Panels whose queries name only these metrics may return no data.
    #[serde(default)]
    pub optional_metrics: Vec<String>,
}

/// The signals are judged under load: when [`Traffic::query`] returns no
/// positive sample for a few scrape intervals, verify stops early and says
/// to start a load, instead of retrying every signal until its timeout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// The rate of requests the load sends (`$job` replaced).
    pub query: String,
}

/// One signal: a query that must return a fitting value for every instance.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub name: String,
    pub area: String,
    pub query: String,
    pub expect: Expect,
    /// How the table shows the value; the JSON report keeps raw numbers.
    #[serde(default)]
    pub unit: Unit,
    /// No data at all is accepted: the component or backend exporting it
    /// may not run (the PostgreSQL exporter, the PostgreSQL pool's series).
    /// When there is data, it is judged like any other signal's.
    #[serde(default)]
    pub optional: bool,
    /// False for another job's targets (an exporter): every sample the
    /// query returns must fit, whatever its instance.
    #[serde(default = "yes")]
    pub per_instance: bool,
    /// Another job (e.g. `haproxy`): the signal is judged for every instance
    /// of that job, required whenever Prometheus scrapes it, and absent
    /// when it does not.
    #[serde(default)]
    pub job: Option<String>,
}

fn yes() -> bool {
    true
}

/// The unit of a signal's value, for the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A plain number.
    #[default]
    None,
    /// Bytes, shown as KiB, MiB or GiB.
    Bytes,
    /// A ratio, shown as a percentage.
    Ratio,
    /// Seconds, shown as ms or s.
    Seconds,
    /// Events per second, shown as `N/s`.
    #[serde(rename = "per_second")]
    PerSecond,
}

impl Unit {
    /// `value` in at most a dozen characters, in this unit.
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return v.to_string();
        }
        match self {
            Unit::None => plain(v),
            Unit::Bytes => {
                let (div, name) = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
                    .into_iter()
                    .find(|(div, _)| v.abs() >= *div as f64)
                    .unwrap_or((1, "B"));
                format!("{} {name}", trimmed(v / div as f64, 1))
            }
            Unit::Ratio => format!("{}%", trimmed(v * 100.0, 2)),
            Unit::Seconds if v.abs() < 1.0 => format!("{} ms", trimmed(v * 1e3, 2)),
            Unit::Seconds => format!("{} s", trimmed(v, 2)),
            Unit::PerSecond => format!("{}/s", trimmed(v, 2)),
        }
    }
}

/// A number without a unit: scientific only when very large or small.
fn plain(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:.3e}")
    } else {
        trimmed(v, 4)
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// What a signal's value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    One,
    Positive,
    Finite,
    Present,
}

impl Expect {
    /// Whether `value` satisfies this expectation.
    pub fn accepts(self, value: f64) -> bool {
        match self {
            Expect::One => value == 1.0,
            Expect::Positive => value.is_finite() && value > 0.0,
            Expect::Finite => value.is_finite(),
            Expect::Present => true,
        }
    }
}

impl Spec {
    /// The spec embedded in the binary (the repository's `spec/signals.toml`).
    pub fn embedded() -> Spec {
        Spec::parse(super::assets::SPEC, "spec/signals.toml (embedded)")
            .expect("the embedded spec is tested to parse")
    }

    /// Reads a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_owned(),
            source,
        })?;
        Spec::parse(&text, &path.display().to_string())
    }

    /// Parses and validates spec text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        let invalid = |detail: String| SpecError::Invalid {
            origin: origin.to_owned(),
            detail,
        };
        let spec: Spec = toml::from_str(text).map_err(|e| invalid(one_line(&e, text)))?;
        if spec.signals.is_empty() {
            return Err(invalid("no [[signal]]".into()));
        }
        let mut names = BTreeSet::new();
        for s in spec.signals.iter().chain(&spec.logs) {
            if !names.insert(s.name.as_str()) {
                return Err(invalid(format!("signal {:?} appears twice", s.name)));
            }
            if s.query.trim().is_empty() {
                return Err(invalid(format!("signal {:?} has an empty query", s.name)));
            }
        }
        Ok(spec)
    }

    /// Every metric name the signals' queries select (without Prometheus'
    /// own `up`).
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.signals
            .iter()
            .flat_map(|s| metric_names(&s.query))
            .filter(|m| m != "up")
            .collect()
    }
}

/// A TOML error in one line: where, then what (toml's own text quotes the
/// file over several lines).
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {}", e.message())
}

/// The metric names a PromQL expression selects: identifiers directly
/// followed by a `{` label matcher (the spec and dashboards always write
/// selectors that way).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let bytes = expr.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut names = BTreeSet::new();
    let mut in_string = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_string = !in_string,
            b'{' if !in_string => {
                let start = bytes[..i]
                    .iter()
                    .rposition(|&c| !is_ident(c))
                    .map_or(0, |p| p + 1);
                let name = &expr[start..i];
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    names.insert(name.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_spec_parses() {
        let spec = Spec::embedded();
        assert!(spec.signals.iter().any(|s| s.name == "up"));
        assert!(spec.metric_names().contains("process_cpu_seconds_total"));
        assert!(!spec.metric_names().contains("up"));
    }

    #[test]
    fn finds_metric_names_not_labels_or_strings() {
        let names = metric_names(
            r#"histogram_quantile(0.9, sum by (le) (rate(a_bucket{route="/x/{id}",job="$job"}[1m]))) / b{}"#,
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a_bucket", "b"]);
    }

    #[test]
    fn rejects_duplicates_and_unknown_fields() {
        let dup = "[[signal]]\nname='a'\narea='x'\nquery='up'\nexpect='one'\n".repeat(2);
        assert!(Spec::parse(&dup, "t").is_err());
        let unknown = "[[signal]]\nname='a'\narea='x'\nquery='up'\nexpect='one'\nfoo=1\n";
        assert!(Spec::parse(unknown, "t").is_err());
        let bad_expect = "[[signal]]\nname='a'\narea='x'\nquery='up'\nexpect='big'\n";
        let err = Spec::parse(bad_expect, "t").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid spec t: line 5, column 8: "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn units_for_people() {
        assert_eq!(Unit::Bytes.format(12_866_355.0), "12.3 MiB");
        assert_eq!(Unit::Bytes.format(3.5 * (1u64 << 30) as f64), "3.5 GiB");
        assert_eq!(Unit::Bytes.format(512.0), "512 B");
        assert_eq!(Unit::Ratio.format(0.1234), "12.34%");
        assert_eq!(Unit::Ratio.format(0.0), "0%");
        assert_eq!(Unit::Seconds.format(0.0125), "12.5 ms");
        assert_eq!(Unit::Seconds.format(2.0), "2 s");
        assert_eq!(Unit::PerSecond.format(98.1755), "98.18/s");
        assert_eq!(Unit::None.format(12_345_678.0), "1.235e7");
        assert_eq!(Unit::None.format(0.0125), "0.0125");
        assert_eq!(Unit::Ratio.format(f64::NAN), "NaN");
    }

    #[test]
    fn embedded_spec_has_units_and_a_traffic_query() {
        let spec = Spec::embedded();
        let unit = |n: &str| spec.signals.iter().find(|s| s.name == n).unwrap().unit;
        assert_eq!(unit("process_memory"), Unit::Bytes);
        assert_eq!(unit("host_cpu"), Unit::Ratio);
        assert_eq!(unit("latency_p99"), Unit::Seconds);
        assert!(spec.traffic.unwrap().query.contains("$job"));
    }

    #[test]
    fn expectations() {
        assert!(Expect::One.accepts(1.0) && !Expect::One.accepts(0.0));
        assert!(!Expect::Positive.accepts(0.0) && !Expect::Positive.accepts(f64::NAN));
        assert!(Expect::Finite.accepts(0.0) && !Expect::Finite.accepts(f64::INFINITY));
        assert!(Expect::Present.accepts(f64::NAN));
    }
}
