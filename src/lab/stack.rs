//! The running lab: the instances, Prometheus, node exporter, Grafana and
//! the load tool as supervised children, with what it takes to start them,
//! wait for their scrape targets, stop or restart one, and shut all down.
//! `STATE/pids` lists the children running now (rewritten as they start and
//! exit); `STATE/logs/children.log` records each start and exit of this run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use tokio::time::Instant;

use nix::sys::signal::Signal;

use super::defaults::{HAPROXY_JOB, JOB, LOAD_JOB, NODE_JOB, POSTGRES_JOB};
use super::error::LabError;
use super::haproxy::{self, LabHaproxy};
use super::logs::{self, LabLogs};
use super::output::{esay, say};
use super::ports::{self, Port};
use super::postgres::{self, Cluster, LabPostgres};
use super::process::{self, Child, Output};
use super::receiver::Receiver;
use super::run::STARTUP_LIMIT;
use super::state::StateDir;
use super::{alertmanager, grafana, prometheus};
use crate::verify::prom::{self, Prometheus};

/// The name of Grafana in the summary and [`Plan::not_running`].
pub const GRAFANA: &str = "grafana";
/// The name of node exporter in the summary and [`Plan::not_running`].
pub const NODE_EXPORTER: &str = "node exporter";
/// The name of Alertmanager in the summary and [`Plan::not_running`].
pub const ALERTMANAGER: &str = "alertmanager";

/// The load tool's concurrency in the lab unless its options set one.
pub const LOAD_CONCURRENCY: &str = "4";

/// Everything the lab will run, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Plan {
    pub instances: u16,
    pub base_port: u16,
    pub prometheus_port: u16,
    pub grafana_port: u16,
    pub node_exporter_port: u16,
    pub load_metrics_port: u16,
    pub alertmanager_port: u16,
    /// The webhook receiver Alertmanager delivers to (the lab itself).
    pub receiver_port: u16,
    pub state_dir: PathBuf,
    pub prometheus_bin: PathBuf,
    /// Grafana's binary and home path, when Grafana runs.
    pub grafana: Option<(PathBuf, PathBuf)>,
    pub node_exporter_bin: Option<PathBuf>,
    /// Alertmanager's binary, when it runs (the receiver runs with it).
    pub alertmanager_bin: Option<PathBuf>,
    /// PostgreSQL, when the instances use it (`--backend postgres`).
    pub postgres: Option<LabPostgres>,
    /// HAProxy in front of the instances (`--lb`).
    pub lb: Option<LabHaproxy>,
    /// Extra arguments for every `srelab serve`.
    pub serve_args: Vec<String>,
    /// Loki and Alloy, when both run.
    pub logs: Option<LabLogs>,
    /// Options for `srelab load`, given after `--`.
    pub load_options: Vec<String>,
    /// The rules files Prometheus loads, by file name (time-scaled for the drill).
    pub rules: Vec<(&'static str, String)>,
    /// Optional programs that do not run, and why (e.g. "disabled (--no-grafana)").
    pub not_running: BTreeMap<&'static str, String>,
    /// Printed once the lab starts, after every error is ruled out.
    pub notices: Vec<String>,
}

impl Plan {
    /// Every port the lab listens on, with what it is for.
    pub fn ports(&self) -> Vec<Port> {
        let mut out: Vec<Port> = (0..self.instances)
            .map(|i| Port::new(instance_name(i), self.instance_addr(i).port()))
            .collect();
        out.push(Port::new("prometheus", self.prometheus_port));
        out.push(Port::new("load tool metrics", self.load_metrics_port));
        if self.node_exporter_bin.is_some() {
            out.push(Port::new("node exporter", self.node_exporter_port));
        }
        if self.grafana.is_some() {
            out.push(Port::new("grafana", self.grafana_port));
        }
        if self.alertmanager_bin.is_some() {
            out.push(Port::new("alertmanager", self.alertmanager_port));
            out.push(Port::new("receiver", self.receiver_port));
        }
        if let Some(logs) = &self.logs {
            out.extend(logs.ports());
        }
        if let Some(pg) = &self.postgres
            && pg.exporter_bin.is_some()
        {
            out.push(Port::new("postgres exporter", pg.exporter_port));
        }
        if let Some(lb) = &self.lb {
            out.push(Port::new("haproxy", lb.port));
            out.push(Port::new("haproxy exporter", lb.exporter_port));
        }
        out
    }

    /// HAProxy's address and its exporter's, with `--lb`.
    pub fn lb_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        let lb = self.lb.as_ref()?;
        Some((ports::local(lb.port), ports::local(lb.exporter_port)))
    }

    /// Where the load goes: HAProxy with `--lb`, else every instance.
    pub fn load_targets(&self) -> Vec<String> {
        match self.lb_addrs() {
            Some((lb, _)) => vec![format!("http://{lb}")],
            None => (0..self.instances)
                .map(|i| format!("http://{}", self.instance_addr(i)))
                .collect(),
        }
    }

    /// The PostgreSQL exporter's address, when it runs.
    pub fn postgres_exporter_addr(&self) -> Option<SocketAddr> {
        let pg = self.postgres.as_ref()?;
        pg.exporter_bin.as_ref()?;
        Some(ports::local(pg.exporter_port))
    }

    /// The address of instance `i`.
    pub fn instance_addr(&self, i: u16) -> SocketAddr {
        ports::local(self.base_port + i)
    }

    pub fn prometheus_url(&self) -> String {
        format!("http://{}", ports::local(self.prometheus_port))
    }

    pub fn load_addr(&self) -> SocketAddr {
        ports::local(self.load_metrics_port)
    }

    /// The arguments of `srelab load` (after `load`) against every instance
    /// (or HAProxy) for `duration`, its metrics where Prometheus scrapes
    /// them, then the user's options.
    pub fn load_args(&self, duration: Duration, quiet: bool) -> Vec<String> {
        let mut args = Vec::new();
        for target in self.load_targets() {
            args.push("--target".to_owned());
            args.push(target);
        }
        args.extend([
            "--duration".to_owned(),
            humantime::format_duration(duration).to_string(),
            "--metrics-listen".to_owned(),
            self.load_addr().to_string(),
        ]);
        if !self.load_option_given(&["-c", "--concurrency"]) {
            args.extend(["--concurrency".to_owned(), LOAD_CONCURRENCY.to_owned()]);
        }
        if quiet && !self.load_option_given(&["-q", "--quiet"]) {
            args.push("--quiet".to_owned());
        }
        args.extend(self.load_options.iter().cloned());
        args
    }

    /// Whether the user's load options set one of `flags` (`-c 8`, `-c8`,
    /// `--concurrency=8` alike).
    pub fn load_option_given(&self, flags: &[&str]) -> bool {
        self.load_options.iter().any(|a| {
            flags.iter().any(|f| {
                a == f
                    || a.starts_with(&format!("{f}="))
                    || (f.len() == 2 && !a.starts_with("--") && a.starts_with(f))
            })
        })
    }

    fn node_exporter_addr(&self) -> SocketAddr {
        ports::local(self.node_exporter_port)
    }

    pub fn alertmanager_addr(&self) -> SocketAddr {
        ports::local(self.alertmanager_port)
    }
}

/// The node exporter's name among the lab's children (and its log's).
const NODE_EXPORTER_CHILD: &str = "node-exporter";

/// How long the node exporter gets to listen (or to die) at start.
const NODE_EXPORTER_START: Duration = Duration::from_secs(10);

/// `srelab-1`, `srelab-2`, …
pub fn instance_name(i: u16) -> String {
    format!("srelab-{}", i + 1)
}

/// The supervised children of one lab.
pub struct Lab {
    pub plan: Plan,
    pub state: StateDir,
    pub prom: Prometheus,
    /// The webhook receiver, while Alertmanager runs.
    pub receiver: Option<Receiver>,
    exe: PathBuf,
    instances: Vec<Option<Child>>,
    /// The PostgreSQL cluster and its server, with `--backend postgres`.
    cluster: Option<Cluster>,
    postgres: Option<Child>,
    others: Vec<Child>,
    /// Instances sent SIGTERM and not yet exited (the drain), by index.
    leaving: BTreeMap<u16, Child>,
    load: Option<Child>,
    /// Peak resident memory (KiB) by child name, of children already stopped.
    peaks: BTreeMap<String, u64>,
}

impl Lab {
    /// Checks every port and prepares the state directory (the pids and
    /// children files of an earlier run are dropped); starts nothing.
    pub fn prepare(plan: Plan) -> Result<Lab, LabError> {
        ports::ensure_free(&plan.ports())?;
        let state = StateDir::prepare(&plan.state_dir)?;
        for stale in [state.pids(), state.children_log()] {
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(LabError::io(&stale))?;
            }
        }
        let exe = std::env::current_exe().map_err(LabError::io("current executable"))?;
        Ok(Lab {
            prom: Prometheus::new(&plan.prometheus_url()),
            receiver: None,
            plan,
            state,
            exe,
            instances: Vec::new(),
            cluster: None,
            postgres: None,
            others: Vec::new(),
            leaving: BTreeMap::new(),
            load: None,
            peaks: BTreeMap::new(),
        })
    }

    /// Starts PostgreSQL (with `--backend postgres`), the instances, the
    /// exporters, the receiver and Alertmanager, Prometheus and Grafana.
    pub async fn start(&mut self) -> Result<(), LabError> {
        if let Some(pg) = self.plan.postgres.clone() {
            let cluster = LabPostgres::cluster(&self.state)?;
            if cluster.init(&pg.bins, &self.state.log("initdb"))? {
                say(format_args!(
                    "postgres: initialised a cluster in {}",
                    cluster.data_dir().display()
                ));
            }
            self.cluster = Some(cluster);
            self.start_postgres().await?;
            if let Some(cmd) = self
                .plan
                .postgres_exporter_addr()
                .and_then(|addr| pg.exporter_command(self.cluster.as_ref()?, addr))
            {
                self.spawn_other("postgres-exporter", cmd)?;
            }
        }
        for i in 0..self.plan.instances {
            let child = self.spawn_instance(i)?;
            self.instances.push(Some(child));
        }
        if let Some(logs) = self.plan.logs.clone() {
            logs::start(self, &logs)?;
        }
        let node = self.start_node_exporter()?;
        let lb = self.start_haproxy()?;
        let alertmanager = match self.plan.alertmanager_bin.clone() {
            Some(bin) => {
                self.start_alertmanager(&bin)?;
                Some(self.plan.alertmanager_addr())
            }
            None => None,
        };
        let scrape = prometheus::Scrape {
            instances: (0..self.plan.instances)
                .map(|i| self.plan.instance_addr(i))
                .collect(),
            load: self.plan.load_addr(),
            node,
            alertmanager,
            postgres: self.plan.postgres_exporter_addr(),
            haproxy: lb,
        };
        let config = prometheus::write_config(&self.state, &scrape, &self.plan.rules)?;
        let listen = ports::local(self.plan.prometheus_port);
        let cmd = prometheus::command(&self.plan.prometheus_bin, &config, &self.state, listen);
        self.spawn_other("prometheus", cmd)?;
        if let Some((bin, home)) = self.plan.grafana.clone() {
            let listen = ports::local(self.plan.grafana_port);
            let prometheus = self.plan.prometheus_url();
            let loki = self.plan.logs.as_ref().map(LabLogs::loki_url);
            let urls = grafana::Datasources {
                prometheus: &prometheus,
                loki: loki.as_deref(),
            };
            let prov = grafana::write_files(&self.state, loki.is_some())?;
            let cmd = grafana::command(&bin, &home, &self.state, &prov, listen, &urls);
            self.spawn_other("grafana", cmd)?;
        }
        Ok(())
    }

    /// Starts HAProxy in front of the instances (with `--lb`) and returns
    /// its exporter's address.
    fn start_haproxy(&mut self) -> Result<Option<SocketAddr>, LabError> {
        let (Some(lb), Some((listen, exporter))) = (self.plan.lb.clone(), self.plan.lb_addrs())
        else {
            return Ok(None);
        };
        let servers: Vec<haproxy::Server> = (0..self.plan.instances)
            .map(|i| haproxy::Server {
                name: instance_name(i),
                address: self.plan.instance_addr(i).to_string(),
            })
            .collect();
        let cmd = lb.prepare(&self.state, listen, exporter, &servers)?;
        self.spawn_other("haproxy", cmd)?;
        Ok(Some(exporter))
    }

    /// Starts the receiver (on a thread of the lab), then Alertmanager
    /// delivering to it.
    fn start_alertmanager(&mut self, bin: &Path) -> Result<(), LabError> {
        let addr = ports::local(self.plan.receiver_port);
        let file = self.state.notifications();
        let receiver = std::net::TcpListener::bind(addr)
            .and_then(|l| Receiver::start(l, &file, true))
            .map_err(LabError::io(format!("the receiver on {addr}")))?;
        let config = alertmanager::write_config(&self.state, &receiver.url())?;
        self.receiver = Some(receiver);
        let listen = self.plan.alertmanager_addr();
        let cmd = alertmanager::command(bin, &config, &self.state, listen);
        self.spawn_other("alertmanager", cmd)
    }

    /// Starts the node exporter when there is one and returns its address,
    /// before Prometheus' configuration is written: an exporter that exits
    /// at start (it panics without /sys, as in the Nix build sandbox) is
    /// left out with one notice, as a missing one is.
    fn start_node_exporter(&mut self) -> Result<Option<SocketAddr>, LabError> {
        let Some(bin) = self.plan.node_exporter_bin.clone() else {
            return Ok(None);
        };
        let addr = self.plan.node_exporter_addr();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address={addr}"));
        let log = self.state.log(NODE_EXPORTER_CHILD);
        let mut child = self.spawn(NODE_EXPORTER_CHILD, cmd, Output::Log(log.clone()))?;
        let deadline = std::time::Instant::now() + NODE_EXPORTER_START;
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.exited() {
                esay(format_args!(
                    "notice: the node exporter exited at start ({status}); the lab runs without it; see {}",
                    log.display()
                ));
                self.record_peak(&child);
                self.plan.node_exporter_bin = None;
                let why = format!("exited at start; see {}", log.display());
                self.plan.not_running.insert(NODE_EXPORTER, why);
                return Ok(None);
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still silent after the limit: Prometheus' target check names it.
        self.others.push(child);
        Ok(Some(addr))
    }

    fn spawn(&self, name: &str, mut cmd: Command, output: Output) -> Result<Child, LabError> {
        let child = Child::spawn(name, &mut cmd, output)?;
        // Users (and tests) can see which pids are the lab's, and which were.
        let line = format!("{} {name}", child.pid());
        append(&self.state.pids(), &line)?;
        append(&self.state.children_log(), &format!("started {line}"))?;
        Ok(child)
    }

    /// Records a child that has exited: its peak memory, its line in the
    /// children log, and `STATE/pids` without it.
    fn retire(&mut self, child: &mut Child) {
        self.record_peak(child);
        let status = child.exited().map_or("unknown".into(), |s| s.to_string());
        let line = format!("exited {} {} ({status})", child.pid(), child.name());
        let _ = append(&self.state.children_log(), &line);
        let _ = self.write_pids();
    }

    /// The children running now, as (pid, name).
    fn running(&mut self) -> Vec<(u32, String)> {
        self.instances
            .iter_mut()
            .flatten()
            .chain(self.postgres.iter_mut())
            .chain(self.others.iter_mut())
            .chain(self.leaving.values_mut())
            .chain(self.load.iter_mut())
            .filter_map(|c| c.exited().is_none().then(|| (c.pid(), c.name().to_owned())))
            .collect()
    }

    /// Rewrites `STATE/pids` with the children running now.
    fn write_pids(&mut self) -> Result<(), LabError> {
        let text: String = self
            .running()
            .iter()
            .map(|(pid, name)| format!("{pid} {name}\n"))
            .collect();
        let pids = self.state.pids();
        std::fs::write(&pids, text).map_err(LabError::io(&pids))
    }

    /// Starts a supervised child logging to `STATE/logs/NAME.log`.
    pub fn spawn_other(&mut self, name: &str, cmd: Command) -> Result<(), LabError> {
        let child = self.spawn(name, cmd, Output::Log(self.state.log(name)))?;
        self.others.push(child);
        Ok(())
    }

    /// What the instances get as `--db`: the SQLite file or the cluster's URL.
    pub fn database(&self) -> String {
        match &self.cluster {
            Some(cluster) => cluster.url(postgres::DATABASE),
            None => self.state.db().display().to_string(),
        }
    }

    fn spawn_instance(&self, i: u16) -> Result<Child, LabError> {
        let name = instance_name(i);
        let mut cmd = Command::new(&self.exe);
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.plan.instance_addr(i).to_string())
            .arg("--db")
            .arg(self.database())
            .arg("--instance")
            .arg(self.plan.instance_addr(i).to_string());
        if self.plan.logs.is_some() {
            cmd.args(logs::serve_args());
        }
        cmd.args(&self.plan.serve_args);
        self.spawn(&name, cmd, Output::Log(self.state.log(&name)))
    }

    /// Starts PostgreSQL and waits until the lab's database exists.
    pub async fn start_postgres(&mut self) -> Result<(), LabError> {
        let (Some(pg), Some(cluster)) = (&self.plan.postgres, &self.cluster) else {
            return Ok(());
        };
        let cmd = cluster.command(&pg.bins);
        let cluster = cluster.clone();
        let child = self.spawn("postgres", cmd, Output::Log(self.state.log("postgres")))?;
        self.postgres = Some(child.with_stop_signal(Signal::SIGINT));
        let ready = cluster.create_database(postgres::DATABASE, STARTUP_LIMIT);
        tokio::select! {
            r = ready => r.map_err(|e| LabError::Postgres(format!("{e}; see {}", self.state.log("postgres").display()))),
            e = self.postgres_exit() => Err(e),
        }
    }

    /// Resolves with the error describing PostgreSQL's exit, should it exit.
    async fn postgres_exit(&mut self) -> LabError {
        loop {
            if let Some(pg) = self.postgres.as_mut()
                && let Some(status) = pg.exited()
            {
                return pg.exit_error(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops PostgreSQL (fast shutdown: clients are cut off, commits kept).
    pub fn stop_postgres(&mut self) {
        if let Some(mut child) = self.postgres.take() {
            child.stop();
            self.retire(&mut child);
        }
    }

    /// Stops instance `i` (the fault the check injects).
    pub fn stop_instance(&mut self, i: u16) {
        if let Some(mut child) = self.instances[i as usize].take() {
            child.stop();
            self.retire(&mut child);
        }
    }

    /// Kills instance `i` with SIGKILL (a crash: nothing drains).
    pub fn kill_instance(&mut self, i: u16) {
        if let Some(mut child) = self.instances[i as usize].take() {
            child.kill();
            self.retire(&mut child);
        }
    }

    /// Sends SIGTERM to instance `i` without waiting for it (it drains
    /// first); [`Lab::instance_stopped`] says when it has exited.
    pub fn terminate_instance(&mut self, i: u16) {
        if let Some(mut child) = self.instances[i as usize].take() {
            child.terminate();
            self.leaving.insert(i, child);
        }
    }

    /// The exit status of a terminated instance `i`, once it has exited.
    pub fn instance_stopped(&mut self, i: u16) -> Option<ExitStatus> {
        let status = self.leaving.get_mut(&i)?.exited()?;
        let mut child = self.leaving.remove(&i)?;
        self.retire(&mut child);
        Some(status)
    }

    /// Starts instance `i` again on its port.
    pub fn restart_instance(&mut self, i: u16) -> Result<(), LabError> {
        self.stop_instance(i);
        let child = self.spawn_instance(i)?;
        self.instances[i as usize] = Some(child);
        Ok(())
    }

    /// Starts the load tool against every instance for `duration`; with
    /// `tui` it shares the terminal, else it is quiet and logs to a file.
    pub fn start_load(&mut self, duration: Duration, tui: bool) -> Result<(), LabError> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("load").args(self.plan.load_args(duration, !tui));
        let output = if tui {
            Output::Inherit
        } else {
            Output::Log(self.state.log("load"))
        };
        self.load = Some(self.spawn("load", cmd, output)?);
        Ok(())
    }

    /// Starts the load tool, quiet, with `args` (after `load`) and its log
    /// `STATE/logs/NAME.log`; stopping it sends SIGINT (the tool's
    /// graceful stop: requests in flight finish, the report is written).
    pub fn start_load_with(&mut self, name: &str, args: &[String]) -> Result<(), LabError> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("load").args(args);
        let child = self.spawn(name, cmd, Output::Log(self.state.log(name)))?;
        self.load = Some(child.with_stop_signal(Signal::SIGINT));
        Ok(())
    }

    /// Waits for the load tool to finish (at most `limit`, then stops it).
    pub async fn wait_load(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let load = self.load.as_mut()?;
            if let Some(status) = load.exited() {
                let mut load = self.load.take()?;
                self.retire(&mut load);
                return Some(status);
            }
            if Instant::now() >= deadline {
                let mut load = self.load.take()?;
                let status = load.stop();
                self.retire(&mut load);
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process ids of the lab: itself and every child running now.
    pub fn pids(&mut self) -> Vec<u32> {
        let mut pids = vec![std::process::id()];
        pids.extend(self.running().into_iter().map(|(pid, _)| pid));
        pids
    }

    /// An error for the first child that exited unexpectedly.
    pub fn check_children(&mut self) -> Result<(), LabError> {
        let all = self
            .instances
            .iter_mut()
            .flatten()
            .chain(self.postgres.iter_mut())
            .chain(self.others.iter_mut());
        for child in all {
            if let Some(status) = child.exited() {
                return Err(child.exit_error(status));
            }
        }
        Ok(())
    }

    /// An error when the load tool has already exited.
    fn check_load(&mut self) -> Result<(), LabError> {
        match self.load.as_mut() {
            Some(load) => match load.exited() {
                Some(status) => Err(load.exit_error(status)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Waits until every scrape target is up (the load tool's only when
    /// `with_load`) and Alertmanager (when it runs) is ready, checking
    /// meanwhile that no child died.
    pub async fn wait_targets(&mut self, with_load: bool, limit: Duration) -> Result<(), LabError> {
        let want = self.expected_targets(with_load);
        let deadline = Instant::now() + limit;
        if self.plan.alertmanager_bin.is_some()
            && !alertmanager::wait_ready(self.plan.alertmanager_addr(), limit).await
        {
            self.check_children()?;
            return Err(LabError::TargetsNotUp {
                secs: limit.as_secs(),
                detail: format!(
                    "alertmanager {} is not ready; see {}",
                    self.plan.alertmanager_addr(),
                    self.state.log("alertmanager").display()
                ),
            });
        }
        loop {
            self.check_children()?;
            if with_load {
                self.check_load()?;
            }
            let targets = self.prom.targets().await;
            let missing: Vec<String> = match &targets {
                Ok(list) => want
                    .iter()
                    .filter_map(|(job, inst)| {
                        match list.iter().find(|t| &t.job == job && &t.instance == inst) {
                            Some(t) if t.health == "up" => None,
                            found => Some(describe_target(job, inst, found)),
                        }
                    })
                    .collect(),
                Err(e) => vec![format!("prometheus: {e}")],
            };
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::TargetsNotUp {
                    secs: limit.as_secs(),
                    detail: missing.join("; "),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn expected_targets(&self, with_load: bool) -> BTreeSet<(String, String)> {
        let mut want: BTreeSet<(String, String)> = (0..self.plan.instances)
            .map(|i| (JOB.to_owned(), self.plan.instance_addr(i).to_string()))
            .collect();
        if self.plan.node_exporter_bin.is_some() {
            let addr = self.plan.node_exporter_addr().to_string();
            want.insert((NODE_JOB.to_owned(), addr));
        }
        if with_load {
            want.insert((LOAD_JOB.to_owned(), self.plan.load_addr().to_string()));
        }
        if let Some(addr) = self.plan.postgres_exporter_addr() {
            want.insert((POSTGRES_JOB.to_owned(), addr.to_string()));
        }
        if let Some((_, exporter)) = self.plan.lb_addrs() {
            want.insert((HAPROXY_JOB.to_owned(), exporter.to_string()));
        }
        want
    }

    /// Whether Grafana (when it runs) answers its health endpoint, waiting up to `limit`.
    pub async fn grafana_healthy(&self, limit: Duration) -> Option<bool> {
        self.plan.grafana.as_ref()?;
        let url = format!("http://{}/api/health", ports::local(self.plan.grafana_port));
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if prom::get_status(&url).await == Some(200) {
                return Some(true);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Some(false)
    }

    fn record_peak(&mut self, child: &Child) {
        let e = self.peaks.entry(child.name().to_owned()).or_default();
        *e = (*e).max(child.peak_kib());
    }

    /// Stops every child (SIGTERM to all, wait, kill); idempotent.
    /// Returns the peak resident memory (KiB) of each child.
    pub fn shutdown(&mut self) -> BTreeMap<String, u64> {
        let mut all: Vec<Child> = self.load.take().into_iter().collect();
        all.extend(self.instances.iter_mut().filter_map(Option::take));
        all.extend(std::mem::take(&mut self.leaving).into_values());
        all.append(&mut self.others);
        process::stop_all(&mut all);
        // PostgreSQL last, once no instance has anything left to commit.
        all.extend(self.postgres.take());
        process::stop_all(&mut all);
        for c in &mut all {
            self.retire(c);
        }
        self.receiver = None;
        self.peaks.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Appends one line to a file of the state directory.
fn append(path: &Path, line: &str) -> Result<(), LabError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(LabError::io(path))?;
    writeln!(f, "{line}").map_err(LabError::io(path))
}

fn describe_target(job: &str, inst: &str, found: Option<&prom::Target>) -> String {
    match found {
        Some(t) if !t.last_error.is_empty() => {
            format!("{job} {inst} ({}: {})", t.health, t.last_error)
        }
        Some(t) => format!("{job} {inst} ({})", t.health),
        None => format!("{job} {inst} (not in Prometheus' targets)"),
    }
}
