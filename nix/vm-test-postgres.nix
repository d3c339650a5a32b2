# checks.vm-postgres: srelab past one machine. `db` runs PostgreSQL
# (services.postgresql, the role and database declared with
# ensureDatabases/ensureUsers, a password set once by initialScript) and its
# exporter; `app1` and `app2` each run one srelab instance against it over
# TCP (the password from a libpq password file, as a systemd credential);
# `monitor` runs the lab's Prometheus and Grafana, scraping both instances,
# the exporter and the load tool; `client` runs the load tool. While the load
# runs, `srelab verify` finds every signal for both instances (the
# exporter's and the load tool's too); then the load, stopped gracefully,
# passes its own gates and the database holds exactly the items it created
# (`srelab verify items`). As in vm-test.nix, the script only orchestrates.
{
  pkgs,
  self,
  srelab,
}: let
  inherit (pkgs) lib;
  defaults = import ../nixos-modules/defaults.nix;
  hosts = import ./vm-postgres-hosts.nix {inherit pkgs self;};
  inherit (hosts) port password rows;
  spec = ../spec/signals.toml;
  prometheus = "http://monitor:${toString defaults.prometheusPort}";
  loadPort = toString defaults.loadMetricsPort;
  # verify retries for this long; the load lasts longer, so verify never
  # looks at an idle system, and is stopped (SIGINT: a graceful stop that
  # writes its report) once verify passed.
  verifyTimeout = 90;
  report = "/tmp/srelab-load.json";
  load = lib.concatStringsSep " " [
    "systemd-run --unit srelab-load -p KillSignal=SIGINT"
    (lib.getExe srelab)
    "load --target http://app1:${toString port} --target http://app2:${toString port}"
    "-r 100 -c 16 -q --metrics-listen 0.0.0.0:${loadPort}"
    "-d ${toString (verifyTimeout + 30)}s -o json -O ${report}"
    "--max-error-ratio 0.001 --fail-untrustworthy"
  ];
in
  pkgs.testers.runNixOSTest {
    name = "srelab-postgres";

    nodes = {
      inherit (hosts) db;
      app1 = hosts.app;
      app2 = hosts.app;
      monitor = hosts.monitor {};

      client = {
        environment.systemPackages = [srelab];
        # monitor scrapes the load tool's --metrics-listen.
        networking.firewall.allowedTCPPorts = [defaults.loadMetricsPort];
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
          rows_before = db.succeed("${rows}").strip()
          client.succeed("${load}")
          client.succeed(
              "srelab verify --prometheus ${prometheus} --spec ${spec} --min-instances 2"
              + " --timeout ${toString verifyTimeout}s"
          )
          # verify passed while the load still ran.
          client.succeed("systemctl is-active srelab-load.service")

      with subtest("the load passes its own gates and the database holds exactly the items it created"):
          client.succeed("systemctl stop srelab-load.service")
          print(client.succeed("journalctl -u srelab-load.service -o cat"))
          client.fail("systemctl is-failed srelab-load.service")
          rows_after = db.succeed("${rows}").strip()
          client.succeed(
              "srelab verify items ${report} --rows-before " + rows_before + " --rows-after " + rows_after
          )

      with subtest("the password is nowhere in the units' environment or journal"):
          for app in [app1, app2]:
              app.fail("systemctl show srelab-a.service | grep -F '${password}'")
              app.fail("journalctl -u srelab-a.service | grep -F '${password}'")
    '';
  }
