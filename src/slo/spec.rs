//! `spec/slo.toml`: the SLOs and the burn-rate alert policy, read and
//! checked (known routes, thresholds on a histogram bucket, objectives
//! between 0 and 1, windows that fit), with what follows from them: each
//! SLO's error budget, each alert's burn-rate factor, the windows to record.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::duration::PromDuration;
use crate::contract::{API_ROUTES, LATENCY_BUCKETS};
use crate::serve::routes::Route;

/// Why the SLO file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("cannot read the SLO file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the SLO file {path}: {detail}")]
    Invalid { path: String, detail: String },
}

/// What an SLO counts as a good request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Answered without a server error (not 5xx; 499 not counted at all).
    Availability,
    /// Answered within the threshold.
    Latency,
}

/// One service level objective.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub name: String,
    pub kind: Kind,
    pub description: String,
    /// Route templates; `None` is every /api/ route.
    #[serde(default)]
    pub routes: Option<Vec<String>>,
    /// Latency SLOs only: a bucket bound of the duration histogram.
    #[serde(default)]
    pub threshold: Option<PromDuration>,
    pub objective: f64,
    pub window: PromDuration,
}

impl Slo {
    /// The error budget: the share of requests allowed to be bad.
    pub fn budget(&self) -> f64 {
        round(1.0 - self.objective)
    }

    /// The alert name: `Srelab<Name>BudgetBurn` (`item_latency` → `ItemLatency`).
    pub fn alert_name(&self) -> String {
        let camel: String = self
            .name
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("Srelab{camel}BudgetBurn")
    }

    /// The `route` matcher of the SLI's selectors.
    pub fn route_matcher(&self) -> String {
        match &self.routes {
            None => format!("route=~\"{API_ROUTES}\""),
            Some(routes) if routes.len() == 1 => format!("route=\"{}\"", routes[0]),
            Some(routes) => {
                let escaped: Vec<String> = routes.iter().map(|r| regex_escape(r)).collect();
                format!("route=~\"{}\"", escaped.join("|"))
            }
        }
    }
}

/// One multiwindow burn-rate alert policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    /// `critical` (pages) or `warning` (a ticket).
    pub severity: String,
    /// The share of the whole error budget spent within `long` at the
    /// alerting burn rate.
    pub budget: f64,
    pub long: PromDuration,
    pub short: PromDuration,
}

impl AlertPolicy {
    /// The burn rate that spends `budget` of an SLO's budget within `long`:
    /// budget × window / long (14.4 for 2% in 1h of 30d).
    pub fn factor(&self, slo: &Slo) -> f64 {
        round(self.budget * slo.window.ms as f64 / self.long.ms as f64)
    }

    /// The error ratio above which the alert fires: factor × error budget.
    pub fn threshold(&self, slo: &Slo) -> f64 {
        round(self.factor(slo) * slo.budget())
    }
}

/// The whole SLO file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The Prometheus job the SLOs judge.
    pub job: String,
    #[serde(rename = "slo")]
    pub slos: Vec<Slo>,
    #[serde(rename = "alert")]
    pub alerts: Vec<AlertPolicy>,
}

/// The severities Alertmanager routes: critical pages, warning is a ticket.
pub const SEVERITIES: [&str; 2] = ["critical", "warning"];

impl Spec {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Spec, SloError> {
        let text = std::fs::read_to_string(path).map_err(|source| SloError::Read {
            path: path.to_owned(),
            source,
        })?;
        Spec::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks the text of an SLO file named `path` in errors.
    pub fn parse(path: &str, text: &str) -> Result<Spec, SloError> {
        let invalid = |detail: String| SloError::Invalid {
            path: path.to_owned(),
            detail,
        };
        let spec: Spec = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        spec.check().map_err(invalid)?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        if !is_label_value(&self.job) || self.job.is_empty() {
            return Err(format!("job `{}` is not a plain label value", self.job));
        }
        if self.slos.is_empty() {
            return Err("no [[slo]]".into());
        }
        if self.alerts.is_empty() {
            return Err("no [[alert]]".into());
        }
        let mut names = BTreeSet::new();
        for slo in &self.slos {
            check_slo(slo).map_err(|e| format!("slo `{}`: {e}", slo.name))?;
            if !names.insert(&slo.name) {
                return Err(format!("slo `{}` is declared twice", slo.name));
            }
            for a in &self.alerts {
                if a.long > slo.window {
                    return Err(format!(
                        "slo `{}`: the alert window {} is longer than the SLO window {}",
                        slo.name, a.long, slo.window
                    ));
                }
            }
        }
        for a in &self.alerts {
            let name = format!("alert {}/{}", a.long, a.short);
            if !SEVERITIES.contains(&a.severity.as_str()) {
                return Err(format!(
                    "{name}: severity `{}` is not one of {}",
                    a.severity,
                    SEVERITIES.join(", ")
                ));
            }
            if !(a.budget > 0.0 && a.budget <= 1.0) {
                return Err(format!(
                    "{name}: budget must be in (0, 1], got {}",
                    a.budget
                ));
            }
            if a.short >= a.long {
                return Err(format!(
                    "{name}: the short window must be shorter than the long one"
                ));
            }
        }
        Ok(())
    }

    /// Every window a recording rule is needed for, shortest first: the
    /// alerts' long and short windows and each SLO's own window.
    pub fn windows(&self) -> Vec<PromDuration> {
        let mut set: BTreeSet<PromDuration> = BTreeSet::new();
        for a in &self.alerts {
            set.insert(a.long);
            set.insert(a.short);
        }
        for s in &self.slos {
            set.insert(s.window);
        }
        set.into_iter().collect()
    }
}

fn check_slo(slo: &Slo) -> Result<(), String> {
    let ok_name = slo
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && slo
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok_name {
        return Err("the name must be lower-case letters, digits and _".into());
    }
    if !(slo.objective > 0.0 && slo.objective < 1.0) {
        return Err(format!(
            "objective must be between 0 and 1 (e.g. 0.999), got {}",
            slo.objective
        ));
    }
    if let Some(routes) = &slo.routes {
        let known: Vec<&str> = Route::ALL
            .iter()
            .map(|r| r.template())
            .filter(|t| t.starts_with("/api/"))
            .collect();
        if routes.is_empty() {
            return Err("routes is empty (leave it out for every /api/ route)".into());
        }
        for r in routes {
            if !known.contains(&r.as_str()) {
                return Err(format!(
                    "route `{r}` is not an API route ({})",
                    known.join(", ")
                ));
            }
        }
    }
    match (slo.kind, slo.threshold) {
        (Kind::Availability, Some(_)) => Err("an availability SLO has no threshold".into()),
        (Kind::Latency, None) => Err("a latency SLO needs a threshold".into()),
        (Kind::Latency, Some(t)) => {
            if LATENCY_BUCKETS
                .iter()
                .any(|b| (b - t.as_secs_f64()).abs() < 1e-12)
            {
                Ok(())
            } else {
                let bounds: Vec<String> = LATENCY_BUCKETS.iter().map(|b| format!("{b}s")).collect();
                Err(format!(
                    "threshold {t} is not a bucket bound of the duration histogram ({})",
                    bounds.join(", ")
                ))
            }
        }
        (Kind::Availability, None) => Ok(()),
    }
}

fn is_label_value(s: &str) -> bool {
    !s.contains(['"', '\\', '\n'])
}

/// Escapes the regular-expression characters of a route template (`{id}`)
/// for a PromQL `=~` matcher (inside a double-quoted string).
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Rounds away binary noise (1 - 0.999 is 0.0010000000000000009).
pub fn round(x: f64) -> f64 {
    (x * 1e12).round() / 1e12
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = include_str!("../../spec/slo.toml");

    fn with(extra_slo: &str) -> Result<Spec, SloError> {
        let text = SPEC.replacen(
            "\n[[slo]]\n",
            &format!("\n[[slo]]\n{extra_slo}\n[[slo]]\n"),
            1,
        );
        Spec::parse("t.toml", &text)
    }

    #[test]
    fn the_committed_spec_reads() {
        let spec = Spec::parse("spec/slo.toml", SPEC).unwrap();
        let availability = &spec.slos[0];
        assert_eq!(availability.budget(), 0.001);
        assert_eq!(availability.alert_name(), "SrelabAvailabilityBudgetBurn");
        let factors: Vec<f64> = spec.alerts.iter().map(|a| a.factor(availability)).collect();
        assert_eq!(factors, [14.4, 6.0, 1.0], "the SRE workbook's burn rates");
        assert_eq!(spec.alerts[0].threshold(availability), 0.0144);
        let windows: Vec<String> = spec.windows().iter().map(|w| w.to_string()).collect();
        assert_eq!(windows, ["5m", "30m", "1h", "6h", "3d", "30d"]);
        assert_eq!(availability.route_matcher(), r#"route=~"/api/.+""#);
        assert_eq!(
            spec.slos[1].route_matcher(),
            r#"route=~"/api/items|/api/items/\\{id\\}""#
        );
    }

    #[test]
    fn mistakes_are_named() {
        let base = "name = \"x\"\nkind = \"latency\"\ndescription = \"d\"\nobjective = 0.99\nwindow = \"30d\"";
        for (extra, want) in [
            ("threshold = \"300ms\"", "not a bucket bound"),
            ("", "needs a threshold"),
            (
                "threshold = \"250ms\"\nroutes = [\"/api/nope\"]",
                "not an API route",
            ),
            ("threshold = \"250ms\"\nroutes = []", "routes is empty"),
            ("threshold = \"250ms\"\ncolour = 1", "unknown field"),
        ] {
            let err = with(&format!("{base}\n{extra}")).unwrap_err().to_string();
            assert!(err.contains(want), "{extra:?}: {err}");
        }
        let err = with("name = \"availability\"\nkind = \"availability\"\ndescription = \"d\"\nobjective = 0.9\nwindow = \"30d\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("declared twice"), "{err}");
        let err = with("name = \"y\"\nkind = \"availability\"\ndescription = \"d\"\nobjective = 1.0\nwindow = \"30d\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("objective must be between 0 and 1"), "{err}");
        let err = with("name = \"y\"\nkind = \"availability\"\ndescription = \"d\"\nobjective = 0.9\nwindow = \"1d\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than the SLO window"), "{err}");
    }
}
