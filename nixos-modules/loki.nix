# services.srelab.lab.loki: Loki for the lab (nixpkgs' services.loki), with
# the configuration `srelab lab` writes (./loki-config.nix, checked by
# `loki -verify-config` when the system is built), Grafana's Loki
# datasource, and the journal of this machine's srelab units shipped to it
# (services.srelab.logs). Other machines ship theirs by setting
# services.srelab.logs.lokiPushUrl to this Loki.
{
  config,
  lib,
  ...
}: let
  inherit (lib) mkOption types;
  defaults = import ./defaults.nix;
  inherit (import ./helpers.nix) reachable unbracket;
  lab = config.services.srelab.lab;
  cfg = lab.loki;
  lokiUrl = "http://${reachable lab.listenAddress}:${toString cfg.port}";
in {
  options.services.srelab.lab.loki = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run Loki for the srelab units' logs, with Grafana's Loki datasource (uid `${defaults.lokiDatasourceUid}`).";
    };
    port = mkOption {
      type = types.port;
      default = defaults.lokiPort;
      description = "Loki's HTTP port (push and query API), on `services.srelab.lab.listenAddress`.";
    };
  };

  config = lib.mkIf (lab.enable && cfg.enable) {
    services.loki = {
      enable = true;
      configuration = import ./loki-config.nix {
        httpAddress = unbracket lab.listenAddress;
        httpPort = cfg.port;
        grpcAddress = "127.0.0.1";
        grpcPort = defaults.lokiGrpcPort;
        dir = config.services.loki.dataDir;
      };
    };

    # The local instances are labelled as the lab's Prometheus scrapes them.
    services.srelab.logs = {
      lokiPushUrl = lib.mkDefault "${lokiUrl}/loki/api/v1/push";
      instanceHost = lib.mkDefault null;
    };

    systemd.services.grafana.environment.SRELAB_LOKI_URL = lokiUrl;

    networking.firewall.allowedTCPPorts = lib.mkIf lab.openFirewall [cfg.port];
  };
}
