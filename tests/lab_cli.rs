//! `srelab lab`'s clear errors: missing Prometheus (exit 2 and how to get
//! it), a port in use (named), a bad flag (exit 2); and the generated
//! Prometheus configuration passes `promtool check config`.

mod common;
mod lab_support;

use std::net::TcpListener;
use std::process::Command;

use common::ports::{unused_port, unused_ports};
use common::tools::{PROMETHEUS, PROMTOOL};
use lab_support::{assert_nothing_left, srelab};
use srelab::lab::prometheus::{Scrape, write_config};
use srelab::lab::state::StateDir;

fn stderr_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_prometheus_on_path_exits_2_saying_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = stderr_of(
        srelab()
            .args(["lab", "--check", "--state-dir"])
            .arg(dir.path())
            .env("PATH", dir.path())
            .env_remove("SRELAB_PROMETHEUS"),
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: Prometheus not found on PATH"),
        "{err}"
    );
    assert!(
        err.contains("nix run .#lab") && err.contains("package `prometheus`"),
        "{err}"
    );
    assert!(!dir.path().join("pids").exists(), "nothing was started");
}

#[test]
fn a_named_prometheus_that_does_not_exist_exits_2() {
    let (code, err) =
        stderr_of(srelab().args(["lab", "--prometheus-bin", "/nonexistent/prometheus"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Prometheus not found at /nonexistent/prometheus"),
        "{err}"
    );
    let (code, err) = stderr_of(
        srelab()
            .arg("lab")
            .env("SRELAB_PROMETHEUS", "/nonexistent/env-prometheus"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/env-prometheus"), "{err}");
}

#[test]
fn a_port_in_use_is_named() {
    PROMETHEUS.path();
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, err) = stderr_of(
        srelab()
            .args(["lab", "--no-grafana", "--base-port"])
            .arg(unused_ports(2).to_string())
            .arg("--load-metrics-port")
            .arg(unused_port().to_string())
            .arg("--node-exporter-port")
            .arg(unused_port().to_string())
            .arg("--prometheus-port")
            .arg(port.to_string())
            .arg("--alertmanager-port")
            .arg(unused_port().to_string())
            .arg("--receiver-port")
            .arg(unused_port().to_string())
            .arg("--state-dir")
            .arg(dir.path()),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "error: port 127.0.0.1:{port} (prometheus) is already in use"
        )),
        "{err}"
    );
    assert!(!dir.path().join("pids").exists(), "nothing was started");
    assert_nothing_left(dir.path());
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["lab", "--no-such-flag"][..],
        &["lab", "--instances", "0"],
        &["lab", "--duration", "5s"],
        &["lab", "--check", "--load", "5s"],
        &["lab", "--check", "--duration", "soon"],
    ] {
        let (code, err) = stderr_of(srelab().args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
}

#[test]
fn generated_config_passes_promtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::prepare(dir.path()).unwrap();
    for (node, alertmanager) in [
        (None, None),
        (
            Some("127.0.0.1:9100".parse().unwrap()),
            Some("127.0.0.1:9093".parse().unwrap()),
        ),
    ] {
        let scrape = Scrape {
            instances: vec![
                "127.0.0.1:8081".parse().unwrap(),
                "127.0.0.1:8082".parse().unwrap(),
            ],
            load: "127.0.0.1:9464".parse().unwrap(),
            node,
            alertmanager,
            postgres: node.map(|_| "127.0.0.1:9187".parse().unwrap()),
            haproxy: node.map(|_| "127.0.0.1:8405".parse().unwrap()),
        };
        let rules: Vec<(&str, String)> = srelab::verify::assets::RULE_FILES
            .iter()
            .map(|(n, t)| (*n, t.to_string()))
            .collect();
        let config = write_config(&state, &scrape, &rules).unwrap();
        let out = PROMTOOL
            .command()
            .args(["check", "config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("scrape_interval: 2s"));
        assert!(text.contains("job_name: 'srelab'\n"));
        assert!(text.contains("job_name: 'srelab-load'\n"));
        assert_eq!(text.contains("job_name: 'node'\n"), node.is_some());
        assert_eq!(text.contains("job_name: 'haproxy'\n"), node.is_some());
        assert!(text.contains("'127.0.0.1:8081', '127.0.0.1:8082'"));
        for rules in ["alerts.yml", "slo.yml"] {
            assert!(text.contains(&state.prometheus().join(rules).display().to_string()));
        }
        assert_eq!(
            text.contains(
                "alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9093']"
            ),
            alertmanager.is_some()
        );
    }
}

#[test]
fn instances_beyond_the_last_port_are_refused() {
    let (code, err) = stderr_of(srelab().args(["lab", "--base-port", "65535", "--instances", "2"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--base-port 65535 leaves no room for 2 instances"),
        "{err}"
    );
}
