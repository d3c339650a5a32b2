# services.srelab.lb: HAProxy in front of srelab instances on any hosts,
# with the lab's one configuration (haproxy/srelab.cfg, rendered by
# ./haproxy-config.nix as `srelab lab --lb` renders it): readiness checks on
# /readyz, retries that never resend a POST, and the built-in Prometheus
# exporter on `exporterPort` (scraped by services.srelab.lab.haproxyTargets
# as job `haproxy`). nixpkgs' services.haproxy runs it; its own `global`
# section (the stats socket) comes first and HAProxy merges both.
{
  config,
  lib,
  ...
}: let
  inherit (lib) mkOption types;
  defaults = import ./defaults.nix;
  inherit (import ./helpers.nix) bracket;
  cfg = config.services.srelab.lb;
  on = port: "${bracket cfg.listenAddress}:${toString port}";
in {
  options.services.srelab.lb = {
    enable = lib.mkEnableOption "HAProxy in front of srelab instances, with the lab's configuration";

    servers = mkOption {
      type = types.nonEmptyListOf types.str;
      example = ["app1:${toString defaults.basePort}" "app2:${toString defaults.basePort}"];
      description = "`host:port` of each srelab instance, in order; HAProxy names them `srelab-1`, `srelab-2`, ... (the `server` label of its metrics).";
    };

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address HAProxy and its exporter listen on (an IPv6 literal with or without brackets).";
    };

    port = mkOption {
      type = types.port;
      default = defaults.lbPort;
      description = "Port clients send requests to.";
    };

    exporterPort = mkOption {
      type = types.port;
      default = defaults.haproxyExporterPort;
      description = "Port of HAProxy's Prometheus exporter (`/metrics`).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `port` and `exporterPort`.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.haproxy = {
      enable = true;
      config = import ./haproxy-config.nix {
        listen = on cfg.port;
        exporter = on cfg.exporterPort;
        inherit (cfg) servers;
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [cfg.port cfg.exporterPort];
  };
}
