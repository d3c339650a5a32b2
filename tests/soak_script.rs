//! `scripts/soak.sh` keeps working: a 30-second run (the real one lasts
//! 10 minutes and is not run by CI) with this build's binary prints the
//! side-by-side table and a verdict, exits 0, and leaves no instance or
//! work directory behind. 30 s is too short to judge growth, so the verdict
//! itself is not asserted (`SOAK_VERDICT_EXIT=0`).

mod common;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

#[test]
fn a_short_soak_prints_the_table_and_a_verdict_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/soak.sh");
    let out = logs.path().join("stdout");
    let err = logs.path().join("stderr");
    let child = Command::new("bash")
        .arg(&script)
        .arg("30s")
        .env("SRELAB", common::srelab_bin())
        .env("SOAK_RATE", "40")
        .env("SOAK_CONCURRENCY", "16")
        .env("SOAK_VERDICT_EXIT", "0")
        .env("TMPDIR", tmp.path())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .expect("cannot run bash");
    let pgid = Pid::from_raw(child.id() as i32);
    let mut guard = common::ChildGuard::new("soak.sh", child);
    // 30 s of load, the instances' start and stop: far less than this.
    let status = guard.wait_timeout(Duration::from_secs(240));
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    if status.is_none() {
        let _ = killpg(pgid, Signal::SIGKILL);
        panic!("soak.sh 30s still ran after 240 s:\n{stdout}\n{stderr}");
    }
    let status = status.unwrap();
    println!("{stdout}");
    assert!(
        status.success(),
        "soak.sh failed ({status}):\n{stdout}\n{stderr}"
    );
    for row in [
        "first window",
        "RSS a (MiB)",
        "open fds b",
        "threads a",
        "WAL max (MiB)",
        "server p99 (ms)",
        "requests/s (servers)",
    ] {
        assert!(stdout.contains(row), "no {row:?} in:\n{stdout}");
    }
    let verdict = stdout
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict in:\n{stdout}"));
    assert!(
        verdict.starts_with("verdict: PASS") || verdict.starts_with("verdict: FAIL"),
        "{verdict}"
    );
    // The servers answered requests in both windows.
    let served = stdout
        .lines()
        .find(|l| l.starts_with("requests/s (servers)"))
        .unwrap();
    let rates: Vec<f64> = served
        .split_whitespace()
        .skip(2)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(rates.iter().all(|r| *r > 10.0), "{served}");

    // Every child is gone and the work directory removed.
    let header = stdout.lines().find(|l| l.starts_with("soak: ")).unwrap();
    for word in header.split(|c: char| !c.is_ascii_digit()) {
        let Ok(pid) = word.parse::<u32>() else {
            continue;
        };
        if header.contains(&format!("pid {pid})")) {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "instance {pid} still runs"
            );
        }
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}
