//! Every metric the verify spec names, and every service metric the
//! dashboards and alert rules name, is exported by a real `srelab serve`
//! after some requests. A spec (or dashboard) naming a metric the service
//! does not export fails here, before any lab runs.

mod common;

use std::collections::BTreeSet;

use common::spawn_serve;
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

/// The sample names a real `srelab serve` exports after a few requests of
/// every kind, once its background gauges have been refreshed.
fn exported_by_serve() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let serve = spawn_serve(&dir.path().join("db.sqlite"), &[]);
    for i in 0..5 {
        let r = serve.post_json("/api/items", &format!(r#"{{"name":"n{i}","value":{i}}}"#));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    assert_eq!(serve.get("/api/items?limit=3").status, 200);
    assert_eq!(serve.get("/api/items/1").status, 200);
    assert_eq!(serve.get("/api/work?ms=2").status, 200);
    // Host gauges (and PSI, where the kernel has it) are refreshed in the
    // background: wait for them.
    let mut text = String::new();
    for _ in 0..100 {
        text = serve.metrics();
        let host = text.contains("srelab_host_cpu_utilization_ratio ");
        if host && (!psi() || text.contains("srelab_host_pressure_stalled_seconds_total{")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    exported(&text)
}

fn psi() -> bool {
    std::path::Path::new("/proc/pressure").exists()
}

/// The metrics `spec` names that `have` lacks.
fn unexported(spec: &Spec, have: &BTreeSet<String>) -> Vec<String> {
    spec.metric_names()
        .into_iter()
        .filter(|m| !have.contains(m))
        .collect()
}

#[test]
fn the_spec_dashboards_and_rules_name_only_exported_metrics() {
    let have = exported_by_serve();
    let spec = Spec::embedded();
    let missing = unexported(&spec, &have);
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
    for rule in queries::rule_exprs(assets::ALERT_RULES).expect("the embedded rules parse") {
        named.extend(metric_names(&rule.expr));
    }
    named.remove("up");
    let optional: BTreeSet<_> = spec.dashboards.optional_metrics.iter().cloned().collect();
    let missing: Vec<_> = named
        .iter()
        .filter(|m| !is_load_metric(m) && !have.contains(*m))
        .filter(|m| !optional.contains(*m) || psi())
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards or rules name metrics srelab serve does not export: {missing:?}"
    );
}

/// The check above against a spec that names one metric the service
/// exports and one it does not: it names exactly the missing one.
#[test]
fn a_metric_nobody_exports_is_caught() {
    let spec = Spec::parse(
        "[[signal]]\nname='x'\narea='t'\nquery='rate(srelab_nobody_exports_this{job=\"$job\"}[1m])'\nexpect='present'\n\
         [[signal]]\nname='y'\narea='t'\nquery='sum(http_requests_total{job=\"$job\"})'\nexpect='present'\n",
        "test",
    )
    .unwrap();
    assert_eq!(
        unexported(&spec, &exported_by_serve()),
        ["srelab_nobody_exports_this"]
    );
}
