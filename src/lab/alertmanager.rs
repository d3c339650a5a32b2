//! Alertmanager in the lab: its configuration (the repository's
//! `prometheus/alertmanager.yml` with the receiver's URL filled in), the
//! command line (loopback only, no cluster gossip port), and the wait until
//! it is ready. Prometheus is pointed at it by [`super::prometheus`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::time::Instant;

use super::error::LabError;
use super::state::{self, StateDir};
use crate::verify::{assets, prom};

/// What the template says where the receiver's URL goes.
pub const RECEIVER_PLACEHOLDER: &str = "@RECEIVER_URL@";

/// The configuration text for a receiver at `receiver_url`.
pub fn config_yaml(receiver_url: &str) -> String {
    assets::ALERTMANAGER_CONFIG.replace(RECEIVER_PLACEHOLDER, receiver_url)
}

/// Writes `STATE/alertmanager/alertmanager.yml`; returns its path.
pub fn write_config(state: &StateDir, receiver_url: &str) -> Result<PathBuf, LabError> {
    let path = state.alertmanager().join("alertmanager.yml");
    state::write(&path, &config_yaml(receiver_url))?;
    Ok(path)
}

/// The command starting Alertmanager on `listen`: its data in the state
/// directory, and no cluster listener (it would bind 0.0.0.0:9094).
pub fn command(bin: &Path, config: &Path, state: &StateDir, listen: SocketAddr) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            state.alertmanager().join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .arg("--cluster.listen-address=");
    cmd
}

/// Waits until Alertmanager at `addr` says it is ready.
pub async fn wait_ready(addr: SocketAddr, limit: Duration) -> bool {
    let url = format!("http://{addr}/-/ready");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if prom::get_status(&url).await == Some(200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
