//! The error-budget dashboard (`grafana/dashboards/srelab-slo.json`): per
//! SLO a row with the budget left over its window, the SLI over the window,
//! and the burn rate over the alerts' windows with their thresholds drawn.
//! Its queries read the recording rules of `prometheus/slo.yml`.

use serde_json::{Value, json};

use super::duration::PromDuration;
use super::rules::{num, ratio_record};
use super::spec::{Slo, Spec};
use crate::lab::defaults::DATASOURCE_UID;

/// The dashboard's uid (stable: links and the tests use it).
pub const UID: &str = "srelab-slo";

/// The dashboard's file name under `grafana/dashboards/`.
pub const FILE: &str = "srelab-slo.json";

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": DATASOURCE_UID})
}

fn target(expr: String, legend: &str, ref_id: &str) -> Value {
    json!({
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "range": true,
        "refId": ref_id,
    })
}

fn ratio(window: PromDuration, slo: &Slo) -> String {
    format!(
        "{}{{job=\"$job\",slo=\"{}\"}}",
        ratio_record(window),
        slo.name
    )
}

/// The panels of one SLO, from `y` down; `id` is the next panel id.
fn slo_panels(spec: &Spec, slo: &Slo, y: u64, id: &mut u64) -> Vec<Value> {
    let mut next = || {
        *id += 1;
        *id
    };
    let budget = num(slo.budget());
    let window = slo.window;
    let row = json!({
        "collapsed": false,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "id": next(),
        "panels": [],
        "title": format!("SLO {}: {} ({}% over {window})", slo.name, slo.description, num(slo.objective * 100.0)),
        "type": "row",
    });
    let remaining = json!({
        "datasource": datasource(),
        "description": format!(
            "The share of the {window} error budget ({budget} of the requests) not spent yet: 1 - error ratio over {window} / budget. Below 0: the SLO is missed."
        ),
        "fieldConfig": {"defaults": {
            "decimals": 1,
            "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": null},
                {"color": "orange", "value": 0},
                {"color": "green", "value": 0.25},
            ]},
            "unit": "percentunit",
        }, "overrides": []},
        "gridPos": {"h": 8, "w": 6, "x": 0, "y": y + 1},
        "id": next(),
        "options": {"colorMode": "background", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"]}},
        "targets": [target(format!("1 - {} / {budget}", ratio(window, slo)), "budget left", "A")],
        "title": format!("Error budget left ({window})"),
        "type": "stat",
    });
    let sli = json!({
        "datasource": datasource(),
        "description": format!("Good requests over valid ones in the last {window}; the objective is {}.", num(slo.objective)),
        "fieldConfig": {"defaults": {
            "decimals": 3,
            "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": null},
                {"color": "green", "value": slo.objective},
            ]},
            "unit": "percentunit",
        }, "overrides": []},
        "gridPos": {"h": 8, "w": 6, "x": 6, "y": y + 1},
        "id": next(),
        "options": {"colorMode": "value", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"]}},
        "targets": [target(format!("1 - {}", ratio(window, slo)), "SLI", "A")],
        "title": format!("SLI ({window})"),
        "type": "stat",
    });
    let mut longs: Vec<PromDuration> = spec.alerts.iter().map(|a| a.long).collect();
    longs.extend(spec.alerts.iter().map(|a| a.short));
    longs.sort();
    longs.dedup();
    let refs = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let targets: Vec<Value> = longs
        .iter()
        .zip(refs)
        .map(|(w, r)| target(format!("{} / {budget}", ratio(*w, slo)), &w.to_string(), r))
        .collect();
    let mut steps = vec![json!({"color": "green", "value": null})];
    let colours = ["yellow", "orange", "red"];
    let mut factors: Vec<f64> = spec.alerts.iter().map(|a| a.factor(slo)).collect();
    factors.sort_by(f64::total_cmp);
    factors.dedup();
    for (i, f) in factors.iter().enumerate() {
        steps.push(json!({"color": colours[i.min(2)], "value": f}));
    }
    let burn = json!({
        "datasource": datasource(),
        "description": "How fast the error budget burns: error ratio / budget (1 spends exactly the budget over the SLO window). The lines are the alerts' burn rates; an alert fires when both of its windows are above its line.",
        "fieldConfig": {"defaults": {
            "custom": {"fillOpacity": 0, "lineWidth": 1, "thresholdsStyle": {"mode": "line"}},
            "thresholds": {"mode": "absolute", "steps": steps},
            "unit": "none",
        }, "overrides": []},
        "gridPos": {"h": 8, "w": 12, "x": 12, "y": y + 1},
        "id": next(),
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "title": "Burn rate by window",
        "type": "timeseries",
    });
    vec![row, remaining, sli, burn]
}

/// The dashboard document.
pub fn dashboard(spec: &Spec) -> Value {
    let mut panels = Vec::new();
    let mut id = 0;
    for (i, slo) in spec.slos.iter().enumerate() {
        panels.extend(slo_panels(spec, slo, i as u64 * 9, &mut id));
    }
    json!({
        "annotations": {"list": []},
        "description": "srelab's SLOs: error budget left, SLI and burn rates. Generated by `srelab slo generate` from spec/slo.toml; edit that file, not this one or the UI.",
        "editable": false,
        "graphTooltip": 1,
        "id": null,
        "links": [],
        "panels": panels,
        "refresh": "10s",
        "schemaVersion": 39,
        "tags": ["srelab", "slo"],
        "templating": {"list": [{
            "current": {"selected": true, "text": spec.job, "value": spec.job},
            "hide": 0,
            "label": "job",
            "name": "job",
            "options": [{"selected": true, "text": spec.job, "value": spec.job}],
            "query": spec.job,
            "type": "custom",
        }]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "srelab SLOs",
        "uid": UID,
    })
}

/// The dashboard as committed: pretty JSON with sorted keys and a newline.
pub fn dashboard_json(spec: &Spec) -> String {
    // serde_json's map is sorted (no preserve_order feature).
    serde_json::to_string_pretty(&dashboard(spec)).unwrap_or_default() + "\n"
}
