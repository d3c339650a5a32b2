# services.srelab.lab: the lab's monitoring on NixOS.
#
# Prometheus scrapes every local services.srelab instance plus named remote
# targets, the node exporter and (optionally) load generators, and evaluates
# the repository's alert and SLO rules; Alertmanager (the repository's
# routes) delivers to `srelab receive`, which records every notification;
# Grafana gets the repository's provisioning files and dashboards. Secrets
# come from files, never from defaults.
{
  config,
  lib,
  ...
}: let
  inherit (lib) mkOption types;
  defaults = import ./defaults.nix;
  inherit (import ./helpers.nix) bracket escapeSystemdExecArgs reachable sandbox unbracket;
  cfg = config.services.srelab.lab;
  srelab = config.services.srelab;
  alertmanager = config.services.prometheus.alertmanager;

  # The webhook receiver Alertmanager delivers to, on this machine only.
  receiverListen = "127.0.0.1:${toString defaults.receiverPort}";
  receiverFile = "/var/lib/srelab-receiver/notifications.jsonl";
  prometheus = config.services.prometheus;

  localTargets = lib.optionals srelab.enable (lib.mapAttrsToList
    (_: inst: "${reachable inst.listenAddress}:${toString inst.port}")
    srelab.instances);

  # From Prometheus' own options, which a user may set apart from ours.
  prometheusUrl = "http://${reachable prometheus.listenAddress}:${toString prometheus.port}";

  # HAProxy's exporters: the named ones, and this machine's services.srelab.lb
  # when that module is imported and enabled here.
  haproxyTargets =
    cfg.haproxyTargets
    ++ lib.optional (srelab ? lb && srelab.lb.enable)
    "${reachable srelab.lb.listenAddress}:${toString srelab.lb.exporterPort}";

  nodeExporter = "${reachable prometheus.exporters.node.listenAddress}:${toString prometheus.exporters.node.port}";

  # nixpkgs renders `--web.listen-address=ADDRESS:PORT` for both; an IPv6
  # literal set on them directly must come bracketed.
  bracketed = option: address: {
    assertion = bracket address == address;
    message = "${option} = \"${address}\" would listen on ${address}:PORT, which does not parse; write \"${bracket address}\".";
  };

  staticJob = name: targets: {
    job_name = name;
    static_configs = [{inherit targets;}];
  };
in {
  imports = [./srelab.nix ./loki.nix];

  options.services.srelab.lab = {
    enable = lib.mkEnableOption "the srelab lab's monitoring: Prometheus, the node exporter and Grafana";

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address Prometheus, Grafana and the node exporter listen on; an IPv6 literal may come with or without brackets (`::` or `[::]`).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the ports of Prometheus, Grafana and the node exporter.";
    };

    remoteTargets = mkOption {
      type = types.listOf types.str;
      default = [];
      example = ["app:8081" "app:8082"];
      description = "`host:port` of srelab instances on other machines, scraped beside the local ones in job `${defaults.job}`.";
    };

    nodeTargets = mkOption {
      type = types.listOf types.str;
      default = [];
      example = ["app:9100"];
      description = "`host:port` of node exporters on other machines, scraped beside the local one in job `${defaults.nodeJob}`.";
    };

    loadTargets = mkOption {
      type = types.listOf types.str;
      default = [];
      example = ["client:${toString defaults.loadMetricsPort}"];
      description = "`host:port` of `srelab load --metrics-listen` endpoints (job `${defaults.loadJob}`).";
    };

    postgresTargets = mkOption {
      type = types.listOf types.str;
      default = [];
      example = ["db:${toString defaults.postgresExporterPort}"];
      description = "`host:port` of PostgreSQL exporters (`services.prometheus.exporters.postgres`), scraped in job `${defaults.postgresJob}`.";
    };

    haproxyTargets = mkOption {
      type = types.listOf types.str;
      default = [];
      example = ["lb:${toString defaults.haproxyExporterPort}"];
      description = "`host:port` of HAProxy's Prometheus exporters (`services.srelab.lb`), scraped in job `${defaults.haproxyJob}`; a local `services.srelab.lb` is scraped without being named.";
    };

    scrapeInterval = mkOption {
      type = types.str;
      default = defaults.scrapeInterval;
      description = "Scrape and rule evaluation interval.";
    };

    alertmanager.enable = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run Alertmanager with the lab's routes, grouping and inhibition
        (`prometheus/alertmanager.yml`, as `srelab lab` runs it), Prometheus
        sending to it, and the webhook receiver it delivers to: `srelab
        receive` (unit `srelab-receiver.service`) records every notification
        in `${receiverFile}`.
      '';
    };

    grafana = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run Grafana with the lab's datasource and dashboards.";
      };
      secretKeyFile = mkOption {
        type = types.str;
        example = "/run/secrets/grafana-secret-key";
        description = "File holding Grafana's secret key (read by Grafana through `$__file{}`).";
      };
      adminPasswordFile = mkOption {
        type = types.str;
        example = "/run/secrets/grafana-admin-password";
        description = "File holding the password of Grafana's `admin` user (read through `$__file{}`).";
      };
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      assertions = [
        (bracketed "services.prometheus.listenAddress" prometheus.listenAddress)
        (bracketed "services.prometheus.exporters.node.listenAddress" prometheus.exporters.node.listenAddress)
      ];

      services.prometheus = {
        enable = true;
        # The module renders `--web.listen-address=ADDRESS:PORT`.
        listenAddress = lib.mkDefault (bracket cfg.listenAddress);
        port = lib.mkDefault defaults.prometheusPort;
        globalConfig = {
          scrape_interval = cfg.scrapeInterval;
          evaluation_interval = cfg.scrapeInterval;
        };
        ruleFiles = [../prometheus/alerts.yml ../prometheus/saturation.yml ../prometheus/slo.yml];
        scrapeConfigs =
          [
            (staticJob defaults.job (localTargets ++ cfg.remoteTargets))
            (staticJob defaults.nodeJob ([nodeExporter] ++ cfg.nodeTargets))
          ]
          ++ lib.optional (cfg.loadTargets != []) (staticJob defaults.loadJob cfg.loadTargets)
          ++ lib.optional (cfg.postgresTargets != []) (staticJob defaults.postgresJob cfg.postgresTargets)
          ++ lib.optional (haproxyTargets != []) (staticJob defaults.haproxyJob haproxyTargets);
      };

      services.prometheus.exporters.node = {
        enable = true;
        port = lib.mkDefault defaults.nodeExporterPort;
        listenAddress = lib.mkDefault (bracket cfg.listenAddress);
      };

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [
        prometheus.port
        prometheus.exporters.node.port
      ];
    }

    (lib.mkIf cfg.grafana.enable {
      services.grafana = {
        enable = true;
        settings = {
          server = {
            # A host, not HOST:PORT: Grafana takes IPv6 without brackets.
            http_addr = lib.mkDefault (unbracket cfg.listenAddress);
            http_port = lib.mkDefault defaults.grafanaPort;
          };
          security = {
            admin_user = lib.mkDefault "admin";
            admin_password = "$__file{${cfg.grafana.adminPasswordFile}}";
            secret_key = "$__file{${cfg.grafana.secretKeyFile}}";
          };
          analytics.reporting_enabled = false;
        };
        # The repository's provisioning files, as `srelab lab` uses them;
        # they read the two variables set below.
        provision = {
          enable = true;
          # Loki's datasource only with the lab's Loki.
          datasources.path =
            if cfg.loki.enable
            then ../grafana/provisioning/datasources
            else
              builtins.path {
                name = "srelab-datasources";
                path = ../grafana/provisioning/datasources;
                filter = path: _: baseNameOf path != "loki.yaml";
              };
          dashboards.path = ../grafana/provisioning/dashboards;
        };
      };

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [config.services.grafana.settings.server.http_port];

      systemd.services.grafana.environment = {
        SRELAB_PROMETHEUS_URL = prometheusUrl;
        SRELAB_DASHBOARDS_DIR = "${../grafana/dashboards}";
      };
    })

    (lib.mkIf cfg.alertmanager.enable {
      services.prometheus.alertmanager = {
        enable = true;
        # nixpkgs renders `--web.listen-address ADDRESS:PORT`.
        listenAddress = lib.mkDefault (bracket cfg.listenAddress);
        port = lib.mkDefault defaults.alertmanagerPort;
        # One Alertmanager: no cluster listener (it would bind 0.0.0.0:9094).
        extraFlags = ["--cluster.listen-address="];
        # The native lab's file, the receiver's URL filled in as there.
        configText =
          builtins.replaceStrings ["@RECEIVER_URL@"] ["http://${receiverListen}/alerts"]
          (builtins.readFile ../prometheus/alertmanager.yml);
      };
      services.prometheus.alertmanagers = [
        {static_configs = [{targets = ["${reachable alertmanager.listenAddress}:${toString alertmanager.port}"];}];}
      ];

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [alertmanager.port];

      systemd.services.srelab-receiver = {
        description = "srelab webhook receiver: records Alertmanager's notifications";
        wantedBy = ["multi-user.target"];
        before = ["alertmanager.service"];
        serviceConfig =
          {
            ExecStart = escapeSystemdExecArgs [
              (lib.getExe srelab.package)
              "receive"
              "--listen"
              receiverListen
              "--file"
              receiverFile
            ];
            DynamicUser = true;
            StateDirectory = "srelab-receiver";
            Restart = "on-failure";
          }
          // sandbox;
      };
    })
  ]);
}
