//! The result of a verify run: a table of instance × signal with the values
//! seen (in their units), the dashboard and rule queries, the problems; as
//! text or JSON. The problems are printed once, apart from the table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::check::Config;
use super::queries::{Panel, RuleExpr};
use super::spec::{Expect, Unit};

/// One signal's last evaluation.
#[derive(Debug, Clone)]
pub struct SignalResult {
    pub name: String,
    pub area: String,
    pub query: String,
    pub expect: Expect,
    pub unit: Unit,
    /// No data at all passes (the spec's `optional`).
    pub optional: bool,
    /// Judged per instance of the job, else over every sample returned.
    pub per_instance: bool,
    /// Judged per instance of this other job instead (the spec's `job`).
    pub job: Option<String>,
    /// The instances of that other job at the last evaluation.
    pub scope: BTreeSet<String>,
    /// Value by instance.
    pub values: BTreeMap<String, f64>,
    /// The query's error, when it failed.
    pub error: Option<String>,
}

impl SignalResult {
    /// Whether every instance has a fitting value (or, for a signal of
    /// another job, every sample fits; for an optional one, none is there).
    pub fn ok(&self, instances: &BTreeSet<String>) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.absent() {
            return true;
        }
        if self.job.is_some() {
            return self.scope.iter().all(|i| self.ok_for(i));
        }
        if !self.per_instance {
            return !self.values.is_empty()
                && self.values.values().all(|v| self.expect.accepts(*v));
        }
        !instances.is_empty() && instances.iter().all(|i| self.ok_for(i))
    }

    /// An optional signal with no data, or one of another job that
    /// Prometheus does not scrape: what it measures does not run.
    fn absent(&self) -> bool {
        let unscraped = self.job.is_some() && self.scope.is_empty();
        self.error.is_none() && (unscraped || self.optional && self.values.is_empty())
    }

    /// The instances the signal is judged for: its own job's, or the job's.
    fn judged<'a>(&'a self, instances: &'a BTreeSet<String>) -> &'a BTreeSet<String> {
        match self.job {
            Some(_) => &self.scope,
            None => instances,
        }
    }

    fn ok_for(&self, instance: &str) -> bool {
        self.values
            .get(instance)
            .is_some_and(|v| self.expect.accepts(*v))
    }

    /// Whether the signal failed only for want of activity (no sample, a
    /// zero rate, or NaN from a ratio of nothing): what an idle service gives.
    fn lacks_data(&self, instances: &BTreeSet<String>) -> bool {
        self.error.is_none()
            && self
                .judged(instances)
                .iter()
                .filter(|i| !self.ok_for(i))
                .all(|i| self.values.get(i).is_none_or(|v| v.is_nan() || *v == 0.0))
    }
}

/// Where a checked query comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Panel,
    /// A panel of the Loki datasource (asked of Loki with `--loki`).
    LogPanel,
    Rule,
}

/// How a dashboard panel or rule expression fared.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutcome {
    Pending,
    Ok { samples: usize },
    NoData,
    Skipped { reason: String },
    Error { message: String, fatal: bool },
}

impl QueryOutcome {
    /// Whether another round may change the outcome.
    pub fn retry(&self) -> bool {
        matches!(
            self,
            QueryOutcome::Pending | QueryOutcome::NoData | QueryOutcome::Error { fatal: false, .. }
        )
    }
}

/// A dashboard panel's or rule's queries and their outcome.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub kind: QueryKind,
    pub source: String,
    pub exprs: Vec<String>,
    pub outcome: QueryOutcome,
}

impl QueryResult {
    fn panel(p: &Panel) -> Self {
        QueryResult {
            kind: if p.datasource == "loki" {
                QueryKind::LogPanel
            } else {
                QueryKind::Panel
            },
            source: format!("{} panel {:?}", p.dashboard, p.title),
            exprs: p.exprs.clone(),
            outcome: QueryOutcome::Pending,
        }
    }

    fn rule(r: &RuleExpr) -> Self {
        QueryResult {
            kind: QueryKind::Rule,
            source: format!("rule {}", r.name),
            exprs: vec![r.expr.clone()],
            outcome: QueryOutcome::Pending,
        }
    }
}

/// The whole result of a verify run.
#[derive(Debug, Clone)]
pub struct Report {
    pub prometheus: String,
    pub job: String,
    pub min_instances: usize,
    pub instances: BTreeSet<String>,
    /// Set when Prometheus could not be asked at all in the last round.
    pub unreachable: Option<String>,
    /// Set when the run stopped early because no load runs.
    pub no_load: Option<String>,
    /// The metric signals, then (with `--loki`) the log signals.
    pub signals: Vec<SignalResult>,
    pub queries: Vec<QueryResult>,
    /// Why the spec's log signals were not checked (no `--loki`).
    pub logs_skipped: Option<String>,
}

impl Report {
    /// A report with every check pending.
    pub fn new(cfg: &Config) -> Report {
        let logs = if cfg.loki.is_some() {
            &cfg.spec.logs[..]
        } else {
            &[]
        };
        let logs_skipped = (cfg.loki.is_none() && !cfg.spec.logs.is_empty()).then(|| {
            let names: Vec<&str> = cfg.spec.logs.iter().map(|s| s.name.as_str()).collect();
            format!(
                "log signals skipped ({}): no --loki URL given",
                names.join(", ")
            )
        });
        let signals = cfg
            .spec
            .signals
            .iter()
            .chain(logs)
            .map(|s| SignalResult {
                name: s.name.clone(),
                area: s.area.clone(),
                query: s.query.clone(),
                expect: s.expect,
                unit: s.unit,
                optional: s.optional && !cfg.require.contains(&s.name),
                per_instance: s.per_instance,
                job: s.job.clone(),
                scope: BTreeSet::new(),
                values: BTreeMap::new(),
                error: Some("not evaluated".into()),
            })
            .collect();
        let queries = cfg
            .panels
            .iter()
            .map(QueryResult::panel)
            .chain(cfg.rules.iter().map(QueryResult::rule))
            .collect();
        Report {
            prometheus: cfg.prometheus.clone(),
            job: cfg.job.clone(),
            min_instances: cfg.min_instances,
            instances: BTreeSet::new(),
            unreachable: None,
            no_load: None,
            signals,
            queries,
            logs_skipped,
        }
    }

    /// One line per failed check, each naming the signal or query. An
    /// unreachable Prometheus is the one problem; without load, the checks
    /// that only lack data are one line.
    pub fn problems(&self) -> Vec<String> {
        if let Some(e) = &self.unreachable {
            return vec![format!("prometheus: {e}")];
        }
        let mut out = Vec::new();
        let mut lacking = 0;
        if let Some(line) = &self.no_load {
            out.push(line.clone());
        }
        if self.instances.len() < self.min_instances {
            out.push(format!(
                "instances: job {:?} has {} instance(s), want at least {}",
                self.job,
                self.instances.len(),
                self.min_instances
            ));
        }
        for s in &self.signals {
            if self.no_load.is_some() && s.lacks_data(&self.instances) {
                lacking += usize::from(!s.ok(&self.instances));
                continue;
            }
            out.extend(signal_problems(s, &self.instances));
        }
        for q in &self.queries {
            let what = match &q.outcome {
                QueryOutcome::Ok { .. } | QueryOutcome::Skipped { .. } => continue,
                QueryOutcome::NoData if self.no_load.is_some() => {
                    lacking += 1;
                    continue;
                }
                QueryOutcome::Pending => "not evaluated".to_owned(),
                QueryOutcome::NoData => "returned no data".to_owned(),
                QueryOutcome::Error { message, .. } => format!("query failed: {message}"),
            };
            out.push(format!("{}: {what} ({})", q.source, q.exprs.join(" ; ")));
        }
        if lacking > 0 {
            out.push(format!(
                "{lacking} signal(s) and panel(s) without data were not judged: they need load"
            ));
        }
        out
    }

    /// Whether another round cannot change the verdict: every signal is
    /// present and no query outcome may still change (a rejected query stays
    /// rejected).
    pub fn settled(&self) -> bool {
        self.unreachable.is_none()
            && self.instances.len() >= self.min_instances
            && self.signals.iter().all(|s| s.ok(&self.instances))
            && !self.queries.iter().any(|q| q.outcome.retry())
    }

    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let instances: Vec<&String> = self.instances.iter().collect();
        let mut rows = vec![
            ["signal", "area"]
                .into_iter()
                .map(String::from)
                .chain(instances.iter().map(|i| i.to_string()))
                .collect::<Vec<_>>(),
        ];
        for s in &self.signals {
            let mut row = vec![s.name.clone(), s.area.clone()];
            row.extend(instances.iter().map(|i| cell(s, i)));
            rows.push(row);
        }
        let mut out = render(&rows);
        let count = |kind, pred: fn(&QueryOutcome) -> bool| {
            self.queries
                .iter()
                .filter(|q| q.kind == kind && pred(&q.outcome))
                .count()
        };
        let ok = |o: &QueryOutcome| matches!(o, QueryOutcome::Ok { .. });
        let skipped = |o: &QueryOutcome| matches!(o, QueryOutcome::Skipped { .. });
        let _ = writeln!(
            out,
            "\ndashboard panels: {} with data, {} skipped; log panels: {} with lines, {} skipped; \
             rule expressions: {} evaluated",
            count(QueryKind::Panel, ok),
            count(QueryKind::Panel, skipped),
            count(QueryKind::LogPanel, ok),
            count(QueryKind::LogPanel, skipped),
            count(QueryKind::Rule, ok),
        );
        if let Some(line) = &self.logs_skipped {
            let _ = writeln!(out, "{line}");
        }
        // One line per reason: the load tool's panels are skipped together.
        let mut skipped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for q in &self.queries {
            if let QueryOutcome::Skipped { reason } = &q.outcome {
                skipped.entry(reason).or_default().push(&q.source);
            }
        }
        for (reason, sources) in skipped {
            let _ = writeln!(out, "  skipped ({reason}): {}", sources.join(", "));
        }
        match self.problems().len() {
            0 => out.push_str("verdict: every signal present\n"),
            n => {
                let _ = writeln!(out, "verdict: FAILED, {n} problem(s)");
            }
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        let signals: Vec<Value> = self
            .signals
            .iter()
            .map(|s| {
                let values: BTreeMap<&String, Value> = s
                    .judged(&self.instances)
                    .iter()
                    .map(|i| (i, s.values.get(i).map_or(Value::Null, |v| number(*v))))
                    .collect();
                json!({"name": s.name, "area": s.area, "query": s.query, "expect": s.expect,
                       "job": s.job, "ok": s.ok(&self.instances), "values": values, "error": s.error})
            })
            .collect();
        let queries: Vec<Value> = self.queries.iter().map(query_json).collect();
        let problems = self.problems();
        json!({"ok": problems.is_empty(), "prometheus": self.prometheus, "job": self.job,
               "instances": self.instances, "signals": signals, "queries": queries,
               "logs_skipped": self.logs_skipped, "problems": problems})
    }
}

fn signal_problems(s: &SignalResult, instances: &BTreeSet<String>) -> Vec<String> {
    if let Some(e) = &s.error {
        return vec![format!(
            "missing signal {}: {e} (query: {})",
            s.name, s.query
        )];
    }
    if s.ok(instances) {
        return Vec::new();
    }
    if s.job.is_none() && !s.per_instance {
        return vec![format!(
            "missing signal {}: {} (query: {})",
            s.name,
            match s.values.iter().find(|(_, v)| !s.expect.accepts(**v)) {
                Some((i, v)) => format!("value {v} on {i} is not {:?}", s.expect),
                None => "no sample".into(),
            },
            s.query
        )];
    }
    s.judged(instances)
        .iter()
        .filter(|i| !s.ok_for(i))
        .map(|i| match s.values.get(i) {
            None => format!(
                "missing signal {} on {i}: no sample (query: {})",
                s.name, s.query
            ),
            Some(v) => format!(
                "missing signal {} on {i}: value {v} is not {:?} (query: {})",
                s.name, s.expect, s.query
            ),
        })
        .collect()
}

fn query_json(q: &QueryResult) -> Value {
    let kind = match q.kind {
        QueryKind::Panel => "panel",
        QueryKind::LogPanel => "log_panel",
        QueryKind::Rule => "rule",
    };
    let (status, detail) = match &q.outcome {
        QueryOutcome::Pending => ("pending", Value::Null),
        QueryOutcome::Ok { samples } => ("ok", json!(samples)),
        QueryOutcome::NoData => ("no_data", Value::Null),
        QueryOutcome::Skipped { reason } => ("skipped", json!(reason)),
        QueryOutcome::Error { message, .. } => ("error", json!(message)),
    };
    json!({"kind": kind, "source": q.source, "exprs": q.exprs, "status": status, "detail": detail})
}

/// JSON has no NaN or infinities: those become strings.
fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(v.to_string())
    }
}

fn cell(s: &SignalResult, instance: &str) -> String {
    if s.absent() {
        return "absent".into();
    }
    if s.job.is_some() {
        // Another job's instances: the same summary in every column.
        let each: Vec<String> = s.scope.iter().map(|i| value_cell(s, i)).collect();
        return each.join(",");
    }
    if !s.per_instance {
        // Another job's samples: the same summary in every column.
        return match s.values.values().find(|v| !s.expect.accepts(**v)) {
            Some(v) => format!("BAD {}", s.unit.format(*v)),
            None if s.values.is_empty() => "MISSING".into(),
            None => s
                .values
                .values()
                .map(|v| s.unit.format(*v))
                .collect::<Vec<_>>()
                .join(","),
        };
    }
    value_cell(s, instance)
}

fn value_cell(s: &SignalResult, instance: &str) -> String {
    match s.values.get(instance) {
        None => "MISSING".into(),
        Some(v) if !s.expect.accepts(*v) => format!("BAD {}", s.unit.format(*v)),
        Some(v) => s.unit.format(*v),
    }
}

fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: QueryOutcome, value: Option<f64>) -> Report {
        let instances = BTreeSet::from(["a".to_owned()]);
        Report {
            prometheus: "p".into(),
            job: "srelab".into(),
            min_instances: 1,
            instances,
            unreachable: None,
            no_load: None,
            signals: vec![SignalResult {
                name: "s".into(),
                area: "u".into(),
                query: "q".into(),
                expect: Expect::Positive,
                unit: Unit::None,
                optional: false,
                per_instance: true,
                job: None,
                scope: BTreeSet::new(),
                values: value.map(|v| ("a".to_owned(), v)).into_iter().collect(),
                error: None,
            }],
            queries: vec![QueryResult {
                kind: QueryKind::Panel,
                source: "d.json panel \"x\"".into(),
                exprs: vec!["e".into()],
                outcome,
            }],
            logs_skipped: None,
        }
    }

    #[test]
    fn settled_only_when_nothing_can_change() {
        assert!(report(QueryOutcome::Ok { samples: 1 }, Some(1.0)).settled());
        let fatal = QueryOutcome::Error {
            message: "bad".into(),
            fatal: true,
        };
        let r = report(fatal, Some(1.0));
        assert!(r.settled() && !r.ok(), "a rejected query stays rejected");
        assert!(!report(QueryOutcome::NoData, Some(1.0)).settled());
        assert!(!report(QueryOutcome::Ok { samples: 1 }, None).settled());
        let skipped = QueryOutcome::Skipped { reason: "r".into() };
        assert!(report(skipped, Some(1.0)).ok());
    }

    #[test]
    fn table_and_json_name_the_problem() {
        let r = report(QueryOutcome::NoData, Some(0.0));
        let table = r.table();
        assert!(table.contains("BAD 0"), "{table}");
        assert!(table.contains("verdict: FAILED, 2 problem(s)\n"), "{table}");
        assert!(
            !table.contains("returned no data"),
            "the problems are printed apart, once: {table}"
        );
        assert!(
            r.problems()
                .contains(&"d.json panel \"x\": returned no data (e)".to_owned())
        );
        let json = r.json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["queries"][0]["status"], "no_data");
        assert_eq!(json["signals"][0]["values"]["a"], 0.0);
        assert_eq!(json["problems"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn optional_signals_pass_when_absent_and_are_judged_when_present() {
        let instances = BTreeSet::from(["a".to_owned()]);
        let mut s = SignalResult {
            name: "pg_up".into(),
            area: "availability".into(),
            query: "q".into(),
            expect: Expect::One,
            unit: Unit::None,
            optional: true,
            per_instance: false,
            job: None,
            scope: BTreeSet::new(),
            values: BTreeMap::new(),
            error: None,
        };
        assert!(s.ok(&instances) && cell(&s, "a") == "absent");
        s.values.insert("db:9187".into(), 0.0);
        assert!(!s.ok(&instances));
        assert_eq!(
            signal_problems(&s, &instances),
            ["missing signal pg_up: value 0 on db:9187 is not One (query: q)"]
        );
        s.values.insert("db:9187".into(), 1.0);
        assert!(
            s.ok(&instances),
            "another job's instance is judged by itself"
        );
        s.per_instance = true;
        assert!(!s.ok(&instances), "per instance, `a` has no sample");
    }

    #[test]
    fn another_jobs_signals_are_required_only_where_it_is_scraped() {
        let instances = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
        let mut s = SignalResult {
            name: "lb_up".into(),
            area: "availability".into(),
            query: "q".into(),
            expect: Expect::One,
            unit: Unit::None,
            optional: false,
            per_instance: true,
            job: Some("haproxy".into()),
            scope: BTreeSet::new(),
            values: BTreeMap::new(),
            error: None,
        };
        assert!(s.ok(&instances) && cell(&s, "a") == "absent", "not scraped");
        s.scope.insert("lb:8405".into());
        assert!(!s.ok(&instances), "scraped: required");
        assert_eq!(
            signal_problems(&s, &instances),
            ["missing signal lb_up on lb:8405: no sample (query: q)"]
        );
        s.values.insert("lb:8405".into(), 1.0);
        assert!(s.ok(&instances), "judged on the job's own instances");
        assert_eq!(cell(&s, "a"), "1");
        s.scope.insert("lb2:8405".into());
        assert!(!s.ok(&instances), "every instance of the job");
        assert_eq!(cell(&s, "b"), "MISSING,1", "lb2 sorts before lb:");
    }

    #[test]
    fn unreachable_is_the_one_problem_and_no_load_sums_up_what_lacks_data() {
        let mut r = report(QueryOutcome::Pending, None);
        r.unreachable = Some("cannot reach Prometheus at p: refused".into());
        assert_eq!(
            r.problems(),
            ["prometheus: cannot reach Prometheus at p: refused"]
        );

        let mut r = report(QueryOutcome::NoData, Some(f64::NAN));
        r.no_load = Some("no load: start one".into());
        assert_eq!(
            r.problems(),
            [
                "no load: start one",
                "2 signal(s) and panel(s) without data were not judged: they need load"
            ]
        );
        r.signals[0].values.insert("a".into(), -1.0);
        assert_eq!(r.problems().len(), 3, "a wrong value is still named");
    }

    #[test]
    fn skipped_panels_share_one_line_per_reason() {
        let mut r = report(QueryOutcome::Ok { samples: 1 }, Some(1.0));
        let skipped = QueryOutcome::Skipped {
            reason: "no data: job srelab-load is down".into(),
        };
        for title in ["a", "b"] {
            let mut q = r.queries[0].clone();
            q.source = format!("d.json panel {title:?}");
            q.outcome = skipped.clone();
            r.queries.push(q);
        }
        let table = r.table();
        let lines: Vec<&str> = table.lines().filter(|l| l.contains("skipped (")).collect();
        assert_eq!(
            lines,
            [
                "  skipped (no data: job srelab-load is down): d.json panel \"a\", d.json panel \"b\""
            ]
        );
    }

    #[test]
    fn problems_name_the_signal_and_instance() {
        let s = SignalResult {
            name: "host_cpu".into(),
            area: "u".into(),
            query: "q".into(),
            expect: Expect::Positive,
            unit: Unit::Ratio,
            optional: false,
            per_instance: true,
            job: None,
            scope: BTreeSet::new(),
            values: BTreeMap::from([("a".to_owned(), 0.5)]),
            error: None,
        };
        let instances = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
        let p = signal_problems(&s, &instances);
        assert_eq!(p, ["missing signal host_cpu on b: no sample (query: q)"]);
    }
}
