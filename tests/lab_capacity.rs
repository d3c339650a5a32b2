//! `srelab lab --capacity` against the real Prometheus: a search with 1, 2
//! and 3 instances, the scaling curve with efficiencies and a USL fit, the
//! servers' saturation signals read from Prometheus at each step, a flag
//! mistake refused before anything starts, and nothing left running.

mod common;
mod lab_support;

use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use lab_support::{assert_nothing_left, output_within, prometheus_bin, srelab};

#[test]
fn capacity_with_one_to_three_instances_gives_a_scaling_curve() {
    prometheus_bin();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut cmd = srelab();
    cmd.args([
        "lab",
        "--capacity",
        "--instances",
        "3",
        "--no-grafana",
        "--no-node-exporter",
    ])
    .args(["--base-port", &unused_ports(3).to_string()])
    .args(["--prometheus-port", &unused_port().to_string()])
    .args(["--load-metrics-port", &unused_port().to_string()])
    .arg("--state-dir")
    .arg(&state)
    .args([
        "--",
        "--mix",
        "work=1",
        "--work-ms",
        "5",
        "--slo",
        "p99<500ms",
    ])
    .args([
        "--start-rate",
        "40",
        "--precision",
        "25%",
        "--settle",
        "1s",
        "--step",
        "3s",
    ]);
    let (code, stdout, stderr) = output_within(&mut cmd, Duration::from_secs(600));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for n in 1..=3 {
        assert!(
            stdout.contains(&format!("capacity search with {n} instance(s)")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("scaling curve (sqlite)"), "{stdout}");
    assert!(stdout.contains("USL fit: σ (contention) "), "{stdout}");
    assert!(stdout.contains("limits: "), "{stdout}");

    let curve: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("capacity.json")).unwrap())
            .unwrap();
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{curve:#}");
    assert_eq!(points[0]["efficiency"], 1.0, "{curve:#}");
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p["instances"], i + 1);
        assert_eq!(p["result"], "found", "{curve:#}");
        assert!(p["capacity"].as_f64().unwrap() > 0.0);
    }
    let sigma = curve["usl"]["sigma"].as_f64().expect("a USL fit");
    assert!(sigma >= 0.0 && curve["usl"]["kappa"].as_f64().unwrap() >= 0.0);

    // Each search's report: the targets it ran against, and the servers'
    // CPU from Prometheus at its steps.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("capacity-2.json")).unwrap())
            .unwrap();
    assert_eq!(report["srelab"]["targets"].as_array().unwrap().len(), 2);
    let steps = report["srelab"]["capacity"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["server"]["cpu_cores"].as_f64().is_some_and(|c| c > 0.0)),
        "{steps:#?}"
    );
    assert_nothing_left(&state);
}

#[test]
fn capacity_options_the_lab_owns_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for (extra, says) in [
        (&["--", "--target", "http://127.0.0.1:1"][..], "--target"),
        (&["--", "-o", "text"][..], "-o/--output"),
        (&["--", "-r", "10"][..], "--rate"),
        (&["--check"][..], "--check"),
    ] {
        let mut cmd = srelab();
        cmd.args(["lab", "--capacity", "--no-grafana", "--state-dir"])
            .arg(&state)
            .args(extra);
        let (code, stdout, stderr) = output_within(&mut cmd, Duration::from_secs(30));
        assert_eq!(code, 2, "{extra:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    assert!(
        !state.join("capacity.json").exists(),
        "nothing ran for a mistake"
    );
}
