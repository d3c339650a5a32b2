//! Logs in the lab: Loki, and Grafana Alloy shipping every instance's log
//! file to it, when both binaries are found (or named). The instances then
//! log JSON lines (`--log-format json`) with their access log's errors and
//! slow requests plus 1 in [`ACCESS_LOG_SAMPLE`] of the others, each naming
//! its instance as Prometheus does; Grafana gets the Loki datasource.
//! Without either binary the lab runs without logs and says so once.
//!
//! - [`loki`](super::loki): Loki's configuration and command line.
//! - [`alloy`](super::alloy): Alloy's sources and command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::binaries;
use super::defaults::ACCESS_LOG_SAMPLE;
use super::error::LabError;
use super::ports::{self, Port};
use super::stack::{Lab, instance_name};
use super::{alloy, loki};
use crate::verify::prom;

/// The name of the logs pair in the summary and [`Plan::not_running`](super::stack::Plan).
pub const LOKI: &str = "loki";

/// Loki and Alloy as the lab runs them.
#[derive(Debug, Clone)]
pub struct LabLogs {
    pub loki_bin: PathBuf,
    pub alloy_bin: PathBuf,
    pub loki_port: u16,
    pub loki_grpc_port: u16,
    pub alloy_port: u16,
}

/// Why the lab runs without logs: a few words, and the whole notice.
pub type Absent = (&'static str, String);

impl LabLogs {
    /// Both binaries (an explicitly named one must exist), or why the lab
    /// runs without logs.
    pub fn find(
        loki: Option<&std::path::Path>,
        alloy: Option<&std::path::Path>,
        ports: (u16, u16, u16),
    ) -> Result<Result<LabLogs, Absent>, LabError> {
        let found = |p: &binaries::Program, named: Option<&std::path::Path>| match p.find(named) {
            Ok(bin) => Ok(Ok(bin)),
            Err(e) if named.is_some() => Err(e),
            Err(e) => Ok(Err(e.to_string())),
        };
        let (loki_bin, alloy_bin) = (
            found(&binaries::LOKI, loki)?,
            found(&binaries::ALLOY, alloy)?,
        );
        Ok(match (loki_bin, alloy_bin) {
            (Ok(loki_bin), Ok(alloy_bin)) => Ok(LabLogs {
                loki_bin,
                alloy_bin,
                loki_port: ports.0,
                loki_grpc_port: ports.1,
                alloy_port: ports.2,
            }),
            (Err(why), _) => Err((
                "not found",
                format!("notice: {why}; the lab runs without logs (Loki and Alloy)"),
            )),
            (Ok(_), Err(why)) => Err((
                "alloy not found",
                format!("notice: {why}; the lab runs without logs: Loki needs Alloy to ship them"),
            )),
        })
    }

    pub fn loki_addr(&self) -> SocketAddr {
        ports::local(self.loki_port)
    }

    pub fn loki_url(&self) -> String {
        format!("http://{}", self.loki_addr())
    }

    /// The ports Loki and Alloy listen on.
    pub fn ports(&self) -> [Port; 3] {
        [
            Port::new("loki", self.loki_port),
            Port::new("loki grpc", self.loki_grpc_port),
            Port::new("alloy", self.alloy_port),
        ]
    }
}

/// The arguments every instance gets when its log is shipped.
pub fn serve_args() -> [String; 4] {
    [
        "--log-format".into(),
        "json".into(),
        "--access-log-sample".into(),
        ACCESS_LOG_SAMPLE.to_string(),
    ]
}

/// Starts Loki, then Alloy tailing every instance's log file.
pub fn start(lab: &mut Lab, logs: &LabLogs) -> Result<(), LabError> {
    let grpc = ports::local(logs.loki_grpc_port);
    let config = loki::write_config(&lab.state, logs.loki_addr(), grpc)?;
    lab.spawn_other("loki", loki::command(&logs.loki_bin, &config))?;
    let files: Vec<alloy::Source> = (0..lab.plan.instances)
        .map(|i| alloy::Source {
            path: lab.state.log(&instance_name(i)),
            instance: lab.plan.instance_addr(i).to_string(),
        })
        .collect();
    let dir = alloy::write_config(&lab.state, &files)?;
    let push = loki::push_url(logs.loki_addr());
    let listen = ports::local(logs.alloy_port);
    let cmd = alloy::command(&logs.alloy_bin, &dir, &lab.state, listen, &push);
    lab.spawn_other("alloy", cmd)
}

/// Waits until Loki answers `/ready` and Alloy `/-/ready` with 200, within
/// `limit`; else names the one that did not (and its log file). Alloy
/// tails a file from its end when it first sees it, so a line written before
/// its file source runs is never shipped: once Alloy is ready, one more
/// file-match period passes before this returns.
pub async fn ready(lab: &Lab, logs: &LabLogs, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let alloy = format!("http://{}/-/ready", ports::local(logs.alloy_port));
    for (name, url) in [
        ("loki", format!("{}/ready", logs.loki_url())),
        ("alloy", alloy),
    ] {
        while prom::get_status(&url).await != Some(200) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{name} did not answer {url} within {}s; see {}",
                    limit.as_secs(),
                    lab.state.log(name).display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    tokio::time::sleep(alloy::SYNC_PERIOD * 2).await;
    Ok(())
}

/// `--check` with logs: one 500 on every instance (its `/debug/panic`),
/// so verify can find an error line for each.
pub async fn force_server_errors(lab: &Lab) -> Result<(), String> {
    for i in 0..lab.plan.instances {
        let url = format!("http://{}/debug/panic", lab.plan.instance_addr(i));
        match prom::get_status(&url).await {
            Some(500) => {}
            other => return Err(format!("GET {url} answered {other:?}, not 500")),
        }
    }
    Ok(())
}
