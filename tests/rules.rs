//! The alert rules: valid for promtool, unit-tested by promtool, each with
//! severity and annotations, and every expression extractable by verify.

mod common;

use std::path::Path;

use srelab::verify::{assets, queries};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run_promtool(args: &[&str]) {
    let out = common::tools::PROMTOOL
        .command()
        .args(args)
        .current_dir(repo())
        .output()
        .expect("running promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_check_rules() {
    run_promtool(&["check", "rules", "prometheus/alerts.yml"]);
}

#[test]
fn promtool_unit_tests_pass() {
    run_promtool(&["test", "rules", "prometheus/alerts.test.yml"]);
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
