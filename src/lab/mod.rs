//! `srelab lab`: brings up N `srelab serve` instances on one SQLite file
//! (or, with `--backend postgres`, a PostgreSQL cluster and its exporter),
//! Prometheus with a generated configuration and the alert rules, node
//! exporter, Grafana and Alertmanager (delivering to the lab's own webhook
//! receiver) when found; `--load` drives the load tool in the
//! foreground; `--check` runs the headless end-to-end check; `--capacity`
//! runs the capacity search with 1, 2, … N instances. Every input
//! (binaries, the spec, the load options) is checked before anything starts.
//!
//! Exit codes: 0 the lab stopped on Ctrl-C/SIGTERM, or the check passed;
//! 1 the check failed, the lab could not start (a port in use) or a child
//! died; 2 a flag or input mistake (a missing Prometheus, an unreadable spec,
//! load options `srelab load` refuses).
//!
//! - [`Args`]: the command line; `plan`: from it to the [`stack::Plan`];
//!   `load_options`: the load tool's options after `--`, checked first.
//! - [`defaults`]: ports and names shared with the NixOS modules.
//! - [`binaries`], [`ports`], [`state`]: finding programs, checking ports,
//!   the state directory; [`output`]: progress on stdout.
//! - [`process`]: children owned by guards that stop them.
//! - [`prometheus`], [`grafana`], [`alertmanager`]: their generated
//!   configuration; [`receiver`]: the webhook receiver notifications go to;
//!   [`logs`]: Loki and Alloy ([`loki`], [`alloy`]) when both are found;
//!   [`postgres`]: the cluster (shared with the tests) and its exporter;
//!   [`haproxy`]: the load balancer's one configuration (shared with the
//!   NixOS module) and its state.
//! - [`stack`]: the running lab; [`run`]: the interactive lab;
//!   [`check`]: `--check`, with [`db_fault`] on PostgreSQL and, with
//!   `--lb`, [`failover`] (crash and drain under load) and [`overload`]
//!   (saturation alerts fired by load); [`http`] and [`wait`] serve them;
//!   [`drill`]: `--drill`, which proves the alerts.

pub mod alertmanager;
pub mod alloy;
mod args;
pub mod binaries;
pub mod capacity;
pub mod check;
pub mod db_fault;
pub mod defaults;
pub mod drill;
pub mod error;
pub mod failover;
pub mod grafana;
pub mod haproxy;
pub mod http;
mod load_options;
pub mod logs;
pub mod loki;
pub mod output;
pub mod overload;
mod plan;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod receiver;
pub mod run;
pub mod stack;
pub mod state;
pub mod usl;
pub mod wait;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::UsageError;
pub use args::{Args, Backend};
use error::LabError;
use plan::{drill_timing, plan};

/// Runs `srelab lab`.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args).map_err(|e| match e {
        e @ LabError::MissingBinary { .. } => anyhow::Error::new(UsageError::new(e)),
        e => e.into(),
    })?;
    if args.capacity {
        capacity::check_options(&plan).map_err(UsageError::new)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        return rt.block_on(capacity::run(plan));
    }
    if args.drill && plan.alertmanager_bin.is_none() {
        let why = plan
            .not_running
            .get(stack::ALERTMANAGER)
            .cloned()
            .unwrap_or_default();
        return Err(UsageError::new(anyhow::anyhow!(
            "the drill judges what Alertmanager delivers, and Alertmanager is {why}; {}",
            binaries::ALERTMANAGER.hint
        ))
        .into());
    }
    let load = match (args.check, args.drill, args.load) {
        (true, _, _) => Some(args.duration.into()),
        (_, true, _) => Some(Duration::from_secs(3600)),
        (false, false, load) => load.map(Into::into),
    };
    match load {
        Some(duration) => load_options::check(&plan, duration).map_err(UsageError::new)?,
        None if !plan.load_options.is_empty() => {
            return Err(UsageError::new(anyhow::anyhow!(
                "options after `--` are for the load tool: give --load DURATION or --check"
            ))
            .into());
        }
        None => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.drill {
        let available = drill::catalogue::FaultName::available(args.lb);
        let faults = args.drill_faults.clone().unwrap_or(available.clone());
        if let Some(f) = faults.iter().find(|f| !available.contains(f)) {
            return Err(UsageError::new(anyhow::anyhow!(
                "the drill fault `{f}` needs HAProxy in front: add --lb"
            ))
            .into());
        }
        let opts = drill::Options {
            timing: drill_timing(args.drill_scale, args.lb)?,
            baseline: args.drill_baseline.into(),
            faults,
        };
        return rt.block_on(drill::run(plan, opts));
    }
    if args.check {
        let verify = crate::verify::Config::from_sources(
            &plan.prometheus_url(),
            args.spec.as_deref(),
            None,
            None,
            defaults::JOB,
            plan.instances.into(),
            args.verify_timeout.into(),
        )
        .map_err(UsageError)?;
        let mut verify = verify;
        if let Some(logs) = &plan.logs {
            // The check forces a 5xx on every instance: its error line must be there.
            let require: Vec<String> = verify
                .spec
                .logs
                .iter()
                .filter(|s| s.name == check::ERROR_LINES)
                .map(|s| s.name.clone())
                .collect();
            verify
                .with_logs(Some(logs.loki_url()), require)
                .map_err(|e| UsageError(anyhow::anyhow!(e)))?;
        }
        let opts = check::Options {
            duration: args.duration.into(),
            fault: !args.no_fault,
            verify,
        };
        rt.block_on(check::run(plan, opts))
    } else {
        rt.block_on(run::run(plan, load))
    }
}
