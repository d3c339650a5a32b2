//! The HTML report as a person sees it: a real `srelab load` run against
//! `srelab serve` writes the page, headless Chromium opens it from disk,
//! and the test reads what Chromium rendered (its DOM), keeps a screenshot
//! under the test's temp dir, and finds no console message (the page's
//! Content-Security-Policy turns any load it would attempt into one).

mod common;
mod load_support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use common::spawn_serve;
use load_support::run_load;
use serde_json::Value;

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    /// Chromium's log lines that carry a console message.
    console: Vec<String>,
}

/// Chromium on PATH, or a failure that says how to get it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found on PATH: the HTML report tests need a headless browser \
                 (Debian's chromium package; scripts/test.sh installs it)"
            )
        })
}

/// Runs headless Chromium on `page` (from disk, fresh profile, no network
/// services) with `extra` flags; returns stdout and stderr.
fn run_chromium(page: &Path, profile: &Path, extra: &[String]) -> (String, String) {
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // Containers often give /dev/shm only 64 MB.
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut guard = common::ChildGuard::new("chromium", child);
    let status = guard.wait_timeout(Duration::from_secs(90));
    assert!(status.is_some(), "chromium did not finish within 90 s");
    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read;
    if let Some(mut out) = guard.take_stdout() {
        out.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut err) = guard.take_stderr() {
        err.read_to_string(&mut stderr).unwrap();
    }
    (stdout, stderr)
}

/// The page's DOM after rendering, and a screenshot saved as `shot`.
fn render(page: &Path, shot: &Path) -> Rendered {
    let dir = page.parent().unwrap();
    let (dom, log_dom) = run_chromium(page, &dir.join("profile-dom"), &["--dump-dom".into()]);
    let (_, log_shot) = run_chromium(
        page,
        &dir.join("profile-shot"),
        &[
            "--window-size=1280,2400".into(),
            format!("--screenshot={}", shot.display()),
        ],
    );
    let console = [log_dom, log_shot]
        .iter()
        .flat_map(|log| log.lines())
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    assert!(dom.contains("</html>"), "no DOM from chromium: {dom}");
    Rendered { dom, console }
}

/// The elements `<TAG …>` of `html` whose start tag contains `needle`.
fn tags<'a>(html: &'a str, tag: &str, needle: &str) -> Vec<&'a str> {
    html.split(&format!("<{tag} "))
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap())
        .filter(|attrs| attrs.contains(needle))
        .collect()
}

/// The points of every polyline of `series` in the chart `chart`, within
/// the first group named `group` (e.g. `all-requests`).
fn points(dom: &str, group: &str, chart: &str, series: &str) -> usize {
    let start = dom
        .find(&format!("data-group=\"{group}\""))
        .unwrap_or_else(|| panic!("no group {group}"));
    let group_html = &dom[start..];
    let group_html = &group_html[..group_html[1..]
        .find("data-group=")
        .map_or(group_html.len(), |e| e + 1)];
    let chart_start = group_html
        .find(&format!("data-chart=\"{chart}\""))
        .unwrap_or_else(|| panic!("no chart {chart} in {group}"));
    let chart_html = &group_html[chart_start..];
    let chart_html = &chart_html[..chart_html.find("</svg>").unwrap()];
    tags(chart_html, "polyline", &format!("data-series=\"{series}\""))
        .iter()
        .map(|attrs| {
            let pts = attrs.split("points=\"").nth(1).unwrap();
            pts.split('"').next().unwrap().split_whitespace().count()
        })
        .sum()
}

/// Seconds of a series with a value (requests: every second; a
/// percentile: seconds with answers).
fn seconds_with_values(series: &Value) -> usize {
    series
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| !v.is_null())
        .count()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000,
        "{} is not a screenshot of a page ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_charts_of_the_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let (json, html) = (dir.path().join("r.json"), dir.path().join("r.html"));
    let run = run_load(&[
        "--target",
        &server.base_url,
        "--mix",
        "list=3,create=1,get=1",
        "-r",
        "120",
        "-c",
        "8",
        "-d",
        "4s",
        "--ramp",
        "1s",
        "--seed",
        "5",
        "--max-p99",
        "5s",
        "-q",
        "-o",
        "json",
        "-O",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let report = &report["srelab"];

    // The page is made from the JSON alone: rendering the saved report
    // gives the same bytes.
    let again = dir.path().join("again.html");
    let rerun = load_support::run_load(&[
        "report",
        json.to_str().unwrap(),
        "--html",
        again.to_str().unwrap(),
    ])
    .await;
    assert_eq!(rerun.code, Some(0), "{rerun:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page, std::fs::read_to_string(&again).unwrap());
    for external in ["src=", "href=", "url(", "@import", "<script"] {
        assert!(
            !page.contains(external),
            "the page loads something: {external}"
        );
    }

    let shot = dir.path().join("report.png");
    let rendered = render(&html, &shot);
    assert!(
        rendered.console.is_empty(),
        "console messages: {:#?}",
        rendered.console
    );
    assert_png(&shot);
    let dom = &rendered.dom;

    let timeline = &report["timeline"];
    let seconds = timeline["seconds"].as_u64().unwrap() as usize;
    assert!((4..=6).contains(&seconds), "{timeline:#}");
    let requests: u64 = timeline["all"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    let counted = report["phases"]["ramp"]["requests"].as_u64().unwrap()
        + report["phases"]["steady"]["requests"].as_u64().unwrap();
    assert_eq!(requests, counted, "every request is in one second");
    assert_eq!(
        points(dom, "all-requests", "throughput", "requests"),
        seconds
    );
    assert_eq!(points(dom, "all-requests", "throughput", "errors"), seconds);
    for p in ["p50", "p90", "p99", "max"] {
        assert_eq!(
            points(dom, "all-requests", "latency", p),
            seconds_with_values(&timeline["all"][p]),
            "{p}"
        );
    }
    // One group per route and per target, each with its two charts.
    for route in timeline["routes"].as_array().unwrap() {
        let group = format!(
            "{}-{}-{}",
            route["method"].as_str().unwrap().to_lowercase(),
            route["route"]
                .as_str()
                .unwrap()
                .trim_matches('/')
                .replace(['/', '{', '}'], "-")
                .replace("--", "-")
                .trim_matches('-'),
            route["kind"].as_str().unwrap()
        );
        assert_eq!(
            points(dom, &group, "latency", "p99"),
            seconds_with_values(&route["p99"])
        );
    }
    assert_eq!(
        tags(dom, "svg", "data-chart=\"throughput\"").len(),
        1 + 3 + 1
    );
    assert_eq!(tags(dom, "svg", "data-chart=\"latency\"").len(), 1 + 3 + 1);
    // The distribution: one bar per tenth of a decade, every request in one.
    let bars = tags(dom, "rect", "class=\"bar\"");
    let in_bars: f64 = bars
        .iter()
        .map(|b| {
            b.split("data-value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .map(|v| v.parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        in_bars as u64,
        report["phases"]["steady"]["requests"].as_u64().unwrap()
    );
    assert_eq!(
        bars.len(),
        report["phases"]["steady"]["distribution"]
            .as_array()
            .unwrap()
            .len()
    );
    // Gates and the verdict on the tool itself.
    let gates = report["gates"].as_array().unwrap();
    assert_eq!(tags(dom, "tr", "data-gate=").len(), gates.len());
    for gate in gates {
        let name = gate["gate"].as_str().unwrap();
        let class = if gate["passed"].as_bool().unwrap() {
            "pass"
        } else {
            "fail"
        };
        let row = tags(dom, "tr", &format!("data-gate=\"{name}\""));
        assert_eq!(row, [format!("class=\"{class}\" data-gate=\"{name}\"")]);
    }
    let trusted = report["trustworthy"].as_bool().unwrap();
    assert_eq!(
        tags(dom, "span", &format!("data-trustworthy=\"{trusted}\"")).len(),
        1
    );
    assert!(dom.contains("timer lag") && dom.contains("client CPU"));
    assert!(dom.contains(&format!("<td>{}</td>", report["seed"])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_a_baseline_run_and_this_run_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(&dir.path().join("srelab.db"), &[]);
    let baselines = dir.path().join("baselines");
    let common = [
        "--target",
        &server.base_url,
        "--mix",
        "list=1,create=1",
        "-r",
        "80",
        "-c",
        "4",
        "-d",
        "2s",
        "-q",
        "-o",
        "json",
        "--baseline-dir",
        baselines.to_str().unwrap(),
    ];
    let saved = run_load(&[&common[..], &["--save-baseline", "before"]].concat()).await;
    assert_eq!(saved.code, Some(0), "{saved:?}");
    assert!(baselines.join("before.json").exists(), "rlt's part");
    assert!(
        baselines.join("before.srelab.json").exists(),
        "srelab's part"
    );

    let html = dir.path().join("compare.html");
    let json = dir.path().join("after.json");
    let after = run_load(
        &[
            &common[..],
            &[
                "--baseline",
                "before",
                "--html",
                html.to_str().unwrap(),
                "-O",
                json.to_str().unwrap(),
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(after.code, Some(0), "{after:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(r#"<body class="compare">"#));
    assert!(page.contains("Baseline against this run"));

    // The same page from the two saved reports.
    let again = dir.path().join("again.html");
    let rerun = run_load(&[
        "report",
        json.to_str().unwrap(),
        "--baseline",
        baselines.join("before.srelab.json").to_str().unwrap(),
        "--html",
        again.to_str().unwrap(),
    ])
    .await;
    assert_eq!(rerun.code, Some(0), "{rerun:?}");
    assert_eq!(page, std::fs::read_to_string(&again).unwrap());

    let shot = dir.path().join("compare.png");
    let rendered = render(&html, &shot);
    assert!(rendered.console.is_empty(), "{:#?}", rendered.console);
    assert_png(&shot);
    // Every chart twice: the baseline's and this run's, on one scale.
    let latency = tags(&rendered.dom, "svg", "data-chart=\"latency\"");
    assert_eq!(
        latency.len(),
        2 * (1 + 2 + 1),
        "all, two routes, one target"
    );
    let throughput = tags(&rendered.dom, "svg", "data-chart=\"throughput\"");
    assert_eq!(throughput.len(), latency.len());
    assert_eq!(tags(&rendered.dom, "p", "class=\"caption\"").len() % 2, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_report_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let run = run_load(&["report", missing.to_str().unwrap()]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("missing.json"), "{}", run.stderr);

    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"summary": {}}"#).unwrap();
    let out = dir.path().join("x.html");
    let run = run_load(&[
        "report",
        other.to_str().unwrap(),
        "--html",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("is not a report of srelab load"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    let mixed = run_load(&["-c", "2", "report", other.to_str().unwrap()]).await;
    assert_eq!(mixed.code, Some(2), "{mixed:?}");
}
