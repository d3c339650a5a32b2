# apps.lab, apps.load and apps.default: `srelab lab` with Prometheus, Grafana,
# the node exporter and Alertmanager from the pinned nixpkgs handed in explicitly, so
# `nix run .#lab` works on a machine with nothing but Nix.
{
  pkgs,
  srelab,
}: let
  inherit (pkgs) lib;

  lab = pkgs.writeShellApplication {
    name = "srelab-lab";
    runtimeEnv = import ./lab-env.nix pkgs;
    text = ''
      exec ${lib.getExe srelab} lab "$@"
    '';
  };

  load = pkgs.writeShellApplication {
    name = "srelab-load";
    text = ''
      exec ${lib.getExe srelab} load "$@"
    '';
  };

  app = drv: description: {
    type = "app";
    program = "${drv}/bin/${drv.name}";
    meta = {inherit description;};
  };
in {
  lab = app lab "Run the srelab lab: two instances, Prometheus, Grafana and the node exporter (srelab lab)";
  load = app load "Generate load against srelab instances (srelab load)";
  default = app lab "Run the srelab lab (srelab lab)";
}
