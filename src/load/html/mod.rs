//! The HTML report: one self-contained page made from the JSON report alone
//! (`--html`, or `srelab load report FILE --html OUT`).
//!
//! No script and nothing fetched: the charts are SVG drawn here, the styles
//! are inline, and the page's Content-Security-Policy (`default-src
//! 'none'`) makes a browser refuse, and log, any load it would attempt.
//! With a baseline, every figure shows the baseline and this run side by
//! side on the same scales.
//!
//! - [`svg`]: line and bar charts.
//! - [`tables`]: the run, the gates, the self-checks, the counts.
//! - [`capacity`]: a capacity search's steps and result.

pub mod capacity;
pub mod svg;
pub mod tables;

use std::{fmt::Write, path::Path};

use anyhow::Context;

use super::{
    report::Report,
    timeline::{Bin, Points},
};
use svg::{Bar, BarChart, Line, LineChart, Marker, Unit};

const STYLE: &str = include_str!("style.css");

/// Writes the page to `path`.
pub fn write(path: &Path, report: &Report, baseline: Option<&Report>) -> anyhow::Result<()> {
    std::fs::write(path, render(report, baseline))
        .with_context(|| format!("writing {}", path.display()))
}

/// The page for `report`, beside `baseline` when given.
pub fn render(report: &Report, baseline: Option<&Report>) -> String {
    let runs: Vec<Run> = match baseline {
        Some(b) => vec![Run::new("baseline", b), Run::new("this run", report)],
        None => vec![Run::new("", report)],
    };
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>srelab load report{}</title>
<style>{STYLE}</style></head>
<body class="{}">
<h1>srelab load report</h1>
"#,
        report
            .started_at
            .as_deref()
            .map_or(String::new(), |t| format!(" — {}", escape(t))),
        if runs.len() == 2 { "compare" } else { "single" }
    );
    section(&mut page, "Run", &runs, tables::run);
    if let (Some(c), None) = (&report.capacity, baseline) {
        page.push_str(&capacity::section(c));
    }
    section(&mut page, "Verdict", &runs, tables::verdict);
    if runs.len() == 2 {
        page.push_str(&tables::comparison(runs[0].report, runs[1].report));
    }
    figures(&mut page, &runs);
    section(&mut page, "Counts", &runs, tables::counts);
    if runs.iter().any(|r| !r.report.workers.is_empty()) {
        section(&mut page, "Workers", &runs, tables::workers);
    }
    if runs.iter().any(|r| r.report.outliers.is_some()) {
        section(&mut page, "Outliers", &runs, tables::outliers);
    }
    page.push_str("</body></html>\n");
    page
}

/// One report in a column of the page.
struct Run<'a> {
    caption: &'static str,
    report: &'a Report,
}

impl<'a> Run<'a> {
    fn new(caption: &'static str, report: &'a Report) -> Self {
        Run { caption, report }
    }

    /// Seconds of the ramp and of the main phase (ramp + steady).
    fn markers(&self) -> Vec<Marker<'static>> {
        let phases = &self.report.phases;
        let secs = |name: &str| phases.get(name).and_then(|p| p.elapsed_seconds);
        let mut markers = Vec::new();
        if let Some(ramp) = secs("ramp").filter(|r| *r > 0.0) {
            markers.push(Marker {
                at: ramp,
                label: "ramp end",
                shade_after: false,
            });
        }
        let main = secs("ramp").unwrap_or(0.0) + secs("steady").unwrap_or(0.0);
        if main > 0.0 && (self.report.timeline.seconds as f64) > main.ceil() {
            markers.push(Marker {
                at: main,
                label: "end of -d: graceful stop",
                shade_after: true,
            });
        }
        markers
    }
}

/// A section whose content is one block per run, side by side.
fn section(page: &mut String, title: &str, runs: &[Run], block: fn(&Report) -> String) {
    let _ = write!(
        page,
        r#"<section><h2>{}</h2><div class="cols">"#,
        escape(title)
    );
    for run in runs {
        let _ = write!(
            page,
            r#"<div class="col">{}{}</div>"#,
            caption(run),
            block(run.report)
        );
    }
    page.push_str("</div></section>\n");
}

fn caption(run: &Run) -> String {
    if run.caption.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="caption">{}</p>"#, run.caption)
    }
}

/// A figure: one chart per run, on shared scales.
enum Chart<'a> {
    Line(LineChart<'a>),
    Bar(BarChart<'a>),
}

fn figure(page: &mut String, title: &str, runs: &[Run], charts: Vec<Option<Chart>>) {
    let x_max = charts
        .iter()
        .flatten()
        .map(|c| match c {
            Chart::Line(l) => l.seconds(),
            Chart::Bar(_) => 0,
        })
        .max()
        .unwrap_or(0);
    let y_max = charts
        .iter()
        .flatten()
        .map(|c| match c {
            Chart::Line(l) => l.max(),
            Chart::Bar(b) => b.max(),
        })
        .fold(0.0, f64::max);
    let _ = write!(
        page,
        r#"<figure><figcaption>{}</figcaption><div class="cols">"#,
        escape(title)
    );
    for (run, chart) in runs.iter().zip(&charts) {
        let body = match chart {
            Some(Chart::Line(l)) => l.render(x_max, y_max),
            Some(Chart::Bar(b)) => b.render(y_max),
            None => r#"<p class="none">not in this run</p>"#.into(),
        };
        let _ = write!(page, r#"<div class="col">{}{body}</div>"#, caption(run));
    }
    page.push_str("</div></figure>\n");
}

/// Every chart: all requests, the distribution and the client's CPU, per
/// route and per target. Each group's figures sit side by side for one
/// run, one under the other for two (whose columns are then the runs).
fn figures(page: &mut String, runs: &[Run]) {
    page.push_str("<section><h2>All requests</h2>\n");
    let all: Vec<_> = runs.iter().map(|r| Some(&r.report.timeline.all)).collect();
    point_figures(page, "All requests", runs, &all);
    page.push_str("</section>\n<section><h2>Latency distribution and the tool itself</h2>\n");
    page.push_str(r#"<div class="group" data-group="distribution">"#);
    distribution(page, runs);
    let cpu = runs
        .iter()
        .map(|r| {
            Some(Chart::Line(LineChart {
                id: "client-cpu",
                unit: Unit::Ratio,
                lines: vec![Line {
                    name: "cpu",
                    label: "highest sample of the second, share of its cores",
                    values: r.report.timeline.cpu.clone(),
                }],
                markers: r.markers(),
            }))
        })
        .collect();
    figure(page, "The load tool's own CPU", runs, cpu);
    page.push_str("</div></section>\n<section><h2>Per route</h2>\n");
    let mut kinds: Vec<&str> = Vec::new();
    for run in runs {
        for r in &run.report.timeline.routes {
            if !kinds.contains(&r.kind.as_str()) {
                kinds.push(&r.kind);
            }
        }
    }
    for kind in kinds {
        let found: Vec<_> = runs
            .iter()
            .map(|r| r.report.timeline.routes.iter().find(|p| p.kind == kind))
            .collect();
        let title = found.iter().flatten().next().map_or(kind.to_owned(), |r| {
            format!("{} {} ({})", r.method, r.route, r.kind)
        });
        let points: Vec<_> = found.iter().map(|r| r.map(|r| &r.points)).collect();
        point_figures(page, &title, runs, &points);
    }
    page.push_str("</section>\n<section><h2>Per target</h2>\n");
    let targets = runs
        .iter()
        .map(|r| r.report.timeline.targets.len())
        .max()
        .unwrap_or(0);
    for i in 0..targets {
        let found: Vec<_> = runs
            .iter()
            .map(|r| r.report.timeline.targets.get(i))
            .collect();
        let mut urls: Vec<&str> = found.iter().flatten().map(|t| t.url.as_str()).collect();
        urls.dedup();
        let title = format!("Target {} ({})", i + 1, urls.join(" / "));
        let points: Vec<_> = found.iter().map(|t| t.map(|t| &t.points)).collect();
        point_figures(page, &title, runs, &points);
    }
    page.push_str("</section>\n");
}

/// The throughput and latency figures of one set of points per run.
fn point_figures(page: &mut String, title: &str, runs: &[Run], points: &[Option<&Points>]) {
    let slug = slug(title);
    let throughput = runs
        .iter()
        .zip(points)
        .map(|(run, p)| {
            p.map(|p| {
                Chart::Line(LineChart {
                    id: "throughput",
                    unit: Unit::Rate,
                    lines: vec![
                        Line {
                            name: "requests",
                            label: "answers per second",
                            values: p.requests.iter().map(|n| Some(*n as f64)).collect(),
                        },
                        Line {
                            name: "errors",
                            label: "errors per second (unexpected answers, transport errors)",
                            values: p.errors.iter().map(|n| Some(*n as f64)).collect(),
                        },
                    ],
                    markers: run.markers(),
                })
            })
        })
        .collect();
    page.push_str(&format!(r#"<div class="group" data-group="{slug}">"#));
    figure(
        page,
        &format!("{title}: throughput and errors"),
        runs,
        throughput,
    );
    let latency = runs
        .iter()
        .zip(points)
        .map(|(run, p)| {
            p.map(|p| {
                Chart::Line(LineChart {
                    id: "latency",
                    unit: Unit::Seconds,
                    lines: vec![
                        Line {
                            name: "p50",
                            label: "p50",
                            values: p.p50.clone(),
                        },
                        Line {
                            name: "p90",
                            label: "p90",
                            values: p.p90.clone(),
                        },
                        Line {
                            name: "p99",
                            label: "p99",
                            values: p.p99.clone(),
                        },
                        Line {
                            name: "max",
                            label: "max",
                            values: p.max.clone(),
                        },
                    ],
                    markers: run.markers(),
                })
            })
        })
        .collect();
    figure(page, &format!("{title}: latency per second"), runs, latency);
    page.push_str("</div>\n");
}

/// The steady phase's distribution, on the same bars for every run.
fn distribution(page: &mut String, runs: &[Run]) {
    let bins: Vec<&[Bin]> = runs
        .iter()
        .map(|r| {
            r.report
                .phases
                .get("steady")
                .map_or(&[][..], |p| &p.distribution[..])
        })
        .collect();
    // Fixed bounds: bar i of every run is 10^(i/10) µs.
    let index = |le: f64| ((le * 1e6).log10() * 10.0).round() as i32;
    let all: Vec<i32> = bins
        .iter()
        .flat_map(|b| b.iter().map(|x| index(x.le)))
        .collect();
    let (Some(first), Some(last)) = (all.iter().min(), all.iter().max()) else {
        page.push_str(r#"<p class="none">no steady-phase requests</p>"#);
        return;
    };
    let charts = bins
        .iter()
        .map(|b| {
            Some(Chart::Bar(BarChart {
                id: "distribution",
                what: "requests",
                bars: (*first..=*last)
                    .map(|i| {
                        let le = 10f64.powf(f64::from(i) / 10.0) / 1e6;
                        Bar {
                            label: format!("≤{}", Unit::Seconds.label(le)),
                            labelled: i.rem_euclid(10) == 0,
                            value: b
                                .iter()
                                .find(|x| index(x.le) == i)
                                .map_or(0.0, |x| x.count as f64),
                        }
                    })
                    .collect(),
            }))
        })
        .collect();
    figure(page, "Steady-phase requests by latency", runs, charts);
}

/// A title as an attribute value: lowercase words joined by `-`.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_makes_slugs() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(slug("GET /api/items (list)"), "get-api-items-list");
    }
}
