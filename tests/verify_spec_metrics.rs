//! Every metric the verify spec names, and every service metric the
//! dashboards and alert rules name, is exported by a real `srelab serve`
//! after some requests. A spec (or dashboard) naming a metric the service
//! does not export fails here, before any lab runs.

mod lab_support;

use std::collections::BTreeSet;

use lab_support::{http, http_get, spawn_serve};
use srelab::verify::{Spec, assets, queries, spec::metric_names};

/// Sample names of a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Names of the load tool's metrics (exported by `srelab load`, not serve).
fn is_load_metric(name: &str) -> bool {
    name.starts_with("srelab_load_")
}

#[test]
fn the_spec_dashboards_and_rules_name_only_exported_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = spawn_serve(&dir.path().join("db.sqlite"), &[]);
    for i in 0..5 {
        let (status, body) = http(
            port,
            "POST",
            "/api/items",
            &format!(r#"{{"name":"n{i}","value":{i}}}"#),
        );
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(http_get(port, "/api/items?limit=3").0, 200);
    assert_eq!(http_get(port, "/api/items/1").0, 200);
    assert_eq!(http_get(port, "/api/work?ms=2").0, 200);
    // Host gauges are refreshed in the background: give them a moment.
    let mut text = String::new();
    for _ in 0..50 {
        text = http_get(port, "/metrics").1;
        if text.contains("srelab_host_cpu_utilization_ratio") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let have = exported(&text);

    let spec = Spec::embedded();
    let missing: Vec<_> = spec
        .metric_names()
        .into_iter()
        .filter(|m| !have.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "the spec names metrics srelab serve does not export: {missing:?}"
    );

    let mut named = BTreeSet::new();
    for (file, json) in assets::DASHBOARDS {
        for panel in queries::dashboard_panels(file, json, "srelab").unwrap() {
            named.extend(panel.exprs.iter().flat_map(|e| metric_names(e)));
        }
    }
    for rule in queries::rule_exprs(assets::ALERT_RULES) {
        named.extend(metric_names(&rule.expr));
    }
    named.remove("up");
    let optional: BTreeSet<_> = spec.dashboards.optional_metrics.iter().cloned().collect();
    let missing: Vec<_> = named
        .iter()
        .filter(|m| !is_load_metric(m) && !have.contains(*m))
        .filter(|m| !optional.contains(*m) || std::path::Path::new("/proc/pressure").exists())
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards or rules name metrics srelab serve does not export: {missing:?}"
    );
}

#[test]
fn a_metric_nobody_exports_is_caught() {
    let spec = Spec::parse(
        "[[signal]]\nname='x'\narea='t'\nquery='rate(srelab_nobody_exports_this{job=\"$job\"}[1m])'\nexpect='present'\n",
        "test",
    )
    .unwrap();
    assert_eq!(
        spec.metric_names().into_iter().collect::<Vec<_>>(),
        ["srelab_nobody_exports_this"]
    );
}
