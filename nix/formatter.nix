# formatter: `nix fmt` formats every .nix file of the repository with
# alejandra. Nix passes no arguments (and alejandra alone would read stdin),
# so with none this formats the flake's root, which `nix fmt` names in
# PRJ_ROOT; arguments (files, directories, --check) go to alejandra.
pkgs:
pkgs.writeShellApplication {
  name = "srelab-fmt";
  runtimeInputs = [pkgs.alejandra];
  text = ''
    if [ "$#" -eq 0 ]; then
      set -- "''${PRJ_ROOT:-.}"
    fi
    exec alejandra "$@"
  '';
}
