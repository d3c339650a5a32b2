//! The saturation alerts (`prometheus/saturation.yml`): valid for promtool
//! and unit-tested by it; each with severity, summary, description and a
//! `runbook` annotation naming a section that exists in docs/runbook.md;
//! their thresholds follow HAProxy's one configuration.

mod common;

use std::path::Path;

use common::tools::promtool;

use srelab::lab::haproxy::Timing;
use srelab::verify::{assets, queries};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    promtool(&["check", "rules", "prometheus/saturation.yml"]);
    promtool(&["test", "rules", "prometheus/saturation.test.yml"]);
}

/// Each alert's block of the rules file, by name.
fn blocks() -> Vec<(String, &'static str)> {
    let names = queries::rule_exprs(assets::SATURATION_RULES).expect("the rules parse");
    let blocks: Vec<&str> = assets::SATURATION_RULES.split("- alert:").skip(1).collect();
    assert_eq!(blocks.len(), names.len(), "one block per rule");
    names.into_iter().map(|r| r.name).zip(blocks).collect()
}

/// The anchors GitHub gives the `## ` headings of a Markdown file.
fn anchors(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_is_annotated_tested_and_has_its_runbook_section() {
    let tests = std::fs::read_to_string(repo().join("prometheus/saturation.test.yml")).unwrap();
    let runbook = std::fs::read_to_string(repo().join("docs/runbook.md")).unwrap();
    let sections = anchors(&runbook);
    for want in [
        "SrelabInFlightNearCapacity",
        "SrelabLbServerNearCapacity",
        "SrelabDatabaseNearCapacity",
        "SrelabConnectionLimitReached",
        "SrelabAcceptFailing",
        "SrelabLbServersDown",
        "SrelabLbQueueing",
        "SrelabLbRetrying",
        "SrelabLbImbalance",
        "SrelabLbLatencyP99High",
    ] {
        assert!(blocks().iter().any(|(n, _)| n == want), "missing {want}");
    }
    for (name, block) in blocks() {
        for key in ["severity:", "summary:", "description:", "for:", "runbook:"] {
            assert!(block.contains(key), "alert {name} lacks {key}");
        }
        let link = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("runbook: "))
            .unwrap()
            .trim_matches('"');
        let anchor = link
            .strip_prefix("docs/runbook.md#")
            .unwrap_or_else(|| panic!("{name}: runbook {link:?} is not docs/runbook.md#…"));
        assert!(
            sections.iter().any(|s| s == anchor),
            "{name}: docs/runbook.md has no section #{anchor} (sections: {sections:?})"
        );
        assert_eq!(anchor, name.to_lowercase(), "{name}: its own section");
        let firing = format!("alertname: {name}\n        exp_alerts:\n          - exp_labels:");
        let quiet = format!("alertname: {name}\n        exp_alerts: []");
        assert!(tests.contains(&firing), "no case where {name} fires");
        assert!(tests.contains(&quiet), "no case where {name} is quiet");
    }
}

#[test]
fn thresholds_follow_haproxys_configuration() {
    let t = Timing::of_template();
    let block = |name: &str| {
        blocks()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    let near = t.maxconn * 3 / 4;
    assert!(
        block("SrelabInFlightNearCapacity").contains(&format!("[30s]) > {near}\n")),
        "the in-flight threshold is 3/4 of HAProxy's maxconn {}",
        t.maxconn
    );
    assert!(
        block("SrelabInFlightNearCapacity")
            .contains(&format!("sends it at most {} at once", t.maxconn)),
        "the description names maxconn"
    );
    assert!(
        block("SrelabLbServerNearCapacity").contains("> 0.75 * (haproxy_server_limit_sessions"),
        "the same 3/4, of the limit HAProxy exports"
    );
    let queue = srelab::lab::haproxy::TEMPLATE
        .lines()
        .find_map(|l| l.trim().strip_prefix("timeout queue "))
        .unwrap();
    assert!(
        block("SrelabLbQueueing").contains(&format!("After {queue} in the queue")),
        "the queueing alert names HAProxy's queue timeout {queue}"
    );
}

#[test]
fn the_runbook_anchors_are_githubs() {
    assert_eq!(
        anchors("## SrelabLbQueueing\n## Two words, here\n"),
        ["srelablbqueueing", "two-words-here"]
    );
}
