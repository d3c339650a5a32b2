# packages.srelab: the one binary (serve, load, lab, verify), with its test
# suite run in the build against nixpkgs' Prometheus and promtool. The test
# phase's inputs and flags are in test-phase.nix, which the sandbox twin
# (scripts/sandbox-twin.sh) reads too.
{
  lib,
  rustPlatform,
  prometheus,
  postgresql,
  prometheus-postgres-exporter,
  haproxy,
  prometheus-alertmanager,
  revision ? "dirty",
}: let
  fs = lib.fileset;
  cargoToml = lib.importTOML ../Cargo.toml;
  testPhase = import ./test-phase.nix;
  checkInputs = {inherit prometheus postgresql prometheus-postgres-exporter haproxy prometheus-alertmanager;};
in
  rustPlatform.buildRustPackage {
    pname = "srelab";
    inherit (cargoToml.package) version;

    # What the build and its tests read, nothing more: the binary embeds
    # spec/, prometheus/, grafana/ and haproxy/ files; one test reads
    # nixos-modules/defaults.nix.
    src = fs.toSource {
      root = ../.;
      fileset = fs.unions [
        ../Cargo.toml
        ../Cargo.lock
        ../src
        ../xtask
        ../nixos-modules/defaults.nix
        # The HAProxy configuration the binary embeds; the runbook the
        # saturation rules' tests read.
        ../haproxy/srelab.cfg
        ../docs/runbook.md
        (fs.maybeMissing ../README.md)
        (fs.maybeMissing ../build.rs)
        (fs.maybeMissing ../.cargo)
        (fs.maybeMissing ../tests)
        (fs.maybeMissing ../examples)
        (fs.maybeMissing ../benches)
        (fs.maybeMissing ../spec)
        (fs.maybeMissing ../prometheus)
        (fs.maybeMissing ../grafana)
      ];
    };

    cargoLock.lockFile = ../Cargo.lock;

    # Feeds srelab_build_info{revision}.
    env.SRELAB_REVISION = revision;

    # The tests run the real prometheus and promtool, and PostgreSQL
    # (initdb, postgres: each test starts its own cluster in $TMPDIR) with
    # its exporter, and Alertmanager with amtool. No node exporter: the Linux build sandbox has no /sys,
    # and node_exporter dies without it.
    nativeCheckInputs =
      map (path: lib.getAttrFromPath (lib.splitString "." path) checkInputs)
      (lib.attrNames testPhase.nativeCheckInputs);
    inherit (testPhase) checkFlags;

    meta = {
      description = "A reproducible SRE lab: an instrumented HTTP service, a load tool and a one-command Prometheus/Grafana lab";
      license = with lib.licenses; [mit asl20];
      mainProgram = "srelab";
    };
  }
