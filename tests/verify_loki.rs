//! `srelab verify --loki URL`: the spec's log signals are asked of Loki with
//! LogQL, beside the metric signals asked of a real Prometheus.
//!
//! No Loki binary can run on the development machines (see the README), so
//! the Loki side here is a test server implementing the part of Loki's
//! documented HTTP API that verify uses: `GET /loki/api/v1/query?query=…`
//! answering `{"status":"success","data":{"resultType":"vector",…}}`, and a
//! rejected query with HTTP 400 and Loki's message as plain text. It records
//! the LogQL it receives, so the tests check what verify sends (the spec's
//! query with `$job` replaced, URL-encoded) as well as how it judges the
//! answers. Prometheus is the real one.

mod common;
mod lab_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use lab_support::{Prometheus, srelab};
use serde_json::json;

const JOB: &str = "selfscrape";

/// One metric signal, and the two log signals of the shipped spec's shape.
const SPEC: &str = r#"
[[signal]]
name = "up"
area = "availability"
query = 'up{job="$job"}'
expect = "one"

[[log]]
name = "access_lines"
area = "logs"
query = 'sum by (instance) (count_over_time({job="$job"} | json | target="srelab::access" [5m]))'
expect = "positive"

[[log]]
name = "error_lines"
area = "logs"
query = 'sum by (instance) (count_over_time({job="$job", level="ERROR"} | json | status >= 500 [10m]))'
expect = "positive"
optional = true
"#;

/// How the test server answers one LogQL query.
type Answer = Box<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// A server speaking Loki's query API on 127.0.0.1 (port 0), recording
/// every decoded LogQL query.
struct FakeLokiApi {
    url: String,
    queries: Arc<Mutex<Vec<String>>>,
}

impl FakeLokiApi {
    fn start(answer: Answer) -> FakeLokiApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = queries.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Headers, up to the blank line (GET: no body).
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let target = request_line.split(' ').nth(1).unwrap_or("");
                let (status, body) = match target.split_once('?') {
                    Some(("/loki/api/v1/query", params)) => {
                        let query = params
                            .split('&')
                            .find_map(|p| p.strip_prefix("query="))
                            .unwrap_or("");
                        let query = query.replace('+', " ");
                        let query = percent_encoding::percent_decode_str(&query)
                            .decode_utf8()
                            .unwrap()
                            .into_owned();
                        seen.lock().unwrap().push(query.clone());
                        answer(&query)
                    }
                    _ => (404, "404 page not found\n".into()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    if status == 200 {
                        "application/json"
                    } else {
                        "text/plain; charset=utf-8"
                    },
                    body.len()
                );
            }
        });
        FakeLokiApi { url, queries }
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// Loki's answer to an instant metric query: one sample per instance.
fn vector(instances: &[&str], value: &str) -> (u16, String) {
    let result: Vec<_> = instances
        .iter()
        .map(|i| json!({"metric": {"instance": i}, "value": [1764490000.0, value]}))
        .collect();
    let body = json!({"status": "success", "data": {"resultType": "vector", "result": result,
                      "stats": {"summary": {"execTime": 0.001}}}});
    (200, body.to_string())
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs verify with [`SPEC`] and no dashboards or rules of its own.
fn verify(prom: &Prometheus, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let dashboards = dir.path().join("dashboards");
    std::fs::create_dir(&dashboards).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    run(srelab()
        .args(["verify", "--prometheus", &prom.url, "--job", JOB, "--spec"])
        .arg(&spec)
        .arg("--dashboards")
        .arg(&dashboards)
        .arg("--rules")
        .arg(&rules)
        .args(extra))
}

/// The one instance Prometheus scrapes (itself), as it labels it.
fn instance(prom: &Prometheus) -> String {
    prom.url.trim_start_matches("http://").to_owned()
}

#[test]
fn log_signals_are_asked_of_loki_and_judged_per_instance() {
    let prom = Prometheus::start(JOB);
    let me = instance(&prom);
    let name = me.clone();
    let loki = FakeLokiApi::start(Box::new(move |q| {
        if q.contains(r#"level="ERROR""#) {
            vector(&[], "0")
        } else {
            vector(&[&name], "12")
        }
    }));
    let (code, out, err) = verify(
        &prom,
        &["--loki", &loki.url, "--timeout", "20s", "--format", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    let signals = v["signals"].as_array().unwrap();
    let by_name = |n: &str| signals.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by_name("access_lines")["ok"], true, "{out}");
    assert!(out.contains("12"), "the count Loki answered: {out}");
    assert!(v["logs_skipped"].is_null(), "{out}");

    // What Loki received: the spec's LogQL with the job put in, decoded intact.
    let queries = loki.queries();
    let want = format!(
        r#"sum by (instance) (count_over_time({{job="{JOB}"}} | json | target="srelab::access" [5m]))"#
    );
    assert!(queries.contains(&want), "{queries:#?}");
    assert!(
        queries
            .iter()
            .any(|q| q.contains(r#"level="ERROR"} | json | status >= 500"#)),
        "{queries:#?}"
    );

    // The optional error lines are required after a forced 5xx: none found fails.
    let (code, out, err) = verify(
        &prom,
        &[
            "--loki",
            &loki.url,
            "--require",
            "error_lines",
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("error_lines"), "named: {err}");
    assert!(err.contains(&me), "for the instance: {err}");
    assert!(!err.contains("access_lines"), "only the missing one: {err}");
}

#[test]
fn an_instance_without_lines_fails_and_a_refused_query_shows_lokis_reason() {
    let prom = Prometheus::start(JOB);
    // Lines, but only from another instance.
    let loki = FakeLokiApi::start(Box::new(|_| vector(&["127.0.0.1:1"], "5")));
    let (code, out, err) = verify(&prom, &["--loki", &loki.url, "--timeout", "3s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("access_lines on {}", instance(&prom))),
        "{err}"
    );

    let refusing = FakeLokiApi::start(Box::new(|_| {
        (
            400,
            "parse error at line 1, col 40: syntax error: unexpected IDENTIFIER\n".into(),
        )
    }));
    let (code, out, err) = verify(&prom, &["--loki", &refusing.url, "--timeout", "3s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}")
            .contains("Loki refused the query (HTTP 400): parse error at line 1, col 40"),
        "{out}{err}"
    );
}

#[test]
fn without_loki_the_log_signals_are_skipped_and_said_so() {
    let prom = Prometheus::start(JOB);
    let (code, out, err) = verify(&prom, &["--timeout", "20s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("log signals skipped (access_lines, error_lines): no --loki URL given"),
        "{out}"
    );
    assert!(!out.contains("MISSING"), "{out}");

    // Requiring a log signal without Loki is a flag mistake.
    let (code, _, err) = verify(&prom, &["--require", "error_lines"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--require error_lines: a log signal needs --loki URL"),
        "{err}"
    );
    let (code, _, err) = verify(&prom, &["--require", "no_such_signal"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the spec has no such signal"), "{err}");
}

#[test]
fn an_unreachable_loki_is_named() {
    let prom = Prometheus::start(JOB);
    let port = common::ports::unused_port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) = verify(&prom, &["--loki", &url, "--timeout", "3s"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("cannot reach Loki at {url}")),
        "{out}{err}"
    );
}
