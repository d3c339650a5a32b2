//! Verify's reading of rules files and dashboards (`verify::queries`)
//! against arbitrary text.
//!
//! Properties: a rules file is refused with one line starting `invalid
//! rules file: `, or read as exactly the rules a generic YAML reading
//! finds, in file order, each with its `alert` (else `record`) name and its
//! `expr` unchanged; every job `jobs` finds in an expression is written in
//! it as `job="…"`; a dashboard is refused with a message naming its file,
//! or read with no use (`$name`, `${name}`) of an interval macro or of one
//! of its variables left in any expression (when no replacement can form a
//! new use).

use serde_yaml_ng::Value;

use crate::verify::queries::{dashboard_panels, jobs, rule_exprs};

/// The target's body.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    rules(text);
    for expr in text.lines() {
        for job in jobs(expr) {
            assert!(!job.contains('"'), "{job:?}");
            assert!(
                expr.contains(&format!("job=\"{job}\"")),
                "{job:?} in {expr:?}"
            );
        }
    }
    dashboard(text);
}

fn rules(text: &str) {
    match rule_exprs(text) {
        Ok(read) => {
            let doc = untag(serde_yaml_ng::from_str(text).expect("a rules file that is not YAML"));
            let generic: Vec<&Value> = list(&doc["groups"])
                .iter()
                .flat_map(|g| list(&g["rules"]))
                .collect();
            assert_eq!(read.len(), generic.len());
            for (rule, value) in read.iter().zip(generic) {
                let name = value["alert"]
                    .as_str()
                    .or(value["record"].as_str())
                    .unwrap_or("");
                assert_eq!(rule.name, name);
                assert_eq!(Some(rule.expr.as_str()), value["expr"].as_str());
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.starts_with("invalid rules file: "), "{message}");
        }
    }
}

/// A YAML list; null (`rules:` with nothing after it) is an empty one, as
/// Prometheus reads it.
fn list(value: &Value) -> &[Value] {
    match value {
        Value::Null => &[],
        other => other.as_sequence().expect("not a list"),
    }
}

/// `value` without its tags (`!x …`), which the typed reading looks through.
fn untag(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => untag(tagged.value),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(untag).collect()),
        Value::Mapping(map) => {
            Value::Mapping(map.into_iter().map(|(k, v)| (untag(k), untag(v))).collect())
        }
        other => other,
    }
}

fn dashboard(text: &str) {
    match dashboard_panels("fuzz.json", text, "srelab") {
        Ok(panels) => {
            let doc: serde_json::Value =
                serde_json::from_str(text).expect("a dashboard that is not JSON");
            let names = replaced_names(&doc);
            for panel in panels {
                assert_eq!(panel.dashboard, "fuzz.json");
                for expr in &panel.exprs {
                    for name in &names {
                        assert!(
                            !expr.contains(&format!("${name}"))
                                && !expr.contains(&format!("${{{name}}}")),
                            "${name} left in {expr:?}"
                        );
                    }
                }
            }
        }
        Err(err) => assert!(
            err.to_string().starts_with("dashboard fuzz.json: "),
            "{err}"
        ),
    }
}

/// The variables whose every use must be replaced: the interval macros and
/// the dashboard's own variables. None when a replacement could form a new
/// use (a `$` in a value, or `$$`/`${$` before a use).
fn replaced_names(doc: &serde_json::Value) -> Vec<String> {
    let all = doc.to_string();
    if all.contains("$$") || all.contains("${$") {
        return Vec::new();
    }
    let list: Vec<&serde_json::Value> = doc["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let values = list
        .iter()
        .flat_map(|v| [&v["allValue"], &v["current"]["value"], &v["name"]]);
    if values.filter_map(|v| v.as_str()).any(|v| v.contains('$')) {
        return Vec::new();
    }
    let mut names: Vec<String> = ["__rate_interval", "__interval", "__range"]
        .map(String::from)
        .to_vec();
    names.extend(
        list.iter()
            .filter_map(|v| v["name"].as_str())
            .map(String::from),
    );
    names
}
