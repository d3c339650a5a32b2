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
    #[error("invalid spec {origin}: {source}")]
    Parse {
        origin: String,
        source: toml::de::Error,
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
    #[serde(rename = "signal")]
    pub signals: Vec<Signal>,
}

/// How dashboard panels are judged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardRules {
    /// Panels whose queries name only these metrics may return no data.
    #[serde(default)]
    pub optional_metrics: Vec<String>,
}

/// One signal: a query that must return a fitting value for every instance.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub name: String,
    pub area: String,
    pub query: String,
    pub expect: Expect,
    /// No data at all is accepted: the component or backend exporting it
    /// may not run (the PostgreSQL exporter, the PostgreSQL pool's series).
    /// When there is data, it is judged like any other signal's.
    #[serde(default)]
    pub optional: bool,
    /// False for another job's targets (an exporter): every sample the
    /// query returns must fit, whatever its instance.
    #[serde(default = "yes")]
    pub per_instance: bool,
}

fn yes() -> bool {
    true
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
        let spec: Spec = toml::from_str(text).map_err(|source| SpecError::Parse {
            origin: origin.to_owned(),
            source,
        })?;
        let invalid = |detail: String| SpecError::Invalid {
            origin: origin.to_owned(),
            detail,
        };
        if spec.signals.is_empty() {
            return Err(invalid("no [[signal]]".into()));
        }
        let mut names = BTreeSet::new();
        for s in &spec.signals {
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
        assert!(Spec::parse(bad_expect, "t").is_err());
    }

    #[test]
    fn expectations() {
        assert!(Expect::One.accepts(1.0) && !Expect::One.accepts(0.0));
        assert!(!Expect::Positive.accepts(0.0) && !Expect::Positive.accepts(f64::NAN));
        assert!(Expect::Finite.accepts(0.0) && !Expect::Finite.accepts(f64::INFINITY));
        assert!(Expect::Present.accepts(f64::NAN));
    }
}
