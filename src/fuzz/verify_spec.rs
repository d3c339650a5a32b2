//! The verify spec against arbitrary text.
//!
//! Properties: a refused spec's error is one line naming the origin; an
//! accepted spec has signals with unique names and non-empty queries; the
//! metric-name extraction of PromQL (ours, hand-written) only returns
//! identifiers that appear in the query right before a `{`.

use std::collections::BTreeSet;

use crate::verify::spec::{Spec, metric_names};

/// The target's body.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    names_are_selectors(text);
    match Spec::parse(text, "fuzz") {
        Ok(spec) => {
            assert!(!spec.signals.is_empty());
            let unique: BTreeSet<&str> = spec.signals.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(unique.len(), spec.signals.len());
            for signal in &spec.signals {
                assert!(!signal.query.trim().is_empty());
                names_are_selectors(&signal.query);
                for value in [0.0, 1.0, -1.5, f64::NAN, f64::INFINITY, 1e300] {
                    signal.expect.accepts(value);
                    assert!(!signal.unit.format(value).is_empty());
                }
            }
            spec.metric_names();
        }
        Err(err) => {
            let line = err.to_string();
            assert_eq!(line.lines().count(), 1, "not one line: {line:?}");
            assert!(line.contains("fuzz"), "{line}");
        }
    }
}

fn names_are_selectors(expr: &str) {
    for name in metric_names(expr) {
        assert!(!name.is_empty());
        assert!(
            expr.contains(&format!("{name}{{")),
            "{name:?} is not a selector in {expr:?}"
        );
    }
}
