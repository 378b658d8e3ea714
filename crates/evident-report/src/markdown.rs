//! `report.md`: the lab report in the notebook's shape (Environment, Simulated fleet,
//! Scenario results, namespace totals, Pending root causes, what the run proves and does
//! not prove, Notes / surprises), with a PASS/FAIL column the notebook did not have.

use crate::model::Report;

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    line(&format!("# {}", report.title));
    line("");
    if !report.description.is_empty() {
        line(&report.description);
        line("");
    }
    line(&format!(
        "Derived by `evident report` from recording `{}` (scenario `{}`), state at {}.",
        report.run_id, report.scenario_name, report.recorded_until
    ));
    line("");
    if !report.gaps.is_empty() {
        line(
            "> **Warning: the recording has gaps.** Changes during these intervals were not observed; counts and timings across them may be incomplete:",
        );
        for gap in &report.gaps {
            line(&format!("> - {gap}"));
        }
        line("");
    }
    let summary = report.summary();
    line(&format!(
        "**Result: {}** — {} of {} expectations passed.",
        if summary.all_passed() { "PASS" } else { "FAIL" },
        summary.passed,
        summary.passed + summary.failed
    ));
    line("");

    line("## Environment");
    line("");
    line("| Item | Value |");
    line("|---|---|");
    for (item, value) in &report.environment {
        line(&format!("| {} | {} |", cell(item), cell(value)));
    }
    line("");

    let fleet = &report.fleet;
    line("## Simulated fleet");
    line("");
    line(&format!(
        "{} GPU node(s), {} GPUs advertised, confirmed in gpu-allocatable.txt:",
        fleet.gpu_nodes.len(),
        fleet.total_gpus
    ));
    line("");
    line("| Node | Pool | GPUs |");
    line("|---|---|---|");
    for (node, pool, gpus) in &fleet.gpu_nodes {
        line(&format!("| {} | {} | {gpus} |", cell(node), cell(pool)));
    }
    line("");
    let mut total = format!("Total: {} GPUs.", fleet.total_gpus);
    if !fleet.gpu_less.is_empty() {
        total.push_str(&format!(
            " The {} other node(s) ({}) advertise no GPUs.",
            number(fleet.gpu_less.len()),
            fleet.gpu_less.join(", ")
        ));
    }
    line(&total);
    line("");

    line("## Scenario results");
    line("");
    line("| # | Scenario | Expected | Observed | Evidence file | Result |");
    line("|---|---|---|---|---|---|");
    for row in &report.rows {
        line(&format!(
            "| {} | {} | {} | {} | {} | {} |",
            row.number,
            cell(&row.title),
            cell(&row.expected),
            cell(&row.observed),
            cell(&row.evidence.join(", ")),
            if row.passed() { "PASS" } else { "FAIL" }
        ));
    }
    line("");
    for totals in &report.namespace_totals {
        line(totals);
        line("");
    }
    if let Some(causes) = &report.causes_sentence {
        line(causes);
        line("");
    }

    gpu_metrics(report, &mut line);

    if !report.proves.is_empty() {
        line("## What this run proves");
        line("");
        for item in &report.proves {
            line(&format!("- {item}"));
        }
        line("");
    }
    if !report.does_not_prove.is_empty() {
        line("## What this run does NOT prove");
        line("");
        for item in &report.does_not_prove {
            line(&format!("- {item}"));
        }
        line("");
    }
    if !report.notes.is_empty() {
        line("## Notes / surprises");
        line("");
        for note in &report.notes {
            line(&format!("- {note}"));
        }
        line("");
    }
    out
}

/// `## GPU metrics`: the sentences, then the `gpu_metrics` summary table.
fn gpu_metrics(report: &Report, line: &mut impl FnMut(&str)) {
    let section = &report.gpu_metrics;
    line("## GPU metrics");
    line("");
    for sentence in &section.sentences {
        line(sentence);
        line("");
    }
    if section.rows.is_empty() {
        return;
    }
    line("| Node | GPU | Model | Pod | Samples | Avg util % | Max util % | Max FB used MiB | Max FB free MiB |");
    line("|---|---|---|---|---|---|---|---|---|");
    for row in &section.rows {
        line(&format!(
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
        ));
    }
    line("");
}

/// `namespace/pod` the exporter attributed the GPU to, `-` when free.
pub fn pod_of(row: &crate::facts::GpuMetricRow) -> String {
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
