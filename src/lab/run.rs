//! The interactive lab: start everything, print what runs where, optionally
//! drive the load tool in the foreground, run until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use super::grafana;
use super::logs::LOKI;
use super::output::{esay, say};
use super::stack::{ALERTMANAGER, GRAFANA, Lab, NODE_EXPORTER, Plan, instance_name};

/// How long the lab waits for every scrape target at start-up.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// SIGINT and SIGTERM, both meaning "stop the lab".
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    /// Installs the handlers (before any child starts, so none is orphaned).
    pub fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// Waits for either signal and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Runs the interactive lab until a signal or a child's death.
pub async fn run(plan: Plan, load: Option<Duration>) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let mut lab = Lab::prepare(plan)?;
    print_notices(&lab);
    let result = tokio::select! {
        r = interactive(&mut lab, load, started) => r,
        name = signals.recv() => {
            esay(format_args!("{name}: stopping the lab"));
            Ok(ExitCode::SUCCESS)
        }
    };
    lab.shutdown();
    esay(format_args!(
        "lab stopped; the database stays at {}",
        lab.database()
    ));
    result
}

/// The notices of the plan, once every error that stops the start is ruled out.
pub fn print_notices(lab: &Lab) {
    for notice in &lab.plan.notices {
        esay(notice);
    }
}

/// Links to Prometheus' targets and alerts pages that answer on the
/// Prometheus that runs (`/targets`, or `/classic/targets` on builds with
/// only the classic UI).
pub async fn prometheus_links(lab: &Lab) -> Vec<(&'static str, String)> {
    let mut links = Vec::new();
    for page in ["targets", "alerts"] {
        if let Some(url) = lab.prom.ui_page(page).await {
            links.push((page, url));
        }
    }
    links
}

async fn interactive(
    lab: &mut Lab,
    load: Option<Duration>,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    lab.start().await?;
    lab.wait_targets(false, STARTUP_LIMIT).await?;
    let up_after = started.elapsed();
    let grafana_ok = lab.grafana_healthy(Duration::from_secs(60)).await;
    if let Some(logs) = &lab.plan.logs
        && let Err(e) = super::logs::ready(lab, logs, STARTUP_LIMIT).await
    {
        esay(e);
    }
    let links = prometheus_links(lab).await;
    say(summary(lab, up_after, grafana_ok, &links).trim_end());
    if let Some(duration) = load {
        lab.start_load(duration, true)?;
        let status = lab.wait_load(duration + Duration::from_secs(60)).await;
        let status = status.map_or("not started".into(), |s| s.to_string());
        say(format_args!(
            "load finished ({status}); Ctrl-C stops the lab"
        ));
    }
    loop {
        lab.check_children()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What runs where; `links` are Prometheus' pages by name.
pub fn summary(
    lab: &Lab,
    up_after: Duration,
    grafana_ok: Option<bool>,
    links: &[(&str, String)],
) -> String {
    let p = &lab.plan;
    let mut rows: Vec<(String, String)> = (0..p.instances)
        .map(|i| (instance_name(i), format!("http://{}", p.instance_addr(i))))
        .collect();
    if let Some((lb, exporter)) = p.lb_addrs() {
        rows.push((
            "haproxy".into(),
            format!("http://{lb}  (in front of the instances; exporter http://{exporter}/metrics)"),
        ));
    }
    let pages: Vec<String> = links.iter().map(|(n, url)| format!("{n}: {url}")).collect();
    let pages = if pages.is_empty() {
        String::new()
    } else {
        format!("  ({})", pages.join(", "))
    };
    rows.push((
        "prometheus".into(),
        format!("{}{pages}", p.prometheus_url()),
    ));
    let not_running = |what: &str| {
        let why = p.not_running.get(what).map_or("not found", String::as_str);
        format!("not running ({why})")
    };
    match grafana_ok {
        Some(ok) => {
            let (user, password) = grafana::LOGIN;
            let note = if ok {
                ""
            } else {
                " (not answering yet; see its log)"
            };
            rows.push((
                GRAFANA.into(),
                format!(
                    "http://127.0.0.1:{}  login {user} / {password}{note}",
                    p.grafana_port
                ),
            ));
        }
        None => rows.push((GRAFANA.into(), not_running(GRAFANA))),
    }
    match &p.logs {
        Some(logs) => rows.push((
            LOKI.into(),
            format!(
                "{}  (Alloy ships the instances' logs: http://127.0.0.1:{})",
                logs.loki_url(),
                logs.alloy_port
            ),
        )),
        None => rows.push((LOKI.into(), not_running(LOKI))),
    }
    match &p.node_exporter_bin {
        Some(_) => rows.push((
            NODE_EXPORTER.into(),
            format!("http://127.0.0.1:{}/metrics", p.node_exporter_port),
        )),
        None => rows.push((NODE_EXPORTER.into(), not_running(NODE_EXPORTER))),
    }
    match &lab.receiver {
        Some(r) => {
            rows.push((
                ALERTMANAGER.into(),
                format!("http://{}", p.alertmanager_addr()),
            ));
            rows.push((
                "notifications".into(),
                format!(
                    "{} (receiver {}), one line each here",
                    r.file.display(),
                    r.url()
                ),
            ));
        }
        None => rows.push((ALERTMANAGER.into(), not_running(ALERTMANAGER))),
    }
    if p.serve_args.iter().any(|a| a == "--faults") {
        rows.push((
            "faults".into(),
            format!(
                "curl -XPOST -d '{{\"kind\":\"error\",\"ratio\":0.2}}' -H 'content-type: application/json' http://{}/admin/faults",
                p.instance_addr(0)
            ),
        ));
    }
    rows.push((
        "load metrics".into(),
        format!(
            "127.0.0.1:{}, scraped while a load runs: `srelab load {}`",
            p.load_metrics_port,
            p.load_args(Duration::from_secs(60), false).join(" ")
        ),
    ));
    rows.push(("database".into(), lab.database()));
    if let Some(addr) = p.postgres_exporter_addr() {
        rows.push(("pg exporter".into(), format!("http://{addr}/metrics")));
    }
    rows.push(("logs".into(), lab.state.logs().display().to_string()));
    let mut out = format!(
        "srelab lab is up: every scrape target up after {:.1}s\n",
        up_after.as_secs_f64()
    );
    for (what, where_) in rows {
        out.push_str(&format!("  {what:<14} {where_}\n"));
    }
    out.push_str("Ctrl-C stops the lab; the database stays.\n");
    out
}
