//! Inline SVG plots, drawn here so the HTML report needs no script, font or network.
//!
//! Each plot is one `<svg id=... class="plot">` with a `<title>`, axes with ticks, and one
//! `<path>` per series (step lines) or per node (stamping timeline), so a browser test can
//! find a plot by id and check that it drew something.

use std::fmt::Write as _;

use crate::html_text::escape;
use crate::timeline::{StampSpan, StepSeries};

const WIDTH: f64 = 760.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/// Colours fixed per phase so every report reads the same way.
fn colour(label: &str, index: usize) -> &'static str {
    match label {
        "Running" => "#2ca02c",
        "Pending" => "#ff7f0e",
        "Succeeded" => "#1f77b4",
        "Failed" => "#d62728",
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// A step chart of several series; `limits` are drawn as dashed lines of the same colour.
pub fn step_chart(id: &str, title: &str, y_label: &str, series: &StepSeries) -> String {
    let height = 300.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = height - TOP - BOTTOM;
    let x_max = series.lines.values().flatten().map(|(t, _)| *t).fold(series.end_secs, f64::max).max(1.0);
    let y_max =
        series.lines.values().flatten().map(|(_, v)| *v).chain(series.limits.values().copied()).fold(1.0, f64::max);
    let x_ticks = ticks(x_max);
    let y_ticks = ticks(y_max);
    let x_top = *x_ticks.last().unwrap_or(&x_max);
    let y_top = *y_ticks.last().unwrap_or(&y_max);
    let x = |t: f64| LEFT + t / x_top * plot_w;
    let y = |v: f64| TOP + plot_h - v / y_top * plot_h;

    let mut svg = open_svg(id, title, height);
    axes(&mut svg, &x_ticks, &y_ticks, &x, &y, plot_h, "seconds since the recording started", y_label);
    if series.lines.values().all(Vec::is_empty) {
        let _ = write!(svg, r#"<text x="{}" y="{}" class="empty">no data recorded</text>"#, LEFT + 10.0, TOP + 20.0);
    }
    for (index, (label, points)) in series.lines.iter().enumerate() {
        let colour = colour(label, index);
        if let Some(limit) = series.limits.get(label) {
            let _ = write!(
                svg,
                r#"<path class="limit" d="M{:.1},{:.1}H{:.1}" stroke="{colour}" stroke-dasharray="4 3" fill="none"><title>{} capacity: {limit}</title></path>"#,
                x(0.0),
                y(*limit),
                x(x_top),
                escape(label)
            );
        }
        let Some(first) = points.first() else { continue };
        let mut d = format!("M{:.1},{:.1}", x(first.0), y(first.1));
        for point in &points[1..] {
            let _ = write!(d, "H{:.1}V{:.1}", x(point.0), y(point.1));
        }
        let _ = write!(d, "H{:.1}", x(series.end_secs.max(points.last().map_or(0.0, |p| p.0))));
        let _ = write!(
            svg,
            r#"<path class="series" data-label="{}" d="{d}" stroke="{colour}" stroke-width="2" fill="none"><title>{}</title></path>"#,
            escape(label),
            escape(label)
        );
        let legend_y = TOP + 14.0 + index as f64 * 18.0;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
            WIDTH - RIGHT + 16.0,
            legend_y - 10.0,
            WIDTH - RIGHT + 34.0,
            legend_y,
            escape(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One row per node: a thin line from when the node was first seen to when its
/// `kubeletVersion` appeared, and a dot at the stamp.
pub fn stamping_chart(id: &str, title: &str, spans: &[StampSpan]) -> String {
    // Node names label the rows, so the left margin grows with the longest one.
    let longest = spans.iter().map(|span| span.node.chars().count()).max().unwrap_or(0) as f64;
    let left = (longest * 6.5 + 12.0).max(LEFT);
    let row_h = 22.0;
    let height = TOP + BOTTOM + row_h * spans.len().max(1) as f64;
    let plot_w = WIDTH - left - RIGHT;
    let x_max =
        spans.iter().flat_map(|span| [Some(span.first_seen_secs), span.stamped_secs]).flatten().fold(0.0, f64::max);
    let x_ticks = ticks(x_max.max(0.001));
    let x_top = *x_ticks.last().unwrap_or(&1.0);
    let x = |t: f64| left + t / x_top * plot_w;
    let y = |row: usize| TOP + row_h * row as f64 + row_h / 2.0;

    let mut svg = open_svg(id, title, height);
    let base = TOP + row_h * spans.len().max(1) as f64;
    let _ = write!(
        svg,
        r##"<path class="axis" d="M{left:.1},{TOP}V{base:.1}H{:.1}" stroke="#444" fill="none"/>"##,
        left + plot_w
    );
    for tick in &x_ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            x(*tick),
            base + 16.0,
            format_tick(*tick)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" class="axis-label" text-anchor="middle">seconds since the recording started</text>"#,
        left + plot_w / 2.0,
        base + 34.0
    );
    if spans.is_empty() {
        let _ =
            write!(svg, r#"<text x="{}" y="{}" class="empty">no KWOK nodes recorded</text>"#, left + 10.0, TOP + 14.0);
    }
    for (row, span) in spans.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="legend" text-anchor="end">{}</text>"#,
            left - 6.0,
            y(row) + 4.0,
            escape(&span.node)
        );
        let end = span.stamped_secs.unwrap_or(x_top);
        let label = match (&span.version, span.stamped_secs) {
            (Some(version), Some(at)) => {
                format!("{}: {version} after {:.0} ms", span.node, (at - span.first_seen_secs) * 1000.0)
            }
            _ => format!("{}: never stamped during the recording", span.node),
        };
        let _ = write!(
            svg,
            r#"<path class="stamp-wait" d="M{:.1},{:.1}H{:.1}" stroke="{}" stroke-width="6" fill="none"><title>{}</title></path>"#,
            x(span.first_seen_secs),
            y(row),
            x(end).max(x(span.first_seen_secs) + 2.0),
            if span.stamped_secs.is_some() { "#9ecae1" } else { "#d62728" },
            escape(&label)
        );
        if let Some(at) = span.stamped_secs {
            let _ = write!(
                svg,
                r##"<circle class="stamp" cx="{:.1}" cy="{:.1}" r="4" fill="#08519c"><title>{}</title></circle>"##,
                x(at),
                y(row),
                escape(&label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn open_svg(id: &str, title: &str, height: f64) -> String {
    format!(
        r#"<svg id="{id}" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        escape(title)
    )
}

#[allow(clippy::too_many_arguments)]
fn axes(
    svg: &mut String,
    x_ticks: &[f64],
    y_ticks: &[f64],
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
    plot_h: f64,
    x_label: &str,
    y_label: &str,
) {
    let right = x(*x_ticks.last().unwrap_or(&1.0));
    let base = TOP + plot_h;
    for tick in y_ticks {
        let _ = write!(
            svg,
            r##"<path class="grid" d="M{LEFT},{:.1}H{right:.1}" stroke="#ddd" fill="none"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            y(*tick),
            LEFT - 6.0,
            y(*tick) + 4.0,
            format_tick(*tick)
        );
    }
    for tick in x_ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            x(*tick),
            base + 16.0,
            format_tick(*tick)
        );
    }
    let _ = write!(svg, r##"<path class="axis" d="M{LEFT},{TOP}V{base:.1}H{right:.1}" stroke="#444" fill="none"/>"##);
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" class="axis-label" text-anchor="middle">{}</text>"#,
        (LEFT + right) / 2.0,
        base + 34.0,
        escape(x_label)
    );
    let _ = write!(
        svg,
        r#"<text x="14" y="{:.1}" class="axis-label" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
}

/// Round tick values from 0 covering `max`: steps of 1, 2 or 5 times a power of ten.
pub fn ticks(max: f64) -> Vec<f64> {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|step| *step >= raw).unwrap_or(magnitude * 10.0);
    let count = (max / step).ceil() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

fn format_tick(value: f64) -> String {
    if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}").trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(40.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(ticks(33.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(ticks(7.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert!(*ticks(0.0034).last().unwrap() >= 0.0034);
    }

    #[test]
    fn a_step_chart_has_its_id_title_and_one_path_per_series() {
        let mut series = StepSeries { end_secs: 10.0, ..StepSeries::default() };
        series.lines.insert("Running".into(), vec![(0.0, 0.0), (2.0, 31.0)]);
        series.lines.insert("Pending".into(), vec![(0.0, 40.0), (2.0, 9.0)]);
        series.limits.insert("Running".into(), 32.0);
        let svg = step_chart("plot-x", "Pods <by> phase", "pods", &series);
        assert!(svg.starts_with(r#"<svg id="plot-x" class="plot""#));
        assert!(svg.contains("<title id=\"plot-x-title\">Pods &lt;by&gt; phase</title>"));
        assert_eq!(svg.matches(r#"class="series""#).count(), 2);
        assert_eq!(svg.matches(r#"class="limit""#).count(), 1);
        assert!(svg.contains(r#"data-label="Running" d="M64.0,"#), "{svg}");
    }
}
