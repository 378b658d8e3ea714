//! `report.html`: the same content as `report.md` as one self-contained page (inline CSS and
//! inline SVG, no script, nothing fetched), plus three plots replayed from the change log:
//! pods by phase (`#plot-pods-by-phase`), GPUs allocated per pool (`#plot-gpu-allocation`)
//! and node `kubeletVersion` stamping (`#plot-node-version-stamping`); when GPU metrics were
//! recorded, GPU utilisation per node (`#plot-gpu-utilisation`, [`METRICS_PLOT_ID`]); and in
//! "Why pods were Pending", the fleet's free GPUs against its largest free block
//! (`#plot-gpu-free-vs-largest-block`, [`CAPACITY_PLOT_ID`]).
//!
//! One function per section of the report (the same sections as `report.md`, plus the
//! timelines), run in the order of `SECTIONS`; every text of the model goes through
//! [`escape`], so what a cluster recorded is never markup.

use std::fmt::{self, Write as _};

pub use crate::html_text::escape;
use crate::markdown::{figure, fleet_sentences, pod_of};
use crate::model::{NOT_WRITTEN, Report};
use crate::plot;

/// Ids of the plots, for tests and for links.
pub const PLOT_IDS: [&str; 3] = ["plot-pods-by-phase", "plot-gpu-allocation", "plot-node-version-stamping"];
/// Id of the plot of the fleet's free GPUs against its largest free block.
pub const CAPACITY_PLOT_ID: &str = "plot-gpu-free-vs-largest-block";
/// Id of the GPU utilisation plot, drawn only for runs with GPU metrics.
pub const METRICS_PLOT_ID: &str = "plot-gpu-utilisation";

const STYLE: &str = "
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.pass { background: #e6f4e6; color: #17631a; font-weight: bold; }
td.fail { background: #fbe4e4; color: #a11; font-weight: bold; }
.verdict.pass { color: #17631a; } .verdict.fail { color: #a11; }
.gaps { border: 2px solid #c60; background: #fff4e5; padding: 0.5em 1em; }
code { background: #f4f4f4; padding: 0 3px; }
svg.plot { display: block; margin: 0.5em 0 1.5em; background: #fff; border: 1px solid #eee; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg text.axis-label { font-size: 12px; }
figure { margin: 0; } figcaption { font-weight: bold; }
";

/// A part of the page: appends its HTML.
type Section = fn(&Report, &mut String) -> fmt::Result;

/// The parts of the page, in order: the document's head and heading, the report's sections,
/// the closing tags.
const SECTIONS: [Section; 9] =
    [heading, environment, fleet, results, pending_gpu, timelines, gpu_metrics, bullet_sections, closing];

/// Renders the page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for section in SECTIONS {
        section(report, &mut out).expect("writing to a String cannot fail");
    }
    out
}

/// The document head, the title, the description, the recording it was derived from, any
/// gaps, the verdict.
fn heading(report: &Report, out: &mut String) -> fmt::Result {
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&report.title)
    )?;
    writeln!(out, "<h1>{}</h1>", escape(&report.title))?;
    if !report.description.is_empty() {
        writeln!(out, "<p>{}</p>", escape(&report.description))?;
    }
    writeln!(
        out,
        "<p>Derived by <code>evident report</code> from recording <code>{}</code> (scenario <code>{}</code>), state at {}.</p>",
        escape(&report.run_id),
        escape(&report.scenario_name),
        escape(&report.recorded_until)
    )?;
    if !report.gaps.is_empty() {
        out.push_str("<div class=\"gaps\" id=\"gaps\"><strong>Warning: the recording has gaps.</strong> Changes during these intervals were not observed:<ul>");
        for gap in &report.gaps {
            write!(out, "<li>{}</li>", escape(gap))?;
        }
        out.push_str("</ul></div>\n");
    }
    let summary = report.summary();
    let verdict = if summary.all_passed() { "pass" } else { "fail" };
    writeln!(
        out,
        "<p class=\"verdict {verdict}\" id=\"verdict\"><strong>Result: {}</strong> — {} of {} expectations passed.</p>",
        verdict.to_uppercase(),
        summary.passed,
        summary.passed + summary.failed
    )
}

/// `Environment`: the item/value table.
fn environment(report: &Report, out: &mut String) -> fmt::Result {
    out.push_str("<h2>Environment</h2>\n<table id=\"environment\"><tr><th>Item</th><th>Value</th></tr>\n");
    for (item, value) in &report.environment {
        writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", escape(item), escape(value))?;
    }
    out.push_str("</table>\n");
    Ok(())
}

/// `Simulated fleet`: the scenario's GPU nodes (with a Taints column when one is tainted),
/// the total, the GPU-less nodes, then what else the cluster held.
fn fleet(report: &Report, out: &mut String) -> fmt::Result {
    let fleet = &report.fleet;
    out.push_str("<h2>Simulated fleet</h2>\n");
    writeln!(
        out,
        "<p>{} GPU node(s), {} GPUs advertised, confirmed in <a href=\"gpu-allocatable.txt\">gpu-allocatable.txt</a>:</p>",
        fleet.gpu_nodes.len(),
        fleet.total_gpus
    )?;
    let tainted = fleet.gpu_nodes.iter().any(|node| !node.taints.is_empty());
    out.push_str("<table id=\"fleet\"><tr><th>Node</th><th>Pool</th><th>GPUs</th>");
    out.push_str(if tainted { "<th>Taints</th></tr>\n" } else { "</tr>\n" });
    for node in &fleet.gpu_nodes {
        write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td>", escape(&node.name), escape(&node.pool), node.gpus)?;
        if tainted {
            write!(out, "<td>{}</td>", escape(if node.taints.is_empty() { "-" } else { &node.taints }))?;
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    writeln!(out, "<p>{}</p>", escape(&fleet_sentences(report)))
}

/// `Scenario results`: one row per scenario, then the namespace totals and the Pending causes.
fn results(report: &Report, out: &mut String) -> fmt::Result {
    out.push_str("<h2>Scenario results</h2>\n<table id=\"results\"><tr><th>#</th><th>Scenario</th><th>Expected</th><th>Observed</th><th>Evidence file</th><th>Result</th></tr>\n");
    for row in &report.rows {
        let evidence: Vec<String> = row
            .evidence
            .iter()
            .map(|file| match file.strip_suffix(NOT_WRITTEN) {
                Some(_) => escape(file),
                None => format!("<a href=\"{0}\">{0}</a>", escape(file)),
            })
            .collect();
        let (class, text) = (if row.passed() { "pass" } else { "fail" }, row.verdict());
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{text}</td></tr>",
            row.number,
            escape(&row.title),
            escape(&row.expected),
            escape(&row.observed),
            evidence.join(", ")
        )?;
    }
    out.push_str("</table>\n");
    for totals in &report.namespace_totals {
        writeln!(out, "<p>{}</p>", escape(totals))?;
    }
    if let Some(causes) = &report.causes_sentence {
        writeln!(out, "<p>{}</p>", escape(causes))?;
    }
    Ok(())
}

/// `Why pods were Pending`: the sentences, the figures per pod and the free-vs-largest-block
/// plot ([`CAPACITY_PLOT_ID`]).
fn pending_gpu(report: &Report, out: &mut String) -> fmt::Result {
    let section = &report.pending_gpu;
    out.push_str("<h2>Why pods were Pending</h2>\n<div id=\"pending-classes\">\n");
    for sentence in &section.sentences {
        writeln!(out, "<p>{}</p>", escape(sentence))?;
    }
    if !section.rows.is_empty() {
        out.push_str("<table id=\"pending-classes-table\"><tr><th>Pod</th><th>Class</th><th>GPUs asked</th><th>Largest node it may use</th><th>Free in fleet</th><th>Free where it may go</th><th>Largest free block there</th><th>Scheduler's reasons</th></tr>\n");
        for row in &section.rows {
            let cells = [
                format!("{}/{}", row.namespace, row.pod),
                row.class.clone().unwrap_or_else(|| "-".into()),
                row.gpus_requested.to_string(),
                row.largest_eligible_allocatable.map_or("-".to_string(), |n| n.to_string()),
                row.fleet_free.to_string(),
                row.eligible_free.to_string(),
                row.largest_eligible_free_block.to_string(),
                crate::pending::scheduler_reasons(row),
            ];
            out.push_str("<tr>");
            for cell in cells {
                write!(out, "<td>{}</td>", escape(&cell))?;
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    let title = "Free GPUs in the fleet and the largest free block on one node";
    figure_of(
        out,
        CAPACITY_PLOT_ID,
        "Free GPUs vs the largest free block over time (a gap between them: free GPUs no single node can offer)",
        &plot::step_chart(CAPACITY_PLOT_ID, title, "GPUs", &section.capacity),
    )?;
    out.push_str("</div>\n");
    Ok(())
}

/// `Timelines`: the three plots replayed from the change log ([`PLOT_IDS`]).
fn timelines(report: &Report, out: &mut String) -> fmt::Result {
    out.push_str("<h2>Timelines</h2>\n");
    let plots = [
        (
            PLOT_IDS[0],
            "Pods by phase over time",
            plot::step_chart(PLOT_IDS[0], "Pods by phase over time", "pods", &report.pods_by_phase),
        ),
        (
            PLOT_IDS[1],
            "GPUs allocated per pool over time (dashed: the pool's allocatable GPUs)",
            plot::step_chart(PLOT_IDS[1], "GPUs allocated per pool over time", "GPUs", &report.gpu_allocation),
        ),
        (
            PLOT_IDS[2],
            "Node kubeletVersion stamping (bar: node seen without a version; dot: version stamped)",
            plot::stamping_chart(PLOT_IDS[2], "Node kubeletVersion stamping timeline", &report.stamping),
        ),
    ];
    for (id, caption, svg) in plots {
        figure_of(out, id, caption, &svg)?;
    }
    Ok(())
}

/// `GPU metrics`: the sentences, the summary table and the utilisation plot.
fn gpu_metrics(report: &Report, out: &mut String) -> fmt::Result {
    let section = &report.gpu_metrics;
    out.push_str("<h2>GPU metrics</h2>\n<div id=\"gpu-metrics\">\n");
    for sentence in &section.sentences {
        writeln!(out, "<p>{}</p>", escape(sentence))?;
    }
    if !section.rows.is_empty() {
        out.push_str("<table id=\"gpu-metrics-table\"><tr><th>Node</th><th>GPU</th><th>Model</th><th>Pod</th><th>Samples</th><th>Avg util %</th><th>Max util %</th><th>Max FB used MiB</th><th>Max FB free MiB</th></tr>\n");
        for row in &section.rows {
            let cells = [
                row.node.clone().unwrap_or_else(|| "-".into()),
                row.gpu.clone().or_else(|| row.uuid.clone()).unwrap_or_else(|| "-".into()),
                row.model.clone().unwrap_or_else(|| "-".into()),
                pod_of(row),
                row.samples.to_string(),
                figure(row.avg_util),
                figure(row.max_util),
                figure(row.max_fb_used_mib),
                figure(row.max_fb_free_mib),
            ];
            let cells: Vec<String> = cells.iter().map(|cell| format!("<td>{}</td>", escape(cell))).collect();
            writeln!(out, "<tr>{}</tr>", cells.concat())?;
        }
        out.push_str("</table>\n");
    }
    if !section.utilisation.lines.is_empty() {
        let title = "GPU utilisation per node over time (average of the node's GPUs, %)";
        let svg = plot::step_chart(METRICS_PLOT_ID, title, "GPU util %", &section.utilisation);
        figure_of(out, METRICS_PLOT_ID, title, &svg)?;
    }
    out.push_str("</div>\n");
    Ok(())
}

/// `What this run proves`, `… does NOT prove` and `Notes / surprises`, each when it has items.
fn bullet_sections(report: &Report, out: &mut String) -> fmt::Result {
    for (title, items) in report.bullet_sections() {
        bullets(out, title, items)?;
    }
    Ok(())
}

/// The end of the document.
fn closing(_report: &Report, out: &mut String) -> fmt::Result {
    out.push_str("</body>\n</html>\n");
    Ok(())
}

/// A plot with its caption, `<id>-figure`.
fn figure_of(out: &mut String, id: &str, caption: &str, svg: &str) -> fmt::Result {
    writeln!(out, "<figure id=\"{id}-figure\"><figcaption>{}</figcaption>\n{svg}\n</figure>", escape(caption))
}

/// An `h2` heading and a list; nothing for no items.
fn bullets(out: &mut String, title: &str, items: &[String]) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(out, "<h2>{}</h2>\n<ul>", escape(title))?;
    for item in items {
        writeln!(out, "<li>{}</li>", escape(item))?;
    }
    out.push_str("</ul>\n");
    Ok(())
}
