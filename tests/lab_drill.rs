//! `srelab lab --drill` end to end, with the real Prometheus, Alertmanager,
//! instances and load tool: the baseline brings no notification, every
//! fault of the catalogue is detected (its alert *delivered* to the lab's
//! receiver) within its bound and resolves, and the table and the
//! notifications file say so; behind the real HAProxy (`--lb`), one
//! backend down is detected as HAProxy sees it. No process is left behind.

mod common;
mod lab_support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use common::tools::{HAPROXY, alertmanager};
use lab_support::{assert_nothing_left, lab_on_ports, output_within, prometheus_bin};

/// Two drills at once would load the host's CPU past the host-wide alert's
/// threshold, an alert neither would explain.
static ONE_DRILL_AT_A_TIME: Mutex<()> = Mutex::new(());

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
    let mut cmd = lab_on_ports(state, unused_ports(2), unused_port());
    cmd.args(["--drill", "--no-grafana"]);
    cmd
}

#[test]
fn the_drill_detects_and_resolves_every_fault_and_nothing_else() {
    let _one = ONE_DRILL_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
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
        assert_row_passed(&table, fault, &out);
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

/// `fault`'s row of the drill's table is judged (a detection and a
/// resolution time, both bounds) with no unexpected notification, unless
/// the host was busy with other programs for the CPU step, which says so.
fn assert_row_passed(table: &[&str], fault: &str, out: &str) {
    let row = table
        .iter()
        .find(|l| l.trim_start().starts_with(&format!("{fault} ")))
        .unwrap_or_else(|| panic!("no row for {fault}:\n{out}"));
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

#[test]
fn behind_haproxy_one_backend_down_is_detected_and_resolves() {
    let _one = ONE_DRILL_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut cmd = drill(&state);
    cmd.args(["--lb", "--haproxy-bin"])
        .arg(HAPROXY.path())
        .args(["--lb-port", &unused_port().to_string()])
        .args(["--haproxy-exporter-port", &unused_port().to_string()])
        .args(["--drill-baseline", "5s"])
        .args(["--drill-faults", "instance-down,backend-down"]);
    let (code, out, err) = output_within(&mut cmd, Duration::from_secs(600));
    println!("{out}\n{err}");
    assert_eq!(code, 0, "{out}\n{err}");
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("lab drill: PASSED"))
        .collect();
    for fault in ["instance-down", "backend-down"] {
        assert_row_passed(&table, fault, &out);
    }
    assert!(
        table
            .iter()
            .any(|l| l.contains("SrelabLbServersDown (ticket)")),
        "{out}"
    );
    assert_nothing_left(&state);
}

#[test]
fn backend_down_without_a_load_balancer_exits_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = output_within(
        drill(dir.path()).args(["--drill-faults", "backend-down"]),
        Duration::from_secs(60),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: the drill fault `backend-down` needs HAProxy in front: add --lb")
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("pids").exists(), "nothing was started");
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
