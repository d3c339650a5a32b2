# checks: what `nix flake check` builds (Linux only, as the flake): the
# package with its tests, clippy, rustfmt, Nix formatting, deadnix, the
# alert rule tests, `srelab lab --check` in the build sandbox and the NixOS
# VM test.
{
  pkgs,
  self,
  srelab,
}: let
  inherit (pkgs) lib;
  fs = lib.fileset;

  # Every .nix file of the flake, for the formatter and deadnix.
  nixFiles = fs.toSource {
    root = ../.;
    fileset = fs.fileFilter (file: file.hasExt "nix") ../.;
  };

  labEnv = import ./lab-env.nix pkgs;

  # A check that runs commands and produces an empty output.
  check = name: inputs: script:
    pkgs.runCommand "srelab-${name}" {nativeBuildInputs = inputs;} ''
      ${script}
      touch "$out"
    '';
in {
  package = srelab;

  clippy = pkgs.stdenv.mkDerivation {
    name = "srelab-clippy";
    inherit (srelab) src cargoDeps;
    nativeBuildInputs = [
      pkgs.rustPlatform.cargoSetupHook
      pkgs.cargo
      pkgs.rustc
      pkgs.clippy
    ];
    buildPhase = ''
      runHook preBuild
      export CARGO_HOME="$TMPDIR/cargo-home"
      cargo clippy --workspace --all-targets --offline -- -D warnings
      runHook postBuild
    '';
    installPhase = ''
      touch "$out"
    '';
  };

  rustfmt = check "rustfmt" [pkgs.cargo pkgs.rustfmt] ''
    export CARGO_HOME="$TMPDIR/cargo-home"
    cp -r --no-preserve=mode ${srelab.src} src
    cd src
    cargo fmt --all -- --check
  '';

  nix-fmt = check "nix-fmt" [pkgs.alejandra] ''
    alejandra --check ${nixFiles}
  '';

  deadnix = check "deadnix" [pkgs.deadnix] ''
    deadnix --fail ${nixFiles}
  '';

  promtool = check "promtool" [pkgs.prometheus.cli] ''
    cd ${../prometheus}
    promtool test rules alerts.test.yml slo.test-*.yml
  '';

  # The native lab under the build sandbox: loopback only, state under
  # $TMPDIR, no /sys; lab-check.sh is what the sandbox twin runs too.
  # promtool too, in case the lab checks its generated configuration.
  lab = check "lab" [srelab pkgs.prometheus.cli] ''
    SRELAB_PROMETHEUS=${labEnv.SRELAB_PROMETHEUS} bash ${./lab-check.sh}
  '';

  # The same with Loki and Grafana Alloy from nixpkgs: --check then also
  # forces a 500 on every instance and verifies the log signals in Loki.
  lab-logs = check "lab-logs" [srelab pkgs.prometheus.cli] ''
    SRELAB_PROMETHEUS=${labEnv.SRELAB_PROMETHEUS} \
    SRELAB_LOKI=${labEnv.SRELAB_LOKI} SRELAB_ALLOY=${labEnv.SRELAB_ALLOY} \
      bash ${./lab-check.sh}
  '';

  # The same on PostgreSQL: a cluster in $TMPDIR, its exporter, and the
  # database fault (PostgreSQL stopped under load, restarted).
  lab-postgres =
    pkgs.runCommand "srelab-lab-postgres" {
      nativeBuildInputs = [srelab];
      inherit (labEnv) SRELAB_PROMETHEUS SRELAB_POSTGRES_BIN_DIR SRELAB_POSTGRES_EXPORTER;
    } ''
      export HOME="$TMPDIR"
      cd "$TMPDIR"
      srelab lab --check --backend postgres --no-node-exporter
      touch "$out"
    '';

  vm = import ./vm-test.nix {inherit pkgs self srelab;};
  vm-postgres = import ./vm-test-postgres.nix {inherit pkgs self srelab;};
  vm-lb = import ./vm-test-lb.nix {inherit pkgs self srelab;};
}
