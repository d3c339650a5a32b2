//! `srelab load` against in-test servers: flag mistakes, unreachable
//! targets, gates, the open model's rate and coordinated omission, Ctrl-C.

mod load_support;

use std::time::Duration;

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
    // Bind then drop: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_keeps_the_rate_and_sees_a_stall() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-r",
        "200",
        "-c",
        "50",
        "-d",
        "4s",
        "-q",
        "-o",
        "json",
    ]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.stall(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stall(false);
    let run = finish(child, Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.srelab();
    let steady = &report["phases"]["steady"];
    let rate = num(steady, "throughput");
    assert!(
        (rate - 200.0).abs() <= 10.0,
        "achieved {rate}/s, asked 200/s: {steady:#}"
    );
    // A quarter of the arrivals fell due during the 1 s stall: measured from
    // their due time, they push p99 near the stall, not to the service time.
    let p99 = num(steady, "latency.p99");
    let max = num(steady, "latency.max");
    assert!(p99 >= 0.5, "p99 {p99}s hides the 1 s stall: {steady:#}");
    assert!(max >= 0.9, "max {max}s hides the 1 s stall");
    assert_eq!(report["model"], "open");
    assert_eq!(num(&report, "monitor.dropped_arrivals"), 0.0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_prints_the_report_of_what_ran() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-d",
        "30s",
        "-q",
        "-o",
        "json",
    ]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    let promtool = std::path::Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "/usr/bin/promtool is missing: install Debian's prometheus package"
    );
    let server = TestServer::start(200).await;
    let mut child = spawn_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-r",
        "100",
        "-d",
        "4s",
        "-q",
        "-o",
        "json",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    let body = http_get(url).await;
    assert!(body.contains("srelab_load_requests_total{"), "{body}");
    assert!(
        body.contains("srelab_load_request_duration_seconds_bucket{"),
        "{body}"
    );
    assert!(body.contains("srelab_load_schedule_lag_seconds "), "{body}");
    assert!(
        body.contains(r#"le="0.0005""#) && body.contains(r#"le="10""#),
        "service's buckets: {body}"
    );

    let mut check = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut check.stdin.take().unwrap(), body.as_bytes())
        .await
        .unwrap();
    let out = check.wait_with_output().await.unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{body}"
    );
    let run = finish(child, Duration::from_secs(15)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_makes_the_mix_reproducible() {
    let server = TestServer::start(200).await;
    let kinds = |seed: &str| {
        let url = server.url.clone();
        let seed = seed.to_string();
        async move {
            let args = [
                "--target",
                &url,
                "--mix",
                "list=1,work=1,health=1",
                "--seed",
                &seed,
                "-c",
                "4",
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
            let routes = report["phases"]["steady"]["routes"]
                .as_array()
                .unwrap()
                .clone();
            routes
                .iter()
                .map(|r| (r["kind"].to_string(), r["requests"].as_u64().unwrap()))
                .collect::<Vec<_>>()
        }
    };
    let first = kinds("11").await;
    assert_eq!(first, kinds("11").await, "same seed, same mix");
    assert_eq!(first.iter().map(|(_, n)| n).sum::<u64>(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_is_reported_apart_and_think_time_spaces_requests() {
    let server = TestServer::start(200).await;
    let run = run_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-c",
        "4",
        "--ramp",
        "1s",
        "-d",
        "2s",
        "-q",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let phases = &run.srelab()["phases"];
    assert!(
        num(phases, "ramp.requests") > 0.0 && num(phases, "steady.requests") > 0.0,
        "{phases:#}"
    );
    assert_eq!(num(phases, "ramp.elapsed_seconds"), 1.0);

    // One user thinking 100 ms between requests sends at most 11 in 1 s.
    let run = run_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "--think",
        "100ms..100ms",
        "-d",
        "1s",
        "-q",
        "-o",
        "json",
    ])
    .await;
    let requests = num(&run.srelab(), "phases.steady.requests");
    assert!(
        (1.0..=11.0).contains(&requests),
        "{requests} requests with 100 ms think time"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_it_cannot_send_make_the_run_untrustworthy() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-r",
        "200",
        "-c",
        "2",
        "-d",
        "2s",
        "-q",
        "-o",
        "json",
    ]);
    // After the probe, the server stops answering: both workers hang and
    // the schedule runs on without them.
    tokio::time::sleep(Duration::from_millis(500)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_transport_errors_not_unexpected_answers() {
    let server = TestServer::start(200).await;
    let child = spawn_load(&[
        "--target",
        &server.url,
        "--mix",
        "health=1",
        "-c",
        "2",
        "-d",
        "1500ms",
        "--request-timeout",
        "200ms",
        "--max-error-ratio",
        "1",
        "-q",
        "-o",
        "json",
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stall(true);
    let run = finish(child, Duration::from_secs(20)).await;
    server.stall(false);
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.json();
    let steady = &report["srelab"]["phases"]["steady"];
    assert!(num(steady, "transport_errors") >= 2.0, "{steady:#}");
    assert_eq!(num(steady, "unexpected"), 0.0, "{steady:#}");
    assert!(
        report["errors"]["timeout"].as_u64().unwrap() >= 2,
        "rlt's error table: {report:#}"
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
