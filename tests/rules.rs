//! The alert rules: valid for promtool, unit-tested by promtool, each with
//! severity and annotations, and every expression extractable by verify.

mod common;

use std::path::Path;

use srelab::verify::{assets, queries};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn promtool_check_rules() {
    common::tools::promtool(&["check", "rules", "prometheus/alerts.yml"]);
}

#[test]
fn promtool_unit_tests_pass() {
    common::tools::promtool(&["test", "rules", "prometheus/alerts.test.yml"]);
}

/// Changes to the rules that their unit tests must notice: each threshold
/// and `for:` moved, 4xx counted as errors.
const RULE_MUTATIONS: &[(&str, &str, &str)] = &[
    (
        "error ratio 1% -> 2.5%",
        r#"(rate(http_requests_total{job="srelab"}[1m])) > 0.01"#,
        r#"(rate(http_requests_total{job="srelab"}[1m])) > 0.025"#,
    ),
    (
        "4xx counted as errors",
        r#"status=~"5..""#,
        r#"status=~"[45]..""#,
    ),
    (
        "error ratio for 2m -> 1m",
        "> 0.01\n        for: 2m",
        "> 0.01\n        for: 1m",
    ),
    (
        "instance down for 10s -> 5s",
        "up{job=\"srelab\"} == 0\n        for: 10s",
        "up{job=\"srelab\"} == 0\n        for: 5s",
    ),
    (
        "instance down for 10s -> 15s",
        "up{job=\"srelab\"} == 0\n        for: 10s",
        "up{job=\"srelab\"} == 0\n        for: 15s",
    ),
    ("p99 250 ms -> 400 ms", "[1m]))) > 0.25", "[1m]))) > 0.4"),
    (
        "p99 for 5m -> 4m",
        "> 0.25\n        for: 5m",
        "> 0.25\n        for: 4m",
    ),
    (
        "CPU 90% -> 60%",
        r#"srelab_host_cpu_utilization_ratio{job="srelab"} > 0.9"#,
        r#"srelab_host_cpu_utilization_ratio{job="srelab"} > 0.6"#,
    ),
    (
        "CPU for 5m -> 6m",
        "> 0.9\n        for: 5m",
        "> 0.9\n        for: 6m",
    ),
    ("memory growth for 15m -> 11m", "for: 15m", "for: 11m"),
    (
        "memory limit 90% -> 80%",
        "0.9 * srelab_host_memory_total_bytes",
        "0.8 * srelab_host_memory_total_bytes",
    ),
    ("memory horizon 4h -> 2h", "4 * 3600", "2 * 3600"),
    ("busy retries 1/s -> 0.1/s", "[5m]) > 1\n", "[5m]) > 0.1\n"),
    (
        "busy retries for 5m -> 3m",
        "[5m]) > 1\n        for: 5m",
        "[5m]) > 1\n        for: 3m",
    ),
];

/// Starts `promtool test rules` of the unit tests against `rules`, in a
/// temp dir of its own.
fn start_unit_tests_against(rules: &str) -> (tempfile::TempDir, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alerts.yml"), rules).unwrap();
    std::fs::copy(
        repo().join("prometheus/alerts.test.yml"),
        dir.path().join("alerts.test.yml"),
    )
    .unwrap();
    let child = common::tools::PROMTOOL
        .command()
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("running promtool");
    (dir, child)
}

#[test]
fn every_rule_mutation_fails_the_unit_tests() {
    let rules = std::fs::read_to_string(repo().join("prometheus/alerts.yml")).unwrap();
    let mut variants = vec![("the unmutated rules", rules.clone())];
    for (name, from, to) in RULE_MUTATIONS {
        assert_eq!(
            rules.matches(from).count(),
            1,
            "{name}: `{from}` is not in the rules once"
        );
        variants.push((name, rules.replacen(from, to, 1)));
    }
    // All at once: each run evaluates half an hour of rules every 2s.
    let runs: Vec<_> = variants
        .iter()
        .map(|(name, rules)| (*name, start_unit_tests_against(rules)))
        .collect();
    let passed: Vec<&str> = runs
        .into_iter()
        .filter_map(|(name, (_dir, mut child))| child.wait().unwrap().success().then_some(name))
        .collect();
    assert_eq!(
        passed,
        ["the unmutated rules"],
        "prometheus/alerts.test.yml must pass the rules and fail every mutation of them"
    );
}

fn alert_names() -> Vec<String> {
    queries::rule_exprs(assets::ALERT_RULES)
        .expect("the embedded rules parse")
        .into_iter()
        .map(|r| r.name)
        .collect()
}

#[test]
fn every_expression_is_extracted() {
    let rules = assets::ALERT_RULES
        .lines()
        .filter(|l| l.trim().starts_with("- alert:"));
    let exprs = queries::rule_exprs(assets::ALERT_RULES).expect("the embedded rules parse");
    assert_eq!(exprs.len(), rules.count(), "one expression per alert");
    assert!(
        exprs
            .iter()
            .all(|r| !r.expr.is_empty() && !r.name.is_empty())
    );
}

#[test]
fn the_required_alerts_exist() {
    let names = alert_names();
    for want in [
        "SrelabInstanceDown",
        "SrelabHighErrorRatio",
        "SrelabHighLatencyP99",
        "SrelabCpuSaturation",
        "SrelabMemoryGrowth",
        "SrelabSqliteBusyRetriesClimbing",
    ] {
        assert!(names.iter().any(|n| n == want), "missing alert {want}");
    }
}

#[test]
fn every_alert_has_severity_summary_description_and_a_unit_test() {
    let tests = std::fs::read_to_string(repo().join("prometheus/alerts.test.yml")).unwrap();
    let blocks: Vec<&str> = assets::ALERT_RULES.split("- alert:").skip(1).collect();
    assert_eq!(blocks.len(), alert_names().len());
    for (block, name) in blocks.iter().zip(alert_names()) {
        for key in ["severity:", "summary:", "description:", "for:"] {
            assert!(block.contains(key), "alert {name} lacks {key}");
        }
        let firing = format!("alertname: {name}\n        exp_alerts:\n          - exp_labels:");
        assert!(
            tests.contains(&firing),
            "no promtool test where {name} fires"
        );
    }
}

#[test]
fn instance_down_fires_within_seconds() {
    let block = assets::ALERT_RULES
        .split("- alert: SrelabInstanceDown")
        .nth(1)
        .unwrap();
    assert!(
        block.contains("for: 10s"),
        "the lab's fault injection waits for this alert; keep its `for:` short"
    );
}
