# The binaries `srelab lab` runs, from the pinned nixpkgs, as the
# environment variables the lab reads (apps.lab, the dev shell and the
# lab check use this one list).
pkgs: let
  inherit (pkgs) lib;
in {
  SRELAB_PROMETHEUS = lib.getExe' pkgs.prometheus "prometheus";
  SRELAB_GRAFANA = lib.getExe' pkgs.grafana "grafana";
  SRELAB_GRAFANA_HOMEPATH = "${pkgs.grafana}/share/grafana";
  SRELAB_NODE_EXPORTER = lib.getExe' pkgs.prometheus-node-exporter "node_exporter";
  # Logs: Loki, and Grafana Alloy shipping the instances' log files to it.
  SRELAB_LOKI = lib.getExe' pkgs.grafana-loki "loki";
  SRELAB_ALLOY = lib.getExe' pkgs.grafana-alloy "alloy";
  # `srelab lab --backend postgres`: initdb and postgres, and the exporter.
  SRELAB_POSTGRES_BIN_DIR = "${lib.getBin pkgs.postgresql}/bin";
  SRELAB_POSTGRES_EXPORTER = lib.getExe' pkgs.prometheus-postgres-exporter "postgres_exporter";
  # Alertmanager, which delivers to the lab's own receiver.
  SRELAB_ALERTMANAGER = lib.getExe' pkgs.prometheus-alertmanager "alertmanager";
}
