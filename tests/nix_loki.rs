//! The logs' Nix side, evaluated with the real `nix-instantiate`:
//! Loki's configuration has two writers, `srelab lab` (src/lab/loki.rs) and
//! the NixOS lab module (nixos-modules/loki-config.nix, handed to nixpkgs'
//! services.loki, whose build checks it with `loki -verify-config`), which
//! must agree; and the Alloy journal source the NixOS module generates
//! (nixos-modules/alloy-journal.nix) keeps the srelab units only and labels
//! each unit's lines with its instance, as Prometheus names it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Evaluates a Nix expression from the repository root to JSON.
fn nix_eval(expr: &str) -> Value {
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr", expr])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nix-instantiate ({e}); install Debian's nix-bin package \
                 (scripts/test.sh does) or use `nix develop`"
            )
        });
    assert!(
        output.status.success(),
        "nix-instantiate --eval {expr} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("nix-instantiate --json prints JSON")
}

#[test]
fn nixos_loki_config_is_the_labs() {
    let http: SocketAddr = "127.0.0.1:3100".parse().unwrap();
    let grpc: SocketAddr = "127.0.0.1:9096".parse().unwrap();
    let dir = "/var/lib/loki";
    let nix = nix_eval(&format!(
        "import ./nixos-modules/loki-config.nix {{ httpAddress = \"{}\"; httpPort = {}; \
         grpcAddress = \"{}\"; grpcPort = {}; dir = \"{dir}\"; }}",
        http.ip(),
        http.port(),
        grpc.ip(),
        grpc.port()
    ));
    let lab = srelab::lab::loki::config(http, grpc, Path::new(dir));
    assert_eq!(
        nix, lab,
        "nixos-modules/loki-config.nix and src/lab/loki.rs differ"
    );
}

#[test]
fn nixos_alloy_journal_labels_each_unit_as_prometheus_does() {
    let text = nix_eval(
        r#"import ./nixos-modules/alloy-journal.nix {
             job = "srelab";
             instances = { a = "app:8081"; "b.1" = "app:8082"; };
           }"#,
    );
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
