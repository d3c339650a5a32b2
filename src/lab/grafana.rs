//! Grafana in the lab: provisioning (the datasource by its fixed uid and the
//! dashboards) written from the embedded repository files, every writable
//! path inside the state directory, settings as `GF_*` variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::LabError;
use super::state::{self, StateDir};
use crate::verify::assets;

/// The lab's Grafana login.
pub const LOGIN: (&str, &str) = ("admin", "admin");

/// Grafana's home path (default configuration and static files): the given
/// one, else `<bin>/../share/grafana` (Nix) or `/usr/share/grafana`.
pub fn homepath(bin: &Path, given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_owned());
    }
    let real = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_owned());
    let beside = real.parent()?.parent()?.join("share/grafana");
    [beside, PathBuf::from("/usr/share/grafana")]
        .into_iter()
        .find(|p| p.join("conf/defaults.ini").is_file())
}

/// Where Grafana's datasources are: Prometheus, and Loki when it runs.
#[derive(Debug, Clone, Copy)]
pub struct Datasources<'a> {
    pub prometheus: &'a str,
    pub loki: Option<&'a str>,
}

/// Writes provisioning files and dashboards (the Loki datasource only
/// `with_loki`); returns the provisioning dir.
pub fn write_files(state: &StateDir, with_loki: bool) -> Result<PathBuf, LabError> {
    let prov = state.grafana().join("provisioning");
    state::write(
        &prov.join("datasources/prometheus.yaml"),
        assets::GRAFANA_DATASOURCE,
    )?;
    let loki = prov.join("datasources/loki.yaml");
    if with_loki {
        state::write(&loki, assets::GRAFANA_LOKI_DATASOURCE)?;
    } else if loki.exists() {
        std::fs::remove_file(&loki).map_err(LabError::io(&loki))?;
    }
    state::write(
        &prov.join("dashboards/srelab.yaml"),
        assets::GRAFANA_DASHBOARD_PROVIDER,
    )?;
    for (file, json) in assets::DASHBOARDS {
        state::write(&dashboards_dir(state).join(file), json)?;
    }
    Ok(prov)
}

fn dashboards_dir(state: &StateDir) -> PathBuf {
    state.grafana().join("dashboards")
}

/// The command starting Grafana on `listen`, reading the provisioning
/// directory `prov` that [`write_files`] returned, whose datasources
/// name the URLs of `urls` (`$SRELAB_PROMETHEUS_URL`, `$SRELAB_LOKI_URL`).
pub fn command(
    bin: &Path,
    home: &Path,
    state: &StateDir,
    prov: &Path,
    listen: SocketAddr,
    urls: &Datasources<'_>,
) -> Command {
    let g = state.grafana();
    let mut cmd = Command::new(bin);
    // `grafana server` is the current CLI; older packages ship `grafana-server`.
    if bin.file_name().is_some_and(|n| n == "grafana") {
        cmd.arg("server");
    }
    cmd.arg("--homepath").arg(home);
    let (user, password) = LOGIN;
    let dashboards = dashboards_dir(state);
    let home_dashboard = dashboards.join("srelab-overview.json");
    let env: [(&str, &Path); 5] = [
        ("GF_PATHS_DATA", &g.join("data")),
        ("GF_PATHS_LOGS", &g.join("logs")),
        ("GF_PATHS_PLUGINS", &g.join("plugins")),
        ("GF_PATHS_PROVISIONING", prov),
        ("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", &home_dashboard),
    ];
    cmd.envs(env)
        .env("SRELAB_DASHBOARDS_DIR", &dashboards)
        .env("SRELAB_PROMETHEUS_URL", urls.prometheus)
        .env("GF_SERVER_HTTP_ADDR", listen.ip().to_string())
        .env("GF_SERVER_HTTP_PORT", listen.port().to_string())
        .env("GF_SECURITY_ADMIN_USER", user)
        .env("GF_SECURITY_ADMIN_PASSWORD", password)
        .env("GF_ANALYTICS_REPORTING_ENABLED", "false")
        .env("GF_ANALYTICS_CHECK_FOR_UPDATES", "false");
    if let Some(loki) = urls.loki {
        cmd.env("SRELAB_LOKI_URL", loki);
    }
    cmd
}
