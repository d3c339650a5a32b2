//! The page's tables: the run's settings, the gates and self-checks, the
//! counts per phase, target and route, the workers of a distributed run,
//! the outliers' request ids, and, with a baseline, the change of the
//! headline figures.

use std::fmt::Write;

use super::{escape, svg::Unit};
use crate::load::report::{Latency, Report, Totals};

/// Version, time, model, seed, mix, targets and the command line.
pub fn run(r: &Report) -> String {
    let mut rows = vec![
        ("version", escape(&r.version)),
        (
            "started",
            escape(r.started_at.as_deref().unwrap_or("unknown")),
        ),
        (
            "model",
            match r.rate {
                Some(rate) => format!("open, {rate} requests/s on a fixed schedule"),
                None => escape(&r.model),
            },
        ),
        ("seed", r.seed.to_string()),
        ("mix", escape(&r.mix)),
        ("targets", escape(&r.targets.join(", "))),
    ];
    if !r.workers.is_empty() {
        rows.push(("workers", r.workers.len().to_string()));
    }
    let mut out = String::from(r#"<table class="kv">"#);
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    let _ = write!(
        out,
        r#"</table><pre class="args">{}</pre>"#,
        escape(&r.args.join(" "))
    );
    out
}

/// The gates with pass/fail, then the tool's verdict on itself.
pub fn verdict(r: &Report) -> String {
    let mut out = String::new();
    if r.gates.is_empty() {
        out.push_str(r#"<p class="none">no gates</p>"#);
    } else {
        out.push_str(
            r#"<table class="gates"><tr><th>gate</th><th>limit</th><th>value</th><th>result</th></tr>"#,
        );
        for g in &r.gates {
            // A latency gate, or a capacity search's latency objective.
            let p99 = g.gate.starts_with("max-p99") || g.gate.starts_with("slo p");
            let show = |v: f64| {
                if p99 {
                    Unit::Seconds.label(v)
                } else {
                    format!("{v:.4}")
                }
            };
            let (class, word) = if g.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = write!(
                out,
                r#"<tr class="{class}" data-gate="{n}"><td>{n}</td><td>{}</td><td>{}</td><td><span class="badge {class}">{word}</span></td></tr>"#,
                show(g.limit),
                g.value.map_or("none".into(), show),
                n = escape(&g.gate),
            );
        }
        out.push_str("</table>");
    }
    let m = &r.monitor;
    let (class, word) = if r.trustworthy {
        ("pass", "the tool kept up: trustworthy")
    } else {
        ("fail", "NOT TRUSTWORTHY")
    };
    let _ = write!(
        out,
        r#"<p class="health"><span class="badge {class}" data-trustworthy="{}">{word}</span></p>"#,
        r.trustworthy
    );
    if !m.warnings.is_empty() {
        out.push_str(r#"<ul class="warnings">"#);
        for w in &m.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul>");
    }
    let lag = |l: &Option<crate::load::monitor::LagReport>| {
        l.as_ref().map_or("—".into(), |l| {
            format!(
                "p50 {} · p99 {} · max {}",
                Unit::Seconds.label(l.p50),
                Unit::Seconds.label(l.p99),
                Unit::Seconds.label(l.max)
            )
        })
    };
    let opt = |v: Option<u64>| v.map_or("—".into(), |v| v.to_string());
    let rows = [
        ("timer lag (the tool's own)", lag(&m.timer_lag)),
        ("schedule lag (all arrivals)", lag(&m.schedule_lag)),
        (
            "arrivals due / started",
            format!("{} / {}", opt(m.arrivals_due), m.arrivals_started),
        ),
        ("dropped arrivals (never sent)", opt(m.dropped_arrivals)),
        (
            "late arrivals (waited for a worker)",
            m.late_arrivals.to_string(),
        ),
        (
            "interrupted after the graceful stop",
            format!("{} ({} writes)", m.interrupted, m.interrupted_writes),
        ),
        (
            "client CPU",
            format!(
                "max {:.0}% of its cores; saturated in {} of {} samples",
                m.cpu_max_ratio * 100.0,
                m.cpu_saturated_samples,
                m.cpu_samples
            ),
        ),
    ];
    out.push_str(r#"<table class="kv health">"#);
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    out.push_str("</table>");
    out
}

/// Per phase: every target's routes and totals.
pub fn counts(r: &Report) -> String {
    let mut out = String::new();
    for (name, phase) in &r.phases {
        let secs = phase
            .elapsed_seconds
            .map_or(String::new(), |s| format!(" over {s:.2} s"));
        let _ = write!(
            out,
            r#"<h3>{}{secs}</h3><table class="counts"><tr><th>target</th><th>route</th><th>requests</th><th>unexpected</th><th>transport errors</th><th>req/s</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>"#,
            escape(name)
        );
        for t in &phase.targets {
            for route in &t.routes {
                row(
                    &mut out,
                    &t.url,
                    &format!("{} {}", route.method, route.route),
                    &route.total,
                );
            }
            if t.total.requests > 0 {
                row(
                    &mut out,
                    &t.url,
                    &format!("all ({} created)", t.items_created),
                    &t.total,
                );
            }
        }
        row(&mut out, "all targets", "all", &phase.total);
        out.push_str("</table>");
    }
    out
}

fn row(out: &mut String, target: &str, route: &str, t: &Totals) {
    let rate = t.throughput.map_or("—".into(), |r| format!("{r:.1}"));
    let q = |f: fn(&Latency) -> f64| {
        t.latency
            .as_ref()
            .map_or("—".into(), |l| Unit::Seconds.label(f(l)))
    };
    let _ = write!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(target),
        escape(route),
        t.requests,
        t.unexpected,
        t.transport_errors,
        q(|l| l.p50),
        q(|l| l.p90),
        q(|l| l.p99),
        q(|l| l.max),
    );
}

/// The workers of a distributed run and what became of each.
pub fn workers(r: &Report) -> String {
    if r.workers.is_empty() {
        return r#"<p class="none">one process</p>"#.into();
    }
    let mut out = String::from(
        r#"<table class="workers"><tr><th>worker</th><th>share</th><th>status</th><th>requests</th><th>longest silence</th><th>self-checks</th></tr>"#,
    );
    for w in &r.workers {
        let class = if w.status == "done" { "pass" } else { "fail" };
        let checks = if w.trustworthy {
            "kept up".to_owned()
        } else {
            w.warnings.join("; ")
        };
        let _ = write!(
            out,
            r#"<tr class="{class}" data-worker-status="{}"><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{:.1} s</td><td>{}</td></tr>"#,
            escape(&w.status),
            escape(&w.address),
            escape(&w.share),
            escape(&w.status),
            w.problem
                .as_deref()
                .map_or(String::new(), |p| format!(": {}", escape(p))),
            w.requests,
            w.max_silence_seconds,
            escape(&checks)
        );
    }
    out.push_str("</table>");
    out
}

/// The steady phase's headline figures, baseline against this run.
pub fn comparison(baseline: &Report, current: &Report) -> String {
    let steady = |r: &Report| r.phases.get("steady").map(|p| p.total.clone());
    let (b, c) = (steady(baseline), steady(current));
    let pick = |t: &Option<Totals>, f: &dyn Fn(&Totals) -> Option<f64>| t.as_ref().and_then(f);
    type Metric<'a> = (&'a str, Box<dyn Fn(&Totals) -> Option<f64>>, Unit, bool);
    let metrics: Vec<Metric> = vec![
        (
            "throughput",
            Box::new(|t: &Totals| t.throughput),
            Unit::Rate,
            true,
        ),
        (
            "error ratio",
            Box::new(|t: &Totals| {
                (t.requests > 0)
                    .then(|| (t.unexpected + t.transport_errors) as f64 / t.requests as f64)
            }),
            Unit::Ratio,
            false,
        ),
        (
            "p50",
            Box::new(|t: &Totals| t.latency.as_ref().map(|l| l.p50)),
            Unit::Seconds,
            false,
        ),
        (
            "p90",
            Box::new(|t: &Totals| t.latency.as_ref().map(|l| l.p90)),
            Unit::Seconds,
            false,
        ),
        (
            "p99",
            Box::new(|t: &Totals| t.latency.as_ref().map(|l| l.p99)),
            Unit::Seconds,
            false,
        ),
        (
            "max",
            Box::new(|t: &Totals| t.latency.as_ref().map(|l| l.max)),
            Unit::Seconds,
            false,
        ),
    ];
    let mut out = String::from(
        r#"<section><h2>Baseline against this run (steady phase)</h2><table class="compare"><tr><th></th><th>baseline</th><th>this run</th><th>change</th></tr>"#,
    );
    for (name, f, unit, higher_is_better) in &metrics {
        let (bv, cv) = (pick(&b, f), pick(&c, f));
        let show = |v: Option<f64>| v.map_or("—".into(), |v| unit.label(v));
        let (change, class) = match (bv, cv) {
            (Some(bv), Some(cv)) if bv > 0.0 => {
                let delta = (cv - bv) / bv;
                let better = (delta > 0.0) == *higher_is_better;
                let class = if delta.abs() < 0.01 {
                    "same"
                } else if better {
                    "pass"
                } else {
                    "fail"
                };
                (format!("{:+.1}%", delta * 100.0), class)
            }
            _ => ("—".into(), "same"),
        };
        let _ = write!(
            out,
            r#"<tr><th>{name}</th><td>{}</td><td>{}</td><td class="{class}">{change}</td></tr>"#,
            show(bv),
            show(cv)
        );
    }
    out.push_str("</table></section>\n");
    out
}

/// The slowest and the first failed requests with their ids, and the
/// LogQL query finding their lines in the servers' logs.
pub fn outliers(r: &Report) -> String {
    let Some(o) = &r.outliers else {
        return r#"<p class="none">not recorded (--outliers N)</p>"#.into();
    };
    let mut out = format!(
        r#"<p>Their lines in the servers' logs (Loki, Grafana's Explore): <code class="logql">{}</code></p>"#,
        escape(&o.logql)
    );
    let failed = format!("failed: {} in all, the first listed", o.failed_total);
    for (title, rows) in [("slowest", &o.slowest), (failed.as_str(), &o.failed)] {
        let _ = write!(
            out,
            r#"<h3>{}</h3><table class="outliers"><tr><th>request id</th><th>target</th><th>kind</th><th>status</th><th>outcome</th><th>latency</th><th>at (UTC)</th></tr>"#,
            escape(title)
        );
        for x in rows.iter() {
            let _ = write!(
                out,
                r#"<tr data-request-id="{id}"><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&x.target),
                escape(&x.kind),
                x.status.map_or("—".into(), |s| s.to_string()),
                escape(&x.outcome),
                Unit::Seconds.label(x.latency_seconds),
                escape(&x.at),
                id = escape(&x.request_id),
            );
        }
        out.push_str("</table>");
    }
    out
}
