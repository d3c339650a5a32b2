//! The repository files embedded in the binary, so `srelab lab` and
//! `srelab verify` work from any directory: the verify spec, the alert rules
//! (hand-written, on load and the load balancer, and generated from the SLO
//! file), the dashboards, Grafana's provisioning files and the Alloy log
//! pipeline.

/// `spec/signals.toml`.
pub const SPEC: &str = include_str!("../../spec/signals.toml");
/// `prometheus/alerts.yml`.
pub const ALERT_RULES: &str = include_str!("../../prometheus/alerts.yml");
/// `prometheus/saturation.yml`: alerts on load and on the load balancer.
pub const SATURATION_RULES: &str = include_str!("../../prometheus/saturation.yml");
/// `prometheus/slo.yml` (generated from `spec/slo.toml`).
pub const SLO_RULES: &str = include_str!("../../prometheus/slo.yml");
/// Every rules file Prometheus loads, by file name.
pub const RULE_FILES: &[(&str, &str)] = &[
    ("alerts.yml", ALERT_RULES),
    ("saturation.yml", SATURATION_RULES),
    ("slo.yml", SLO_RULES),
];
/// `prometheus/alertmanager.yml`: routes, inhibition and receivers, with
/// `@RECEIVER_URL@` where the webhook receiver's URL goes.
pub const ALERTMANAGER_CONFIG: &str = include_str!("../../prometheus/alertmanager.yml");
/// `spec/slo.toml`.
pub const SLO_SPEC: &str = include_str!("../../spec/slo.toml");
/// The dashboards of `grafana/dashboards/`, by file name.
pub const DASHBOARDS: &[(&str, &str)] = &[
    (
        "srelab-overview.json",
        include_str!("../../grafana/dashboards/srelab-overview.json"),
    ),
    (
        "srelab-slo.json",
        include_str!("../../grafana/dashboards/srelab-slo.json"),
    ),
];
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
