//! Loki's configuration has two writers: `srelab lab` (src/lab/loki.rs) and
//! the NixOS lab module (nixos-modules/loki-config.nix, handed to nixpkgs'
//! services.loki, whose build checks it with `loki -verify-config`). This
//! test evaluates the Nix function with the real `nix-instantiate` and
//! compares it with the lab's, so the two cannot drift.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

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
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "-E", &expr])
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
        "nix-instantiate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let nix: Value = serde_json::from_slice(&output.stdout).unwrap();
    let lab = srelab::lab::loki::config(http, grpc, Path::new(dir));
    assert_eq!(
        nix, lab,
        "nixos-modules/loki-config.nix and src/lab/loki.rs differ"
    );
}
