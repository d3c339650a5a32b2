//! `srelab lab` end to end with the real Prometheus (and node exporter when
//! installed): `--check` passes; it fails naming each missing signal; SIGTERM
//! stops every child and keeps the database. No process is left behind.
//!
//! The labs of this file run one at a time (each is a handful of processes).

mod common;
mod lab_support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use lab_support::{ChildGuard, assert_nothing_left, lab_on_ports, prometheus_bin};
use nix::sys::signal::Signal;

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `srelab lab` with free ports and the state directory `state`.
fn lab(state: &Path) -> Command {
    prometheus_bin();
    let mut cmd = lab_on_ports(state, unused_ports(2), unused_port());
    cmd.arg("--no-grafana");
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    println!("{stdout}\n{stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn check_passes_with_the_real_prometheus() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (code, out, err) = output(lab(&state).args(["--check", "--duration", "10s"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("lab check: PASSED"), "{out}");
    assert!(out.contains("verdict: every signal present"), "{out}");
    assert!(out.contains("SrelabInstanceDown firing after"), "{out}");
    assert!(out.contains("up and the alert resolved"), "{out}");
    assert!(out.contains("peak memory"), "{out}");
    assert!(state.join("srelab.db").exists(), "the database stays");
    assert_nothing_left(&state);
}

/// The Nix build sandbox has no /sys; node_exporter panics at start there.
/// A node exporter that dies at start is left out with one notice.
#[test]
fn check_goes_on_without_a_node_exporter_that_dies_at_start() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dying = dir.path().join("node_exporter");
    std::fs::write(
        &dying,
        "#!/bin/sh\necho 'panic: failed to open sysfs' >&2\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&dying, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, out, err) = output(
        lab(&state)
            .args(["--check", "--duration", "10s", "--no-fault"])
            .arg("--node-exporter-bin")
            .arg(&dying),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("lab check: PASSED"), "{out}");
    assert_eq!(
        err.matches("notice: the node exporter exited at start (exit status: 2)")
            .count(),
        1,
        "{err}"
    );
    let config = std::fs::read_to_string(state.join("prometheus/prometheus.yml")).unwrap();
    assert!(!config.contains("job_name: 'node'"), "{config}");
    assert!(
        std::fs::read_to_string(state.join("logs/node-exporter.log"))
            .unwrap()
            .contains("failed to open sysfs")
    );
    assert_nothing_left(&state);
}

#[test]
fn check_passes_on_postgres_with_the_database_fault() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let exporter = ["postgres_exporter", "prometheus-postgres-exporter"];
    assert!(
        exporter
            .iter()
            .any(|n| srelab::lab::binaries::on_path(n).is_some()),
        "the PostgreSQL exporter is not on PATH: install Debian's `prometheus-postgres-exporter` (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    // PostgreSQL runs as `nobody` when the tests run as root: let it through.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    let mut cmd = lab(&state);
    cmd.args(["--backend", "postgres", "--postgres-exporter-port"])
        .arg(unused_port().to_string())
        .args(["--check", "--duration", "10s"]);
    let (code, out, err) = output(&mut cmd);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("lab check: PASSED"), "{out}");
    assert!(out.contains("verdict: every signal present"), "{out}");
    for signal in ["db_pool_saturation", "postgres_up", "postgres_commits"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(signal))
            .unwrap_or_default();
        assert!(
            !row.is_empty() && !row.contains("absent"),
            "{signal} measured: {out}"
        );
    }
    assert!(
        out.contains("SrelabDatabaseUnavailable firing and every instance not ready"),
        "{out}"
    );
    assert!(out.contains("acknowledged writes all read back"), "{out}");
    assert!(
        state.join("postgres/data/PG_VERSION").exists(),
        "the cluster stays"
    );
    assert_nothing_left(&state);
}

#[test]
fn check_fails_naming_each_missing_signal() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let spec = dir.path().join("spec.toml");
    let extra = "\n[[signal]]\nname = \"nobody_exports_this\"\narea = \"test\"\n\
                 query = 'srelab_nobody_exports_this{job=\"$job\"}'\nexpect = \"present\"\n";
    std::fs::write(&spec, format!("{}{extra}", srelab::verify::assets::SPEC)).unwrap();
    let (code, out, err) = output(
        lab(&state)
            .args(["--check", "--duration", "6s", "--verify-timeout", "8s"])
            .arg("--spec")
            .arg(&spec)
            .args(["--serve-arg", "--no-host-metrics"]),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("lab check: FAILED"), "{out}");
    for signal in [
        "host_cpu",
        "host_memory_used",
        "host_memory_total",
        "nobody_exports_this",
    ] {
        assert!(
            err.contains(&format!("missing signal {signal} on 127.0.0.1:")),
            "{signal}: {err}"
        );
    }
    assert!(
        !err.contains("missing signal process_cpu"),
        "present signals pass: {err}"
    );
    assert_nothing_left(&state);
}

#[test]
fn sigterm_stops_every_child_and_keeps_the_database() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut child = lab(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = ChildGuard(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("srelab lab is up: every scrape target up after"),
        "{first}"
    );
    let summary: Vec<String> = lines
        .by_ref()
        .take_while(|l| l.as_ref().is_ok_and(|l| !l.starts_with("Ctrl-C")))
        .map(Result::unwrap)
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.contains("srelab-2") && l.contains("http://127.0.0.1:")),
        "{summary:?}"
    );
    assert!(
        summary.iter().any(|l| l.contains("prometheus")),
        "{summary:?}"
    );
    let pids = std::fs::read_to_string(state.join("pids")).unwrap();
    assert!(pids.lines().count() >= 3, "{pids}");

    guard.signal(Signal::SIGTERM);
    let status = guard
        .wait(Duration::from_secs(30))
        .expect("the lab stops on SIGTERM");
    assert!(status.success(), "{status}");
    assert_nothing_left(&state);
    assert!(state.join("srelab.db").exists(), "the database stays");
}

/// Starts `srelab lab` (interactive) and waits for its "is up" line.
fn start_lab(state: &Path, extra: &[&str]) -> ChildGuard {
    let mut child = lab(state)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(first.starts_with("srelab lab is up"), "{first}");
    guard
}

#[test]
fn sigint_during_check_stops_everything_and_fails() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let child = lab(&state)
        .args(["--check", "--duration", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().unwrap();
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(first.starts_with("lab: every scrape target up"), "{first}");
    guard.signal(Signal::SIGINT);
    let status = guard
        .wait(Duration::from_secs(30))
        .expect("the check stops on SIGINT");
    assert_eq!(status.code(), Some(1), "an interrupted check is no pass");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut guard.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert_nothing_left(&state);
}

#[test]
fn children_stop_even_when_the_lab_is_killed() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut guard = start_lab(&state, &[]);
    guard.signal(Signal::SIGKILL);
    guard
        .wait(Duration::from_secs(5))
        .expect("SIGKILL ends the lab");
    // The kernel sends each child SIGTERM (PR_SET_PDEATHSIG); give them their grace.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::panic::catch_unwind(|| assert_nothing_left(&state)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "children outlived the lab"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn load_runs_in_the_foreground_then_the_lab_waits() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut child = lab(&state)
        .args(["--load", "2s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = ChildGuard(child);
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("load finished"))
        .collect();
    assert!(lines[0].starts_with("srelab lab is up"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("POST /api/items")),
        "the load tool's report: {lines:?}"
    );
    assert!(
        guard.0.try_wait().unwrap().is_none(),
        "the lab keeps running after the load"
    );
    let started = lab_support::children_started(&state);
    assert!(started.iter().any(|(_, n)| n == "load"), "{started:?}");
    guard.signal(Signal::SIGTERM);
    assert!(
        guard
            .wait(Duration::from_secs(30))
            .expect("stops")
            .success()
    );
    assert_nothing_left(&state);
}
