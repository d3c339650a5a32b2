# packages.srelab: the one binary (serve, load, lab, verify), with its test
# suite run in the build against nixpkgs' Prometheus and promtool.
{
  lib,
  rustPlatform,
  prometheus,
  prometheus-node-exporter,
  postgresql,
  prometheus-postgres-exporter,
  revision ? "dirty",
}: let
  fs = lib.fileset;
  cargoToml = lib.importTOML ../Cargo.toml;
in
  rustPlatform.buildRustPackage {
    pname = "srelab";
    inherit (cargoToml.package) version;

    # What the build and its tests read, nothing more: the binary embeds
    # spec/, prometheus/ and grafana/ files; one test reads
    # nixos-modules/defaults.nix.
    src = fs.toSource {
      root = ../.;
      fileset = fs.unions [
        ../Cargo.toml
        ../Cargo.lock
        ../src
        ../xtask
        ../nixos-modules/defaults.nix
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

    # The tests run the real prometheus, promtool and node exporter, and
    # PostgreSQL (initdb, postgres: each test starts its own cluster in
    # $TMPDIR) with its exporter.
    nativeCheckInputs = [
      prometheus
      prometheus.cli
      prometheus-node-exporter
      postgresql
      prometheus-postgres-exporter
    ];
    # The nixos_* tests run nix-instantiate, which needs a Nix store the
    # build sandbox does not have; the tests named chromium_* open the HTML
    # report in a headless Chromium, and the logql_* tests run Grafana's
    # LogQL grammar from npm with Node.js, neither among the check inputs.
    # scripts/test.sh runs them all on every CI run.
    checkFlags = [
      "--skip=nixos_defaults_agree_with_the_lab"
      "--skip=nixos_loki_config_is_the_labs"
      "--skip=nixos_alloy_journal_labels_each_unit_as_prometheus_does"
      "--skip=chromium_"
      "--skip=logql_"
    ];

    # The tests bind 127.0.0.1.
    __darwinAllowLocalNetworking = true;

    meta = {
      description = "A reproducible SRE lab: an instrumented HTTP service, a load tool and a one-command Prometheus/Grafana lab";
      license = with lib.licenses; [mit asl20];
      mainProgram = "srelab";
    };
  }
