//! `report.md`: the lab report in the notebook's shape (Environment, Simulated fleet,
//! Scenario results, namespace totals, Pending root causes, what the run proves and does
//! not prove, Notes / surprises), with a PASS/FAIL column the notebook did not have.
//!
//! One function per section, run in the order of `SECTIONS`; each ends with a blank line,
//! and a list section with no items writes nothing.

use std::fmt::{self, Write as _};

use crate::model::Report;
use crate::observation::GpuMetricRow;

/// A section of the page: appends its Markdown, ending with a blank line.
type Section = fn(&Report, &mut String) -> fmt::Result;

/// The sections, in the order they appear.
const SECTIONS: [Section; 6] = [heading, environment, fleet, results, gpu_metrics, bullet_sections];

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for section in SECTIONS {
        section(report, &mut out).expect("writing to a String cannot fail");
    }
    out
}

/// The title, the description, the recording it was derived from, any gaps, the verdict.
fn heading(report: &Report, out: &mut String) -> fmt::Result {
    writeln!(out, "# {}\n", report.title)?;
    if !report.description.is_empty() {
        writeln!(out, "{}\n", report.description)?;
    }
    writeln!(
        out,
        "Derived by `evident report` from recording `{}` (scenario `{}`), state at {}.\n",
        report.run_id, report.scenario_name, report.recorded_until
    )?;
    if !report.gaps.is_empty() {
        writeln!(
            out,
            "> **Warning: the recording has gaps.** Changes during these intervals were not observed; counts and timings across them may be incomplete:"
        )?;
        for gap in &report.gaps {
            writeln!(out, "> - {gap}")?;
        }
        writeln!(out)?;
    }
    let summary = report.summary();
    writeln!(
        out,
        "**Result: {}** — {} of {} expectations passed.\n",
        if summary.all_passed() { "PASS" } else { "FAIL" },
        summary.passed,
        summary.passed + summary.failed
    )
}

/// `## Environment`: the item/value table.
fn environment(report: &Report, out: &mut String) -> fmt::Result {
    writeln!(out, "## Environment\n")?;
    writeln!(out, "| Item | Value |")?;
    writeln!(out, "|---|---|")?;
    for (item, value) in &report.environment {
        writeln!(out, "| {} | {} |", cell(item), cell(value))?;
    }
    writeln!(out)
}

/// `## Simulated fleet`: the scenario's GPU nodes (with a Taints column when one is tainted),
/// the total, the GPU-less nodes, then what else the cluster held.
fn fleet(report: &Report, out: &mut String) -> fmt::Result {
    let fleet = &report.fleet;
    writeln!(out, "## Simulated fleet\n")?;
    writeln!(
        out,
        "{} GPU node(s), {} GPUs advertised, confirmed in gpu-allocatable.txt:\n",
        fleet.gpu_nodes.len(),
        fleet.total_gpus
    )?;
    let tainted = fleet.gpu_nodes.iter().any(|node| !node.taints.is_empty());
    if tainted {
        writeln!(out, "| Node | Pool | GPUs | Taints |")?;
        writeln!(out, "|---|---|---|---|")?;
    } else {
        writeln!(out, "| Node | Pool | GPUs |")?;
        writeln!(out, "|---|---|---|")?;
    }
    for node in &fleet.gpu_nodes {
        write!(out, "| {} | {} | {} |", cell(&node.name), cell(&node.pool), node.gpus)?;
        if tainted {
            write!(out, " {} |", cell(if node.taints.is_empty() { "-" } else { &node.taints }))?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    writeln!(out, "{}\n", fleet_sentences(report))
}

/// The sentences under the fleet table, shared with the HTML page: the total, the GPU-less
/// nodes (with their taints), the nodes outside the scenario's fleet, fleet nodes not recorded.
pub fn fleet_sentences(report: &Report) -> String {
    let fleet = &report.fleet;
    let mut text = format!("Total: {} GPUs.", fleet.total_gpus);
    if !fleet.gpu_less.is_empty() {
        let names: Vec<&str> = fleet.gpu_less.iter().map(|node| node.name.as_str()).collect();
        let tainted: Vec<String> = fleet
            .gpu_less
            .iter()
            .filter(|node| !node.taints.is_empty())
            .map(|node| format!("{} is tainted {}", node.name, node.taints))
            .collect();
        text.push_str(&format!(
            " The {} other node(s) ({}) advertise no GPUs",
            number(fleet.gpu_less.len()),
            names.join(", ")
        ));
        if !tainted.is_empty() {
            text.push_str(&format!("; {}", tainted.join("; ")));
        }
        text.push('.');
    }
    if !fleet.outside.is_empty() {
        text.push_str(&format!(
            " The cluster also held {} node(s) outside this scenario's fleet ({}; {} GPUs), which the scheduler counts too: \
             its messages say 0/{} nodes.",
            fleet.outside.len(),
            fleet.outside.join(", "),
            fleet.outside_gpus,
            fleet.cluster_nodes
        ));
    }
    if !fleet.missing.is_empty() {
        text.push_str(&format!(" Fleet node(s) not in the recording at its end: {}.", fleet.missing.join(", ")));
    }
    text
}

/// `## Scenario results`: one row per scenario, then the namespace totals and the Pending
/// causes.
fn results(report: &Report, out: &mut String) -> fmt::Result {
    writeln!(out, "## Scenario results\n")?;
    writeln!(out, "| # | Scenario | Expected | Observed | Evidence file | Result |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for row in &report.rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.number,
            cell(&row.title),
            cell(&row.expected),
            cell(&row.observed),
            cell(&row.evidence.join(", ")),
            row.verdict()
        )?;
    }
    writeln!(out)?;
    for totals in &report.namespace_totals {
        writeln!(out, "{totals}\n")?;
    }
    if let Some(causes) = &report.causes_sentence {
        writeln!(out, "{causes}\n")?;
    }
    Ok(())
}

/// `## GPU metrics`: the sentences, then the `gpu_metrics` summary table.
fn gpu_metrics(report: &Report, out: &mut String) -> fmt::Result {
    let section = &report.gpu_metrics;
    writeln!(out, "## GPU metrics\n")?;
    for sentence in &section.sentences {
        writeln!(out, "{sentence}\n")?;
    }
    if section.rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "| Node | GPU | Model | Pod | Samples | Avg util % | Max util % | Max FB used MiB | Max FB free MiB |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for row in &section.rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(row.node.as_deref().unwrap_or("-")),
            cell(row.gpu.as_deref().or(row.uuid.as_deref()).unwrap_or("-")),
            cell(row.model.as_deref().unwrap_or("-")),
            cell(&pod_of(row)),
            row.samples,
            figure(row.avg_util),
            figure(row.max_util),
            figure(row.max_fb_used_mib),
            figure(row.max_fb_free_mib)
        )?;
    }
    writeln!(out)
}

/// `## What this run proves`, `… does NOT prove` and `Notes / surprises`, each when it has items.
fn bullet_sections(report: &Report, out: &mut String) -> fmt::Result {
    for (title, items) in report.bullet_sections() {
        bullets(out, title, items)?;
    }
    Ok(())
}

/// A `##` heading and a bullet list; nothing for no items.
fn bullets(out: &mut String, title: &str, items: &[String]) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(out, "## {title}\n")?;
    for item in items {
        writeln!(out, "- {item}")?;
    }
    writeln!(out)
}

/// `namespace/pod` the exporter attributed the GPU to, `-` when free.
pub fn pod_of(row: &GpuMetricRow) -> String {
    match (&row.namespace, &row.pod) {
        (Some(namespace), Some(pod)) => format!("{namespace}/{pod}"),
        (None, Some(pod)) => pod.clone(),
        _ => "-".to_string(),
    }
}

/// A metric value with at most one decimal, `-` when absent.
pub fn figure(value: Option<f64>) -> String {
    match value {
        Some(value) if value.fract() == 0.0 => format!("{value:.0}"),
        Some(value) => format!("{value:.1}"),
        None => "-".to_string(),
    }
}

/// A table cell: pipes escaped, newlines folded.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn number(n: usize) -> String {
    match n {
        1 => "one".into(),
        2 => "two".into(),
        3 => "three".into(),
        _ => n.to_string(),
    }
}
