//! `srelab lab --drill` end to end, with the real Prometheus, Alertmanager,
//! instances and load tool: the baseline brings no notification, every
//! fault of the catalogue is detected (its alert *delivered* to the lab's
//! receiver) within its bound and resolves, and the table and the
//! notifications file say so. No process is left behind.

mod common;
mod lab_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use common::tools::alertmanager;
use lab_support::{assert_nothing_left, output_within, prometheus_bin, srelab};

/// Every fault the drill runs by default, in order.
const FAULTS: [&str; 6] = [
    "instance-down",
    "error-ratio",
    "latency",
    "cpu",
    "memory",
    "db-lock",
];

fn drill(state: &Path) -> Command {
    prometheus_bin();
    alertmanager();
    let mut cmd = srelab();
    cmd.args(["lab", "--drill", "--no-grafana", "--base-port"])
        .arg(unused_ports(2).to_string());
    for flag in [
        "--prometheus-port",
        "--node-exporter-port",
        "--load-metrics-port",
        "--alertmanager-port",
        "--receiver-port",
    ] {
        cmd.arg(flag).arg(unused_port().to_string());
    }
    cmd.arg("--state-dir").arg(state);
    cmd
}

#[test]
fn the_drill_detects_and_resolves_every_fault_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (code, out, err) = output_within(&mut drill(&state), Duration::from_secs(600));
    println!("{out}\n{err}");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("lab drill: PASSED"), "{out}");
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("lab drill:"))
        .collect();
    let baseline = table
        .iter()
        .find(|l| l.trim_start().starts_with("baseline"));
    assert!(
        baseline.is_some_and(|l| l.trim_end().ends_with(" 0")),
        "the baseline brought notifications: {baseline:?}"
    );
    for fault in FAULTS {
        let row = table
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{fault} ")))
            .unwrap_or_else(|| panic!("no row for {fault}:\n{out}"));
        // A row is judged (a detection and a resolution time) unless the
        // host was busy with other programs for the CPU step, which says so.
        let judged = !row.contains("not judged");
        assert!(judged || fault == "cpu", "{row}");
        if judged {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert!(
                cells
                    .iter()
                    .filter(|c| c.ends_with('s') && c.contains('.'))
                    .count()
                    >= 4,
                "detection, resolution and both bounds: {row}"
            );
            assert!(
                row.trim_end().ends_with(" 0"),
                "unexpected notifications: {row}"
            );
        }
    }
    // The receiver's record: one JSON object per notification, each with
    // the time it arrived, pages and tickets among them.
    let notes = std::fs::read_to_string(state.join("notifications.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = notes
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.iter().all(|r| r["received_at"].is_string()));
    for receiver in ["page", "ticket"] {
        assert!(
            records
                .iter()
                .any(|r| r["receiver"] == receiver && r["status"] == "firing"),
            "no {receiver} notification in {notes}"
        );
    }
    assert!(records.iter().any(|r| r["status"] == "resolved"));
    assert!(
        out.contains("notification: page"),
        "one line per notification"
    );
    assert_nothing_left(&state);
}

#[test]
fn the_drill_without_alertmanager_exits_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = output_within(
        drill(dir.path()).arg("--no-alertmanager"),
        Duration::from_secs(60),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: the drill judges what Alertmanager delivers")
            && err.contains("disabled by --no-alertmanager")
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("pids").exists(), "nothing was started");
}
