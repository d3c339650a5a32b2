# nixosModules: the modules of nixos-modules/, with services.srelab.package
# defaulting to this flake's build for the machine's platform (no overlay,
# so they also work where nixpkgs is read-only, as in runNixOSTest).
self: let
  package = {
    lib,
    pkgs,
    ...
  }: {
    # One key, so importing several of these modules sets the default once.
    key = "srelab-flake-package";
    config.services.srelab.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.srelab;
  };
  withPackage = module: {imports = [module package];};
in {
  srelab = withPackage ../nixos-modules/srelab.nix;
  lab = withPackage ../nixos-modules/lab.nix;
  # HAProxy only: no srelab package needed.
  lb = {imports = [../nixos-modules/lb.nix];};
  default = withPackage ../nixos-modules/default.nix;
}
