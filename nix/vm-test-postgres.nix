# checks.vm-postgres: srelab past one machine. `db` runs PostgreSQL
# (services.postgresql, the role and database declared with
# ensureDatabases/ensureUsers, a password set once by initialScript) and its
# exporter; `app1` and `app2` each run one srelab instance against it over
# TCP (the password from a libpq password file, as a systemd credential);
# `monitor` runs the lab's Prometheus and Grafana, scraping both instances
# and the exporter; `client` runs the load tool. Under load, `srelab verify`
# finds every signal for both instances (the exporter's too), and afterwards
# the database holds exactly the items the load created.
{
  pkgs,
  self,
  srelab,
}: let
  defaults = import ../nixos-modules/defaults.nix;
  port = defaults.basePort;
  pgPort = 5432;
  db = defaults.postgresDatabase;
  # Test-only secrets; real machines point these options at secret files.
  password = "srelab-vm-test-db-password";
  setPassword = pkgs.writeText "srelab-role.sql" ''
    CREATE ROLE ${db} LOGIN PASSWORD '${password}';
  '';
  pgpass = pkgs.writeText "srelab-pgpass" "db:${toString pgPort}:${db}:${db}:${password}\n";
  grafanaSecretKey = pkgs.writeText "grafana-secret-key" "srelab-vm-test-secret-key";
  grafanaPassword = pkgs.writeText "grafana-admin-password" "srelab-vm-test-password";
  spec = ../spec/signals.toml;
  prometheus = "http://monitor:${toString defaults.prometheusPort}";
  report = "/tmp/srelab-load.json";
  rows = "sudo -u postgres psql -tA -d ${db} -c 'SELECT count(*) FROM items'";

  app = {
    imports = [self.nixosModules.srelab];
    services.srelab = {
      enable = true;
      openFirewall = true;
      database = "postgresql://${db}@db:${toString pgPort}/${db}";
      databasePasswordFile = "${pgpass}";
      # The database machine may boot later than this one.
      environment.SRELAB_DB_WAIT = "300s";
      instances.a = {
        listenAddress = "0.0.0.0";
        inherit port;
      };
    };
  };
in
  pkgs.testers.runNixOSTest {
    name = "srelab-postgres";

    nodes = {
      db = {
        services.postgresql = {
          enable = true;
          enableTCPIP = true;
          ensureDatabases = [db];
          ensureUsers = [
            {
              name = db;
              ensureDBOwnership = true;
            }
          ];
          initialScript = setPassword;
          # Before the module's defaults: the app machines log in with the password.
          authentication = ''
            host ${db} ${db} all scram-sha-256
          '';
        };
        services.prometheus.exporters.postgres = {
          enable = true;
          runAsLocalSuperUser = true;
          openFirewall = true;
          port = defaults.postgresExporterPort;
        };
        networking.firewall.allowedTCPPorts = [pgPort];
      };

      app1 = app;
      app2 = app;

      monitor = {
        imports = [self.nixosModules.lab];
        services.srelab.lab = {
          enable = true;
          listenAddress = "0.0.0.0";
          openFirewall = true;
          remoteTargets = ["app1:${toString port}" "app2:${toString port}"];
          postgresTargets = ["db:${toString defaults.postgresExporterPort}"];
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
        environment.systemPackages = [srelab pkgs.jq];
      };
    };

    testScript = ''
      start_all()

      with subtest("PostgreSQL, the exporter and both instances come up"):
          db.wait_for_unit("postgresql.target")
          db.wait_for_unit("prometheus-postgres-exporter.service")
          for app in [app1, app2]:
              app.wait_for_unit("srelab-a.service")
              app.wait_for_open_port(${toString port})
              client.wait_until_succeeds("curl -sSf http://" + app.name + ":${toString port}/readyz")
          monitor.wait_for_unit("prometheus.service")
          client.wait_until_succeeds("curl -sSf ${prometheus}/-/ready")

      with subtest("under load on both hosts, every signal of the spec exists"):
          rows_before = int(db.succeed("${rows}").strip())
          client.succeed(
              "systemd-run --unit srelab-load srelab load"
              + " --target http://app1:${toString port} --target http://app2:${toString port}"
              + " -d 120s -c 8 -q -o json -O ${report}"
          )
          client.succeed(
              "srelab verify --prometheus ${prometheus} --spec ${spec} --min-instances 2 --timeout 90s"
          )

      with subtest("the database holds exactly the items the load created"):
          client.wait_until_fails("systemctl is-active srelab-load.service", timeout=240)
          created = int(client.succeed(
              "jq '[.srelab.phases[].targets[].items_created] | add' ${report}"
          ).strip())
          rows_after = int(db.succeed("${rows}").strip())
          assert created > 0, "the load created no item"
          assert rows_after - rows_before == created, f"{created} items created, {rows_after - rows_before} new rows"

      with subtest("the password is nowhere in the units' environment or journal"):
          for app in [app1, app2]:
              app.fail("systemctl show srelab-a.service | grep -F '${password}'")
              app.fail("journalctl -u srelab-a.service | grep -F '${password}'")
    '';
  }
