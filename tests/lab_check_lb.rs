//! `srelab lab --check --lb` end to end with the real HAProxy and
//! Prometheus: the load goes through HAProxy, verify requires its signals,
//! the failover step (kill -9 under load, then a SIGTERM drain) stays
//! within its gates, and the overload fires the saturation alerts and lets
//! them resolve. No process is left behind.

mod common;
mod lab_support;

use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use common::tools::HAPROXY;
use lab_support::{assert_nothing_left, output_within, prometheus_bin, srelab};

#[test]
fn check_behind_haproxy_fails_over_drains_and_fires_saturation_alerts() {
    prometheus_bin();
    let haproxy = HAPROXY.path();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut cmd = srelab();
    cmd.arg("lab")
        .args(["--lb", "--no-grafana", "--base-port"])
        .arg(unused_ports(2).to_string())
        .arg("--haproxy-bin")
        .arg(haproxy);
    for flag in [
        "--prometheus-port",
        "--node-exporter-port",
        "--load-metrics-port",
        "--lb-port",
        "--haproxy-exporter-port",
    ] {
        cmd.arg(flag).arg(unused_port().to_string());
    }
    cmd.arg("--state-dir")
        .arg(&state)
        .args(["--check", "--duration", "10s"]);
    let (code, out, err) = output_within(&mut cmd, Duration::from_secs(900));
    println!("{out}\n{err}");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("lab check: PASSED"), "{out}");
    assert!(out.contains("verdict: every signal present"), "{out}");
    for signal in ["lb_up", "lb_servers_up", "lb_request_rate"] {
        let row = out.lines().find(|l| l.starts_with(signal));
        assert!(
            row.is_some_and(|r| !r.contains("absent")),
            "{signal} measured: {out}"
        );
    }
    // The summary's lines (the progress lines before it name steps too).
    let summary = out.split_once("lab check: PASSED").map_or("", |(_, s)| s);
    let line = |key: &str| {
        summary
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no `{key}` line: {out}"))
            .to_owned()
    };
    assert!(line("crash (kill -9)").contains("taken out after"), "{out}");
    assert!(
        line("failed requests").contains(", 0 after it was out"),
        "{out}"
    );
    assert!(
        line("drain (SIGTERM)").contains(", 0 failed, 0 resent"),
        "{out}"
    );
    assert!(line("acknowledged").contains("all read back"), "{out}");
    let overload = line("overload");
    for alert in srelab::lab::overload::ALERTS {
        assert!(overload.contains(&format!("{alert} after")), "{out}");
    }
    assert_nothing_left(&state);
}
