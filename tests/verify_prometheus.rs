//! `srelab verify` against a real Prometheus (scraping itself, so the
//! process metrics exist): it passes when every signal exists, names each
//! missing signal with exit 1, fails on a dashboard query that errors or
//! returns no data, and reports as a table or JSON.

mod common;
mod lab_support;

use std::path::Path;
use std::process::Command;

use lab_support::{Prometheus, srelab};

const JOB: &str = "selfscrape";

const SPEC: &str = r#"
[[signal]]
name = "up"
area = "availability"
query = 'up{job="$job"}'
expect = "one"

[[signal]]
name = "process_cpu"
area = "utilisation"
query = 'rate(process_cpu_seconds_total{job="$job"}[1m])'
expect = "positive"

[[signal]]
name = "process_memory"
area = "utilisation"
query = 'process_resident_memory_bytes{job="$job"}'
expect = "positive"
"#;

const MISSING: &str = r#"
[[signal]]
name = "nobody_exports_this"
area = "test"
query = 'srelab_nobody_exports_this{job="$job"}'
expect = "present"
"#;

fn dashboard(exprs: &[&str]) -> String {
    let targets: Vec<_> = exprs
        .iter()
        .map(|e| serde_json::json!({"expr": e, "refId": "A"}))
        .collect();
    serde_json::json!({
        "uid": "t", "panels": [{"title": "panel", "type": "timeseries", "targets": targets}],
        "templating": {"list": [{"name": "job", "current": {"value": "x"}}]}
    })
    .to_string()
}

/// Runs verify with the given spec and dashboard exprs; returns (code, stdout, stderr).
fn verify(prom: &str, spec: &str, exprs: &[&str], extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let dashboards = dir.path().join("dashboards");
    std::fs::create_dir(&dashboards).unwrap();
    std::fs::write(dashboards.join("d.json"), dashboard(exprs)).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        // A multi-line expression, as rules files often have them.
        "groups:\n  - name: t\n    rules:\n      - alert: T\n        expr: |\n          \
         up{job=\"selfscrape\"}\n            == 0\n",
    )
    .unwrap();
    run(srelab()
        .args(["verify", "--prometheus", prom, "--job", JOB, "--spec"])
        .arg(&spec_path)
        .arg("--dashboards")
        .arg(&dashboards)
        .arg("--rules")
        .arg(&rules)
        .args(extra))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn passes_when_every_signal_exists_and_fails_naming_a_missing_one() {
    let prom = Prometheus::start(JOB);
    let panel = r#"prometheus_build_info{job="$job"}"#;
    let (code, out, err) = verify(&prom.url, SPEC, &[panel], &["--timeout", "30s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("process_cpu") && out.contains("verdict: every signal present"),
        "{out}"
    );
    assert!(out.contains("127.0.0.1:"), "a column per instance: {out}");

    let spec = format!("{SPEC}{MISSING}");
    let (code, out, err) = verify(&prom.url, &spec, &[panel], &["--timeout", "3s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("missing signal nobody_exports_this on 127.0.0.1:"),
        "{err}"
    );
    assert!(out.contains("MISSING"), "{out}");
    assert!(
        !err.contains("missing signal up"),
        "only the missing one is named: {err}"
    );
}

#[test]
fn dashboard_queries_must_run_and_return_data() {
    let prom = Prometheus::start(JOB);
    let broken = "sum(rate(up{job=\"$job\"}[1m]";
    let started = std::time::Instant::now();
    let (code, out, err) = verify(&prom.url, SPEC, &[broken], &["--timeout", "120s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("d.json panel \"panel\": query failed: bad_data"),
        "{err}"
    );
    // Prometheus rejected it: asking again cannot help, so verify does not
    // wait out its timeout.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a rejected query was retried until the timeout"
    );

    let empty = r#"srelab_nobody_exports_this{job="$job"}"#;
    let (code, out, err) = verify(&prom.url, SPEC, &[empty], &["--timeout", "3s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("d.json panel \"panel\": returned no data"),
        "{err}"
    );

    // A panel whose metrics the spec marks optional may have no data.
    let optional =
        format!("{SPEC}\n[dashboards]\noptional_metrics = ['srelab_nobody_exports_this']\n");
    let (code, out, err) = verify(&prom.url, &optional, &[empty], &["--timeout", "20s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("skipped (no data; the spec marks its metrics optional): d.json panel"),
        "{out}"
    );

    // A panel of a job Prometheus does not scrape is skipped, not failed.
    let other_job = r#"srelab_load_requests_total{job="srelab-load"}"#;
    let (code, out, err) = verify(&prom.url, SPEC, &[other_job], &["--timeout", "20s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("skipped (no data: job srelab-load is not scraped): d.json panel"),
        "{out}"
    );
}

/// Every alert rule's expression must run: one Prometheus rejects fails
/// verify, naming the rule.
#[test]
fn a_rule_whose_query_fails_is_named() {
    let prom = Prometheus::start(JOB);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    std::fs::create_dir(dir.path().join("no-dashboards")).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: Fine\n        expr: up == 0\n\
         \x20     - alert: Broken\n        expr: sum(rate(up[1m]\n",
    )
    .unwrap();
    let (code, out, err) = run(srelab()
        .args([
            "verify",
            "--prometheus",
            &prom.url,
            "--job",
            JOB,
            "--timeout",
            "20s",
        ])
        .arg("--spec")
        .arg(&spec)
        .arg("--rules")
        .arg(&rules)
        .arg("--dashboards")
        .arg(dir.path().join("no-dashboards")));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("rule Broken: query failed: bad_data"), "{err}");
    assert!(!err.contains("rule Fine"), "{err}");
}

#[test]
fn json_output() {
    let prom = Prometheus::start(JOB);
    let spec = format!("{SPEC}{MISSING}");
    let (code, out, err) = verify(
        &prom.url,
        &spec,
        &[r#"up{job="$job"}"#],
        &["--timeout", "5s", "--format", "json"],
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    assert_eq!(v["instances"].as_array().unwrap().len(), 1);
    let signals = v["signals"].as_array().unwrap();
    let by_name = |n: &str| signals.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by_name("up")["ok"], true);
    assert_eq!(by_name("nobody_exports_this")["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .all(|p| p.as_str().unwrap().contains("nobody_exports_this")),
        "{problems:?}"
    );
}

#[test]
fn unreachable_prometheus_fails() {
    let port = common::ports::unused_port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = run(srelab().args(["verify", "--prometheus", &url, "--timeout", "1s"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach Prometheus"), "{err}");
}

#[test]
fn too_few_instances_and_bad_spec() {
    let prom = Prometheus::start(JOB);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let (code, _, err) = run(srelab()
        .args([
            "verify",
            "--prometheus",
            &prom.url,
            "--job",
            JOB,
            "--min-instances",
            "2",
            "--timeout",
            "2s",
            "--spec",
        ])
        .arg(&spec));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has 1 instance(s), want at least 2"), "{err}");

    let rules = dir.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: t\n    rules:\n      - alert: T\n",
    )
    .unwrap();
    let (code, _, err) = run(srelab().args(["verify", "--rules"]).arg(&rules));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("r.yml: invalid rules file: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    std::fs::write(&spec, "[[signal]]\nname = 'x'\n").unwrap();
    let (code, _, err) = run(srelab().args(["verify", "--spec"]).arg(&spec));
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: invalid spec"), "{err}");
    let (code, _, err) = run(srelab()
        .args(["verify", "--spec"])
        .arg(Path::new("/nonexistent.toml")));
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read the spec /nonexistent.toml"),
        "{err}"
    );
}
