//! The checks of one verify run: every signal for every instance, every
//! dashboard panel and every rule expression, retried until the deadline;
//! a run stops early when Prometheus cannot be reached or no load runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::loki::{self, Loki};
use super::prom::{PromError, Prometheus};
use super::queries::{self, Panel, RuleExpr};
use super::report::{QueryKind, QueryOutcome, Report, SignalResult};
use super::spec::{Signal, Spec, metric_names};

/// Pause between two rounds of the checks still failing.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How long verify waits for Prometheus to answer at all.
pub const REACH_LIMIT: Duration = Duration::from_secs(5);

/// The scrape interval assumed when Prometheus does not report one.
const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(15);

/// Everything one verify run needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub prometheus: String,
    /// Loki's base URL: the spec's log signals and the Loki panels are
    /// checked only with it.
    pub loki: Option<String>,
    /// Optional signals that must have data this run (`--require`).
    pub require: Vec<String>,
    pub spec: Spec,
    pub job: String,
    pub min_instances: usize,
    pub timeout: Duration,
    pub panels: Vec<Panel>,
    pub rules: Vec<RuleExpr>,
}

/// Runs every check, retrying the failing ones each second until they pass
/// or the deadline comes, and reports the last result of each. Fails when
/// Prometheus does not answer within [`REACH_LIMIT`] (or the timeout, when
/// shorter); stops early when the spec's traffic query sees no load.
pub async fn run(cfg: &Config) -> Result<Report, PromError> {
    let prom = Prometheus::new(&cfg.prometheus);
    let loki = cfg.loki.as_deref().map(Loki::new);
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    prom.wait_reachable(REACH_LIMIT.min(cfg.timeout)).await?;
    let mut report = Report::new(cfg);
    let mut load = LoadWatch::new(cfg, started);
    loop {
        round(&prom, loki.as_ref(), cfg, &mut report).await;
        if report.settled() {
            return Ok(report);
        }
        report.no_load = load.no_load(&prom, cfg, &report).await;
        if report.no_load.is_some() || Instant::now() + RETRY_EVERY > deadline {
            return Ok(report);
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Watches the spec's traffic query: once no request was seen for a few
/// scrape intervals (enough for a rate to appear after a load starts), the
/// verdict cannot change without a load, and waiting longer only hides that.
struct LoadWatch {
    query: Option<String>,
    started: Instant,
    seen: bool,
}

impl LoadWatch {
    fn new(cfg: &Config, started: Instant) -> LoadWatch {
        LoadWatch {
            query: cfg
                .spec
                .traffic
                .as_ref()
                .map(|t| subst_job(&t.query, &cfg.job)),
            started,
            seen: false,
        }
    }

    /// The "no load" line once it is certain, else `None`.
    async fn no_load(
        &mut self,
        prom: &Prometheus,
        cfg: &Config,
        report: &Report,
    ) -> Option<String> {
        let query = self.query.as_deref()?;
        if self.seen || report.instances.is_empty() {
            return None;
        }
        let traffic = prom.query(query).await.ok()?;
        if traffic.iter().any(|s| s.value > 0.0) {
            self.seen = true;
            return None;
        }
        if self.started.elapsed() < 3 * scrape_interval(prom, &cfg.job).await {
            return None;
        }
        let targets: Vec<String> = report
            .instances
            .iter()
            .map(|i| format!("--target http://{i}"))
            .collect();
        Some(format!(
            "no load: no request traffic on job {:?}; verify judges metrics under load: \
             start one with `srelab load {} -d 60s` and run verify while it runs",
            cfg.job,
            targets.join(" ")
        ))
    }
}

/// The longest scrape interval among the job's targets.
async fn scrape_interval(prom: &Prometheus, job: &str) -> Duration {
    let targets = prom.targets().await.unwrap_or_default();
    targets
        .iter()
        .filter(|t| t.job == job)
        .filter_map(|t| t.scrape_interval)
        .max()
        .unwrap_or(DEFAULT_SCRAPE_INTERVAL)
}

async fn round(prom: &Prometheus, loki: Option<&Loki>, cfg: &Config, report: &mut Report) {
    let up = prom.query(&subst_job(r#"up{job="$job"}"#, &cfg.job)).await;
    report.instances = match &up {
        Ok(samples) => samples
            .iter()
            .map(|s| s.label("instance").to_owned())
            .collect(),
        Err(e) => {
            report.unreachable = Some(e.to_string());
            return;
        }
    };
    report.unreachable = None;
    let (metrics, logs) = report.signals.split_at_mut(cfg.spec.signals.len());
    for (signal, result) in cfg.spec.signals.iter().zip(metrics) {
        // Another job may be scraped later than the first round.
        let unscraped = result.job.is_some() && result.scope.is_empty();
        if !result.ok(&report.instances) || unscraped {
            check_signal(prom, signal, &cfg.job, result).await;
        }
    }
    if let Some(loki) = loki {
        for (signal, result) in cfg.spec.logs.iter().zip(logs) {
            if !result.ok(&report.instances) {
                loki::check_signal(loki, signal, &cfg.job, result).await;
            }
        }
    }
    // Each scraped job, and whether any of its targets is up.
    let jobs: BTreeMap<String, bool> = match prom.query("max by (job) (up)").await {
        Ok(s) => s
            .iter()
            .map(|s| (s.label("job").to_owned(), s.value == 1.0))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    let optional = &cfg.spec.dashboards.optional_metrics;
    // Skipped panels are asked again while anything else is pending: their
    // data may just be late. They never hold the verdict back.
    let again = |o: &QueryOutcome| o.retry() || matches!(o, QueryOutcome::Skipped { .. });
    for r in report.queries.iter_mut().filter(|r| again(&r.outcome)) {
        r.outcome = match r.kind {
            QueryKind::Panel => check_panel(prom, &r.exprs, &jobs, optional).await,
            QueryKind::LogPanel => match loki {
                Some(loki) => loki::check_panel(loki, &r.exprs).await,
                None => QueryOutcome::Skipped {
                    reason: "a Loki panel: no --loki URL given".into(),
                },
            },
            QueryKind::Rule => check_rule(prom, &r.exprs[0]).await,
        };
    }
}

/// Replaces `$job` in a spec query.
pub fn subst_job(query: &str, job: &str) -> String {
    query.replace("$job", job)
}

/// Asks for `signal` again and records the answer in `result` (for a
/// signal of another job, that job's instances first).
async fn check_signal(prom: &Prometheus, signal: &Signal, job: &str, result: &mut SignalResult) {
    if let Some(other) = &signal.job {
        match prom.query(&format!(r#"up{{job="{other}"}}"#)).await {
            Ok(up) => result.scope = up.iter().map(|s| s.label("instance").to_owned()).collect(),
            Err(e) => {
                result.error = Some(e.to_string());
                return;
            }
        }
    }
    result.query = subst_job(&signal.query, job);
    (result.values, result.error) = match prom.query(&result.query).await {
        Ok(samples) => (
            samples
                .iter()
                .map(|s| (s.label("instance").to_owned(), s.value))
                .collect::<BTreeMap<_, _>>(),
            None,
        ),
        Err(e) => (BTreeMap::new(), Some(e.to_string())),
    };
}

/// A panel passes with data; without, it is skipped when every job it names
/// is unscraped or down (the load tool's job between runs), or when the
/// spec marks all its metrics optional.
async fn check_panel(
    prom: &Prometheus,
    exprs: &[String],
    jobs: &BTreeMap<String, bool>,
    optional: &[String],
) -> QueryOutcome {
    let mut samples = 0;
    for expr in exprs {
        match prom.query(expr).await {
            Ok(s) => samples += s.len(),
            Err(e) => return error_outcome(e),
        }
    }
    if samples > 0 {
        return QueryOutcome::Ok { samples };
    }
    let named: BTreeSet<String> = exprs.iter().flat_map(|e| queries::jobs(e)).collect();
    if !named.is_empty() && named.iter().all(|j| jobs.get(j) != Some(&true)) {
        let states: Vec<String> = named
            .iter()
            .map(|j| match jobs.get(j) {
                Some(_) => format!("job {j} is down"),
                None => format!("job {j} is not scraped"),
            })
            .collect();
        return QueryOutcome::Skipped {
            reason: format!("no data: {}", states.join(", ")),
        };
    }
    let metrics: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    if !metrics.is_empty() && metrics.iter().all(|m| optional.contains(m)) {
        return QueryOutcome::Skipped {
            reason: "no data; the spec marks its metrics optional".into(),
        };
    }
    QueryOutcome::NoData
}

async fn check_rule(prom: &Prometheus, expr: &str) -> QueryOutcome {
    match prom.query(expr).await {
        Ok(s) => QueryOutcome::Ok { samples: s.len() },
        Err(e) => error_outcome(e),
    }
}

/// A query Prometheus rejects stays rejected; anything else is retried.
fn error_outcome(e: PromError) -> QueryOutcome {
    let fatal = matches!(e, PromError::Api { .. });
    QueryOutcome::Error {
        message: e.to_string(),
        fatal,
    }
}

/// The panels of the given dashboard texts.
pub fn panels(
    dashboards: &[(String, String)],
    job: &str,
) -> Result<Vec<Panel>, queries::DashboardError> {
    let mut panels = Vec::new();
    for (file, json) in dashboards {
        panels.extend(queries::dashboard_panels(file, json, job)?);
    }
    Ok(panels)
}
