//! The lab's defaults: ports, job names and paths.
//!
//! The NixOS modules (`nixos-modules/defaults.nix`) carry the same values; a
//! test evaluates that file and compares it with these, so the native lab and
//! the Nix lab cannot drift apart.

/// How many `srelab serve` instances the lab starts.
pub const INSTANCES: u16 = 2;
/// Port of the first instance; instance `i` listens on `BASE_PORT + i`.
pub const BASE_PORT: u16 = 8081;
/// Prometheus' port.
pub const PROMETHEUS_PORT: u16 = 9090;
/// Grafana's port.
pub const GRAFANA_PORT: u16 = 3000;
/// Node exporter's port.
pub const NODE_EXPORTER_PORT: u16 = 9100;
/// Alertmanager's port (its cluster port is turned off).
pub const ALERTMANAGER_PORT: u16 = 9093;
/// Port of the webhook receiver Alertmanager delivers to.
pub const RECEIVER_PORT: u16 = 9095;
/// The PostgreSQL exporter's port (its upstream default).
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
/// Loki's HTTP port (its upstream default).
pub const LOKI_PORT: u16 = 3100;
/// Loki's gRPC port (a single binary talks to itself over it).
pub const LOKI_GRPC_PORT: u16 = 9096;
/// Grafana Alloy's HTTP port (UI and API; its upstream default).
pub const ALLOY_PORT: u16 = 12345;
/// The instances log 1 in this many ordinary requests when their logs go
/// to Loki (`srelab serve --access-log-sample`), beside every error and slow one.
pub const ACCESS_LOG_SAMPLE: u32 = 100;
/// The Grafana datasource uid of Loki (the dashboard's logs panel).
pub const LOKI_DATASOURCE_UID: &str = "loki";
/// HAProxy's port (`srelab lab --lb`): where the load goes, and the default
/// target of `srelab load`.
pub const LB_PORT: u16 = 8080;
/// Port of HAProxy's built-in Prometheus exporter.
pub const HAPROXY_EXPORTER_PORT: u16 = 8405;
/// Port of the load tool's own metrics endpoint.
pub const LOAD_METRICS_PORT: u16 = 9464;
/// Prometheus job scraping the instances.
pub const JOB: &str = "srelab";
/// Prometheus job scraping the load tool.
pub const LOAD_JOB: &str = "srelab-load";
/// Prometheus job scraping node exporter.
pub const NODE_JOB: &str = "node";
/// Prometheus job scraping the PostgreSQL exporter.
pub const POSTGRES_JOB: &str = "postgres";
/// Prometheus job scraping HAProxy's exporter.
pub const HAPROXY_JOB: &str = "haproxy";
/// HAProxy's backend of the instances (the `proxy` label of its metrics).
pub const LB_BACKEND: &str = "srelab";
/// The database (and its owner role) the instances use on PostgreSQL.
pub const POSTGRES_DATABASE: &str = "srelab";
/// Scrape (and rule evaluation) interval of the lab's Prometheus.
pub const SCRAPE_INTERVAL: &str = "2s";
/// The verify spec, relative to the repository root.
pub const SPEC_PATH: &str = "spec/signals.toml";
/// The Grafana datasource uid every dashboard refers to.
pub const DATASOURCE_UID: &str = "prometheus";
/// The uid of the overview dashboard.
pub const DASHBOARD_UID: &str = "srelab-overview";
