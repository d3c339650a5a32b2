//! A newcomer's first run of `srelab lab`, against the real Prometheus: the
//! links it prints answer, `STATE/pids` lists only this run's running
//! children, a disabled node exporter says so, verify without load says
//! "no load" at once, verify under load passes with the load tool's panels
//! skipped in one line, and `--load` passes options through to the load.
//!
//! The labs of this file run one at a time (each is a handful of processes).

mod common;
mod lab_support;

use std::io::{BufRead as _, BufReader, Lines};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::ports::{unused_port, unused_ports};
use lab_support::{
    ChildGuard, assert_nothing_left, children_started, http_get, lab_on_ports, output_within,
    prometheus_bin, srelab,
};
use nix::sys::signal::Signal;

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `srelab lab` on free ports, without Grafana, node exporter and Loki.
fn lab(state: &Path, base: u16, prometheus: u16) -> Command {
    prometheus_bin();
    common::tools::alertmanager();
    let mut cmd = lab_on_ports(state, base, prometheus);
    cmd.args(["--no-grafana", "--no-node-exporter", "--no-loki"]);
    cmd
}

/// Starts the lab; returns it, its summary lines and the rest of its stdout.
fn start(cmd: &mut Command) -> (ChildGuard, Vec<String>, Lines<BufReader<ChildStdout>>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut lines = BufReader::new(stdout).lines();
    let summary: Vec<String> = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Ctrl-C"))
        .collect();
    assert!(
        summary
            .first()
            .is_some_and(|l| l.starts_with("srelab lab is up")),
        "{summary:?}"
    );
    (guard, summary, lines)
}

/// The URL after `name: ` in a line.
fn link<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("{name}: "))
        .unwrap_or_else(|| panic!("no {name} link in {line:?}"))
        + name.len()
        + 2;
    line[start..]
        .split([',', ')', ' '])
        .next()
        .unwrap_or_default()
}

/// `srelab verify` against the lab's Prometheus, within `limit`.
fn verify(prometheus: u16, timeout: &str, limit: Duration) -> (i32, String, String) {
    let (code, out, err) = output_within(
        srelab()
            .args(["verify", "--timeout", timeout, "--prometheus"])
            .arg(format!("http://127.0.0.1:{prometheus}"))
            .env_remove("SRELAB_SPEC"),
        limit,
    );
    println!("{out}\n{err}");
    (code, out, err)
}

#[test]
fn a_first_run_links_pids_and_verify_without_then_with_load() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("pids"), "999999 left-by-an-earlier-run\n").unwrap();
    let (base, prometheus) = (unused_ports(2), unused_port());
    let (mut lab, summary, _rest) = start(&mut lab(&state, base, prometheus));

    let pids = std::fs::read_to_string(state.join("pids")).unwrap();
    assert!(!pids.contains("earlier-run"), "written fresh: {pids}");
    let names: Vec<&str> = pids
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|p| p.1)
        .collect();
    // Alertmanager is on PATH wherever the tests run (scripts/test.sh installs it).
    assert_eq!(
        names,
        ["srelab-1", "srelab-2", "alertmanager", "prometheus"],
        "{pids}"
    );

    let row = |what: &str| {
        summary
            .iter()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what} row: {summary:?}"))
            .clone()
    };
    assert!(
        row("node exporter").contains("not running (disabled by --no-node-exporter)"),
        "{summary:?}"
    );
    assert!(
        row("loki").contains("not running (disabled by --no-loki)"),
        "{summary:?}"
    );
    let prom_row = row("prometheus");
    for page in ["targets", "alerts"] {
        let url = link(&prom_row, page);
        let path = url
            .strip_prefix(&format!("http://127.0.0.1:{prometheus}"))
            .unwrap_or_else(|| panic!("{url} is not on the lab's Prometheus"));
        let (status, _) = http_get(prometheus, path);
        assert_eq!(status, 200, "{page} link {url} on the running Prometheus");
    }

    // No load: verify says so at once instead of retrying for ten minutes.
    let (code, out, err) = verify(prometheus, "10m", Duration::from_secs(90));
    assert_eq!(code, 1, "{out}{err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("verify: no load: no request traffic on job \"srelab\""),
        "{err}"
    );
    assert!(
        first.contains(&format!(
            "start one with `srelab load --target http://127.0.0.1:{base} --target http://127.0.0.1:{}",
            base + 1
        )),
        "{first}"
    );
    assert!(
        err.lines().count() <= 3,
        "a few lines, not one per check: {err}"
    );

    // Under load (whose metrics nobody scrapes): verify passes, and the
    // load tool's panels are skipped, in one line saying why.
    let load = srelab()
        .args(["load", "-c", "4", "-d", "90s", "-q", "-o", "json"])
        .args(["--target", &format!("http://127.0.0.1:{base}")])
        .args(["--target", &format!("http://127.0.0.1:{}", base + 1)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let load = ChildGuard(load);
    let (code, out, err) = verify(prometheus, "60s", Duration::from_secs(120));
    drop(load);
    assert_eq!(code, 0, "{out}{err}");
    let skipped: Vec<&str> = out.lines().filter(|l| l.contains("srelab-load")).collect();
    assert_eq!(skipped.len(), 1, "{out}");
    assert!(
        skipped[0].starts_with("  skipped (no data: job srelab-load is down): "),
        "{out}"
    );
    assert!(out.contains("MiB"), "memory in MiB: {out}");
    assert!(out.contains('%'), "ratios as percentages: {out}");

    lab.signal(Signal::SIGTERM);
    assert!(lab.wait(Duration::from_secs(30)).expect("stops").success());
    assert_eq!(
        std::fs::read_to_string(state.join("pids")).unwrap(),
        "",
        "no child runs any more"
    );
    let log = std::fs::read_to_string(state.join("logs/children.log")).unwrap();
    for (pid, name) in children_started(&state) {
        assert!(log.contains(&format!("exited {pid} {name} (")), "{log}");
    }
    assert_nothing_left(&state);
}

#[test]
fn load_options_pass_through_to_the_load_tool() {
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut cmd = lab(&state, unused_ports(2), unused_port());
    cmd.args(["--load", "3s", "--", "-r", "50", "--mix", "list=1,create=1"]);
    let (mut lab, _, rest) = start(&mut cmd);
    let report: Vec<String> = rest
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("load finished"))
        .collect();
    let report = report.join("\n");
    assert!(report.contains("open model at 50/s"), "{report}");
    assert!(report.contains("mix list=1,create=1"), "{report}");
    assert!(
        !report.contains('\u{1b}'),
        "no colours when not on a terminal"
    );
    lab.signal(Signal::SIGTERM);
    assert!(lab.wait(Duration::from_secs(30)).expect("stops").success());
    assert_nothing_left(&state);
}
