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
}
