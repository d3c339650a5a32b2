# devShells.default: the whole toolbox for `cargo`, `srelab lab` and the
# Nix checks.
{
  pkgs,
  srelab,
}:
pkgs.mkShell {
  inputsFrom = [srelab];
  packages = [
    pkgs.cargo
    pkgs.rustc
    pkgs.clippy
    pkgs.rustfmt
    pkgs.rust-analyzer
    pkgs.prometheus
    pkgs.prometheus.cli
    pkgs.grafana
    pkgs.prometheus-node-exporter
    pkgs.postgresql
    pkgs.prometheus-postgres-exporter
    pkgs.prometheus-alertmanager
    pkgs.sqlite
    pkgs.wrk
    pkgs.alejandra
    pkgs.deadnix
  ];
  # `srelab lab` in the shell uses the pinned binaries too.
  env = import ./lab-env.nix pkgs;
}
