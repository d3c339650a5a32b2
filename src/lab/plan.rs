//! From the command line to a [`Plan`]: the binaries found (Prometheus is
//! required; every other program runs when found, and the plan says why one
//! does not), the rule files (scaled for the drill, with the capacities an
//! earlier `--capacity` found), the PostgreSQL cluster and HAProxy when asked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::error::LabError;
use super::stack::{self, Plan};
use super::{Args, Backend, binaries, capacity, defaults, drill, grafana, haproxy, logs, postgres};
use crate::verify::assets;

/// Resolves binaries and ports into a plan; Prometheus must exist. What
/// does not run, and why, is kept for the summary; notices wait until the
/// lab starts.
pub(super) fn plan(args: &Args) -> Result<Plan, LabError> {
    if args.base_port.checked_add(args.instances - 1).is_none() {
        return Err(LabError::PortRange {
            base: args.base_port,
            instances: args.instances,
        });
    }
    let prometheus_bin = binaries::PROMETHEUS.find(args.prometheus_bin.as_deref())?;
    let mut not_running = BTreeMap::new();
    let mut notices = Vec::new();
    let alertmanager_bin = optional(
        &binaries::ALERTMANAGER,
        args.alertmanager_bin.as_deref(),
        args.no_alertmanager
            .then_some("disabled by --no-alertmanager"),
        stack::ALERTMANAGER,
        &mut not_running,
    )?;
    let mut serve_args = args.serve_arg.clone();
    if args.faults || args.drill {
        serve_args.push("--faults".into());
    }
    let mut load_options = args.load_options.clone();
    let mut rules: Vec<(&'static str, String)> = assets::RULE_FILES
        .iter()
        .map(|(name, text)| (*name, text.to_string()))
        .collect();
    if args.drill {
        if load_options.is_empty() {
            load_options = drill::LOAD.iter().map(|s| s.to_string()).collect();
        }
        let scale = drill_timing(args.drill_scale, args.lb)
            .map_err(|e| LabError::Rules(e.to_string()))?
            .scale;
        for (name, text) in &mut rules {
            *text = scale
                .rules(text)
                .map_err(|e| LabError::Rules(format!("{name}: {e}")))?;
        }
    }
    // The capacities an earlier `--capacity` found on this state directory.
    match capacity::rules_from(&args.state_dir) {
        Ok(Some(text)) => rules.push((capacity::RULES_FILE, text)),
        Ok(None) => {}
        Err(e) => notices.push(format!(
            "notice: {}; the dashboard shows no capacity",
            crate::error_line(&e)
        )),
    }
    let node_exporter_bin = optional(
        &binaries::NODE_EXPORTER,
        args.node_exporter_bin.as_deref(),
        args.no_node_exporter
            .then_some("disabled by --no-node-exporter"),
        stack::NODE_EXPORTER,
        &mut not_running,
    )?;
    let grafana = if args.no_grafana {
        not_running.insert(stack::GRAFANA, "disabled by --no-grafana".into());
        None
    } else {
        let found = find_grafana(args)?;
        if let Err((short, why)) = &found {
            notices.push(format!("notice: {why}; the lab runs without Grafana"));
            not_running.insert(stack::GRAFANA, short.to_string());
        }
        found.ok()
    };
    let logs = if args.no_loki {
        not_running.insert(logs::LOKI, "disabled by --no-loki".into());
        None
    } else {
        let ports = (args.loki_port, args.loki_grpc_port, args.alloy_port);
        let found =
            logs::LabLogs::find(args.loki_bin.as_deref(), args.alloy_bin.as_deref(), ports)?;
        if let Err((short, notice)) = &found {
            notices.push(notice.clone());
            not_running.insert(logs::LOKI, short.to_string());
        }
        found.ok()
    };
    if args.check && logs.is_some() {
        // The check forces a 500 on every instance for verify's error line.
        serve_args.push("--debug-panic-route".into());
    }
    let postgres = match args.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(find_postgres(args)?),
    };
    let lb = match args.lb {
        false => None,
        true => Some(haproxy::LabHaproxy {
            bin: haproxy::find(args.haproxy_bin.as_deref())?,
            port: args.lb_port,
            exporter_port: args.haproxy_exporter_port,
        }),
    };
    Ok(Plan {
        instances: args.instances,
        base_port: args.base_port,
        prometheus_port: args.prometheus_port,
        grafana_port: args.grafana_port,
        node_exporter_port: args.node_exporter_port,
        load_metrics_port: args.load_metrics_port,
        alertmanager_port: args.alertmanager_port,
        receiver_port: args.receiver_port,
        state_dir: args.state_dir.clone(),
        prometheus_bin,
        grafana,
        node_exporter_bin,
        alertmanager_bin,
        postgres,
        lb,
        serve_args,
        logs,
        load_options,
        rules,
        not_running,
        notices,
    })
}

/// The drill's timing: the scale, the lab's scrape interval, and
/// Alertmanager's group timing read from its configuration.
pub(super) fn drill_timing(factor: u32, lb: bool) -> anyhow::Result<drill::catalogue::Timing> {
    let am: serde_yaml_ng::Value = serde_yaml_ng::from_str(assets::ALERTMANAGER_CONFIG)?;
    let read = |key: &str| -> anyhow::Result<Duration> {
        let text = am["route"][key]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("alertmanager.yml: no route.{key}"))?;
        let d: crate::slo::duration::PromDuration = text.parse().map_err(anyhow::Error::msg)?;
        Ok(d.as_std())
    };
    let scrape: crate::slo::duration::PromDuration = defaults::SCRAPE_INTERVAL
        .parse()
        .map_err(anyhow::Error::msg)?;
    Ok(drill::catalogue::Timing {
        scale: drill::scale::TimeScale {
            factor,
            floor: crate::slo::duration::PromDuration { ms: scrape.ms * 4 },
        },
        scrape: scrape.as_std(),
        group_wait: read("group_wait")?,
        group_interval: read("group_interval")?,
        slack: Duration::from_secs(5),
        // Behind HAProxy, which checks readiness, a stopped instance drains.
        drain: match lb {
            true => humantime::parse_duration(crate::serve::config::DRAIN_DELAY)?,
            false => Duration::ZERO,
        },
    })
}

/// An optional program: the named one (which must be usable), else the one
/// on PATH; `None` when `disabled` says why or it is not found, noted in
/// `not_running` under `name`.
fn optional(
    program: &binaries::Program,
    named: Option<&std::path::Path>,
    disabled: Option<&str>,
    name: &'static str,
    not_running: &mut BTreeMap<&'static str, String>,
) -> Result<Option<PathBuf>, LabError> {
    if let Some(why) = disabled {
        not_running.insert(name, why.into());
        return Ok(None);
    }
    match named {
        Some(path) => program.find(Some(path)).map(Some),
        None => Ok(program
            .find(None)
            .map_err(|_| not_running.insert(name, "not found".into()))
            .ok()),
    }
}

/// PostgreSQL's binaries (required) and its exporter (when found).
fn find_postgres(args: &Args) -> Result<postgres::LabPostgres, LabError> {
    let bins = postgres::Binaries::find(args.postgres_bin_dir.as_deref())?;
    let exporter = binaries::POSTGRES_EXPORTER;
    let exporter_bin = match (&args.postgres_exporter_bin, args.no_postgres_exporter) {
        (_, true) => None,
        (Some(p), false) => Some(exporter.find(Some(p))?),
        (None, false) => exporter.find(None).ok(),
    };
    Ok(postgres::LabPostgres {
        bins,
        exporter_bin,
        exporter_port: args.postgres_exporter_port,
    })
}

/// Why an optional program does not run: a few words, and the whole notice.
type Absent = (&'static str, String);

/// Grafana's binary and home path, or why it does not run (not an error
/// unless `--grafana-bin` named it).
fn find_grafana(args: &Args) -> Result<Result<(PathBuf, PathBuf), Absent>, LabError> {
    let bin = match (
        &args.grafana_bin,
        binaries::GRAFANA.find(args.grafana_bin.as_deref()),
    ) {
        (_, Ok(bin)) => bin,
        (Some(_), Err(e)) => return Err(e),
        (None, Err(e)) => return Ok(Err(("not found", e.to_string()))),
    };
    Ok(
        match grafana::homepath(&bin, args.grafana_homepath.as_deref()) {
            Some(home) => Ok((bin, home)),
            None => Err((
                "its home path is unknown",
                format!(
                    "Grafana's home path is unknown for {}; pass --grafana-homepath / SRELAB_GRAFANA_HOMEPATH",
                    bin.display()
                ),
            )),
        },
    )
}
