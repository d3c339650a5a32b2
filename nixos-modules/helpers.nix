# Helpers of the NixOS modules that need no nixpkgs, so that
# tests/nix_defaults.rs can evaluate them with nix-instantiate alone.
rec {
  # An address without IPv6 brackets: "[::1]" -> "::1".
  unbracket = address: let
    inner = builtins.match "\\[(.*)]" address;
  in
    if inner == null
    then address
    else builtins.head inner;

  # An address as the HOST of HOST:PORT: IPv6 literals get brackets
  # ("::" -> "[::]"). nixpkgs' Prometheus and exporter modules render
  # `--web.listen-address=${listenAddress}:${port}`, so they need this.
  bracket = address: let
    host = unbracket address;
  in
    if builtins.match ".*:.*" host != null
    then "[${host}]"
    else host;

  # Where a client on the same machine reaches a listener on `address`:
  # a wildcard through loopback, anything else as it is (bracketed).
  reachable = address: let
    host = bracket address;
  in
    if builtins.elem host ["0.0.0.0" "[::]" ""]
    then "127.0.0.1"
    else host;

  # nixpkgs' utils.escapeSystemdExecArgs (nixos/lib/utils.nix) for strings:
  # every argument a JSON string (systemd reads its C-style escapes), `%`
  # and `$` doubled so that systemd expands neither specifiers nor
  # variables. The same expression as nixpkgs'; kept here because the
  # evaluation harness (../shared/nix-eval) gives modules no `utils`.
  escapeSystemdExecArgs = args:
    builtins.concatStringsSep " "
    (map (arg: builtins.replaceStrings ["%" "$"] ["%%" "$$"] (builtins.toJSON arg)) args);

  # The systemd sandbox of every unit that runs `srelab` (`serve`, and the
  # lab's `receive`): no privileges, a read-only system, only its own state
  # directory writable, only the network families it uses.
  sandbox = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    PrivateMounts = true;
    DevicePolicy = "closed";
    ProtectClock = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectControlGroups = true;
    # Other processes are hidden; /proc/stat, /proc/meminfo and
    # /proc/pressure stay readable for the srelab_host_* gauges
    # (so no ProcSubset=pid).
    ProtectProc = "invisible";
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RemoveIPC = true;
    RestrictAddressFamilies = ["AF_INET" "AF_INET6" "AF_UNIX"];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = ["@system-service" "~@privileged" "~@resources"];
    SystemCallErrorNumber = "EPERM";
  };
}
