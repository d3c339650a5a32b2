//! Absolute SLO gates for CI: error ratio and p99, overall or per route,
//! and (`--fail-untrustworthy`) the tool's own verdict on its run.
//!
//! Gates judge the steady phase over all targets; a breach exits 1 with one
//! line naming the gate. Every run has an error-ratio gate: without
//! `--max-error-ratio`, [`DEFAULT_MAX_ERROR_RATIO`], so a run whose answers
//! are wrong does not exit 0.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

use super::{mix::Kind, text::ms};

/// The error-ratio limit of a run without `--max-error-ratio` (the lab's
/// error-ratio alert fires at the same 1%).
pub const DEFAULT_MAX_ERROR_RATIO: f64 = 0.01;

/// What a p99 gate judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every request.
    All,
    /// The requests of a route template, all methods (e.g. `/api/items`).
    Route(String),
    /// The requests of one kind (e.g. `create`).
    Kind(Kind),
}

impl Scope {
    /// Whether requests of `kind` fall under this gate.
    pub fn covers(&self, kind: Kind) -> bool {
        match self {
            Scope::All => true,
            Scope::Route(r) => kind.route() == r,
            Scope::Kind(k) => *k == kind,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all requests"),
            Scope::Route(r) => f.write_str(r),
            Scope::Kind(k) => write!(f, "{k} ({} {})", k.method(), k.route()),
        }
    }
}

/// `--max-p99 [SCOPE=]DURATION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P99Gate {
    pub scope: Scope,
    pub limit: Duration,
}

impl FromStr for P99Gate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scope, limit) = match s.rsplit_once('=') {
            None => (Scope::All, s),
            Some((scope, limit)) => (parse_scope(scope)?, limit),
        };
        let limit = humantime::parse_duration(limit)
            .map_err(|e| format!("`{limit}` is not a duration: {e}"))?;
        Ok(P99Gate { scope, limit })
    }
}

/// A route template or a request kind, as gates and SLOs name them.
pub fn parse_scope(s: &str) -> Result<Scope, String> {
    if let Some(kind) = Kind::from_name(s) {
        return Ok(Scope::Kind(kind));
    }
    if Kind::ALL.iter().any(|k| k.route() == s) {
        return Ok(Scope::Route(s.to_string()));
    }
    let mut routes: Vec<_> = Kind::ALL.iter().map(|k| k.route()).collect();
    routes.dedup();
    Err(format!(
        "unknown route or kind `{s}` (routes: {})",
        routes.join(", ")
    ))
}

/// One gate's verdict, as the report lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub limit: f64,
    /// `None` when nothing was measured (which fails the gate).
    pub value: Option<f64>,
    pub passed: bool,
    /// Whether no flag asked for this gate (the default error-ratio gate).
    #[serde(default)]
    pub default: bool,
}

impl GateResult {
    /// The one line for this gate: passed or breached, with the value.
    pub fn line(&self) -> String {
        let (verdict, op) = if self.passed {
            ("passed", "<=")
        } else {
            ("breached", ">")
        };
        let measured = match self.value {
            Some(v) if self.gate.starts_with("max-p99") => {
                format!("p99 {} {op} {}", ms(v), ms(self.limit))
            }
            Some(_) if self.gate == TRUSTWORTHY => {
                if self.passed {
                    "the tool kept up".to_owned()
                } else {
                    "the tool could not keep up (see the warnings)".to_owned()
                }
            }
            Some(v) => format!("{v:.4} {op} {}", self.limit),
            None => "no steady-state requests to judge".to_owned(),
        };
        let default = if self.default && !self.passed {
            " (the default gate: --max-error-ratio sets another limit, 1 accepts any answer)"
        } else {
            ""
        };
        format!("gate {} {verdict}: {measured}{default}", self.gate)
    }
}

/// Judges the p99 gate given the p99 of its scope, if any request fell in it.
pub fn p99(gate: &P99Gate, p99: Option<Duration>) -> GateResult {
    let name = match &gate.scope {
        Scope::All => "max-p99".to_string(),
        scope => format!("max-p99 {scope}"),
    };
    let limit = gate.limit.as_secs_f64();
    let value = p99.map(|d| d.as_secs_f64());
    GateResult {
        gate: name,
        limit,
        value,
        passed: value.is_some_and(|v| v <= limit),
        default: false,
    }
}

/// The name of the `--fail-untrustworthy` gate.
pub const TRUSTWORTHY: &str = "trustworthy";

/// Judges `--fail-untrustworthy`: 1 when the run was trustworthy, 0 when not.
pub fn trustworthy(trustworthy: bool) -> GateResult {
    GateResult {
        gate: TRUSTWORTHY.into(),
        limit: 1.0,
        value: Some(if trustworthy { 1.0 } else { 0.0 }),
        passed: trustworthy,
        default: false,
    }
}

/// Judges the error-ratio gate; `max` is `None` for the default gate.
pub fn error_ratio(max: Option<f64>, errors: u64, requests: u64) -> GateResult {
    let limit = max.unwrap_or(DEFAULT_MAX_ERROR_RATIO);
    let value = (requests > 0).then(|| errors as f64 / requests as f64);
    GateResult {
        gate: "max-error-ratio".into(),
        limit,
        value,
        passed: value.is_some_and(|v| v <= limit),
        default: max.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scopes() {
        let g: P99Gate = "50ms".parse().unwrap();
        assert_eq!(g.scope, Scope::All);
        let g: P99Gate = "/api/items=20ms".parse().unwrap();
        assert_eq!(g.scope, Scope::Route("/api/items".into()));
        assert!(g.scope.covers(Kind::Create) && !g.scope.covers(Kind::Get));
        let g: P99Gate = "get=1s".parse().unwrap();
        assert_eq!(g.scope, Scope::Kind(Kind::Get));
        assert!("/nope=1s".parse::<P99Gate>().is_err());
        assert!("fast".parse::<P99Gate>().is_err());
    }

    #[test]
    fn judges() {
        let g: P99Gate = "/api/items=20ms".parse().unwrap();
        let r = p99(&g, Some(Duration::from_millis(30)));
        assert!(!r.passed);
        assert_eq!(
            r.line(),
            "gate max-p99 /api/items breached: p99 30.00ms > 20.00ms"
        );
        let fast = p99(&g, Some(Duration::from_millis(10)));
        assert!(fast.passed);
        assert_eq!(
            fast.line(),
            "gate max-p99 /api/items passed: p99 10.00ms <= 20.00ms"
        );
        assert!(!p99(&g, None).passed);
        assert!(error_ratio(Some(0.01), 1, 1000).passed);
        assert!(!error_ratio(Some(0.01), 2, 100).passed);
        assert_eq!(
            trustworthy(true).line(),
            "gate trustworthy passed: the tool kept up"
        );
        assert_eq!(
            trustworthy(false).line(),
            "gate trustworthy breached: the tool could not keep up (see the warnings)"
        );
    }

    #[test]
    fn wrong_answers_fail_the_default_gate() {
        let all_wrong = error_ratio(None, 1492, 1492);
        assert!(!all_wrong.passed && all_wrong.default);
        assert_eq!(
            all_wrong.line(),
            "gate max-error-ratio breached: 1.0000 > 0.01 (the default gate: \
             --max-error-ratio sets another limit, 1 accepts any answer)"
        );
        assert!(error_ratio(None, 0, 10).passed);
        assert!(
            error_ratio(Some(1.0), 1492, 1492).passed,
            "1 accepts any answer"
        );
    }
}
