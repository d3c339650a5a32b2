//! The checks of one verify run: every signal for every instance, every
//! dashboard panel and every rule expression, retried until the deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::prom::{PromError, Prometheus};
use super::queries::{self, Panel, RuleExpr};
use super::report::{QueryKind, QueryOutcome, Report, SignalResult};
use super::spec::{Signal, Spec, metric_names};

/// Pause between two rounds of the checks still failing.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Everything one verify run needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub prometheus: String,
    pub spec: Spec,
    pub job: String,
    pub min_instances: usize,
    pub timeout: Duration,
    pub panels: Vec<Panel>,
    pub rules: Vec<RuleExpr>,
}

/// Runs every check, retrying the failing ones each second until they pass
/// or the deadline comes, and reports the last result of each.
pub async fn run(cfg: &Config) -> Report {
    let prom = Prometheus::new(&cfg.prometheus);
    let deadline = Instant::now() + cfg.timeout;
    let mut report = Report::new(cfg);
    loop {
        round(&prom, cfg, &mut report).await;
        if report.settled() || Instant::now() + RETRY_EVERY > deadline {
            return report;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

async fn round(prom: &Prometheus, cfg: &Config, report: &mut Report) {
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
    for (signal, result) in cfg.spec.signals.iter().zip(&mut report.signals) {
        if !result.ok(&report.instances) {
            check_signal(prom, signal, &cfg.job, result).await;
        }
    }
    let scraped_jobs = match prom.query("count by (job) (up)").await {
        Ok(s) => s.iter().map(|s| s.label("job").to_owned()).collect(),
        Err(_) => BTreeSet::new(),
    };
    let optional = &cfg.spec.dashboards.optional_metrics;
    // Skipped panels are asked again while anything else is pending: their
    // data may just be late. They never hold the verdict back.
    let again = |o: &QueryOutcome| o.retry() || matches!(o, QueryOutcome::Skipped { .. });
    for r in report.queries.iter_mut().filter(|r| again(&r.outcome)) {
        r.outcome = match r.kind {
            QueryKind::Panel => check_panel(prom, &r.exprs, &scraped_jobs, optional).await,
            QueryKind::Rule => check_rule(prom, &r.exprs[0]).await,
        };
    }
}

/// Replaces `$job` in a spec query.
pub fn subst_job(query: &str, job: &str) -> String {
    query.replace("$job", job)
}

/// Asks for `signal` again and records the answer in `result`.
async fn check_signal(prom: &Prometheus, signal: &Signal, job: &str, result: &mut SignalResult) {
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

async fn check_panel(
    prom: &Prometheus,
    exprs: &[String],
    scraped_jobs: &BTreeSet<String>,
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
    let jobs: BTreeSet<String> = exprs.iter().flat_map(|e| queries::jobs(e)).collect();
    if !jobs.is_empty() && jobs.is_disjoint(scraped_jobs) {
        let names: Vec<_> = jobs.into_iter().collect();
        return QueryOutcome::Skipped {
            reason: format!("no data; job {} is not scraped", names.join(", ")),
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
