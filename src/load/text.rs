//! The srelab section as text, printed after rlt's text report.

use std::fmt::Write;

use super::report::{Latency, Report, Totals};

/// Renders the section as a few aligned lines per phase and route.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "srelab load {} — {} model, seed {}, mix {}",
        r.version, r.model, r.seed, r.mix
    );
    if let Some(rate) = r.rate {
        let _ = writeln!(
            out,
            "open model at {rate}/s: latency counts from each request's due time"
        );
    }
    for (name, phase) in &r.phases {
        let secs = phase
            .elapsed_seconds
            .map_or(String::new(), |s| format!(" over {s:.2}s"));
        let _ = writeln!(out, "\n[{name}]{secs}");
        let _ = writeln!(
            out,
            "  {:<24} {:<22} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "target", "route", "requests", "unexp", "errors", "req/s", "p50", "p99", "p99.9", "max"
        );
        for t in &phase.targets {
            for route in &t.routes {
                let label = format!("{} {}", route.method, route.route);
                line(&mut out, &t.url, &label, &route.total);
            }
            if t.total.requests > 0 {
                line(
                    &mut out,
                    &t.url,
                    &format!("all ({} created)", t.items_created),
                    &t.total,
                );
            }
        }
        line(&mut out, "all targets", "all", &phase.total);
    }
    let m = &r.monitor;
    if let Some(lag) = &m.schedule_lag {
        let _ = writeln!(
            out,
            "\nschedule lag p50 {} p99 {} max {}; late arrivals {}; dropped {}",
            ms(lag.p50),
            ms(lag.p99),
            ms(lag.max),
            m.late_arrivals,
            m.dropped_arrivals.unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "interrupted requests (unanswered after the graceful stop): {} ({} writes); client CPU max {:.0}%",
        m.interrupted,
        m.interrupted_writes,
        m.cpu_max_ratio * 100.0
    );
    if let Some(o) = &r.outliers {
        let _ = writeln!(
            out,
            "\noutliers; their lines in the servers' logs: {}",
            o.logql
        );
        let failed = format!("failed ({} in all, the first listed)", o.failed_total);
        for (title, rows) in [("slowest", &o.slowest), (failed.as_str(), &o.failed)] {
            let _ = writeln!(out, "  {title}:");
            for x in rows.iter() {
                let status = x.status.map_or("-".into(), |s| s.to_string());
                let _ = writeln!(
                    out,
                    "    {:<28} {:<24} {:<7} {status:>4} {:<18} {:>10} {}",
                    x.request_id,
                    x.target,
                    x.kind,
                    x.outcome,
                    ms(x.latency_seconds),
                    x.at
                );
            }
        }
    }
    for w in &r.workers {
        let _ = writeln!(
            out,
            "worker {} (share {}): {}{}, {} requests",
            w.address,
            w.share,
            w.status,
            w.problem
                .as_deref()
                .map_or(String::new(), |p| format!(" ({p})")),
            w.requests
        );
    }
    if r.trustworthy {
        let _ = writeln!(out, "the tool kept up: the run is trustworthy");
    } else {
        for w in &m.warnings {
            let _ = writeln!(out, "NOT TRUSTWORTHY: {w}");
        }
    }
    for g in &r.gates {
        let _ = writeln!(out, "{}", g.line());
    }
    out
}

fn line(out: &mut String, target: &str, route: &str, t: &Totals) {
    let rate = t.throughput.map_or("-".into(), |r| format!("{r:.1}"));
    let (p50, p99, p999, max) = match &t.latency {
        Some(Latency {
            p50,
            p99,
            p99_9,
            max,
            ..
        }) => (ms(*p50), ms(*p99), ms(*p99_9), ms(*max)),
        None => Default::default(),
    };
    let _ = writeln!(
        out,
        "  {target:<24} {route:<22} {:>8} {:>6} {:>6} {rate:>9} {p50:>9} {p99:>9} {p999:>9} {max:>9}",
        t.requests, t.unexpected, t.transport_errors
    );
}

/// Seconds as milliseconds, two decimals.
pub fn ms(secs: f64) -> String {
    format!("{:.2}ms", secs * 1e3)
}
