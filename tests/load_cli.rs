//! `srelab load` against in-test servers: flag mistakes, unreachable
//! targets, gates, the open model's rate and coordinated omission, Ctrl-C.

mod common;
mod load_support;

use std::time::{Duration, Instant};

use load_support::{TestServer, finish, http_get, num, run_load, spawn_load};

#[tokio::test]
async fn flag_mistakes_are_one_line_and_exit_2() {
    let run = run_load(&["--mix", "list=3,lsit=1"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error:") && first.contains("`lsit`"),
        "{}",
        run.stderr
    );

    let run = run_load(&["--max-p99", "/api/work=1s", "--mix", "list=1"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("/api/work"), "{}", run.stderr);
}

#[tokio::test]
async fn unreachable_target_is_named_before_the_run() {
    let port = common::ports::unused_port();
    let url = format!("http://127.0.0.1:{port}");
    let run = run_load(&["--target", &url, "-d", "5s", "-q", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.is_empty(),
        "no report for a run that never started: {}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim(),
        format!("error: target {url} is unreachable: connect: Connection refused (os error 111)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_gate_fires_on_500s_and_passes_on_200s() {
    let failing = TestServer::start(500).await;
    let args = [
        "--mix",
        "health=1",
        "-c",
        "2",
        "-n",
        "50",
        "-q",
        "-o",
        "json",
        "--max-error-ratio",
        "0.01",
    ];
    let run = run_load(&[&["--target", &failing.url][..], &args].concat()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let report = run.srelab();
    assert_eq!(
        run.stderr.trim(),
        "gate max-error-ratio breached: 1.0000 > 0.01",
        "{}",
        run.stderr
    );
    let route = &report["phases"]["steady"]["targets"][0]["routes"][0];
    assert_eq!(route["outcomes"]["unexpected_status"], 50, "{route:#}");
    assert_eq!(route["statuses"]["500"], 50);
    assert_eq!(
        run.json()["status"]["Server Error(500)"],
        50,
        "rlt's status table"
    );

    let healthy = TestServer::start(200).await;
    let run =
        run_load(&[&["--target", &healthy.url][..], &args, &["--max-p99", "5s"]].concat()).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let gates = &run.srelab()["gates"];
    assert_eq!(gates.as_array().unwrap().len(), 2);
    assert!(
        gates
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["passed"] == true),
        "{gates:#}"
    );
    assert_eq!(
        run.json()["status"]["Success(200)"],
        50,
        "rlt's status table"
    );
}

/// rlt's own status table keeps each wrong answer's class: a 4xx is a
/// client error, a 200 with a body that is not what the kind expects is an
/// uncategorised error (srelab's report calls it `invalid_body`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rlt_counts_wrong_answers_by_their_class() {
    let missing = TestServer::start(404).await;
    let run = run_load(&missing.health_args(&["-n", "10"])).await;
    assert_eq!(run.json()["status"]["Client Error(404)"], 10, "{run:?}");
    // `{}` is no list of items.
    let wrong_body = TestServer::start(200).await;
    let args = [
        "--target",
        &wrong_body.url,
        "--mix",
        "list=1",
        "-n",
        "10",
        "-q",
        "-o",
        "json",
    ];
    let run = run_load(&args).await;
    assert_eq!(run.json()["status"]["Error(200)"], 10, "{run:?}");
    assert_eq!(
        num(&run.srelab(), "phases.steady.outcomes.invalid_body"),
        10.0
    );
}

/// Request k of the open model is due k/R after the start: the rate is
/// kept, no arrival starts before it is due, and the tool's own timer lag
/// (an idle worker woken late) stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_keeps_the_rate() {
    let server = TestServer::start(200).await;
    let run = run_load(&server.health_args(&["-r", "200", "-c", "50", "-d", "3s"])).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();
    assert_eq!(report["model"], "open");
    let monitor = &report["monitor"];
    let due = num(monitor, "arrivals_due");
    assert!((598.0..=601.0).contains(&due), "3 s at 200/s: {monitor:#}");
    // Never ahead of the schedule: when the server has received i + 1 of
    // them, one is arrival i or later, due i/200 s after the start of the
    // run at the soonest, and the run starts after its probe.
    for (i, at) in server.arrival_times().into_iter().enumerate() {
        assert!(
            at >= i as f64 / 200.0,
            "request {i} arrived {at:.3}s after the probe, before it was due"
        );
    }
    assert!(
        num(monitor, "dropped_arrivals") <= 0.01 * due,
        "50 workers at 200/s fell behind: {monitor:#}"
    );
    let steady = &report["phases"]["steady"];
    let rate = num(steady, "throughput");
    assert!(
        (180.0..=202.0).contains(&rate),
        "achieved {rate}/s, asked 200/s: {steady:#}"
    );
    assert!(
        num(monitor, "timer_lag.p50") < 0.05,
        "an idle worker wakes at its due time: {monitor:#}"
    );
}

/// No coordinated omission. With one connection, every arrival that fell
/// due while the server stalled waits for that connection; measured from
/// its due time, its latency includes the wait. Measured from the send,
/// only the one request in flight when the stall began would be slow, and
/// p90 would be the service time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_latency_of_every_arrival_it_delayed() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&server.health_args(&["-r", "100", "-c", "1", "-d", "5s"]));
    // Half a second of the run answered, then one second of stall.
    server.answered(50).await;
    server.stall(true);
    let stalled = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stall(false);
    let stall = stalled.elapsed().as_secs_f64();
    let run = finish(child, Duration::from_secs(30)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();
    let steady = &report["phases"]["steady"];
    assert_eq!(
        num(steady, "outcomes.ok"),
        num(steady, "requests"),
        "{steady:#}"
    );
    // About 100 of the 500 arrivals fell due during the stall, their waits
    // spread over (0, 1 s]: the slowest tenth of all requests took 0.5 s or
    // more. The other four fifths were not delayed.
    let (p50, p90, max) = (
        num(steady, "latency.p50"),
        num(steady, "latency.p90"),
        num(steady, "latency.max"),
    );
    assert!(
        p90 >= 0.3,
        "p90 {p90}s hides the {stall:.2}s stall: {steady:#}"
    );
    assert!(max >= 0.9 * stall, "max {max}s hides the {stall:.2}s stall");
    assert!(
        p50 < 0.25,
        "p50 {p50}s: the stall spread to undelayed requests"
    );
    // Those arrivals waited for the busy worker: late, and the wait shows
    // in the schedule lag (the server's doing), not in the timer lag (the
    // tool's own).
    let monitor = &report["monitor"];
    assert!(
        num(monitor, "late_arrivals") >= 0.8 * 100.0 * stall,
        "arrivals due during the {stall:.2}s stall: {monitor:#}"
    );
    assert!(
        num(monitor, "schedule_lag.max") >= 0.9 * stall,
        "{monitor:#}"
    );
    assert!(num(monitor, "timer_lag.p99") < 0.5, "{monitor:#}");
}

/// `--ramp T` in the open model: the rate rises linearly from 0 to R over
/// T (R*T/2 arrivals, a quarter of them in the first half), then stays at R.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_ramps_the_rate_up_linearly() {
    let server = TestServer::start(200).await;
    let run =
        run_load(&server.health_args(&["-r", "200", "--ramp", "2s", "-c", "20", "-d", "4s"])).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let phases = &run.srelab()["phases"];
    assert_eq!(num(phases, "ramp.requests"), 200.0, "{phases:#}");
    assert_eq!(num(phases, "ramp.elapsed_seconds"), 2.0, "{phases:#}");
    let steady = num(phases, "steady.throughput");
    assert!(
        (180.0..=202.0).contains(&steady),
        "after the ramp: {steady}/s, asked 200/s: {phases:#}"
    );
    // When the server received them (the start is just after the probe).
    let times = server.arrival_times();
    let in_window = |from: f64, to: f64| times.iter().filter(|t| (from..to).contains(*t)).count();
    let (first, second) = (in_window(0.0, 1.0), in_window(1.0, 2.0));
    assert!(
        first > 20 && first * 2 < second,
        "a linear ramp sends 50 then 150 requests in its two seconds, got {first} and {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_prints_the_report_of_what_ran() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&server.health_args(&["-d", "30s"]));
    server.answered(20).await;
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let run = finish(child, Duration::from_secs(10)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let steady = &run.srelab()["phases"]["steady"];
    assert!(num(steady, "requests") > 0.0, "{steady:#}");
    assert!(num(steady, "elapsed_seconds") < 10.0, "{steady:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_passes_promtool() {
    common::tools::PROMTOOL.path();
    let server = TestServer::start(200).await;
    let mut child = spawn_load(&server.health_args(&[
        "-r",
        "100",
        "-d",
        "4s",
        "--metrics-listen",
        "127.0.0.1:0",
    ]));
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("metrics on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    server.answered(20).await;
    let body = http_get(url).await;
    assert!(body.contains("srelab_load_requests_total{"), "{body}");
    assert!(
        body.contains("srelab_load_request_duration_seconds_bucket{"),
        "{body}"
    );
    assert!(body.contains("srelab_load_schedule_lag_seconds "), "{body}");
    // The answers so far are counted, and timed.
    let counted: f64 = body
        .lines()
        .filter(|l| l.starts_with("srelab_load_requests_total{") && l.contains(r#"outcome="ok""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(counted >= 1.0, "no answer counted: {body}");
    let timed: f64 = body
        .lines()
        .filter(|l| l.starts_with("srelab_load_request_duration_seconds_count{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(timed >= 1.0, "no answer timed: {body}");
    assert!(
        body.contains(r#"le="0.0005""#) && body.contains(r#"le="10""#),
        "service's buckets: {body}"
    );

    let said = tokio::task::spawn_blocking(move || common::tools::promtool_check_metrics(&body))
        .await
        .unwrap();
    assert!(said.trim().is_empty(), "promtool check metrics: {said}");
    let run = finish(child, Duration::from_secs(15)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
}

/// Request k of a run is the same for a given seed whatever the
/// concurrency: with one worker and with eight, the same requests k are
/// creates (their bodies name k), and the same number of each kind is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_k_is_the_same_whatever_the_concurrency() {
    let run = |seed: &'static str, workers: &'static str| async move {
        let server = TestServer::start(200).await;
        let args = [
            "--target",
            &server.url,
            "--mix",
            "list=1,create=1,health=1",
            "--seed",
            seed,
            "-c",
            workers,
            "-n",
            "60",
            "-q",
            "-o",
            "json",
        ];
        let report = run_load(&args).await.srelab();
        assert_eq!(report["seed"].as_u64().unwrap().to_string(), seed);
        assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
        assert!(
            report["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--seed"),
            "{report:#}"
        );
        let routes = report["phases"]["steady"]["routes"].as_array().unwrap();
        let kinds: Vec<_> = routes
            .iter()
            .map(|r| (r["kind"].to_string(), r["requests"].as_u64().unwrap()))
            .collect();
        let mut creates: Vec<String> = server
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == "POST")
            .map(|s| s.body.clone())
            .collect();
        creates.sort();
        (kinds, creates)
    };
    let (kinds, creates) = run("11", "1").await;
    assert_eq!(kinds.iter().map(|(_, n)| n).sum::<u64>(), 60);
    assert!(
        creates.len() > 5 && creates.len() < 40,
        "a third of 60 requests create: {creates:?}"
    );
    assert_eq!(
        (kinds.clone(), creates.clone()),
        run("11", "8").await,
        "seed 11 with -c 1 and -c 8"
    );
    assert_ne!(creates, run("12", "1").await.1, "another seed, another run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_is_reported_apart_and_think_time_spaces_requests() {
    let server = TestServer::start(200).await;
    let run = run_load(&server.health_args(&["-c", "4", "--ramp", "1s", "-d", "2s"])).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let phases = &run.srelab()["phases"];
    assert!(
        num(phases, "ramp.requests") > 0.0 && num(phases, "steady.requests") > 0.0,
        "{phases:#}"
    );
    assert_eq!(num(phases, "ramp.elapsed_seconds"), 1.0);

    // One user thinking 100 to 150 ms between requests: at most 11 in 1 s,
    // and the server sees them at least 100 ms apart.
    let server = TestServer::start(200).await;
    let run = run_load(&server.health_args(&["--think", "100ms..150ms", "-d", "1s"])).await;
    let requests = num(&run.srelab(), "phases.steady.requests");
    assert!(
        (2.0..=11.0).contains(&requests),
        "{requests} requests with 100 to 150 ms think time"
    );
    let times = server.arrival_times();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= 0.1,
            "requests {:.3}s apart with 100 to 150 ms think time: {times:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rlt_baselines_work_through_srelab_load() {
    let server = TestServer::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let args = [
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-n",
        "50",
        "-q",
        "-o",
        "json",
        "--baseline-dir",
        base,
    ];
    let run = run_load(&[&args[..], &["--save-baseline", "first"]].concat()).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(dir.path().join("first.json").exists());
    let run = run_load(&[&args[..], &["--baseline", "first"]].concat()).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.json();
    assert!(
        report["comparison"].is_object(),
        "rlt's comparison beside srelab's section: {report:#}"
    );
    assert!(report["srelab"]["phases"]["steady"].is_object());
}

/// `--fail-on-regression`: against a baseline of the same server, a run
/// that got slower prints its report, names the regression and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_regression_exits_1_when_the_server_got_slower() {
    let server = TestServer::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let args = [
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-n",
        "30",
        "-q",
        "-o",
        "json",
        "--baseline-dir",
        base,
    ];
    let run = run_load(&[&args[..], &["--save-baseline", "fast"]].concat()).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    server.delay(Duration::from_millis(30));
    let run =
        run_load(&[&args[..], &["--baseline", "fast", "--fail-on-regression"]].concat()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("error: Performance regression detected: regressed (baseline: fast)"),
        "{}",
        run.stderr
    );
    assert!(
        run.json()["srelab"]["phases"]["steady"].is_object(),
        "the report is still printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_it_cannot_send_make_the_run_untrustworthy() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&server.health_args(&["-r", "200", "-c", "2", "-d", "2s"]));
    // Once the run is under way, the server stops answering: both workers
    // hang and the schedule runs on without them.
    server.answered(20).await;
    server.stall(true);
    let run = finish(child, Duration::from_secs(20)).await;
    server.stall(false);
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();
    assert_eq!(report["trustworthy"], false, "{report:#}");
    let monitor = &report["monitor"];
    assert!(num(monitor, "dropped_arrivals") >= 250.0, "{monitor:#}");
    assert_eq!(num(monitor, "interrupted"), 2.0, "{monitor:#}");
    let warnings = monitor["warnings"].as_array().unwrap();
    let sent = |w: &serde_json::Value| w.as_str().unwrap().contains("never sent");
    assert!(warnings.iter().any(sent), "{monitor:#}");
    assert!(
        run.stderr.contains("warning: not trustworthy: "),
        "{}",
        run.stderr
    );
}

/// A request with no answer within `--request-timeout` is a transport
/// error, not an unexpected answer, and counts toward `--max-error-ratio`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_transport_errors_and_breach_the_error_gate() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&server.health_args(&[
        "-c",
        "2",
        "-d",
        "2s",
        "--request-timeout",
        "200ms",
        "--max-error-ratio",
        "0",
    ]));
    // The probe and the first requests were answered: the run is under way.
    server.answered(10).await;
    server.stall(true);
    let run = finish(child, Duration::from_secs(20)).await;
    server.stall(false);
    assert_eq!(run.code, Some(1), "{run:?}");
    let report = run.json();
    let steady = &report["srelab"]["phases"]["steady"];
    let (errors, requests) = (num(steady, "transport_errors"), num(steady, "requests"));
    assert!(errors >= 2.0, "{steady:#}");
    assert_eq!(num(steady, "unexpected"), 0.0, "{steady:#}");
    assert!(
        report["errors"]["timeout"].as_u64().unwrap() >= 2,
        "rlt's error table: {report:#}"
    );
    let gate = &report["srelab"]["gates"][0];
    assert_eq!(gate["passed"], false, "{gate:#}");
    assert!(
        (num(gate, "value") - errors / requests).abs() < 1e-9,
        "the gate counts transport errors: {gate:#} vs {steady:#}"
    );
    assert!(
        run.stderr.starts_with("gate max-error-ratio breached: "),
        "{}",
        run.stderr
    );
}

/// A raw HTTP/1.1 server answering `GET` requests with a list body, in turn
/// chunked, by length, and close-delimited (then closing the connection).
/// Returns its URL and the number of connections it accepted.
async fn framing_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (accepted, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    buf.drain(..end + 4);
                    let answer: &[u8] = match answered.fetch_add(1, Ordering::Relaxed) % 3 {
                        0 => {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                               A\r\n{\"items\":[\r\nA\r\n{\"id\":1}]}\r\n0\r\n\r\n"
                        }
                        1 => {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"items\":[{\"id\":2}]}"
                        }
                        _ => {
                            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"items\":[{\"id\":3}]}"
                        }
                    };
                    let close = answer.starts_with(b"HTTP/1.1 200 OK\r\nConnection: close");
                    if stream.write_all(answer).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_read_in_every_http1_framing() {
    let (url, accepted) = framing_server().await;
    let run = run_load(&[
        "--target", &url, "--mix", "list=1", "-c", "2", "-n", "60", "-q", "-o", "json",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let steady = &run.srelab()["phases"]["steady"];
    assert_eq!(num(steady, "requests"), 60.0, "{steady:#}");
    assert_eq!(num(steady, "outcomes.ok"), 60.0, "{steady:#}");
    // One answer in three closes its connection: the client dials again.
    let dials = accepted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(dials >= 20, "{dials} connections for 20 closing answers");
}
