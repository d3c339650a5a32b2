//! `srelab lab --capacity` against the real Prometheus: a search with 1, 2
//! and 3 instances, the scaling curve with efficiencies and a USL fit, the
//! servers' saturation signals read from Prometheus at each step; the same
//! behind the real HAProxy (`--lb`); a flag mistake refused before
//! anything starts, and nothing left running.

mod common;
mod lab_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::ports::{unused_port, unused_ports};
use common::tools::HAPROXY;
use lab_support::{
    ChildGuard, assert_nothing_left, http_get, lab_on_ports, output_within, prometheus_bin, srelab,
};
use nix::sys::signal::Signal;

/// The capacity labs measure the machine: two at once would halve each
/// other's capacity and lag each other's load tool.
static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `srelab lab --capacity` with `instances` on free ports (and HAProxy in
/// front with `lb`), quick searches on `/api/work`, the state in `state`.
fn capacity_lab(instances: u16, lb: bool, state: &Path) -> Command {
    prometheus_bin();
    let mut cmd = lab_on_ports(state, unused_ports(instances), unused_port());
    cmd.args(["--capacity", "--no-grafana", "--no-node-exporter"])
        .args(["--instances", &instances.to_string()]);
    if lb {
        cmd.arg("--lb")
            .args(["--lb-port", &unused_port().to_string()])
            .args(["--haproxy-exporter-port", &unused_port().to_string()])
            .arg("--haproxy-bin")
            .arg(HAPROXY.path());
    }
    cmd.args(["--", "--mix", "work=1", "--work-ms", "5"])
        .args([
            "--slo",
            "p99<500ms",
            "--start-rate",
            "40",
            "--precision",
            "25%",
        ])
        .args(["--settle", "1s", "--step", "3s"]);
    cmd
}

#[test]
fn capacity_with_one_to_three_instances_gives_a_scaling_curve() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut cmd = capacity_lab(3, false, &state);
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

    // A lab started again on this state directory records the capacities
    // in its Prometheus, for the dashboard's capacity panel.
    let capacities: Vec<(String, f64)> = points
        .iter()
        .map(|p| (p["instances"].to_string(), p["capacity"].as_f64().unwrap()))
        .collect();
    assert_eq!(recorded_capacities(&state), capacities);
    assert_nothing_left(&state);
}

/// Starts `srelab lab` on `state` (no load), and returns the series of
/// `srelab:capacity_requests_per_second` its Prometheus evaluates, as
/// (instances, value) by instance count; then stops the lab.
fn recorded_capacities(state: &Path) -> Vec<(String, f64)> {
    let prometheus = unused_port();
    let mut cmd = lab_on_ports(state, unused_port(), prometheus);
    cmd.args(["--no-grafana", "--no-node-exporter", "--no-alertmanager"])
        .args(["--instances", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut lab = ChildGuard(cmd.spawn().unwrap());
    let stdout = lab.0.stdout.take().unwrap();
    let up = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("Ctrl-C"));
    assert!(up, "the lab did not come up");
    let query = "/api/v1/query?query=srelab%3Acapacity_requests_per_second";
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = loop {
        let (status, body) = http_get(prometheus, query);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let result = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if status == 200 && !result.is_empty() {
            break result;
        }
        assert!(Instant::now() < deadline, "no capacity series: {body}");
        std::thread::sleep(Duration::from_millis(500));
    };
    lab.signal(Signal::SIGINT);
    assert!(
        lab.wait(Duration::from_secs(60))
            .is_some_and(|s| s.success())
    );
    let mut out: Vec<(String, f64)> = series
        .iter()
        .map(|s| {
            assert_eq!(s["metric"]["backend"], "sqlite", "{s}");
            let instances = s["metric"]["instances"].as_str().unwrap().to_owned();
            (instances, s["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn capacity_behind_haproxy_balances_over_one_then_two_instances() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A tighter SLO than the other test's: with HAProxy on the same two
    // cores the client lags as the servers saturate, and a breach the lag
    // could explain is no answer; at 100 ms the servers' queue breaches
    // first, by far more than the lag.
    let mut cmd = capacity_lab(2, true, &state);
    cmd.args(["--slo", "p99<100ms"]);
    let (code, stdout, stderr) = output_within(&mut cmd, Duration::from_secs(600));
    // What this test holds is the balancing; a search the client could not
    // finish says so (`client_limited`, exit 1) and is no failure of it.
    let curve: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("capacity.json")).unwrap())
            .unwrap();
    let points = curve["points"].as_array().unwrap();
    let found = points.iter().all(|p| p["result"] == "found");
    assert_eq!(code, if found { 0 } else { 1 }, "{stdout}\n{stderr}");
    // Before each search HAProxy's backend is exactly the first n instances.
    let one = stdout.find("HAProxy balances over 1 instance(s)");
    let two = stdout.find("HAProxy balances over 2 instance(s)");
    assert!(one.is_some() && two > one, "{stdout}");

    assert_eq!(points.len(), 2, "{curve:#}");
    for (n, name) in [(1, "capacity-1.json"), (2, "capacity-2.json")] {
        let result = points[n - 1]["result"].as_str().unwrap();
        assert!(result == "found" || result == "client_limited", "{curve:#}");
        // The search ran through HAProxy, its one target.
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state.join(name)).unwrap()).unwrap();
        let targets = report["srelab"]["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{report:#}");
        let steps = report["srelab"]["capacity"]["steps"].as_array().unwrap();
        assert!(!steps.is_empty());
    }
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
