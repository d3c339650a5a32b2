//! `srelab lab --capacity`: the scaling question. The lab starts its N
//! instances (and Prometheus), then runs `srelab load --find-capacity`
//! against the first 1, 2, … N of them in turn, with Prometheus for the
//! saturation signals: round-robin from the client, or with `--lb` through
//! HAProxy, whose backend is made the first n instances by stopping the
//! others (its health checks take them out) and starting them one by one. It prints each
//! search's table, then the scaling curve: capacity per instance count,
//! the efficiency against linear scaling, and a Universal Scalability Law
//! fit ([`usl`](super::usl)) from three points on. It says what limits
//! scaling here: the cores every process shares, and the database.
//!
//! Each search writes `STATE/capacity-N.json` (the load tool's JSON report)
//! and the curve goes to `STATE/capacity.json`. A later lab on the same
//! state directory loads the curve's capacities into Prometheus as the
//! series [`RECORD`] ([`rules`]), which the overview dashboard draws
//! beside the live request rate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::defaults::JOB;
use super::output::{esay, say};
use super::run::{STARTUP_LIMIT, Signals, print_notices};
use super::stack::{Lab, Plan, instance_name};
use super::usl::Usl;
use super::{haproxy, http};
use crate::load::capacity::report::{CapacityReport, number};

/// The recorded series of the capacities found, one per instance count
/// (labels `instances`, `backend`).
pub const RECORD: &str = "srelab:capacity_requests_per_second";

/// The rules file (`capacity.yml`) the lab loads when `STATE/capacity.json`
/// exists.
pub const RULES_FILE: &str = "capacity.yml";

/// The longest one search may take before the lab stops it.
const SEARCH_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Load options the lab sets itself, and why.
const OWNED: [(&[&str], &str); 5] = [
    (&["--target"], "the lab names its instances"),
    (&["--find-capacity"], "--capacity runs the search"),
    (&["--prometheus"], "the lab's Prometheus is used"),
    (
        &["-o", "--output", "-O", "--output-file"],
        "the lab reads each search's JSON report",
    ),
    (
        &["--metrics-listen"],
        "the lab sets it to --load-metrics-port, where Prometheus scrapes",
    ),
];

/// One point of the curve: a search with `instances` instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub instances: u16,
    /// `found`, or why there is no bracket (see `srelab load`).
    pub result: String,
    pub capacity: Option<f64>,
    pub fails_at: Option<f64>,
    /// Capacity ÷ (instances × the one-instance capacity).
    pub efficiency: Option<f64>,
    pub steps: usize,
    pub search_seconds: f64,
    /// The search's own notes (the client's CPU share, a busy machine).
    pub notes: Vec<String>,
    pub report: PathBuf,
}

/// `STATE/capacity.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curve {
    pub backend: String,
    pub points: Vec<Point>,
    /// With three points or more (all found).
    pub usl: Option<Usl>,
    /// What limits scaling on this machine.
    pub limits: Vec<String>,
}

/// The load tool's arguments for the search over the first `n` instances.
pub fn search_args(plan: &Plan, n: u16, report: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for target in targets(plan, n) {
        args.push("--target".to_owned());
        args.push(target);
    }
    args.extend([
        "--find-capacity".to_owned(),
        "--prometheus".to_owned(),
        plan.prometheus_url(),
        "--prometheus-job".to_owned(),
        JOB.to_owned(),
        "--metrics-listen".to_owned(),
        plan.load_addr().to_string(),
        "-o".to_owned(),
        "json".to_owned(),
        "-O".to_owned(),
        report.display().to_string(),
    ]);
    args.extend(plan.load_options.iter().cloned());
    args
}

/// Parses the search's command line as the lab will run it, so a mistake
/// in the options after `--` is found before anything starts.
pub fn check_options(plan: &Plan) -> anyhow::Result<()> {
    for (flags, why) in OWNED {
        if plan.load_option_given(flags) {
            anyhow::bail!("the load options after `--`: {}: {why}", flags.join("/"));
        }
    }
    let argv = search_args(plan, plan.instances, Path::new("capacity.json"));
    super::load_options::parse(argv)
}

/// Runs the searches and prints the curve; exit 0 when every search found
/// a capacity, 1 otherwise.
pub async fn run(plan: Plan) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let mut lab = Lab::prepare(plan)?;
    print_notices(&lab);
    let result = tokio::select! {
        r = searches(&mut lab) => r,
        name = signals.recv() => {
            esay(format_args!("{name}: stopping the lab"));
            Ok(ExitCode::from(1))
        }
    };
    lab.shutdown();
    result
}

async fn searches(lab: &mut Lab) -> anyhow::Result<ExitCode> {
    lab.start().await?;
    lab.wait_targets(false, STARTUP_LIMIT).await?;
    let mut points = Vec::new();
    for n in 1..=lab.plan.instances {
        if lab.plan.lb.is_some() {
            balance_over(lab, n).await?;
        }
        say(format_args!("capacity search with {n} instance(s)…"));
        let path = lab.state.root().join(format!("capacity-{n}.json"));
        let _ = std::fs::remove_file(&path);
        let started = Instant::now();
        lab.start_load_with("capacity", &search_args(&lab.plan, n, &path))?;
        let status = lab.wait_load(SEARCH_LIMIT).await;
        let (report, mix) = read_report(&path).with_context(|| {
            format!(
                "the search with {n} instance(s) ended ({}) without a report; see {}",
                status.map_or("not started".into(), |s| s.to_string()),
                lab.state.log("capacity").display()
            )
        })?;
        say(report.render(&targets(&lab.plan, n), &mix).trim_end());
        say(format_args!(
            "search with {n} instance(s): {:.0}s",
            started.elapsed().as_secs_f64()
        ));
        points.push(point(n, &report, path));
        lab.check_children()?;
    }
    let curve = curve(lab, points);
    let path = lab.state.root().join("capacity.json");
    std::fs::write(&path, serde_json::to_string_pretty(&curve)?)
        .with_context(|| format!("writing {}", path.display()))?;
    say(render(&curve).trim_end());
    say(format_args!("the curve is in {}", path.display()));
    let all_found = curve.points.iter().all(|p| p.result == "found");
    Ok(if all_found {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where the search with `n` instances sends its load: HAProxy with
/// `--lb` (its backend then holds the first `n`), else the first `n`.
fn targets(plan: &Plan, n: u16) -> Vec<String> {
    if plan.lb.is_some() {
        return plan.load_targets();
    }
    (0..n)
        .map(|i| format!("http://{}", plan.instance_addr(i)))
        .collect()
}

/// With `--lb`: leaves the first `n` instances running behind HAProxy
/// (before the first search the others are stopped; then each search
/// starts one more) and waits until HAProxy reports exactly those `UP`.
async fn balance_over(lab: &mut Lab, n: u16) -> anyhow::Result<()> {
    if n == 1 {
        for i in 1..lab.plan.instances {
            lab.stop_instance(i);
        }
    } else {
        lab.restart_instance(n - 1)?;
    }
    let (_, exporter) = lab.plan.lb_addrs().context("no HAProxy in this lab")?;
    let url = format!("http://{exporter}/metrics");
    let want: Vec<String> = (0..lab.plan.instances)
        .map(|i| {
            let state = if i < n { "UP" } else { "DOWN" };
            format!("{}={state}", instance_name(i))
        })
        .collect();
    let client = http::client();
    let limit = haproxy::Timing::of_template().detection_limit() + STARTUP_LIMIT;
    let started = Instant::now();
    loop {
        let text = http::get_text(&client, &url).await.unwrap_or_default();
        let seen: Vec<String> = haproxy::server_states(&text)
            .into_iter()
            .map(|(server, state)| format!("{server}={state}"))
            .collect();
        if seen == want {
            say(format_args!(
                "HAProxy balances over {n} instance(s) ({:.1}s)",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if started.elapsed() >= limit {
            anyhow::bail!(
                "HAProxy did not report {} within {limit:?} (last: {})",
                want.join(" "),
                seen.join(" ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `srelab.capacity` of a search's JSON report, and its mix.
fn read_report(path: &Path) -> anyhow::Result<(CapacityReport, String)> {
    let text = std::fs::read_to_string(path)?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let capacity = json["srelab"]["capacity"].clone();
    let mix = json["srelab"]["mix"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((serde_json::from_value(capacity)?, mix))
}

fn point(n: u16, c: &CapacityReport, report: PathBuf) -> Point {
    Point {
        instances: n,
        result: c.result.clone(),
        capacity: c.capacity,
        fails_at: c.fails_at,
        efficiency: None,
        steps: c.steps.len(),
        search_seconds: c.search_seconds,
        notes: c.notes.clone(),
        report,
    }
}

/// The curve from the points: efficiencies, the fit, and what limits it.
fn curve(lab: &Lab, mut points: Vec<Point>) -> Curve {
    // A bound (no bracket) is no point of the curve: no efficiency from it.
    let capacity = |p: &Point| p.capacity.filter(|_| p.result == "found");
    let one = points.first().and_then(capacity);
    for p in &mut points {
        p.efficiency = one
            .zip(capacity(p))
            .map(|(one, c)| c / (one * f64::from(p.instances)));
    }
    let found: Vec<(u32, f64)> = points
        .iter()
        .filter(|p| p.result == "found")
        .filter_map(|p| Some((u32::from(p.instances), p.capacity?)))
        .collect();
    let usl = if found.len() == points.len() {
        Usl::fit(&found)
    } else {
        None
    };
    let backend = if lab.plan.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    Curve {
        backend: backend.into(),
        limits: limits(backend, lab.plan.instances),
        points,
        usl,
    }
}

/// What limits scaling on this machine, said plainly.
fn limits(backend: &str, instances: u16) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut limits = vec![format!(
        "{cores} cores are shared by the {instances} instances, the load tool, Prometheus{} and anything else running: \
         past {cores} busy processes, one more instance adds no CPU, only contention for it",
        if backend == "postgres" {
            ", PostgreSQL"
        } else {
            ""
        }
    )];
    limits.push(match backend {
        "postgres" => "PostgreSQL serves the writes of every instance over its own connections: \
            its CPU comes out of the same cores, and the instances' pools bound the writes in flight"
            .into(),
        _ => "SQLite has a single writer: every instance's writes take turns on one file lock, \
            so a write-heavy mix stops scaling at the writer, whatever the instance count"
            .into(),
    });
    limits
}

/// The rules file recording each capacity the curve found as [`RECORD`]
/// (a bound, where no bracket was found, is no capacity and is left out);
/// `None` when there is none.
pub fn rules(curve: &Curve) -> Option<String> {
    let mut out = String::from(
        "# Generated by `srelab lab` from STATE/capacity.json (the last `srelab lab --capacity`).\n\
         groups:\n  - name: srelab-capacity\n    rules:\n",
    );
    let mut any = false;
    for p in curve.points.iter().filter(|p| p.result == "found") {
        let Some(capacity) = p.capacity.filter(|c| c.is_finite()) else {
            continue;
        };
        any = true;
        let _ = write!(
            out,
            "      - record: {RECORD}\n        expr: vector({capacity})\n        labels:\n          instances: \"{}\"\n          backend: {}\n",
            p.instances, curve.backend
        );
    }
    any.then_some(out)
}

/// The rules file from `STATE/capacity.json` in `state_dir`, when an earlier
/// `lab --capacity` left one there: `Ok(None)` without it, an error naming
/// the file when it cannot be read.
pub fn rules_from(state_dir: &Path) -> anyhow::Result<Option<String>> {
    let path = state_dir.join("capacity.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let curve: Curve =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(rules(&curve))
}

/// The curve as text.
pub fn render(curve: &Curve) -> String {
    let mut out = format!(
        "scaling curve ({}): capacity per instance count\n{:>9} {:>12} {:>12} {:>11} {:>6} {:>8}\n",
        curve.backend, "instances", "capacity/s", "per inst./s", "efficiency", "steps", "search"
    );
    for p in &curve.points {
        let cap = p.capacity.map_or("-".into(), |c| match p.result.as_str() {
            "found" => number(c),
            _ => format!("≥{}", number(c)),
        });
        let _ = writeln!(
            out,
            "{:>9} {:>12} {:>12} {:>11} {:>6} {:>7.0}s{}",
            p.instances,
            cap,
            p.capacity
                .map_or("-".into(), |c| format!("{:.1}", c / f64::from(p.instances))),
            p.efficiency
                .map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
            p.steps,
            p.search_seconds,
            if p.result == "found" {
                String::new()
            } else {
                format!("  ({})", p.result.replace('_', " "))
            }
        );
    }
    match &curve.usl {
        Some(u) => {
            let _ = writeln!(
                out,
                "USL fit: σ (contention) {:.3}, κ (coherency) {:.4}{}",
                u.sigma,
                u.kappa,
                u.peak()
                    .map_or("; no peak within reach (κ = 0)".into(), |n| format!(
                        "; the capacity peaks near {n:.1} instances at {:.0}/s",
                        u.capacity(n)
                    ))
            );
        }
        None => {
            let _ = writeln!(
                out,
                "USL fit: needs three instance counts whose searches all found a capacity (--instances 3 or more)"
            );
        }
    }
    for l in &curve.limits {
        let _ = writeln!(out, "limits: {l}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u16, c: f64, e: f64) -> Point {
        Point {
            instances: n,
            result: "found".into(),
            capacity: Some(c),
            fails_at: Some(c * 1.05),
            efficiency: Some(e),
            steps: 9,
            search_seconds: 80.0,
            notes: Vec::new(),
            report: PathBuf::from("x"),
        }
    }

    #[test]
    fn records_each_capacity_found_and_no_bound() {
        let mut bound = p(2, 400.0, 0.0);
        bound.result = "client_limited".into();
        let curve = Curve {
            backend: "postgres".into(),
            usl: None,
            limits: Vec::new(),
            points: vec![p(1, 212.5, 1.0), bound],
        };
        let text = rules(&curve).unwrap();
        assert_eq!(text.matches(RECORD).count(), 1, "{text}");
        assert!(text.contains("expr: vector(212.5)"), "{text}");
        assert!(
            text.contains("instances: \"1\"\n          backend: postgres"),
            "{text}"
        );
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            doc["groups"][0]["rules"][0]["record"].as_str(),
            Some(RECORD)
        );

        let none = Curve {
            points: vec![curve.points[1].clone()],
            ..curve
        };
        assert_eq!(rules(&none), None);
    }

    #[test]
    fn renders_the_curve_with_efficiency_and_the_fit() {
        let points = vec![p(1, 200.0, 1.0), p(2, 300.0, 0.75), p(3, 330.0, 0.55)];
        let found: Vec<(u32, f64)> = points
            .iter()
            .map(|p| (u32::from(p.instances), p.capacity.unwrap()))
            .collect();
        let curve = Curve {
            backend: "sqlite".into(),
            usl: Usl::fit(&found),
            limits: limits("sqlite", 3),
            points,
        };
        let text = render(&curve);
        assert!(
            text.contains("        2          300        150.0         75%"),
            "{text}"
        );
        assert!(text.contains("USL fit: σ (contention) "), "{text}");
        assert!(text.contains("single writer"), "{text}");
    }
}
