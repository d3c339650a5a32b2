# checks.vm: three NixOS machines. `app` runs two srelab instances on one
# database, `monitor` runs the lab's Prometheus, node exporter and Grafana
# (nixosModules.lab) with Alertmanager and its webhook receiver, and scrapes
# the load tool on `client` too. The script
# only orchestrates: `srelab verify` decides (with the repository's spec
# file), `srelab load` judges its own gates, `srelab verify alert` reads
# Prometheus' alerts API and `srelab verify items` reconciles the load's
# report with the database.
{
  pkgs,
  self,
  srelab,
}: let
  inherit (pkgs) lib;
  defaults = import ../nixos-modules/defaults.nix;
  portA = toString defaults.basePort;
  portB = toString (defaults.basePort + 1);
  loadPort = toString defaults.loadMetricsPort;
  prometheus = "http://monitor:${toString defaults.prometheusPort}";
  loki = "http://monitor:${toString defaults.lokiPort}";
  # Test-only secrets; real machines point these options at secret files.
  grafanaSecretKey = pkgs.writeText "grafana-secret-key" "srelab-vm-test-secret-key";
  grafanaPassword = pkgs.writeText "grafana-admin-password" "srelab-vm-test-password";
  # defaults.specPath; tests/nix_defaults.rs keeps the two in step.
  spec = ../spec/signals.toml;
  units = "srelab-a.service srelab-b.service";

  # verify retries for this long; the load would last longer, so verify
  # never looks at an idle system. Once verify passed, the load is stopped:
  # SIGINT, which it takes as Ctrl-C, ending gracefully (requests in flight
  # finish and count) and writing its report.
  verifyTimeout = 90;
  loadSeconds = verifyTimeout + 30;
  report = "/tmp/srelab-load.json";
  rows = "sqlite3 -readonly /var/lib/srelab/srelab.db 'SELECT count(*) FROM items'";

  # The load tool as a transient unit on `client`, scraped by `monitor`:
  # an open model at a rate the one-core VMs sustain, so the tool's own
  # trustworthiness verdict is about the tool, not an overloaded VM.
  load = unit: args:
    lib.concatStringsSep " " ([
        "systemd-run --unit ${unit} -p KillSignal=SIGINT"
        (lib.getExe srelab)
        "load --target http://app:${portA} --target http://app:${portB}"
        "-r 100 -c 16 -q --metrics-listen 0.0.0.0:${loadPort}"
      ]
      ++ args);
  loadDuringVerify = load "srelab-load" [
    "-d ${toString loadSeconds}s -o json -O ${report}"
    "--max-error-ratio 0.001 --fail-untrustworthy"
  ];
  # Errors are expected while an instance is down: no gates (1 turns off the
  # default error-ratio gate). Its items must
  # still be the database's new rows: a stopped instance drains what it took.
  faultReport = "/tmp/srelab-load-fault.json";
  loadDuringFault = load "srelab-load-fault" ["-d 600s -o json -O ${faultReport} --max-error-ratio 1"];
  alert = state: "srelab verify alert SrelabInstanceDown=${state} --label instance=app:${portA} --prometheus ${prometheus} --timeout 90s";
  # Alertmanager delivered it to the `page` receiver: the receiver's record
  # on `monitor` (one notification per line) holds it with this status.
  delivered = status:
    builtins.toJSON "jq -e -s 'any(.[] | select(.receiver == \"page\") | .alerts[]; .labels.alertname == \"SrelabInstanceDown\" and .labels.instance == \"app:${portA}\" and .status == \"${status}\")' /var/lib/srelab-receiver/notifications.jsonl";
in
  pkgs.testers.runNixOSTest {
    name = "srelab";

    nodes = {
      app = {pkgs, ...}: {
        imports = [self.nixosModules.srelab];
        services.srelab = {
          enable = true;
          openFirewall = true;
          instances = {
            a = {
              listenAddress = "0.0.0.0";
              port = defaults.basePort;
              # The test forces one 500 per instance for verify's error_lines.
              extraArgs = ["--debug-panic-route"];
            };
            b = {
              listenAddress = "0.0.0.0";
              port = defaults.basePort + 1;
              extraArgs = ["--debug-panic-route"];
            };
          };
          # Alloy ships the units' journal to the lab's Loki on monitor.
          logs.lokiPushUrl = "${loki}/loki/api/v1/push";
        };
        # Counts the database's rows for the reconciliation.
        environment.systemPackages = [pkgs.sqlite];
      };

      monitor = {
        imports = [self.nixosModules.lab];
        services.srelab.lab = {
          enable = true;
          listenAddress = "0.0.0.0";
          openFirewall = true;
          remoteTargets = ["app:${portA}" "app:${portB}"];
          loadTargets = ["client:${loadPort}"];
          grafana = {
            secretKeyFile = "${grafanaSecretKey}";
            adminPasswordFile = "${grafanaPassword}";
          };
        };
        virtualisation = {
          memorySize = 2048;
          cores = 2;
        };
        # Reads the receiver's record.
        environment.systemPackages = [pkgs.jq];
      };

      client = {
        environment.systemPackages = [srelab];
        # monitor scrapes the load tool's --metrics-listen.
        networking.firewall.allowedTCPPorts = [defaults.loadMetricsPort];
      };
    };

    testScript = ''
      start_all()

      with subtest("the services come up"):
          app.wait_for_unit("srelab-a.service")
          app.wait_for_unit("srelab-b.service")
          app.wait_for_open_port(${portA})
          app.wait_for_open_port(${portB})
          monitor.wait_for_unit("prometheus.service")
          monitor.wait_for_unit("prometheus-node-exporter.service")
          monitor.wait_for_unit("grafana.service")
          monitor.wait_for_unit("loki.service")
          app.wait_for_unit("alloy.service")
          monitor.wait_for_unit("alertmanager.service")
          monitor.wait_for_unit("srelab-receiver.service")
          monitor.wait_for_open_port(${toString defaults.prometheusPort})
          monitor.wait_for_open_port(${toString defaults.grafanaPort})
          client.wait_for_unit("multi-user.target")
          client.wait_until_succeeds("curl -sSf http://app:${portA}/readyz")
          client.wait_until_succeeds("curl -sSf http://app:${portB}/readyz")
          client.wait_until_succeeds("curl -sSf ${prometheus}/-/ready")
          client.wait_until_succeeds("curl -sSf ${loki}/ready")

      with subtest("under load from the client, every signal of the spec exists, the log signals in Loki"):
          rows_before = app.succeed("${rows}").strip()
          client.succeed("${loadDuringVerify}")
          # One 500 per instance: verify requires its ERROR line in Loki.
          for port in ["${portA}", "${portB}"]:
              client.succeed(
                  "test \"$(curl -s -o /dev/null -w '%{http_code}' http://app:" + port + "/debug/panic)\" = 500"
              )
          client.succeed(
              "srelab verify --prometheus ${prometheus} --spec ${spec} --min-instances 2"
              + " --loki ${loki} --require error_lines"
              + " --timeout ${toString verifyTimeout}s"
          )
          # verify passed while the load still ran.
          client.succeed("systemctl is-active srelab-load.service")

      with subtest("the load passes its own gates and its items are the database's new rows"):
          client.succeed("systemctl stop srelab-load.service")
          print(client.succeed("journalctl -u srelab-load.service -o cat"))
          client.fail("systemctl is-failed srelab-load.service")
          rows_after = app.succeed("${rows}").strip()
          client.succeed(
              "srelab verify items ${report} --rows-before " + rows_before + " --rows-after " + rows_after
          )

      with subtest("under load, a stopped instance fires SrelabInstanceDown, delivered as a page; restarted, it resolves; no item is lost"):
          client.succeed("${loadDuringFault}")
          client.wait_until_succeeds("curl -sSf http://127.0.0.1:${loadPort}/metrics")
          app.succeed("systemctl stop srelab-a.service")
          client.succeed("${alert "firing"}")
          monitor.wait_until_succeeds(${delivered "firing"}, timeout=60)
          app.succeed("systemctl start srelab-a.service")
          app.wait_for_open_port(${portA})
          client.succeed("${alert "inactive"}")
          monitor.wait_until_succeeds(${delivered "resolved"}, timeout=60)
          print(monitor.succeed("cat /var/lib/srelab-receiver/notifications.jsonl"))
          client.succeed("systemctl stop srelab-load-fault.service")
          client.fail("systemctl is-failed srelab-load-fault.service")
          rows_final = app.succeed("${rows}").strip()
          client.succeed(
              "srelab verify items ${faultReport} --rows-before " + rows_after + " --rows-after " + rows_final
          )

      with subtest("Grafana is healthy and has the provisioned datasources (Prometheus, Loki) and dashboard"):
          grafana = "http://127.0.0.1:${toString defaults.grafanaPort}"
          auth = "-u admin:\"$(cat ${grafanaPassword})\""
          monitor.wait_until_succeeds("curl -sSf " + grafana + "/api/health")
          monitor.wait_until_succeeds(
              "curl -sSf " + auth + " " + grafana + "/api/datasources/uid/${defaults.datasourceUid}"
          )
          monitor.wait_until_succeeds(
              "curl -sSf " + auth + " " + grafana + "/api/dashboards/uid/${defaults.dashboardUid}"
          )
          monitor.wait_until_succeeds(
              "curl -sSf " + auth + " " + grafana + "/api/datasources/uid/${defaults.lokiDatasourceUid}"
          )

      with subtest("the srelab units are hardened: exposure at most 2.0"):
          print(app.succeed("systemd-analyze security --no-pager ${units}"))
          app.succeed("systemd-analyze security --no-pager --threshold=20 ${units}")
    '';
  }
