//! The one HAProxy configuration (`haproxy/srelab.cfg`): the real
//! `haproxy -c` accepts it as the lab renders it and refuses a broken one
//! with HAProxy's own words; the NixOS module's rendering
//! (`nixos-modules/haproxy-config.nix`, evaluated by the real
//! `nix-instantiate`) is the same text; the numbers derived from it stay in
//! step (`srelab serve --drain-delay` outlasts HAProxy's detection).

mod common;

use std::process::Command;
use std::time::Duration;

use common::haproxy::binary;
use srelab::lab::haproxy::{Server, TEMPLATE, Timing, check_config, render};

fn servers() -> Vec<Server> {
    (1..=3)
        .map(|i| Server {
            name: format!("srelab-{i}"),
            address: format!("127.0.0.1:{}", 18080 + i),
        })
        .collect()
}

#[test]
fn haproxy_accepts_the_rendered_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(
        &config,
        render("127.0.0.1:18080", "127.0.0.1:18405", &servers()),
    )
    .unwrap();
    check_config(&binary(), &config).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn haproxy_refuses_a_broken_configuration_in_its_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("haproxy.cfg");
    let broken = render("127.0.0.1:18080", "127.0.0.1:18405", &servers())
        .replace("balance roundrobin", "balance no-such-algorithm");
    std::fs::write(&config, broken).unwrap();
    let err = check_config(&binary(), &config).unwrap_err();
    assert!(err.contains("`haproxy -c` rejects"), "{err}");
    assert!(
        err.contains("balance only supports"),
        "HAProxy's words: {err}"
    );
}

#[test]
fn the_drain_delay_outlasts_haproxys_detection() {
    let t = Timing::parse(TEMPLATE).unwrap();
    let delay = humantime::parse_duration(srelab::serve::config::DRAIN_DELAY).unwrap();
    assert!(
        delay > t.detection_limit(),
        "--drain-delay {delay:?} must outlast HAProxy's {:?} to take a draining instance out",
        t.detection_limit()
    );
    assert!(delay < Duration::from_secs(30), "and stay short");
}

#[test]
fn nixos_haproxy_config_renders_the_labs_text() {
    let servers = servers();
    let addresses: Vec<&str> = servers.iter().map(|s| s.address.as_str()).collect();
    let expr = format!(
        "import ./nixos-modules/haproxy-config.nix {{ listen = \"[::]:8080\"; exporter = \"0.0.0.0:8405\"; servers = builtins.fromJSON ''{}''; }}",
        serde_json::to_string(&addresses).unwrap()
    );
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr", &expr])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nix-instantiate ({e}); install Debian's nix-bin (scripts/test.sh does)"
            )
        });
    assert!(
        out.status.success(),
        "nix-instantiate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nix: String = serde_json::from_slice(&out.stdout).unwrap();
    // The lab names its servers srelab-1, srelab-2, … as the module does.
    assert_eq!(nix, render("[::]:8080", "0.0.0.0:8405", &servers));
}
