# The machines vm-postgres and vm-lb share: `db` runs PostgreSQL (the role
# and database declared with ensureDatabases/ensureUsers, a password set once
# by initialScript, TCP with scram-sha-256 for that role) and its exporter;
# `app` is an app host running one srelab instance against it (the password
# from a libpq password file); `monitor extra` runs the lab's Prometheus and
# Grafana scraping app1, app2, the exporter and the load tool on `client`,
# with `extra` added to services.srelab.lab.
{
  pkgs,
  self,
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
in {
  inherit port password;
  # The rows of `items`, counted on `db`.
  rows = "sudo -u postgres psql -tA -d ${db} -c 'SELECT count(*) FROM items'";

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

  monitor = extra: {
    imports = [self.nixosModules.lab];
    services.srelab.lab =
      {
        enable = true;
        listenAddress = "0.0.0.0";
        openFirewall = true;
        remoteTargets = ["app1:${toString port}" "app2:${toString port}"];
        postgresTargets = ["db:${toString defaults.postgresExporterPort}"];
        loadTargets = ["client:${toString defaults.loadMetricsPort}"];
        # No host here ships logs (that is the `vm` test's): no Loki.
        loki.enable = false;
        grafana = {
          secretKeyFile = "${grafanaSecretKey}";
          adminPasswordFile = "${grafanaPassword}";
        };
      }
      // extra;
    virtualisation = {
      memorySize = 2048;
      cores = 2;
    };
  };
}
