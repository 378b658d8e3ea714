//! `report.md`: the lab report in the notebook's shape (Environment, Simulated fleet,
//! Scenario results, namespace totals, Pending root causes, what the run proves and does
//! not prove, Notes / surprises), with a PASS/FAIL column the notebook did not have.
//!
//! One function per section, run in the order of `SECTIONS`; each ends with a blank line,
//! and a list section with no items writes nothing.
//!
//! Every text of the model (observed values, and the scenario's own words) is written through
//! [`text`] (or [`code`] inside a code span), so what a cluster recorded cannot add a line,
//! a table cell, markup or HTML to the page: only the renderer writes Markdown.

use std::fmt::{self, Write as _};

use crate::model::Report;
use crate::observation::GpuMetricRow;

/// A section of the page: appends its Markdown, ending with a blank line.
type Section = fn(&Report, &mut String) -> fmt::Result;

/// The sections, in the order they appear.
const SECTIONS: [Section; 7] = [heading, environment, fleet, results, pending_gpu, gpu_metrics, bullet_sections];

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
    writeln!(out, "# {}\n", text(&report.title))?;
    if !report.description.is_empty() {
        writeln!(out, "{}\n", line(&report.description))?;
    }
    writeln!(
        out,
        "Derived by `evident report` from recording {} (scenario {}), state at {}.\n",
        code(&report.run_id),
        code(&report.scenario_name),
        text(&report.recorded_until)
    )?;
    if !report.gaps.is_empty() {
        writeln!(
            out,
            "> **Warning: the recording has gaps.** Changes during these intervals were not observed; counts and timings across them may be incomplete:"
        )?;
        for gap in &report.gaps {
            writeln!(out, "> - {}", line(gap))?;
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
        writeln!(out, "| {} | {} |", text(item), text(value))?;
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
        write!(out, "| {} | {} | {} |", text(&node.name), text(&node.pool), node.gpus)?;
        if tainted {
            write!(out, " {} |", text(if node.taints.is_empty() { "-" } else { &node.taints }))?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    writeln!(out, "{}\n", text(&fleet_sentences(report)))
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
            text(&row.title),
            text(&row.expected),
            text(&row.observed),
            text(&row.evidence.join(", ")),
            row.verdict()
        )?;
    }
    writeln!(out)?;
    for totals in &report.namespace_totals {
        writeln!(out, "{}\n", line(totals))?;
    }
    if let Some(causes) = &report.causes_sentence {
        writeln!(out, "{}\n", line(causes))?;
    }
    Ok(())
}

/// `## Why pods were Pending`: one sentence per class of the GPU pods held back at the end,
/// then the figures of each pod beside the scheduler's words (`pending_classification`).
fn pending_gpu(report: &Report, out: &mut String) -> fmt::Result {
    let section = &report.pending_gpu;
    writeln!(out, "## Why pods were Pending\n")?;
    for sentence in &section.sentences {
        writeln!(out, "{}\n", line(sentence))?;
    }
    if section.rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "| Pod | Class | GPUs asked | Largest node it may use | Free in fleet | Free where it may go | Largest free block there | Scheduler's reasons |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for row in &section.rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            text(&format!("{}/{}", row.namespace, row.pod)),
            text(row.class.as_deref().unwrap_or("-")),
            row.gpus_requested,
            row.largest_eligible_allocatable.map_or("-".to_string(), |n| n.to_string()),
            row.fleet_free,
            row.eligible_free,
            row.largest_eligible_free_block,
            text(&crate::pending::scheduler_reasons(row))
        )?;
    }
    writeln!(out)
}

/// `## GPU metrics`: the sentences, then the `gpu_metrics` summary table.
fn gpu_metrics(report: &Report, out: &mut String) -> fmt::Result {
    let section = &report.gpu_metrics;
    writeln!(out, "## GPU metrics\n")?;
    for sentence in &section.sentences {
        // evident's own hint is Markdown as written (its code spans); observed text is escaped.
        let sentence = if sentence == crate::gpu_metrics::HOW_TO_RECORD { sentence.clone() } else { line(sentence) };
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
            text(row.node.as_deref().unwrap_or("-")),
            text(row.gpu.as_deref().or(row.uuid.as_deref()).unwrap_or("-")),
            text(row.model.as_deref().unwrap_or("-")),
            text(&pod_of(row)),
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
    writeln!(out, "## {}\n", text(title))?;
    for item in items {
        writeln!(out, "- {}", line(item))?;
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

/// Plain text as Markdown that shows exactly this text, on one line, inside a line (a table
/// cell, after other text): CommonMark's punctuation that can start markup (backslash,
/// backtick, `*`, `_`, `[`, `]`, `|`, `~`, `#`, `!`) is backslash-escaped, `<`, `>` and `&`
/// become entities (no raw HTML reaches the page), line breaks (CR, LF, tab, U+2028/9) become
/// spaces, and any other control character and the noncharacters U+FFFE/U+FFFF become
/// U+FFFD, so a terminal showing the file is not driven by it either.
pub fn text(plain: &str) -> String {
    escape(plain, None)
}

/// [`text`] at the start of a line or list item, where a leading `-`, `+` or `1.` would
/// start a (nested) list: it is escaped too.
pub fn line(plain: &str) -> String {
    escape(plain, leading_list_marker(plain))
}

fn escape(plain: &str, list_marker: Option<usize>) -> String {
    let mut out = String::with_capacity(plain.len() + 8);
    for (index, c) in plain.char_indices() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push(char::REPLACEMENT_CHARACTER),
            c => {
                if Some(index) == list_marker {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

/// Where a list marker at the start of `plain` is (`-`, `+`, or the `.`/`)` after digits):
/// written after `- ` or at the start of a line it would open a nested list.
fn leading_list_marker(plain: &str) -> Option<usize> {
    let digits = plain.len() - plain.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match plain.as_bytes().get(digits) {
        Some(b'-' | b'+') if digits == 0 => Some(0),
        Some(b'.' | b')') if digits > 0 => Some(digits),
        _ => None,
    }
}

/// Text as a code span: fenced by one backtick more than its longest run of backticks (the
/// only way to put a backtick in a code span), on one line, controls replaced as in [`text`].
pub fn code(plain: &str) -> String {
    let content: String = plain
        .chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' | '\u{2028}' | '\u{2029}' => ' ',
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect();
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if content.starts_with('`') || content.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{content}{pad}{fence}")
}

fn number(n: usize) -> String {
    match n {
        1 => "one".into(),
        2 => "two".into(),
        3 => "three".into(),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_html_and_line_breaks() {
        assert_eq!(text("cuda-batch-small (1 GPU, a100 pool)"), "cuda-batch-small (1 GPU, a100 pool)");
        assert_eq!(text("a|b\\|c"), "a\\|b\\\\\\|c");
        assert_eq!(text("x\r\n**Result: PASS**"), "x  \\*\\*Result: PASS\\*\\*");
        assert_eq!(text("<img src=x onerror=alert(1)>&"), "&lt;img src=x onerror=alert(1)&gt;&amp;");
        assert_eq!(text("`t` _u_ [l](j) ~s~ #h!"), "\\`t\\` \\_u\\_ \\[l\\](j) \\~s\\~ \\#h\\!");
        assert_eq!(text("\u{1b}[2J\u{fffe}"), "\u{fffd}\\[2J\u{fffd}");
        assert_eq!(text("-"), "-", "inside a line a dash is text");
        assert_eq!(line("- item"), "\\- item");
        assert_eq!(line("+1"), "\\+1");
        assert_eq!(line("12. twelve"), "12\\. twelve");
        assert_eq!(line("12 pods"), "12 pods");
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("k8s-20260614"), "`k8s-20260614`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a\nb"), "`a b`");
    }
}
