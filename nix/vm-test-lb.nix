# checks.vm-lb: srelab scaled out. `lb` runs HAProxy (services.srelab.lb:
# the lab's one configuration) in front of `app1` and `app2` (one instance
# each, Restart=on-failure), which share PostgreSQL on `db`; `monitor`
# scrapes the instances, HAProxy's exporter, the PostgreSQL exporter and
# the load tool and evaluates both rule files; `client` sends the load
# through `lb`. Under load `srelab verify` finds every signal for both
# instances and for HAProxy; then app1 is crashed (SIGKILL) under load:
# HAProxy takes it out (its UP-to-DOWN counter grows), systemd restarts it
# and HAProxy takes it back; the load's failed requests stay within the
# bound; finally the database holds exactly the items the load created.
# As in the other VM tests, the script only orchestrates: no PromQL.
{
  pkgs,
  self,
  srelab,
}: let
  inherit (pkgs) lib;
  defaults = import ../nixos-modules/defaults.nix;
  hosts = import ./vm-postgres-hosts.nix {inherit pkgs self;};
  inherit (hosts) port rows;
  lbPort = toString defaults.lbPort;
  exporter = "http://lb:${toString defaults.haproxyExporterPort}/metrics";
  spec = ../spec/signals.toml;
  prometheus = "http://monitor:${toString defaults.prometheusPort}";
  loadPort = toString defaults.loadMetricsPort;
  verifyTimeout = 90;
  report = "/tmp/srelab-load.json";
  # An open model through HAProxy; errors are expected while app1 is down
  # (1 turns off the default error-ratio gate): the bound below judges them.
  rate = 100;
  concurrency = 16;
  load = lib.concatStringsSep " " [
    "systemd-run --unit srelab-load -p KillSignal=SIGINT"
    (lib.getExe srelab)
    "load --target http://lb:${lbPort}"
    "-r ${toString rate} -c ${toString concurrency} -q --metrics-listen 0.0.0.0:${loadPort}"
    "-d 600s -o json -O ${report} --max-error-ratio 1"
  ];
  # The most requests the crash may fail (src/lab/failover.rs, Bound): those
  # in flight on the killed instance (at most the load's concurrency, below
  # HAProxy's maxconn of 32) plus those sent before its first failed check
  # (the rate over one `inter` of 1s and one check of at most 2s).
  bound = concurrency + rate * 3;
  # What HAProxy says of app1 (server srelab-1), from its exporter's text:
  # `downs` its count of UP-to-DOWN transitions, `up` whether it is UP.
  lbState = pkgs.writeShellScript "lb-state" ''
    metrics=$(${pkgs.curl}/bin/curl -sf ${exporter}) || exit 1
    case $1 in
      downs) echo "$metrics" | ${pkgs.gnugrep}/bin/grep -F 'haproxy_server_check_up_down_total{proxy="srelab",server="srelab-1"} ' | ${pkgs.coreutils}/bin/cut -d' ' -f2 ;;
      up) echo "$metrics" | ${pkgs.gnugrep}/bin/grep -qF 'haproxy_server_status{proxy="srelab",server="srelab-1",state="UP"} 1' ;;
      *) exit 2 ;;
    esac
  '';
  failed = "jq '[.srelab.phases[] | .unexpected + .transport_errors] | add' ${report}";
in
  pkgs.testers.runNixOSTest {
    name = "srelab-lb";

    nodes = {
      lb = {
        imports = [self.nixosModules.lb];
        services.srelab.lb = {
          enable = true;
          listenAddress = "0.0.0.0";
          openFirewall = true;
          servers = ["app1:${toString port}" "app2:${toString port}"];
        };
      };

      inherit (hosts) db;
      app1 = hosts.app;
      app2 = hosts.app;
      monitor = hosts.monitor {
        haproxyTargets = ["lb:${toString defaults.haproxyExporterPort}"];
      };

      client = {
        environment.systemPackages = [srelab pkgs.jq pkgs.curl];
        networking.firewall.allowedTCPPorts = [defaults.loadMetricsPort];
      };
    };

    testScript = ''
      start_all()

      with subtest("PostgreSQL, both instances and HAProxy in front come up"):
          db.wait_for_unit("postgresql.target")
          for app in [app1, app2]:
              app.wait_for_unit("srelab-a.service")
              app.wait_for_open_port(${toString port})
          lb.wait_for_unit("haproxy.service")
          client.wait_until_succeeds("curl -sSf http://lb:${lbPort}/readyz")
          client.wait_until_succeeds("${lbState} up")
          monitor.wait_for_unit("prometheus.service")
          client.wait_until_succeeds("curl -sSf ${prometheus}/-/ready")

      with subtest("under load through HAProxy, every signal exists for both instances and HAProxy"):
          rows_before = db.succeed("${rows}").strip()
          client.succeed("${load}")
          client.succeed(
              "srelab verify --prometheus ${prometheus} --spec ${spec} --min-instances 2"
              + " --timeout ${toString verifyTimeout}s"
          )
          client.succeed("systemctl is-active srelab-load.service")

      with subtest("app1 crashes under load: out, restarted, back in; failures within the bound"):
          downs_before = int(client.succeed("${lbState} downs").strip())
          app1.succeed("systemctl kill -s KILL srelab-a.service")
          client.wait_until_succeeds(f"test \"$(${lbState} downs)\" -gt {downs_before}", timeout=30)
          app1.wait_for_unit("srelab-a.service")
          client.wait_until_succeeds("${lbState} up", timeout=60)
          client.succeed("srelab verify --prometheus ${prometheus} --spec ${spec} --min-instances 2 --timeout ${toString verifyTimeout}s")

      with subtest("the load's failures stay within the bound; the database holds exactly its items"):
          client.succeed("systemctl stop srelab-load.service")
          client.wait_until_fails("systemctl is-active srelab-load.service")
          failed = int(client.succeed("${failed}").strip())
          print(f"failed requests during the crash: {failed} (bound ${toString bound})")
          assert failed <= ${toString bound}, f"{failed} failed requests, bound ${toString bound}"
          rows_after = db.succeed("${rows}").strip()
          client.succeed(
              "srelab verify items ${report} --rows-before " + rows_before + " --rows-after " + rows_after
          )
    '';
  }
