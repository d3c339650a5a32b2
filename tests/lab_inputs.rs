//! `srelab lab` checks every input before anything starts, and says each
//! mistake once: an unreadable spec or bad load options exit 2, a program
//! that is not executable is called so, every busy port is named at once,
//! and no notice comes before an error.

mod common;
mod lab_support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::ports::{unused_port, unused_ports};
use lab_support::{lab_on_ports, prometheus_bin, srelab};

/// `srelab lab` with the state directory `state` and free ports, except
/// the instances' and Prometheus' when given.
fn lab_on(state: &Path, base: Option<u16>, prometheus: Option<u16>) -> Command {
    prometheus_bin();
    lab_on_ports(
        state,
        base.unwrap_or_else(|| unused_ports(2)),
        prometheus.unwrap_or_else(unused_port),
    )
}

fn lab(state: &Path) -> Command {
    lab_on(state, None, None)
}

/// (exit code, stdout, stderr)
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Nothing ran: no pids file, no child ever recorded.
fn assert_nothing_started(state: &Path) {
    assert!(!state.join("pids").exists(), "nothing was started");
    assert!(lab_support::children_started(state).is_empty());
}

#[test]
fn a_missing_spec_exits_2_before_anything_starts_and_says_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (code, out, err) = run(lab(&state).args(["--check", "--spec", "/nonexistent.toml"]));
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: cannot read the spec /nonexistent.toml: "),
        "{err}"
    );
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error once: {err}"
    );
    assert!(out.is_empty(), "{out}");
    assert_nothing_started(&state);
}

#[test]
fn load_options_are_checked_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for (args, says) in [
        (
            &["--load", "5s", "--", "--mix", "list=1,lsit=1"][..],
            "`lsit`",
        ),
        (
            &["--load", "5s", "--", "-d", "9s"],
            "give the load's duration to --load",
        ),
        (
            &["--check", "--", "--metrics-listen", "127.0.0.1:1"],
            "--load-metrics-port",
        ),
        (&["--", "-r", "100"], "give --load DURATION or --check"),
    ] {
        let (code, _, err) = run(lab(&state).args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_nothing_started(&state);
    }
}

#[test]
fn a_program_that_is_not_executable_is_called_so() {
    let (code, _, err) = run(srelab().args(["lab", "--prometheus-bin", "/etc/passwd"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: Prometheus is not executable at /etc/passwd;"),
        "{err}"
    );
    let (code, _, err) = run(srelab().args(["lab", "--node-exporter-bin", "/etc/passwd"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("node exporter is not executable at /etc/passwd"),
        "{err}"
    );
    for (flag, what) in [("--loki-bin", "Loki"), ("--alloy-bin", "Grafana Alloy")] {
        let (code, _, err) = run(srelab().args(["lab", flag, "/etc/passwd"]));
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{what} is not executable at /etc/passwd")),
            "{err}"
        );
    }
}

#[test]
fn every_busy_port_is_named_at_once_and_no_notice_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (a, b) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    // Where Grafana is not installed, a notice says so once the lab starts:
    // not before an error that keeps it from starting.
    let (code, out, err) = run(lab_on(&state, Some(pa), Some(pb)).args(["--instances", "1"]));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: ports 127.0.0.1:{pa} (srelab-1), 127.0.0.1:{pb} (prometheus) are already in use"
        )
    );
    assert_nothing_started(&state);
}
