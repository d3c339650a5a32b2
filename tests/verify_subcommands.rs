//! `srelab verify alert` against a real Prometheus evaluating real alert
//! rules, and `srelab verify items` on a load report: the exit code is the
//! verdict, a failure names what it saw in one line.

mod common;
mod lab_support;

use std::process::Command;

use lab_support::{Prometheus, srelab};

const JOB: &str = "selfscrape";

/// One rule that fires at once for the scraped target, one that never does.
const RULES: &str = r#"
groups:
  - name: t
    rules:
      - alert: AlwaysUp
        expr: up{job="selfscrape"} == 1
        labels:
          severity: info
      - alert: NeverDown
        expr: up{job="selfscrape"} == 0
        labels:
          severity: info
"#;

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn alert(prom: &str, timeout: &str, args: &[&str]) -> (i32, String, String) {
    run(srelab()
        .args([
            "verify",
            "alert",
            "--prometheus",
            prom,
            "--timeout",
            timeout,
        ])
        .args(args))
}

#[test]
fn alert_states_through_the_alerts_api() {
    let prom = Prometheus::start_with_rules(JOB, Some(RULES));
    let target = prom.url.trim_start_matches("http://").to_owned();
    let instance = format!("instance={target}");

    let (code, out, err) = alert(&prom.url, "20s", &["AlwaysUp=firing", "--label", &instance]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "alert AlwaysUp{{instance=\"{target}\"}} firing after "
        )),
        "{out}"
    );
    let (code, out, err) = alert(&prom.url, "20s", &["NeverDown=inactive"]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, _, err) = alert(&prom.url, "3s", &["NeverDown=firing"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim(),
        "verify: alert NeverDown not firing within 3s (last seen inactive)"
    );
    // Another instance's label matches no alert.
    let (code, _, err) = alert(
        &prom.url,
        "3s",
        &["AlwaysUp=firing", "--label", "instance=elsewhere:1"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(last seen inactive)"), "{err}");
}

#[test]
fn alert_usage_mistakes_and_an_unreachable_prometheus() {
    let (code, _, err) = run(srelab().args(["verify", "alert", "AlwaysUp=burning"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`burning` is not an alert state"), "{err}");
    let (code, _, err) = run(srelab().args(["verify", "--job", "x", "alert", "A=firing"]));
    assert_eq!(
        code, 2,
        "verify's own flags do not mix with a subcommand: {err}"
    );

    let port = common::ports::unused_port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = alert(&url, "2s", &["A=firing"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("last error: cannot reach Prometheus"), "{err}");
}

#[test]
fn items_compares_the_report_with_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let json = serde_json::json!({"srelab": {"phases": {
        "warmup": {"targets": [{"items_created": 2}, {"items_created": 3}]},
        "steady": {"targets": [{"items_created": 100}, {"items_created": 95}]},
    }}});
    std::fs::write(&report, json.to_string()).unwrap();
    let items = |before: &str, after: &str| {
        run(srelab().args(["verify", "items"]).arg(&report).args([
            "--rows-before",
            before,
            "--rows-after",
            after,
        ]))
    };
    let (code, out, err) = items("10", "210");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "items: the load created 200 items and the database gained 200 rows"
    );
    let (code, _, err) = items("10", "226");
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "verify: the load created 200 items but the database went from 10 to 226 rows"
    );
    let (code, _, _) = items("300", "10");
    assert_eq!(code, 1);

    std::fs::write(&report, r#"{"summary": {}}"#).unwrap();
    let (code, _, err) = items("0", "0");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a JSON report of srelab load"), "{err}");
}
