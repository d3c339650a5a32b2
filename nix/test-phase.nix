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
  };
  # These tests run nix-instantiate, which needs a Nix store the build
  # sandbox does not have; scripts/test.sh runs them outside the twin.
  checkFlags = [
    "--skip=nixos_defaults_agree_with_the_lab"
    "--skip=nixos_module_helpers"
  ];
}
