# services.srelab.logs: ships the journal of this machine's srelab units to
# Loki with Grafana Alloy (nixpkgs' services.alloy), as `srelab lab` ships
# its instances' log files. The instances log JSON lines with a sampled
# access log; Alloy keeps only the srelab units' entries, labels each with
# `job` and `instance` (the `host:port` Prometheus scrapes) and sends it
# through the repository's pipeline (alloy/pipeline.alloy: `level` from the
# line, the line's own timestamp) to `lokiPushUrl`.
{
  config,
  lib,
  ...
}: let
  inherit (lib) mkOption types;
  defaults = import ./defaults.nix;
  inherit (import ./helpers.nix) reachable;
  cfg = config.services.srelab.logs;
  srelab = config.services.srelab;
  instanceOf = inst: let
    host =
      if cfg.instanceHost == null
      then reachable inst.listenAddress
      else cfg.instanceHost;
  in "${host}:${toString inst.port}";

  # The journal source: the srelab units only, each unit's instance label.
  journal = import ./alloy-journal.nix {
    inherit (defaults) job;
    instances = lib.mapAttrs (_: instanceOf) srelab.instances;
  };
in {
  options.services.srelab.logs = {
    lokiPushUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "http://monitor:${toString defaults.lokiPort}/loki/api/v1/push";
      description = "Loki's push URL: when set, Grafana Alloy ships the srelab units' journal there. The lab module sets it to its own Loki.";
    };

    instanceHost = mkOption {
      type = types.nullOr types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = "The host part of each instance's `instance` label (`HOST:PORT`), as Prometheus names the instances it scrapes; null: the address the instance listens on (loopback for a wildcard), as the lab's Prometheus scrapes local instances.";
    };

    accessLogSample = mkOption {
      type = types.ints.unsigned;
      default = defaults.accessLogSample;
      description = "Besides errors and slow requests, log 1 in this many requests (SRELAB_ACCESS_LOG_SAMPLE; 0: none).";
    };

    alloyListenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1:${toString defaults.alloyPort}";
      description = "Where Alloy's HTTP server (UI, metrics) listens.";
    };
  };

  config = lib.mkIf (srelab.enable && cfg.lokiPushUrl != null) {
    services.srelab = {
      logFormat = "json";
      environment.SRELAB_ACCESS_LOG_SAMPLE = toString cfg.accessLogSample;
    };
    # Each instance names itself in its access log as its label does.
    systemd.services =
      lib.mapAttrs' (name: inst:
        lib.nameValuePair "srelab-${name}" {environment.SRELAB_INSTANCE = instanceOf inst;})
      srelab.instances
      // {
        alloy.environment.SRELAB_LOKI_PUSH_URL = cfg.lokiPushUrl;
      };

    services.alloy = {
      enable = true;
      extraFlags = ["--server.http.listen-addr=${cfg.alloyListenAddress}" "--disable-reporting"];
    };
    # services.alloy reads every *.alloy file of /etc/alloy (its configPath).
    environment.etc = {
      "alloy/srelab-pipeline.alloy".source = ../alloy/pipeline.alloy;
      "alloy/srelab-journal.alloy".text = journal;
    };
  };
}
