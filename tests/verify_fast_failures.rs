//! `srelab verify`'s mistakes are found at once and said once: a URL that
//! is not one and an unreadable spec exit 2 before any query; a Prometheus
//! that does not answer is one line after a short wait, not after the
//! signals' timeout.

mod common;
mod lab_support;

use std::process::Command;
use std::time::Duration;

use common::ports::unused_port;
use lab_support::{output_within, srelab};

/// Runs verify with `args`, within `limit`: far below the `--timeout 10m`
/// the calls give, so a fast failure cannot wait for the signals' timeout.
fn verify(args: &[&str], limit: Duration) -> (i32, String, String) {
    output_within(
        srelab()
            .arg("verify")
            .args(args)
            .env_remove("SRELAB_PROMETHEUS_URL")
            .env_remove("SRELAB_SPEC"),
        limit,
    )
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_url_that_is_not_one_exits_2_at_once() {
    for url in ["not-a-url", "127.0.0.1:9090", "https://127.0.0.1:9090"] {
        let (code, out, err) = verify(&["--prometheus", url, "--timeout", "10m"], LIMIT);
        assert_eq!(code, 2, "{url}: {out}{err}");
        assert!(err.starts_with("error: "), "{url}: {err}");
        assert!(err.contains(url), "{url}: {err}");
        assert!(out.is_empty(), "{url}: {out}");
    }
}

#[test]
fn an_unreachable_prometheus_is_one_line() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let (code, out, err) = verify(&["--prometheus", &url, "--timeout", "10m"], LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: cannot reach Prometheus at {url}: ")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "the cause: {err}");
    assert!(out.is_empty(), "nothing printed twice: {out}");
}

#[test]
fn input_files_are_read_before_any_query_and_mistakes_exit_2() {
    // An unreachable Prometheus: a query would fail otherwise.
    let url = format!("http://127.0.0.1:{}", unused_port());
    let dir = tempfile::tempdir().unwrap();
    let bad_rules = dir.path().join("r.yml");
    std::fs::write(
        &bad_rules,
        "groups:\n  - name: t\n    rules:\n      - alert: T\n",
    )
    .unwrap();
    let bad_spec = dir.path().join("s.toml");
    std::fs::write(&bad_spec, "[[signal]]\nname = 'x'\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--spec", "/nonexistent.toml"],
            "error: cannot read the spec /nonexistent.toml: ",
        ),
        (
            &["--spec", bad_spec.to_str().unwrap()],
            "error: invalid spec ",
        ),
        (
            &["--rules", bad_rules.to_str().unwrap()],
            "r.yml: invalid rules file: ",
        ),
        (
            &["--dashboards", "/nonexistent"],
            "error: cannot read the dashboards /nonexistent: ",
        ),
    ];
    for (args, says) in cases {
        let all = [&["--prometheus", url.as_str()][..], args].concat();
        let (code, out, err) = verify(&all, LIMIT);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            err.matches("(os error").count() <= 1,
            "the OS error once: {err}"
        );
    }
}

#[test]
fn the_environment_names_the_url_and_spec_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_srelab"))
        .args(["verify", "--timeout", "10m"])
        .env("SRELAB_PROMETHEUS_URL", "not-a-url")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not-a-url"), "{err}");
    let url = format!("http://127.0.0.1:{}", unused_port());
    let out = Command::new(env!("CARGO_BIN_EXE_srelab"))
        .args(["verify", "--prometheus", &url])
        .env("SRELAB_SPEC", "/nonexistent-env.toml")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent-env.toml"), "{err}");
}
