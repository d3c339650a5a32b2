# checks.vm: three NixOS machines. `app` runs two srelab instances on one
# database, `monitor` runs the lab's Prometheus, node exporter and Grafana
# (nixosModules.lab), `client` runs the load tool. The script only
# orchestrates: `srelab verify` decides, with the repository's spec file.
{
  pkgs,
  self,
  srelab,
}: let
  defaults = import ../nixos-modules/defaults.nix;
  portA = defaults.basePort;
  portB = defaults.basePort + 1;
  # Test-only secrets; real machines point these options at secret files.
  grafanaSecretKey = pkgs.writeText "grafana-secret-key" "srelab-vm-test-secret-key";
  grafanaPassword = pkgs.writeText "grafana-admin-password" "srelab-vm-test-password";
  # defaults.specPath; tests/nix_defaults.rs keeps the two in step.
  spec = ../spec/signals.toml;
  units = "srelab-a.service srelab-b.service";
in
  pkgs.testers.runNixOSTest {
    name = "srelab";

    nodes = {
      app = {
        imports = [self.nixosModules.srelab];
        services.srelab = {
          enable = true;
          openFirewall = true;
          instances = {
            a = {
              listenAddress = "0.0.0.0";
              port = portA;
            };
            b = {
              listenAddress = "0.0.0.0";
              port = portB;
            };
          };
        };
      };

      monitor = {
        imports = [self.nixosModules.lab];
        services.srelab.lab = {
          enable = true;
          listenAddress = "0.0.0.0";
          openFirewall = true;
          remoteTargets = ["app:${toString portA}" "app:${toString portB}"];
          grafana = {
            secretKeyFile = "${grafanaSecretKey}";
            adminPasswordFile = "${grafanaPassword}";
          };
        };
        virtualisation = {
          memorySize = 2048;
          cores = 2;
        };
      };

      client = {
        environment.systemPackages = [srelab];
      };
    };

    testScript = ''
      start_all()

      with subtest("the services come up"):
          app.wait_for_unit("srelab-a.service")
          app.wait_for_unit("srelab-b.service")
          app.wait_for_open_port(${toString portA})
          app.wait_for_open_port(${toString portB})
          monitor.wait_for_unit("prometheus.service")
          monitor.wait_for_unit("prometheus-node-exporter.service")
          monitor.wait_for_unit("grafana.service")
          monitor.wait_for_open_port(${toString defaults.prometheusPort})
          monitor.wait_for_open_port(${toString defaults.grafanaPort})
          client.wait_for_unit("multi-user.target")
          client.wait_until_succeeds("curl -sSf http://app:${toString portA}/readyz")
          client.wait_until_succeeds("curl -sSf http://app:${toString portB}/readyz")
          client.wait_until_succeeds("curl -sSf http://monitor:${toString defaults.prometheusPort}/-/ready")

      with subtest("load from the client reaches both instances"):
          client.succeed(
              "srelab load --target http://app:${toString portA} --target http://app:${toString portB}"
              + " -d 30s -c 8 -q"
          )

      with subtest("every signal of the spec exists in Prometheus"):
          client.succeed(
              "srelab verify --prometheus http://monitor:${toString defaults.prometheusPort}"
              + " --spec ${spec} --min-instances 2"
          )

      with subtest("Grafana is healthy and has the provisioned datasource and dashboard"):
          grafana = "http://127.0.0.1:${toString defaults.grafanaPort}"
          auth = "-u admin:\"$(cat ${grafanaPassword})\""
          monitor.wait_until_succeeds("curl -sSf " + grafana + "/api/health")
          monitor.wait_until_succeeds(
              "curl -sSf " + auth + " " + grafana + "/api/datasources/uid/${defaults.datasourceUid}"
          )
          monitor.wait_until_succeeds(
              "curl -sSf " + auth + " " + grafana + "/api/dashboards/uid/${defaults.dashboardUid}"
          )

      with subtest("the srelab units are hardened: exposure at most 2.0"):
          print(app.succeed("systemd-analyze security --no-pager ${units}"))
          app.succeed("systemd-analyze security --no-pager --threshold=20 ${units}")
    '';
  }
