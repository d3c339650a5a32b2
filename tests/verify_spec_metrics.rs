//! Every metric the verify spec names, and every service metric the
//! dashboards and alert rules name, is exported by a real `srelab serve`
//! after some requests, on each backend (the PostgreSQL pool's series only
//! there). A spec (or dashboard) naming a metric the service does not
//! export fails here, before any lab runs.

mod common;

use std::collections::BTreeSet;

use common::backend::{Backend, TestDb};
use srelab::verify::{Spec, assets, queries, spec::metric_names};

both_backends!(the_spec_dashboards_and_rules_name_only_exported_metrics);

/// Sample names of a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Metrics another process exports: the load tool, the PostgreSQL exporter,
/// HAProxy (tests/haproxy_lb.rs checks those against the real one).
fn is_other_component(name: &str) -> bool {
    name.starts_with("srelab_load_") || name.starts_with("pg_") || name.starts_with("haproxy_")
}

/// Metrics only the PostgreSQL backend exports.
fn is_postgres_only(name: &str) -> bool {
    name.starts_with("srelab_db_pool_")
}

fn psi() -> bool {
    std::path::Path::new("/proc/pressure").exists()
}

/// The sample names a real `srelab serve` on `db` exports after a few
/// requests of every kind, once its background gauges have been refreshed.
fn exported_by_serve(db: &TestDb) -> BTreeSet<String> {
    let serve = db.serve(&[]);
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

/// The metrics `spec` names that `have` lacks, except those `may_lack`.
fn unexported(
    spec: &Spec,
    have: &BTreeSet<String>,
    may_lack: impl Fn(&str) -> bool,
) -> Vec<String> {
    spec.metric_names()
        .into_iter()
        .filter(|m| !have.contains(m) && !may_lack(m))
        .collect()
}

fn the_spec_dashboards_and_rules_name_only_exported_metrics(backend: Backend) {
    let db = TestDb::new(backend);
    let have = exported_by_serve(&db);
    let may_lack =
        |m: &str| is_other_component(m) || (backend == Backend::Sqlite && is_postgres_only(m));
    let spec = Spec::embedded();
    let missing = unexported(&spec, &have, may_lack);
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
    // Every rule file (the SLO rules too); the series they record are
    // Prometheus', not the service's.
    let mut recorded = BTreeSet::new();
    for (_, text) in assets::RULE_FILES {
        for rule in queries::rule_exprs(text).expect("the embedded rules parse") {
            named.extend(metric_names(&rule.expr));
        }
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if let Some(r) = rule["record"].as_str() {
                    recorded.insert(r.to_owned());
                }
            }
        }
    }
    named.retain(|m| !recorded.contains(m));
    named.remove("up");
    let missing: Vec<_> = named
        .iter()
        .filter(|m| !may_lack(m) && !have.contains(*m))
        .filter(|m| *m != "srelab_host_pressure_stalled_seconds_total" || psi())
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
    let db = TestDb::new(Backend::Sqlite);
    assert_eq!(
        unexported(&spec, &exported_by_serve(&db), is_other_component),
        ["srelab_nobody_exports_this"]
    );
}
