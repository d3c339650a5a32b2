# Loki's single-binary configuration, as `srelab lab` writes it
# (src/lab/loki.rs; tests/nix_defaults.rs compares the two): filesystem storage
# under `dir`, an in-memory ring, one replica, no usage reporting. The lab
# module hands it to services.loki.configuration, whose build runs
# `loki -verify-config` on it. Needs no nixpkgs.
{
  httpAddress,
  httpPort,
  grpcAddress,
  grpcPort,
  dir,
}: {
  auth_enabled = false;
  server = {
    http_listen_address = httpAddress;
    http_listen_port = httpPort;
    grpc_listen_address = grpcAddress;
    grpc_listen_port = grpcPort;
    log_level = "warn";
  };
  common = {
    instance_addr = grpcAddress;
    path_prefix = dir;
    storage.filesystem = {
      chunks_directory = "${dir}/chunks";
      rules_directory = "${dir}/rules";
    };
    replication_factor = 1;
    ring.kvstore.store = "inmemory";
  };
  schema_config.configs = [
    {
      from = "2024-01-01";
      store = "tsdb";
      object_store = "filesystem";
      schema = "v13";
      index = {
        prefix = "index_";
        period = "24h";
      };
    }
  ];
  analytics.reporting_enabled = false;
}
