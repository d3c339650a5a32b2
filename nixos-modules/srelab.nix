# services.srelab: `srelab serve` instances as hardened systemd services.
#
# Every instance gets its own unit, `srelab-<name>.service`, and all of them
# share one SQLite database by default (the state directory /var/lib/srelab
# belongs to the `srelab` system user), or one PostgreSQL database when
# `database` is a `postgresql://` URL (then the units start after
# postgresql.service when that server runs on this machine). The flake sets `package` to its own
# build; used without the flake, set it yourself.
{
  config,
  lib,
  ...
}: let
  inherit (lib) mkOption types;
  defaults = import ./defaults.nix;
  helpers = import ./helpers.nix;
  cfg = config.services.srelab;

  stateDir = "/var/lib/srelab";

  # A PostgreSQL URL rather than a SQLite file.
  isPostgres = db: lib.hasPrefix "postgres://" db || lib.hasPrefix "postgresql://" db;
  anyPostgres = lib.any (inst: isPostgres inst.database) (lib.attrValues cfg.instances);
  localPostgres = anyPostgres && config.services.postgresql.enable;
  # Whether a URL's user part carries a password (`user:password@`).
  hasPassword = db: let
    rest = lib.removePrefix "postgresql://" (lib.removePrefix "postgres://" db);
    userinfo = lib.head (lib.splitString "@" rest);
  in
    isPostgres db && lib.hasInfix "@" rest && lib.hasInfix ":" userinfo;

  # `host:port` as SRELAB_LISTEN expects it; IPv6 literals get brackets.
  listenOn = inst: "${helpers.bracket inst.listenAddress}:${toString inst.port}";

  instanceOptions = {
    options = {
      listenAddress = mkOption {
        type = types.str;
        default = "127.0.0.1";
        example = "0.0.0.0";
        description = "Address the instance listens on (an IPv6 literal with or without brackets). Nothing listens beyond loopback unless asked.";
      };
      port = mkOption {
        type = types.port;
        example = 8081;
        description = "TCP port of the instance.";
      };
      database = mkOption {
        type = types.str;
        default = cfg.database;
        defaultText = lib.literalExpression "config.services.srelab.database";
        description = "SQLite database file or PostgreSQL URL of this instance (SRELAB_DB); shared by all instances by default.";
      };
      environment = mkOption {
        type = types.attrsOf types.str;
        default = {};
        example = {SRELAB_READERS = "8";};
        description = "Extra environment variables of this instance, over `services.srelab.environment`.";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [];
        example = ["--synchronous" "normal"];
        description = "Extra command-line arguments to `srelab serve`.";
      };
    };
  };

  # The lab's instances: "0" on basePort, "1" on basePort + 1, ...
  labInstances = lib.listToAttrs (lib.genList (i:
    lib.nameValuePair (toString i) {port = defaults.basePort + i;})
  defaults.instances);

  hardening =
    {
      User = "srelab";
      Group = "srelab";
      StateDirectory = "srelab";
      StateDirectoryMode = "0750";
      WorkingDirectory = stateDir;
      UMask = "0077";
      Restart = "on-failure";
      RestartSec = "2s";
      # Open connections are file descriptors. The service raises its soft
      # limit to this hard one at start (and backs off when it still runs out).
      LimitNOFILE = 524288;
    }
    // helpers.sandbox;

  unitFor = name: inst: {
    description = "srelab service instance ${name}";
    wantedBy = ["multi-user.target"];
    after = ["network.target"] ++ lib.optional (localPostgres && isPostgres inst.database) "postgresql.target";
    wants = lib.optional (localPostgres && isPostgres inst.database) "postgresql.target";
    environment =
      cfg.environment
      // inst.environment
      // {
        SRELAB_LISTEN = listenOn inst;
        SRELAB_DB = inst.database;
        SRELAB_LOG_FORMAT = cfg.logFormat;
      }
      // lib.optionalAttrs (isPostgres inst.database && cfg.databasePasswordFile != null) {
        # libpq's password file, handed over as a systemd credential.
        PGPASSFILE = "%d/pgpass";
      };
    serviceConfig =
      hardening
      // {
        # Quoted for systemd, which is no shell: `%` and `$` stay literal.
        ExecStart = helpers.escapeSystemdExecArgs ([(lib.getExe cfg.package) "serve"] ++ inst.extraArgs);
      }
      // lib.optionalAttrs (!isPostgres inst.database && !lib.hasPrefix "${stateDir}/" inst.database) {
        ReadWritePaths = [(dirOf inst.database)];
      }
      // lib.optionalAttrs (isPostgres inst.database && cfg.databasePasswordFile != null) {
        LoadCredential = ["pgpass:${cfg.databasePasswordFile}"];
      };
  };
in {
  # services.srelab.logs: the units' journal shipped to Loki.
  imports = [./logs.nix];

  options.services.srelab = {
    enable = lib.mkEnableOption "srelab, the instrumented HTTP service of the SRE lab";

    package = mkOption {
      type = types.package;
      defaultText = lib.literalExpression "self.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = "The srelab package. The flake's modules default it to the flake's own build.";
    };

    instances = mkOption {
      type = types.attrsOf (types.submodule instanceOptions);
      default = labInstances;
      defaultText = lib.literalExpression ''{ "0".port = ${toString defaults.basePort}; "1".port = ${toString (defaults.basePort + 1)}; }'';
      example = lib.literalExpression ''{ a = { listenAddress = "0.0.0.0"; port = 8081; }; b = { listenAddress = "0.0.0.0"; port = 8082; }; }'';
      description = "The `srelab serve` instances; each becomes the unit `srelab-<name>.service`.";
    };

    database = mkOption {
      type = types.str;
      default = "${stateDir}/srelab.db";
      example = "postgresql://srelab@db.example:5432/srelab";
      description = ''
        The instances' database (SRELAB_DB): a SQLite file (outside ${stateDir} its
        directory is made writable for the units), or a PostgreSQL URL
        (`postgresql://USER@HOST:PORT/DB`, `?host=/run/postgresql` for the local
        socket). Never put a password in the URL: it would be readable in the
        unit's environment; use `databasePasswordFile`.
      '';
    };

    databasePasswordFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/srelab-pgpass";
      description = ''
        A libpq password file (`host:port:database:user:password` lines) for a
        PostgreSQL `database`, handed to the units as a systemd credential and
        named by PGPASSFILE. Keep it out of the Nix store (a path to a secret).
      '';
    };

    logFormat = mkOption {
      type = types.enum ["text" "json"];
      default = "text";
      description = "Log format on stderr, i.e. in the journal (SRELAB_LOG_FORMAT).";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = {};
      example = {
        SRELAB_SYNCHRONOUS = "normal";
        SRELAB_BUSY_TIMEOUT = "10s";
      };
      description = "Environment variables of every instance, e.g. the SRELAB_* settings of `srelab serve --help`.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open every instance's port in the firewall.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !lib.any (inst: hasPassword inst.database) (lib.attrValues cfg.instances);
        message = "services.srelab: a PostgreSQL URL must not carry a password (it would be readable in the unit's environment); use services.srelab.databasePasswordFile.";
      }
      {
        assertion = cfg.instances != {};
        message = "services.srelab.instances must define at least one instance.";
      }
      {
        assertion = let
          ports = lib.mapAttrsToList (_: inst: inst.port) cfg.instances;
        in
          lib.length ports == lib.length (lib.unique ports);
        message = "services.srelab.instances must use distinct ports.";
      }
    ];

    users.users.srelab = {
      isSystemUser = true;
      group = "srelab";
      home = stateDir;
      description = "srelab service";
    };
    users.groups.srelab = {};

    systemd.services = lib.mapAttrs' (name: inst: lib.nameValuePair "srelab-${name}" (unitFor name inst)) cfg.instances;

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (lib.mapAttrsToList (_: inst: inst.port) cfg.instances);
  };
}
