# The package's test phase as data. nix/package.nix builds it; the sandbox
# twin (scripts/sandbox-twin.sh) reads the same file to run the test phase
# as the Nix builder would, so the two cannot drift apart.
{
  # nativeCheckInputs as nixpkgs attribute paths, each with the programs
  # the tests run from it (the twin puts exactly these on PATH).
  nativeCheckInputs = {
    "prometheus" = ["prometheus"];
    "prometheus.cli" = ["promtool"];
    "postgresql" = ["initdb" "postgres"];
    "prometheus-postgres-exporter" = ["postgres_exporter"];
    "haproxy" = ["haproxy"];
    "prometheus-alertmanager" = ["alertmanager" "amtool"];
  };
  # Tests that need what the build sandbox does not have; scripts/test.sh
  # runs them outside the twin: the nixos_* tests run nix-instantiate (no
  # Nix store in the sandbox), the chromium_* tests open the load tool's
  # HTML report in a headless Chromium, the logql_* tests run Grafana's
  # LogQL grammar (npm) with Node.js (neither among the check inputs), the
  # full-disk test mounts a small tmpfs (root only).
  checkFlags = [
    "--skip=nixos_defaults_agree_with_the_lab"
    "--skip=nixos_module_helpers"
    "--skip=nixos_loki_config_is_the_labs"
    "--skip=nixos_alloy_journal_labels_each_unit_as_prometheus_does"
    "--skip=nixos_haproxy_config_renders_the_labs_text"
    "--skip=chromium_"
    "--skip=a_full_disk_is_a_503"
    "--skip=logql_"
  ];
}
