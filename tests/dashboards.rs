//! The committed dashboards: normalised JSON, stable uid, no id or version,
//! the provisioned datasources (Prometheus everywhere but the logs panel,
//! which reads Loki), a unit on every graph, the `instance` variable, the
//! logs panel filtered by it and the latency panel's link to it; and the
//! provisioning files use the shared names.

use std::path::Path;

use serde_json::Value;
use srelab::lab::defaults::{DASHBOARD_UID, DATASOURCE_UID, LOKI_DATASOURCE_UID};
use srelab::verify::assets;

fn dashboard() -> (String, Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/srelab-overview.json");
    let text = std::fs::read_to_string(path).unwrap();
    let doc = serde_json::from_str(&text).unwrap();
    (text, doc)
}

/// Every panel, rows' nested panels included.
fn panels(doc: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = doc["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = stack.pop() {
        stack.extend(p["panels"].as_array().into_iter().flatten());
        out.push(p);
    }
    out
}

#[test]
fn is_normalised_and_embedded() {
    let (text, doc) = dashboard();
    let normal = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    assert!(
        text == normal,
        "regenerate: jq --sort-keys --indent 2 . <file>"
    );
    assert_eq!(assets::DASHBOARDS[0].1, text, "the binary embeds this file");
}

#[test]
fn stable_identity() {
    let (_, doc) = dashboard();
    assert_eq!(doc["uid"], DASHBOARD_UID);
    assert!(doc["id"].is_null(), "id must be null");
    assert!(
        doc.get("version").is_none(),
        "no version in committed dashboards"
    );
}

/// Every datasource reference anywhere in the document.
fn datasources(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "datasource" {
                    out.push(v.clone());
                } else {
                    datasources(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| datasources(v, out)),
        _ => {}
    }
}

#[test]
fn the_provisioned_datasource_everywhere() {
    let (_, doc) = dashboard();
    let mut refs = Vec::new();
    let mut logs = Vec::new();
    for p in panels(&doc) {
        if p["type"] == "logs" {
            datasources(p, &mut logs);
        }
    }
    datasources(&doc, &mut refs);
    assert!(refs.len() > 10);
    assert!(!logs.is_empty(), "the logs panel names its datasource");
    for r in &logs {
        assert_eq!(r["uid"], LOKI_DATASOURCE_UID, "logs panel datasource {r}");
        assert_eq!(r["type"], "loki", "logs panel datasource {r}");
    }
    let prometheus = refs.len() - logs.len();
    let found = refs
        .iter()
        .filter(|r| r["uid"] == DATASOURCE_UID && r["type"] == "prometheus");
    assert_eq!(
        found.count(),
        prometheus,
        "every other reference is Prometheus: {refs:?}"
    );
}

/// The one logs panel.
fn logs_panel(doc: &Value) -> &Value {
    let logs: Vec<_> = panels(doc)
        .into_iter()
        .filter(|p| p["type"] == "logs")
        .collect();
    assert_eq!(logs.len(), 1, "one logs panel");
    logs[0]
}

#[test]
fn the_logs_panel_shows_the_access_log_of_the_chosen_instances() {
    let (_, doc) = dashboard();
    let p = logs_panel(&doc);
    let targets = p["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    let expr = targets[0]["expr"].as_str().unwrap();
    assert!(
        expr.starts_with(r#"{job="$job", instance=~"$instance"}"#),
        "filtered by the job and instance variables: {expr}"
    );
    assert!(
        expr.contains(r#"| json | target="srelab::access""#),
        "{expr}"
    );
    assert_eq!(targets[0]["datasource"]["uid"], LOKI_DATASOURCE_UID);
}

#[test]
fn the_latency_panel_links_to_the_logs_of_its_time_range() {
    let (_, doc) = dashboard();
    let logs_id = logs_panel(&doc)["id"].as_i64().unwrap();
    let all = panels(&doc);
    let latency = all
        .iter()
        .find(|p| {
            p["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Latency: $route"))
        })
        .expect("the RED row's latency panel");
    let links = latency["fieldConfig"]["defaults"]["links"]
        .as_array()
        .unwrap();
    let url = links[0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("/d/{DASHBOARD_UID}/")),
        "to this dashboard: {url}"
    );
    assert!(
        url.contains(&format!("viewPanel={logs_id}&")),
        "to the logs panel: {url}"
    );
    assert!(
        url.contains("${__url_time_range}"),
        "the time range goes along: {url}"
    );
    assert!(
        url.contains("${__all_variables}"),
        "the instance goes along: {url}"
    );
}

#[test]
fn every_panel_has_a_unit_and_queries() {
    let (_, doc) = dashboard();
    let graphs: Vec<_> = panels(&doc)
        .into_iter()
        .filter(|p| p["type"] != "row" && p["type"] != "logs")
        .collect();
    assert!(graphs.len() >= 12);
    for p in graphs {
        let title = p["title"].as_str().unwrap();
        let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
        assert!(!unit.is_empty(), "panel {title:?} has no unit");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title:?}"
            );
        }
    }
}

#[test]
fn instance_variable_and_rows() {
    let (_, doc) = dashboard();
    let vars: Vec<&str> = doc["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        vars.contains(&"instance") && vars.contains(&"job"),
        "{vars:?}"
    );
    let rows: Vec<_> = panels(&doc)
        .into_iter()
        .filter(|p| p["type"] == "row")
        .collect();
    assert!(
        rows.iter().any(|r| r["repeat"] == "route"),
        "a RED row per route"
    );
    assert!(
        rows.iter().any(|r| r["repeat"] == "instance"),
        "a USE row per instance"
    );
    let text = doc.to_string();
    assert!(text.contains("srelab_load_request_duration_seconds_bucket"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[test]
fn panel_ids_are_unique() {
    let (_, doc) = dashboard();
    let mut ids: Vec<i64> = panels(&doc)
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn provisioning_uses_the_shared_names() {
    let loki = assets::GRAFANA_LOKI_DATASOURCE;
    assert!(loki.contains("apiVersion: 1"));
    assert!(loki.contains(&format!("uid: {LOKI_DATASOURCE_UID}\n")));
    assert!(loki.contains("type: loki\n"));
    assert!(loki.contains("url: $SRELAB_LOKI_URL\n"));
    let ds = assets::GRAFANA_DATASOURCE;
    assert!(ds.contains("apiVersion: 1"));
    assert!(ds.contains(&format!("uid: {DATASOURCE_UID}\n")));
    assert!(ds.contains("name: Prometheus\n"));
    assert!(ds.contains("url: $SRELAB_PROMETHEUS_URL\n"));
    let dash = assets::GRAFANA_DASHBOARD_PROVIDER;
    assert!(dash.contains("apiVersion: 1"));
    assert!(dash.contains("path: $SRELAB_DASHBOARDS_DIR\n"));
}

#[test]
fn verify_extracts_every_panel() {
    let (text, doc) = dashboard();
    let graphs = panels(&doc)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .count();
    let extracted = srelab::verify::queries::dashboard_panels("d", &text, "srelab").unwrap();
    assert_eq!(extracted.len(), graphs);
    for p in extracted {
        for e in p.exprs {
            assert!(!e.contains('$'), "unreplaced variable in {e}");
        }
    }
}
