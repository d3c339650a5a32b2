{
  description = "srelab: a reproducible SRE lab (an instrumented Rust service, a load tool, Prometheus and Grafana)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  # This file only wires; each output lives in a file under nix/.
  outputs = {
    self,
    nixpkgs,
  }: let
    inherit (nixpkgs) lib;
    # Linux only: the service's metrics read procfs (the prometheus crate's
    # process collector and the host gauges), which macOS does not have.
    systems = ["x86_64-linux" "aarch64-linux"];
    forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    revision = self.shortRev or "dirty";
    srelabFor = pkgs: self.packages.${pkgs.stdenv.hostPlatform.system}.srelab;
  in {
    packages = forAllSystems (pkgs: let
      srelab = pkgs.callPackage ./nix/package.nix {inherit revision;};
    in {
      inherit srelab;
      default = srelab;
    });

    apps = forAllSystems (pkgs:
      import ./nix/apps.nix {
        inherit pkgs;
        srelab = srelabFor pkgs;
      });

    devShells = forAllSystems (pkgs: {
      default = import ./nix/devshell.nix {
        inherit pkgs;
        srelab = srelabFor pkgs;
      };
    });

    checks = forAllSystems (pkgs:
      import ./nix/checks.nix {
        inherit pkgs self;
        srelab = srelabFor pkgs;
      });

    formatter = forAllSystems (import ./nix/formatter.nix);

    nixosModules = import ./nix/nixos-modules.nix self;

    overlays.default = final: _prev: {
      srelab = final.callPackage ./nix/package.nix {inherit revision;};
    };
  };
}
