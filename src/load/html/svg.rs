//! Charts as inline SVG, drawn here so the page needs no script: line
//! charts over the seconds of a run and bar charts of a distribution.
//!
//! Each line is one `<polyline data-series="NAME">` per stretch of seconds
//! with a value (a second without answers breaks the line), one point per
//! second, so a test can count the points a browser rendered.

use std::fmt::Write;

use super::escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// What the values of a chart measure, for its axis labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Per second, e.g. requests.
    Rate,
    /// Seconds, shown as ms or s.
    Seconds,
    /// A share, shown as a percentage.
    Ratio,
}

impl Unit {
    /// A value as an axis label.
    pub fn label(self, v: f64) -> String {
        match self {
            Unit::Rate if v >= 10_000.0 => format!("{:.0}k/s", v / 1000.0),
            Unit::Rate if v >= 1000.0 => format!("{:.1}k/s", v / 1000.0),
            Unit::Rate => format!("{}/s", trim(v)),
            Unit::Seconds if v >= 1.0 => format!("{} s", trim(v)),
            Unit::Seconds => format!("{} ms", trim(v * 1e3)),
            Unit::Ratio => format!("{}%", trim(v * 100.0)),
        }
    }
}

/// A number to three significant digits (at least the units), without
/// trailing zeros.
fn trim(v: f64) -> String {
    let decimals = match v.abs() {
        a if a >= 100.0 || a == 0.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".into() } else { s.into() }
}

/// One line of a chart.
pub struct Line<'a> {
    /// `data-series` and the CSS class `s-NAME` (its colour).
    pub name: &'a str,
    /// The legend's text.
    pub label: &'a str,
    /// One value per second; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

/// A vertical marker at a second, e.g. the end of the ramp.
pub struct Marker<'a> {
    pub at: f64,
    pub label: &'a str,
    /// Shade the chart from here on (e.g. the graceful stop after `-d`).
    pub shade_after: bool,
}

/// A line chart over seconds.
pub struct LineChart<'a> {
    /// `data-chart`, names the chart for tests and styles.
    pub id: &'a str,
    pub unit: Unit,
    pub lines: Vec<Line<'a>>,
    pub markers: Vec<Marker<'a>>,
}

impl LineChart<'_> {
    /// The largest value, to share one scale between charts side by side.
    pub fn max(&self) -> f64 {
        self.lines
            .iter()
            .flat_map(|l| l.values.iter().flatten())
            .fold(0.0, |a, b| a.max(*b))
    }

    /// Seconds covered.
    pub fn seconds(&self) -> usize {
        self.lines.iter().map(|l| l.values.len()).max().unwrap_or(0)
    }

    /// The SVG, with `x_max` seconds and `y_max` on the axes (at least the
    /// chart's own).
    pub fn render(&self, x_max: usize, y_max: f64) -> String {
        let x_max = x_max.max(self.seconds()).max(1) as f64;
        let mut svg = open(self.id);
        let y = y_axis(&mut svg, y_max.max(self.max()), &|t| self.unit.label(t));
        let x = |s: f64| LEFT + s / x_max * (WIDTH - LEFT - RIGHT);
        for t in ticks(x_max) {
            if t > x_max {
                break;
            }
            let _ = write!(
                svg,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}s</text>"#,
                x(t),
                HEIGHT - 8.0,
                trim(t)
            );
        }
        let _ = write!(
            svg,
            r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{b:.1}" y2="{b:.1}"/>"#,
            WIDTH - RIGHT,
            b = y(0.0)
        );
        for m in self.markers.iter().filter(|m| m.shade_after) {
            let _ = write!(
                svg,
                r#"<rect class="shade" x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}"/>"#,
                x(m.at),
                (x(x_max) - x(m.at)).max(0.0),
                y(0.0) - TOP
            );
        }
        for m in &self.markers {
            let _ = write!(
                svg,
                r#"<line class="marker" x1="{mx:.1}" x2="{mx:.1}" y1="{TOP}" y2="{:.1}"/><text class="marker-label" x="{:.1}" y="{:.1}">{}</text>"#,
                y(0.0),
                x(m.at) + 3.0,
                TOP + 10.0,
                escape(m.label),
                mx = x(m.at),
            );
        }
        for line in &self.lines {
            for run in runs(&line.values) {
                let points: Vec<String> = run
                    .iter()
                    .map(|(s, v)| format!("{:.1},{:.1}", x(*s as f64 + 0.5), y(*v)))
                    .collect();
                let _ = write!(
                    svg,
                    r#"<polyline class="s-{n}" data-series="{n}" points="{}"/>"#,
                    points.join(" "),
                    n = line.name
                );
                if let [(s, v)] = run[..] {
                    let _ = write!(
                        svg,
                        r#"<circle class="dot s-{}" cx="{:.1}" cy="{:.1}" r="2"/>"#,
                        line.name,
                        x(s as f64 + 0.5),
                        y(v)
                    );
                }
            }
        }
        svg.push_str("</svg>");
        svg.push_str(&legend(self.lines.iter().map(|l| (l.name, l.label))));
        svg
    }
}

/// The stretches of consecutive seconds with a value.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut runs: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (s, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((s, *v)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// Draws the value axis up to at least `max` (grid lines and labels) and
/// returns where a value goes.
fn y_axis(
    svg: &mut String,
    max: f64,
    label: &dyn Fn(f64) -> String,
) -> impl Fn(f64) -> f64 + use<> {
    let y_ticks = ticks(max);
    let y_max = *y_ticks.last().unwrap_or(&1.0);
    let y = move |v: f64| TOP + (1.0 - v / y_max) * (HEIGHT - TOP - BOTTOM);
    for t in y_ticks {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{ty:.1}" y2="{ty:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(t) + 4.0,
            label(t),
            ty = y(t),
        );
    }
    y
}

fn open(id: &str) -> String {
    format!(
        r#"<svg class="chart" data-chart="{}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="xMidYMid meet">"#,
        escape(id)
    )
}

fn legend<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (name, label) in items {
        let _ = write!(
            out,
            r#"<span><i class="swatch s-{name}"></i>{}</span>"#,
            escape(label)
        );
    }
    out.push_str("</div>");
    out
}

/// Axis ticks from 0 to at least `max`, 3 to 6 of them on 1-2-5 steps.
pub fn ticks(max: f64) -> Vec<f64> {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| max / s <= 5.0)
        .unwrap_or(10.0 * magnitude);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// One bar of a bar chart.
pub struct Bar {
    /// In the bar's tooltip, and under it when `labelled`.
    pub label: String,
    pub labelled: bool,
    pub value: f64,
}

/// A bar chart, e.g. the latency distribution.
pub struct BarChart<'a> {
    pub id: &'a str,
    /// Tooltip text after the value, e.g. "requests".
    pub what: &'a str,
    pub bars: Vec<Bar>,
}

impl BarChart<'_> {
    pub fn max(&self) -> f64 {
        self.bars.iter().fold(0.0, |a, b| a.max(b.value))
    }

    /// The SVG, with `y_max` on the axis (at least the chart's own).
    pub fn render(&self, y_max: f64) -> String {
        let n = self.bars.len().max(1) as f64;
        let slot = (WIDTH - LEFT - RIGHT) / n;
        let mut svg = open(self.id);
        let y = y_axis(&mut svg, y_max.max(self.max()), &trim);
        for (i, bar) in self.bars.iter().enumerate() {
            let x0 = LEFT + i as f64 * slot;
            let top = y(bar.value);
            let _ = write!(
                svg,
                r#"<rect class="bar" data-value="{}" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}: {} {}</title></rect>"#,
                bar.value,
                x0 + slot * 0.1,
                slot * 0.8,
                y(0.0) - top,
                escape(&bar.label),
                bar.value,
                escape(self.what)
            );
            if bar.labelled {
                let middle = x0 + slot / 2.0;
                // A label near the right edge ends there instead of past it.
                let anchor = if middle + 30.0 > WIDTH {
                    "end"
                } else {
                    "middle"
                };
                let _ = write!(
                    svg,
                    r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                    middle.min(WIDTH - 2.0),
                    HEIGHT - 8.0,
                    escape(&bar.label)
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(9.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let ms: Vec<String> = ticks(0.0031)
            .into_iter()
            .map(|t| Unit::Seconds.label(t))
            .collect();
        assert_eq!(ms, ["0 ms", "1 ms", "2 ms", "3 ms", "4 ms"]);
        assert_eq!(
            ticks(0.0).last(),
            Some(&1.0),
            "an empty chart still has an axis"
        );
        assert_eq!(Unit::Seconds.label(0.0025), "2.5 ms");
        assert_eq!(Unit::Seconds.label(0.25), "250 ms");
        assert_eq!(Unit::Rate.label(0.0), "0/s");
        assert_eq!(Unit::Seconds.label(0.00316228), "3.16 ms");
        assert_eq!(Unit::Rate.label(1500.0), "1.5k/s");
        assert_eq!(Unit::Ratio.label(0.5), "50%");
    }

    #[test]
    fn a_gap_splits_the_line_and_every_second_is_one_point() {
        let chart = LineChart {
            id: "t",
            unit: Unit::Rate,
            lines: vec![Line {
                name: "requests",
                label: "requests",
                values: vec![Some(1.0), Some(2.0), None, Some(3.0)],
            }],
            markers: vec![],
        };
        let svg = chart.render(0, 0.0);
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        let points: usize = svg
            .split("points=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap().split(' ').count())
            .sum();
        assert_eq!(points, 3);
    }
}
