//! `srelab load` fails loudly by default: a run whose answers are wrong
//! exits 1 without any gate flag; each gate's verdict is printed once, on
//! one stream; the text report has no colours off a terminal.

mod load_support;

use load_support::{TestServer, run_load};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_wrong_exits_1_without_any_flag() {
    let wrong = TestServer::start(404).await;
    let args = [
        "--target", &wrong.url, "--mix", "list=1", "-c", "2", "-n", "40",
    ];

    let run = run_load(&[&args[..], &["-q", "-o", "json"]].concat()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "gate max-error-ratio breached: 1.0000 > 0.01 (the default gate: \
         --max-error-ratio sets another limit, 1 accepts any answer)"
    );
    let gate = &run.srelab()["gates"][0];
    assert_eq!(gate["default"], true, "{gate:#}");
    assert_eq!(gate["passed"], false, "{gate:#}");

    let run =
        run_load(&[&args[..], &["-q", "-o", "json", "--max-error-ratio", "1"]].concat()).await;
    assert_eq!(run.code, Some(0), "1 accepts any answer: {run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_report_says_each_gate_once_without_colours() {
    let wrong = TestServer::start(404).await;
    let run = run_load(&[
        "--target", &wrong.url, "--mix", "list=1", "-c", "2", "-n", "40", "-q",
    ])
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let gate_lines: Vec<&str> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|l| l.contains("max-error-ratio"))
        .collect();
    assert_eq!(gate_lines.len(), 1, "once, on one stream: {run:?}");
    assert!(
        gate_lines[0].starts_with("gate max-error-ratio breached: 1.0000 > 0.01"),
        "{gate_lines:?}"
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "stdout is a pipe, not a terminal: no ANSI colours"
    );

    let healthy = TestServer::start(200).await;
    let run = run_load(&[
        "--target",
        &healthy.url,
        "--mix",
        "health=1",
        "-c",
        "2",
        "-n",
        "40",
        "-q",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("gate max-error-ratio passed: 0.0000 <= 0.01"),
        "{}",
        run.stdout
    );
}
