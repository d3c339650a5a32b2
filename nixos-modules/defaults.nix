# The lab's defaults, shared by the NixOS modules and `srelab lab`.
# A plain attribute set (no nixpkgs needed): tests/nix_defaults.rs evaluates
# it with `nix-instantiate --eval --strict --json` and compares it with
# src/lab/defaults.rs, so the native lab and the NixOS lab cannot drift apart.
{
  # How many `srelab serve` instances the lab runs.
  instances = 2;
  # Port of the first instance; instance i listens on basePort + i.
  basePort = 8081;
  prometheusPort = 9090;
  grafanaPort = 3000;
  nodeExporterPort = 9100;
  # Alertmanager, and the webhook receiver it delivers to.
  alertmanagerPort = 9093;
  receiverPort = 9095;
  postgresExporterPort = 9187;
  # Loki's HTTP and gRPC ports, Grafana Alloy's HTTP port.
  lokiPort = 3100;
  lokiGrpcPort = 9096;
  alloyPort = 12345;
  # Besides errors and slow requests, the instances log 1 in this many
  # requests when their logs are shipped to Loki.
  accessLogSample = 100;
  # HAProxy in front of the instances (`srelab lab --lb`, services.srelab.lb)
  # and its Prometheus exporter.
  lbPort = 8080;
  haproxyExporterPort = 8405;
  # Port of the load tool's own metrics endpoint.
  loadMetricsPort = 9464;
  # Prometheus job names.
  job = "srelab";
  loadJob = "srelab-load";
  nodeJob = "node";
  postgresJob = "postgres";
  haproxyJob = "haproxy";
  # HAProxy's backend of the instances (the `proxy` label of its metrics).
  lbBackend = "srelab";
  # The database, and the role owning it, on PostgreSQL.
  postgresDatabase = "srelab";
  # Scrape (and rule evaluation) interval.
  scrapeInterval = "2s";
  # The verify spec, relative to the repository root.
  specPath = "spec/signals.toml";
  # Grafana uids the dashboards and the VM test rely on.
  datasourceUid = "prometheus";
  lokiDatasourceUid = "loki";
  dashboardUid = "srelab-overview";
}
