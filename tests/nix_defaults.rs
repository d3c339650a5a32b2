//! The NixOS modules and `srelab lab` share one set of defaults: the modules
//! read `nixos-modules/defaults.nix`, the lab reads `src/lab/defaults.rs`.
//! These tests evaluate the Nix file with the real `nix-instantiate` and
//! compare it with the Rust constants, so the two worlds cannot drift.

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};
use srelab::lab::defaults;

const DEFAULTS_NIX: &str = "nixos-modules/defaults.nix";

/// Evaluates `nixos-modules/defaults.nix` to JSON with `nix-instantiate`.
fn eval_defaults_nix() -> Map<String, Value> {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", DEFAULTS_NIX])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nix-instantiate ({e}); install Debian's nix-bin package \
                 (scripts/test.sh does) or use `nix develop`"
            )
        });
    assert!(
        output.status.success(),
        "nix-instantiate --eval {DEFAULTS_NIX} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Object(map)) => map,
        other => panic!("{DEFAULTS_NIX} must evaluate to an attribute set, got {other:?}"),
    }
}

/// The Rust constants, under the names `defaults.nix` uses.
fn lab_defaults() -> Map<String, Value> {
    let expected = json!({
        "instances": defaults::INSTANCES,
        "basePort": defaults::BASE_PORT,
        "prometheusPort": defaults::PROMETHEUS_PORT,
        "grafanaPort": defaults::GRAFANA_PORT,
        "nodeExporterPort": defaults::NODE_EXPORTER_PORT,
        "postgresExporterPort": defaults::POSTGRES_EXPORTER_PORT,
        "lokiPort": defaults::LOKI_PORT,
        "lokiGrpcPort": defaults::LOKI_GRPC_PORT,
        "alloyPort": defaults::ALLOY_PORT,
        "accessLogSample": defaults::ACCESS_LOG_SAMPLE,
        "loadMetricsPort": defaults::LOAD_METRICS_PORT,
        "job": defaults::JOB,
        "loadJob": defaults::LOAD_JOB,
        "nodeJob": defaults::NODE_JOB,
        "postgresJob": defaults::POSTGRES_JOB,
        "postgresDatabase": defaults::POSTGRES_DATABASE,
        "scrapeInterval": defaults::SCRAPE_INTERVAL,
        "specPath": defaults::SPEC_PATH,
        "datasourceUid": defaults::DATASOURCE_UID,
        "lokiDatasourceUid": defaults::LOKI_DATASOURCE_UID,
        "dashboardUid": defaults::DASHBOARD_UID,
    });
    match expected {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

#[test]
fn nixos_defaults_agree_with_the_lab() {
    let nix = eval_defaults_nix();
    let rust = lab_defaults();
    for (key, want) in &rust {
        match nix.get(key) {
            Some(got) => assert_eq!(
                got, want,
                "{DEFAULTS_NIX}: `{key}` is {got}, src/lab/defaults.rs says {want}"
            ),
            None => panic!("{DEFAULTS_NIX} lacks `{key}` (src/lab/defaults.rs has {want})"),
        }
    }
    let extra: Vec<&String> = nix.keys().filter(|k| !rust.contains_key(*k)).collect();
    assert!(
        extra.is_empty(),
        "{DEFAULTS_NIX} has keys src/lab/defaults.rs does not know: {extra:?}"
    );
}

#[test]
fn the_spec_file_named_by_the_defaults_exists() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join(defaults::SPEC_PATH);
    assert!(
        spec.is_file(),
        "{} (defaults::SPEC_PATH, used by the lab, the VM test and verify) does not exist",
        spec.display()
    );
}
