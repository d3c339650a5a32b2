//! Every LogQL expression srelab writes parses with Grafana's own LogQL
//! grammar (`@grafana/lezer-logql`, the parser of Grafana's Loki query
//! editor, run by Node.js through `tests/logql/check.mjs`): the spec's log
//! signals as verify sends them, the dashboards' Loki panels and verify's
//! count of their lines, and the load report's query for its outliers. No
//! Loki runs here, so this is the check that a typo in a query is found
//! before a user's Loki refuses it. A broken expression must be flagged,
//! or the check proves nothing.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::tools::NODE;

use srelab::lab::defaults::{JOB, LOKI_DATASOURCE_UID};
use srelab::verify::{assets, check, loki, queries, spec::Spec};

/// The grammar's verdict on each expression: `None` when it parses whole.
fn parse(exprs: &[String]) -> Vec<Option<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/logql");
    assert!(
        dir.join("node_modules/@grafana/lezer-logql").is_dir(),
        "Grafana's LogQL grammar is not installed: run `npm ci --prefix tests/logql` \
         (scripts/test.sh does; it needs Node.js and npm)"
    );
    let mut child = NODE
        .command()
        .arg("check.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting node");
    let input = serde_json::to_vec(exprs).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node check.mjs failed");
    let verdicts: Vec<Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdicts.len(), exprs.len());
    verdicts
}

/// The LogQL srelab writes, each with where it comes from.
fn ours() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let spec = Spec::embedded();
    assert!(!spec.logs.is_empty(), "the spec has log signals");
    for s in &spec.logs {
        let q = check::subst_job(&s.query, JOB);
        out.push((format!("spec log signal {}", s.name), q));
    }
    let mut panels = 0;
    for (file, json) in assets::DASHBOARDS {
        for p in queries::dashboard_panels(file, json, JOB).unwrap() {
            if p.datasource != LOKI_DATASOURCE_UID {
                continue;
            }
            panels += 1;
            for e in &p.exprs {
                out.push((format!("{file} panel {:?}", p.title), e.clone()));
                out.push((
                    format!("verify's count of {:?}", p.title),
                    loki::panel_count(e),
                ));
            }
        }
    }
    assert!(panels > 0, "the dashboards have a Loki panel");
    let ks = ["64".to_string(), "4133".to_string()];
    out.push((
        "the load report's outliers query".into(),
        srelab::load::outliers::logql(42, &ks),
    ));
    out
}

#[test]
fn logql_of_spec_dashboards_and_reports_parses_with_grafanas_grammar() {
    let ours = ours();
    let exprs: Vec<String> = ours.iter().map(|(_, e)| e.clone()).collect();
    let bad: Vec<String> = ours
        .iter()
        .zip(parse(&exprs))
        .filter_map(|((from, e), v)| v.map(|v| format!("{from}: {e}\n    {v}")))
        .collect();
    assert!(
        bad.is_empty(),
        "LogQL that does not parse:\n{}",
        bad.join("\n")
    );
}

#[test]
fn logql_grammar_flags_broken_expressions() {
    let broken = [
        r#"sum(count_over_time({job="srelab"} [5m])"#,
        r#"{job="srelab"} | json | status >= "#,
        r#"count_over_time({job="srelab"})"#,
    ];
    let exprs: Vec<String> = broken.iter().map(|e| e.to_string()).collect();
    for (e, v) in broken.iter().zip(parse(&exprs)) {
        assert!(v.is_some(), "not flagged: {e}");
    }
}
