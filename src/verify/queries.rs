//! The PromQL expressions of the dashboards and alert rules, extracted so
//! verify can run every one of them against Prometheus.
//!
//! Dashboard variables are replaced the way Grafana would with "All"
//! selected (`$instance` → its `allValue`), `$job` by verify's job and the
//! interval macros by a one-minute window.

use serde_json::Value;

/// Why a dashboard could not be read.
#[derive(Debug, thiserror::Error)]
#[error("dashboard {file}: {detail}")]
pub struct DashboardError {
    pub file: String,
    pub detail: String,
}

/// The queries of one dashboard panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub dashboard: String,
    pub title: String,
    /// The panel's datasource uid (`prometheus`, or `loki` for a logs panel).
    pub datasource: String,
    /// The targets' expressions with every variable replaced.
    pub exprs: Vec<String>,
}

/// One alerting or recording rule's expression.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleExpr {
    pub name: String,
    pub expr: String,
}

/// Window replacing Grafana's interval macros.
const WINDOW: &str = "1m";

/// Every panel with queries in a dashboard JSON document (rows included).
pub fn dashboard_panels(file: &str, json: &str, job: &str) -> Result<Vec<Panel>, DashboardError> {
    let err = |detail: String| DashboardError {
        file: file.to_owned(),
        detail,
    };
    let doc: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let vars = variables(&doc, job);
    let mut panels = Vec::new();
    let mut stack: Vec<&Value> = doc["panels"]
        .as_array()
        .ok_or_else(|| err("no panels".into()))?
        .iter()
        .rev()
        .collect();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner.iter().rev());
        }
        let exprs: Vec<String> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str())
            .map(|e| substitute(e, &vars))
            .collect();
        if !exprs.is_empty() {
            let title = p["title"].as_str().unwrap_or("(untitled)").to_owned();
            let datasource = p["datasource"]["uid"].as_str().unwrap_or("prometheus");
            panels.push(Panel {
                dashboard: file.to_owned(),
                title,
                datasource: datasource.to_owned(),
                exprs,
            });
        }
    }
    Ok(panels)
}

/// The replacement of each dashboard variable, longest name first.
fn variables(doc: &Value, job: &str) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![
        ("__rate_interval".into(), WINDOW.into()),
        ("__interval".into(), WINDOW.into()),
        ("__range".into(), WINDOW.into()),
    ];
    for v in doc["templating"]["list"].as_array().into_iter().flatten() {
        let Some(name) = v["name"].as_str() else {
            continue;
        };
        let value = if name == "job" {
            job.to_owned()
        } else if let Some(all) = v["allValue"].as_str() {
            all.to_owned()
        } else {
            v["current"]["value"].as_str().unwrap_or(".+").to_owned()
        };
        vars.push((name.to_owned(), value));
    }
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    vars
}

fn substitute(expr: &str, vars: &[(String, String)]) -> String {
    let mut out = expr.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// Why a rules file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid rules file: {0}")]
pub struct RulesError(#[from] serde_yaml_ng::Error);

/// A Prometheus rules file, as far as verify reads it.
#[derive(serde::Deserialize)]
struct RulesFile {
    groups: Vec<RuleGroup>,
}

#[derive(serde::Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(serde::Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
}

/// The expression of every alerting and recording rule in a Prometheus
/// rules file, in file order. A key given twice in a mapping is refused, as
/// Prometheus refuses it (read straight into the structs, the second
/// `rules:` of a group would be taken silently).
pub fn rule_exprs(yaml: &str) -> Result<Vec<RuleExpr>, RulesError> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml)?;
    let file: RulesFile = serde_yaml_ng::from_value(doc)?;
    Ok(file
        .groups
        .into_iter()
        .flat_map(|g| g.rules)
        .map(|r| RuleExpr {
            name: r.alert.or(r.record).unwrap_or_default(),
            expr: r.expr,
        })
        .collect())
}

/// The values of `job="…"` matchers in an expression.
pub fn jobs(expr: &str) -> Vec<String> {
    expr.match_indices("job=\"")
        .filter_map(|(i, m)| {
            let rest = &expr[i + m.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_with_variables_replaced() {
        let json = r#"{"templating":{"list":[
            {"name":"job","current":{"value":"x"}},
            {"name":"instance","allValue":".+"},
            {"name":"inst","current":{"value":"i"}}]},
          "panels":[{"type":"row","title":"r","panels":[
            {"title":"a","targets":[{"expr":"rate(m{job=\"$job\",instance=~\"$instance\",i=\"${inst}\"}[$__rate_interval])"}]}]},
            {"title":"b","targets":[{"expr":"up"}]}]}"#;
        let panels = dashboard_panels("d.json", json, "srelab").unwrap();
        assert_eq!(panels.len(), 2);
        assert_eq!(panels[0].title, "a");
        assert_eq!(
            panels[0].exprs[0],
            r#"rate(m{job="srelab",instance=~".+",i="i"}[1m])"#
        );
    }

    #[test]
    fn rule_expressions() {
        let yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  \
                    - record: r:x\n    expr: 'sum(x{a=''b''})'\n- name: h\n  rules:\n  - alert: B\n    \
                    expr: |\n      sum(rate(x[1m]))\n        > 1\n";
        let rules = rule_exprs(yaml).unwrap();
        assert_eq!(
            rules[0],
            RuleExpr {
                name: "A".into(),
                expr: "up == 0".into()
            }
        );
        assert_eq!(rules[1].name, "r:x");
        assert_eq!(rules[1].expr, "sum(x{a='b'})");
        assert_eq!(rules[2].expr, "sum(rate(x[1m]))\n  > 1\n", "a block scalar");
        for bad in [
            "groups: [",
            "rules: []",
            "groups:\n- rules:\n  - alert: A\n",
            "groups:\n- rules:\n  - alert: A\n    expr: up\n  rules:\n  - alert: B\n    expr: up\n",
        ] {
            let err = rule_exprs(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid rules file: "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn job_matchers() {
        assert_eq!(jobs(r#"a{job="x"} / b{job="y",i="z"}"#), ["x", "y"]);
    }
}
