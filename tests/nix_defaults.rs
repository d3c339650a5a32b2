//! The NixOS modules and `srelab lab` share one set of defaults: the modules
//! read `nixos-modules/defaults.nix`, the lab reads `src/lab/defaults.rs`.
//! These tests evaluate the Nix file with the real `nix-instantiate` and
//! compare it with the Rust constants, so the two worlds cannot drift; they
//! evaluate the modules' plain-Nix helpers (`nixos-modules/helpers.nix`),
//! Loki's configuration (`loki-config.nix`, which must be the lab's) and
//! the Alloy journal source (`alloy-journal.nix`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};
use srelab::lab::defaults;

const DEFAULTS_NIX: &str = "nixos-modules/defaults.nix";

/// Evaluates a Nix expression (`nix-instantiate ARGS`, from the repository
/// root) to JSON.
fn nix_eval(args: &[&str]) -> Value {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .args(args)
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
        "nix-instantiate --eval {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("nix-instantiate --json prints JSON")
}

/// Evaluates `nixos-modules/defaults.nix` to JSON with `nix-instantiate`.
fn eval_defaults_nix() -> Map<String, Value> {
    match nix_eval(&[DEFAULTS_NIX]) {
        Value::Object(map) => map,
        other => panic!("{DEFAULTS_NIX} must evaluate to an attribute set, got {other:?}"),
    }
}

/// The modules' address and ExecStart helpers (nixos-modules/helpers.nix):
/// IPv6 literals bracketed for `--web.listen-address=HOST:PORT`, wildcards
/// reached through loopback, and arguments quoted for systemd, which
/// expands `%` specifiers and `$` variables unless they are doubled.
#[test]
fn nixos_module_helpers() {
    let apply = |f: &str, inputs: Value| {
        let expr = format!(
            "let h = import ./nixos-modules/helpers.nix; in map h.{f} (builtins.fromJSON ''{inputs}'')"
        );
        nix_eval(&["--expr", &expr])
    };
    let addresses = json!([
        "::",
        "[::]",
        "::1",
        "[::1]",
        "0.0.0.0",
        "127.0.0.1",
        "app",
        ""
    ]);
    assert_eq!(
        apply("bracket", addresses.clone()),
        json!([
            "[::]",
            "[::]",
            "[::1]",
            "[::1]",
            "0.0.0.0",
            "127.0.0.1",
            "app",
            ""
        ])
    );
    assert_eq!(
        apply("unbracket", addresses.clone()),
        json!(["::", "::", "::1", "::1", "0.0.0.0", "127.0.0.1", "app", ""])
    );
    assert_eq!(
        apply("reachable", addresses),
        json!([
            "127.0.0.1",
            "127.0.0.1",
            "[::1]",
            "[::1]",
            "127.0.0.1",
            "127.0.0.1",
            "app",
            "127.0.0.1"
        ])
    );
    let args = json!([[
        "/nix/store/x/bin/srelab",
        "serve",
        "--note",
        "50% of $HOME \"a b\"\\"
    ]]);
    assert_eq!(
        apply("escapeSystemdExecArgs", args),
        json!([r#""/nix/store/x/bin/srelab" "serve" "--note" "50%% of $$HOME \"a b\"\\""#])
    );
}

/// The Rust constants, under the names `defaults.nix` uses.
fn lab_defaults() -> Map<String, Value> {
    let expected = json!({
        "instances": defaults::INSTANCES,
        "basePort": defaults::BASE_PORT,
        "prometheusPort": defaults::PROMETHEUS_PORT,
        "grafanaPort": defaults::GRAFANA_PORT,
        "nodeExporterPort": defaults::NODE_EXPORTER_PORT,
        "alertmanagerPort": defaults::ALERTMANAGER_PORT,
        "receiverPort": defaults::RECEIVER_PORT,
        "postgresExporterPort": defaults::POSTGRES_EXPORTER_PORT,
        "lokiPort": defaults::LOKI_PORT,
        "lokiGrpcPort": defaults::LOKI_GRPC_PORT,
        "alloyPort": defaults::ALLOY_PORT,
        "accessLogSample": defaults::ACCESS_LOG_SAMPLE,
        "lbPort": defaults::LB_PORT,
        "haproxyExporterPort": defaults::HAPROXY_EXPORTER_PORT,
        "loadMetricsPort": defaults::LOAD_METRICS_PORT,
        "job": defaults::JOB,
        "loadJob": defaults::LOAD_JOB,
        "nodeJob": defaults::NODE_JOB,
        "postgresJob": defaults::POSTGRES_JOB,
        "haproxyJob": defaults::HAPROXY_JOB,
        "lbBackend": defaults::LB_BACKEND,
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

/// Loki's configuration has two writers: `srelab lab` (src/lab/loki.rs)
/// and the NixOS lab module (nixos-modules/loki-config.nix, handed to
/// nixpkgs' services.loki, whose build checks it with `loki -verify-config`).
#[test]
fn nixos_loki_config_is_the_labs() {
    let http: SocketAddr = "127.0.0.1:3100".parse().unwrap();
    let grpc: SocketAddr = "127.0.0.1:9096".parse().unwrap();
    let dir = "/var/lib/loki";
    let expr = format!(
        "import ./nixos-modules/loki-config.nix {{ httpAddress = \"{}\"; httpPort = {}; \
         grpcAddress = \"{}\"; grpcPort = {}; dir = \"{dir}\"; }}",
        http.ip(),
        http.port(),
        grpc.ip(),
        grpc.port()
    );
    let nix = nix_eval(&["--expr", &expr]);
    let lab = srelab::lab::loki::config(http, grpc, Path::new(dir));
    assert_eq!(
        nix, lab,
        "nixos-modules/loki-config.nix and src/lab/loki.rs differ"
    );
}

/// The Alloy journal source the NixOS module generates
/// (nixos-modules/alloy-journal.nix) keeps the srelab units only and labels
/// each unit's lines with its instance, as Prometheus names it.
#[test]
fn nixos_alloy_journal_labels_each_unit_as_prometheus_does() {
    let text = nix_eval(&[
        "--expr",
        r#"import ./nixos-modules/alloy-journal.nix {
             job = "srelab";
             instances = { a = "app:8081"; "b.1" = "app:8082"; };
           }"#,
    ]);
    let text = text.as_str().unwrap();
    let rule = |unit: &str, instance: &str| {
        format!(
            "  rule {{\n    source_labels = [\"__journal__systemd_unit\"]\n    \
             regex         = \"{unit}\"\n    target_label  = \"instance\"\n    \
             replacement   = \"{instance}\"\n  }}\n"
        )
    };
    // Alloy strings take Go's escapes: `\\.` is the regex `\.`.
    assert!(
        text.contains(&rule(r"srelab-a\\.service", "app:8081")),
        "{text}"
    );
    assert!(
        text.contains(&rule(r"srelab-b\\.1\\.service", "app:8082")),
        "{text}"
    );
    assert!(
        text.contains("regex         = \"srelab-.+\\\\.service\"\n    action        = \"keep\""),
        "only the srelab units: {text}"
    );
    assert!(text.contains("values = { job = \"srelab\" }"), "{text}");
    assert!(
        text.contains("forward_to = [loki.process.srelab.receiver]"),
        "into the shared pipeline: {text}"
    );
    let pipeline = srelab::verify::assets::ALLOY_PIPELINE;
    assert!(pipeline.contains("loki.process \"srelab\" {"), "{pipeline}");
    // Braces balance (a generated block closed once).
    assert_eq!(
        text.matches('{').count(),
        text.matches('}').count(),
        "{text}"
    );
}
