//! The repository files embedded in the binary, so `srelab lab` and
//! `srelab verify` work from any directory: the verify spec, the alert rules,
//! the dashboards, Grafana's provisioning files and the Alloy log pipeline.

/// `spec/signals.toml`.
pub const SPEC: &str = include_str!("../../spec/signals.toml");
/// `prometheus/alerts.yml`.
pub const ALERT_RULES: &str = include_str!("../../prometheus/alerts.yml");
/// The dashboards of `grafana/dashboards/`, by file name.
pub const DASHBOARDS: &[(&str, &str)] = &[(
    "srelab-overview.json",
    include_str!("../../grafana/dashboards/srelab-overview.json"),
)];
/// `grafana/provisioning/datasources/prometheus.yaml`.
pub const GRAFANA_DATASOURCE: &str =
    include_str!("../../grafana/provisioning/datasources/prometheus.yaml");
/// `grafana/provisioning/datasources/loki.yaml`.
pub const GRAFANA_LOKI_DATASOURCE: &str =
    include_str!("../../grafana/provisioning/datasources/loki.yaml");
/// `alloy/pipeline.alloy`: the log pipeline to Loki.
pub const ALLOY_PIPELINE: &str = include_str!("../../alloy/pipeline.alloy");
/// `grafana/provisioning/dashboards/srelab.yaml`.
pub const GRAFANA_DASHBOARD_PROVIDER: &str =
    include_str!("../../grafana/provisioning/dashboards/srelab.yaml");
