//! The capacity search on the page (`srelab load --find-capacity --html`):
//! the result, every step with its verdict, the achieved rate and p99 per
//! step, and the notes. The rest of the page is the step at the capacity.

use std::fmt::Write;

use super::{
    escape,
    svg::{Bar, BarChart, Unit},
};
use crate::load::capacity::{
    report::{CapacityReport, number},
    search::Verdict,
    slo::percent,
};

/// The section, placed before the step's own figures.
pub fn section(c: &CapacityReport) -> String {
    let class = if c.result == "found" { "pass" } else { "fail" };
    let mut out = format!(
        r#"<section id="capacity" data-result="{}"><h2>Capacity</h2><p><span class="badge {class}">{}</span> {}</p>"#,
        escape(&c.result),
        escape(&c.result.replace('_', " ")),
        escape(&c.headline())
    );
    let _ = write!(
        out,
        r#"<p>SLO {}; steps of {}s after a {}s settle; precision {}; {} steps (at most {}) in {:.0}s. The rest of this page is the step at the capacity.</p>"#,
        escape(&c.slo.join(", ")),
        c.step_seconds,
        c.settle_seconds,
        percent(c.precision),
        c.steps.len(),
        c.max_steps,
        c.search_seconds
    );
    out.push_str(
        r#"<table class="counts steps"><tr><th>step</th><th>stage</th><th>rate/s</th><th>achieved/s</th><th>p50</th><th>p99</th><th>errors</th><th>verdict</th><th>client CPU</th><th>timer lag p99</th><th>why / servers</th></tr>"#,
    );
    let secs = |v: Option<f64>| v.map_or("—".into(), |v| Unit::Seconds.label(v));
    for s in &c.steps {
        let class = match s.verdict {
            Verdict::Pass => "pass",
            Verdict::Untrusted => "untrusted",
            Verdict::Fail | Verdict::Collapse => "fail",
        };
        let mut why = s.why.join("; ");
        if let Some(server) = &s.server {
            if !why.is_empty() {
                why.push_str("; ");
            }
            why.push_str(&server.describe());
        }
        let _ = write!(
            out,
            r#"<tr class="{class}" data-step="{}" data-rate="{}" data-verdict="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class="badge {class}">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            s.step,
            s.rate,
            s.verdict.name(),
            s.step,
            s.stage.name(),
            number(s.rate),
            s.achieved.map_or("—".into(), |a| format!("{a:.1}")),
            secs(s.p50),
            secs(s.p99),
            s.error_ratio.map_or("—".into(), percent),
            s.verdict.name(),
            s.client
                .cpu_ratio
                .map_or("—".into(), |r| format!("{:.0}%", r * 100.0)),
            secs(s.client.timer_lag_p99),
            escape(&why)
        );
    }
    out.push_str("</table>");
    let bars = |value: fn(&crate::load::capacity::report::StepRecord) -> f64| -> Vec<Bar> {
        c.steps
            .iter()
            .map(|s| Bar {
                label: format!("{}/s", number(s.rate)),
                labelled: true,
                value: value(s),
            })
            .collect()
    };
    let achieved = BarChart {
        id: "capacity-achieved",
        what: "correct answers per second",
        bars: bars(|s| s.achieved.unwrap_or(0.0)),
    };
    let p99 = BarChart {
        id: "capacity-p99",
        what: "seconds, p99",
        bars: bars(|s| s.p99.unwrap_or(0.0)),
    };
    let _ = write!(
        out,
        r#"<div class="cols"><figure><figcaption>Achieved rate per step (offered rate below each bar)</figcaption>{}</figure><figure><figcaption>p99 per step (seconds)</figcaption>{}</figure></div>"#,
        achieved.render(0.0),
        p99.render(0.0)
    );
    if !c.notes.is_empty() {
        out.push_str(r#"<ul class="notes">"#);
        for n in &c.notes {
            let _ = write!(out, "<li>{}</li>", escape(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");
    out
}
