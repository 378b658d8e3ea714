//! The report model: every sentence and table of the lab report, computed once from a
//! scenario and the observations of a run, then rendered as Markdown, HTML and JUnit.

use std::collections::BTreeMap;

use evident_core::time::format_ns;

use crate::evaluate::{Outcome, evaluate};
use crate::gpu_metrics::{self, GpuMetricsSection};
use crate::observation::{NamespaceTotal, PendingReason, RunObservations};
use crate::scenario::{Expectation, Scenario};
use crate::timeline::{self, StampSpan, StepSeries};

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub description: String,
    pub scenario_name: String,
    pub run_id: String,
    /// When the recording ended, RFC 3339 (the "at" of every evidence file).
    pub recorded_until: String,
    pub environment: Vec<(String, String)>,
    pub fleet: Fleet,
    pub rows: Vec<ResultRow>,
    pub namespace_totals: Vec<String>,
    pub pending_causes: Vec<PendingCause>,
    /// Sentence about the distinct Pending causes, if there are any.
    pub causes_sentence: Option<String>,
    pub proves: Vec<String>,
    pub does_not_prove: Vec<String>,
    pub notes: Vec<String>,
    /// One line per gap or recovery recorded in run.json.
    pub gaps: Vec<String>,
    pub pods_by_phase: StepSeries,
    pub gpu_allocation: StepSeries,
    pub stamping: Vec<StampSpan>,
    /// GPU metrics scraped while recording, or how to record them.
    pub gpu_metrics: GpuMetricsSection,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Nodes advertising GPUs: (name, pool, GPUs).
    pub gpu_nodes: Vec<(String, String, i64)>,
    pub total_gpus: i64,
    pub gpu_less: Vec<String>,
    /// Which layer advertised the GPUs, from the recording.
    pub advertised_by: String,
}

/// One row of the results table.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub number: u32,
    pub name: String,
    pub title: String,
    pub expected: String,
    pub observed: String,
    pub evidence: Vec<String>,
    pub checks: Vec<Check>,
}

impl ResultRow {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.outcome.passed)
    }
}

/// One expectation and its verdict.
#[derive(Debug, Clone)]
pub struct Check {
    pub expectation: Expectation,
    pub outcome: Outcome,
}

/// A distinct reason for which pods stayed Pending, with the pods it holds back.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCause {
    pub reason: String,
    /// (pod, workload) pairs.
    pub pods: Vec<(String, String)>,
}

/// Passed and failed expectation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

impl Summary {
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

impl Report {
    /// The report's titled bullet lists, in report order, as every renderer shows them (a
    /// renderer leaves an empty list out).
    pub fn bullet_sections(&self) -> [(&'static str, &[String]); 3] {
        [
            ("What this run proves", &self.proves),
            ("What this run does NOT prove", &self.does_not_prove),
            ("Notes / surprises", &self.notes),
        ]
    }

    pub fn build(scenario: &Scenario, observations: &RunObservations) -> Report {
        let rows: Vec<ResultRow> = scenario
            .scenarios
            .iter()
            .map(|case| {
                let checks: Vec<Check> = case
                    .expectations
                    .iter()
                    .map(|expectation| Check {
                        expectation: expectation.clone(),
                        outcome: evaluate(expectation, observations),
                    })
                    .collect();
                let mut observed: Vec<&str> = Vec::new();
                for check in &checks {
                    if !observed.contains(&check.outcome.observed.as_str()) {
                        observed.push(&check.outcome.observed);
                    }
                }
                ResultRow {
                    number: case.number,
                    name: case.name.clone(),
                    title: case.title.clone(),
                    expected: case.expected.clone(),
                    observed: observed.join("; "),
                    evidence: case.evidence.clone(),
                    checks,
                }
            })
            .collect();
        let fleet = fleet(observations);
        let pending_causes = pending_causes(scenario, observations);
        Report {
            title: scenario.title.clone(),
            description: scenario.description.trim().to_string(),
            scenario_name: scenario.name.clone(),
            run_id: observations.run_id.clone(),
            recorded_until: format_ns(observations.recording_end_ns()),
            environment: environment(scenario, observations, &fleet),
            namespace_totals: namespace_totals(scenario, observations),
            causes_sentence: causes_sentence(&pending_causes),
            pending_causes,
            proves: scenario.proves.clone(),
            does_not_prove: scenario.does_not_prove.clone(),
            notes: notes(scenario, observations),
            gaps: gaps(observations),
            pods_by_phase: timeline::pods_by_phase(observations),
            gpu_allocation: timeline::gpu_allocation_by_pool(observations),
            stamping: timeline::version_stamping(observations),
            gpu_metrics: gpu_metrics::build(observations),
            fleet,
            rows,
        }
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for check in self.rows.iter().flat_map(|row| &row.checks) {
            if check.outcome.passed {
                summary.passed += 1;
            } else {
                summary.failed += 1;
            }
        }
        summary
    }

    /// The evidence directory as the notebook names it.
    pub fn evidence_dir(&self) -> String {
        format!("evidence/{}/", self.run_id)
    }
}

fn environment(scenario: &Scenario, observations: &RunObservations, fleet: &Fleet) -> Vec<(String, String)> {
    let manifest = &observations.manifest;
    let or_unknown = |text: &str| if text.is_empty() { "not recorded".to_string() } else { text.to_string() };
    let date = match manifest.started_date() {
        Some(date) => date.to_string(),
        None => format_ns(observations.started_ns).chars().take(10).collect(),
    };
    let kwok = if manifest.cluster.kwok_version.is_empty() {
        observations
            .nodes
            .iter()
            .filter_map(|node| node.kubelet_version.as_deref())
            .find(|version| version.starts_with("kwok-"))
            .unwrap_or("not detected")
            .to_string()
    } else {
        manifest.cluster.kwok_version.clone()
    };
    let host = if manifest.cluster.platform.is_empty() {
        "not recorded".to_string()
    } else {
        format!("{} (API server platform)", manifest.cluster.platform)
    };
    let gpu_layer = match scenario.gpu_layer.trim() {
        "" => fleet.advertised_by.clone(),
        text => format!("{text} — recording: {}", fleet.advertised_by),
    };
    vec![
        ("Date".into(), date),
        ("Host OS".into(), host),
        ("Kubernetes version".into(), or_unknown(&manifest.cluster.server_version)),
        ("KWOK release".into(), kwok),
        ("GPU layer".into(), gpu_layer),
        (
            "Recording".into(),
            format!("run {}, recorded by {}", observations.run_id, or_unknown(&manifest.tool_version)),
        ),
        ("Evidence directory".into(), format!("evidence/{}/", observations.run_id)),
    ]
}

fn fleet(observations: &RunObservations) -> Fleet {
    let mut gpu_nodes = Vec::new();
    let mut gpu_less = Vec::new();
    for row in &observations.fleet {
        if row.gpus > 0 {
            gpu_nodes.push((row.node.clone(), row.pool.clone().unwrap_or_else(|| "-".into()), row.gpus));
        } else {
            gpu_less.push(row.node.clone());
        }
    }
    let total_gpus = gpu_nodes.iter().map(|(_, _, gpus)| gpus).sum();
    // A device plugin or operator patches GPUs into a node after it registers; nodes created
    // with GPUs in their status got them from their manifest.
    let gpu_stamps: Vec<_> = observations
        .node_stamps
        .iter()
        .filter(|stamp| gpu_nodes.iter().any(|(name, _, _)| *name == stamp.name))
        .collect();
    let observed_creation: Vec<_> = gpu_stamps.iter().filter(|stamp| stamp.first_op != "SYNC").collect();
    let advertised_by = if gpu_nodes.is_empty() {
        "no node advertises nvidia.com/gpu".to_string()
    } else if observed_creation.is_empty() {
        format!(
            "nvidia.com/gpu already advertised on {} node(s) when the recording started (source not observed)",
            gpu_nodes.len()
        )
    } else {
        let late = observed_creation.iter().filter(|stamp| stamp.gpu_seen_ns != Some(stamp.first_seen_ns)).count();
        if late == 0 {
            format!(
                "nvidia.com/gpu present on {} node(s) from their creation: advertised by the node manifests, not a device plugin or operator",
                observed_creation.len()
            )
        } else {
            format!(
                "nvidia.com/gpu added to {late} of {} node(s) after creation: advertised by a device plugin or operator",
                observed_creation.len()
            )
        }
    };
    Fleet { gpu_nodes, total_gpus, gpu_less, advertised_by }
}

fn namespace_totals(scenario: &Scenario, observations: &RunObservations) -> Vec<String> {
    scenario
        .namespaces()
        .iter()
        .map(|namespace| {
            let pods: Vec<_> = observations.pods.iter().filter(|pod| &pod.namespace == namespace).collect();
            let totals = observations.namespace_totals.iter().find(|totals| &totals.namespace == namespace);
            let count = |pick: fn(&NamespaceTotal) -> i64| totals.map(pick).unwrap_or(0);
            let (running, pending) = (count(|t| t.running), count(|t| t.pending));
            let others: Vec<String> = [("Succeeded", count(|t| t.succeeded)), ("Failed", count(|t| t.failed))]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(phase, n)| format!("{n} {phase}"))
                .collect();
            let pending_pods: Vec<(String, String)> = pods
                .iter()
                .filter(|pod| pod.phase.as_deref() == Some("Pending"))
                .map(|pod| (pod.name.clone(), pod.workload.clone().unwrap_or_else(|| pod.name.clone())))
                .collect();
            let mut sentence = format!("Namespace totals: {running} Running, {pending} Pending");
            for other in &others {
                sentence.push_str(&format!(", {other}"));
            }
            sentence.push_str(&format!(" in {namespace}"));
            if !pending_pods.is_empty() {
                sentence.push_str(&format!(" ({})", group_by_workload(&pending_pods)));
            }
            sentence.push('.');
            let fleet: i64 = observations.nodes.iter().filter_map(|node| node.gpu_allocatable).sum();
            let allocated: i64 = observations
                .pods
                .iter()
                .filter(|pod| pod.node_name.is_some() && matches!(pod.phase.as_deref(), Some("Running" | "Pending")))
                .filter_map(|pod| pod.gpu_request)
                .sum();
            if pending > 0 && fleet > 0 && allocated >= fleet {
                sentence.push_str(&format!(
                    " All {fleet} GPUs of the fleet are allocated: GPUs are the binding constraint."
                ));
            }
            sentence
        })
        .collect()
}

/// Pending pods of the scenario's namespaces grouped by the reason that rejected most nodes
/// (rows of the `pending_causes` named query), largest group first.
fn pending_causes(scenario: &Scenario, observations: &RunObservations) -> Vec<PendingCause> {
    let namespaces = scenario.namespaces();
    let mut dominant: BTreeMap<(&str, &str), &PendingReason> = BTreeMap::new();
    for row in observations.pending_reasons.iter().filter(|row| namespaces.contains(&row.namespace)) {
        let key = (row.namespace.as_str(), row.pod.as_str());
        match dominant.get(&key) {
            Some(best) if best.nodes >= row.nodes => {}
            _ => {
                dominant.insert(key, row);
            }
        }
    }
    let mut causes: Vec<PendingCause> = Vec::new();
    for ((namespace, pod), row) in dominant {
        let reason = row.reason.strip_prefix("node(s) ").unwrap_or(&row.reason).to_string();
        let workload =
            observations.pod(namespace, pod).and_then(|pod| pod.workload.clone()).unwrap_or_else(|| pod.to_string());
        match causes.iter_mut().find(|cause| cause.reason == reason) {
            Some(cause) => cause.pods.push((pod.to_string(), workload)),
            None => causes.push(PendingCause { reason, pods: vec![(pod.to_string(), workload)] }),
        }
    }
    causes.sort_by(|a, b| b.pods.len().cmp(&a.pods.len()).then(a.reason.cmp(&b.reason)));
    causes
}

fn causes_sentence(causes: &[PendingCause]) -> Option<String> {
    let describe = |cause: &PendingCause| format!("{} ({})", cause.reason, group_by_workload(&cause.pods));
    match causes {
        [] => None,
        [one] => Some(format!("Every Pending pod has the same root cause, read from its Events: {}.", describe(one))),
        many => Some(format!(
            "The {} Pending root causes are distinct and diagnosable from Events alone: {}.",
            number_word(many.len()),
            many.iter().map(describe).collect::<Vec<_>>().join(" vs ")
        )),
    }
}

/// `9 queue-pressure + cuda-train-16gpu`: pods counted per workload, largest group first.
fn group_by_workload(pods: &[(String, String)]) -> String {
    let mut by_workload: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, workload) in pods {
        *by_workload.entry(workload).or_default() += 1;
    }
    let mut groups: Vec<(&str, usize)> = by_workload.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    groups
        .iter()
        .map(|(workload, n)| if *n == 1 { workload.to_string() } else { format!("{n} {workload}") })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn number_word(n: usize) -> String {
    match n {
        2 => "two".into(),
        3 => "three".into(),
        4 => "four".into(),
        _ => n.to_string(),
    }
}

fn notes(scenario: &Scenario, observations: &RunObservations) -> Vec<String> {
    let mut notes = Vec::new();
    // Stamping is only measured on KWOK nodes the recording saw being created: a node found
    // by the first list (SYNC) may have been stamped long before.
    let created = |node: &str| {
        observations
            .node_stamps
            .iter()
            .any(|stamp| stamp.name == node && stamp.kwok_managed && stamp.first_op != "SYNC")
    };
    let kwok_nodes = observations.node_stamps.iter().filter(|stamp| stamp.kwok_managed).count();
    let measured: Vec<_> = observations.stamping.iter().filter(|row| created(&row.node)).collect();
    let stamped: Vec<_> = measured.iter().filter(|row| row.stamped_ns.is_some()).collect();
    if !stamped.is_empty() {
        let version = stamped.iter().find_map(|row| row.version.clone()).unwrap_or_default();
        let blank = measured.iter().filter(|row| row.stamped_ns != Some(row.appeared_ns)).count();
        let slowest = stamped.iter().filter_map(|row| row.appear_to_stamp_ms).fold(0.0, f64::max);
        let spread = stamped.iter().find_map(|row| row.spread_ms).unwrap_or(0.0);
        notes.push(format!(
            "kubeletVersion ({version}) was stamped node by node: {blank} of {} KWOK nodes were first seen without it; \
             the stamps arrived over {spread:.0} ms (first to last), at most {slowest:.0} ms after a node appeared \
             (node_version_stamping). The KWOK controller stamps asynchronously; this does not affect scheduling.",
            measured.len(),
        ));
        let never = measured.len() - stamped.len();
        if never > 0 {
            notes.push(format!("{never} KWOK node(s) never got a kubeletVersion during the recording."));
        }
    } else if kwok_nodes > 0 {
        notes.push(
            "Every KWOK node existed before the recording started, so kubeletVersion stamping was not observed."
                .to_string(),
        );
    }
    for (_, expectation) in scenario.expectations() {
        let Expectation::PodRunningInPool { namespace, pod, pool } = expectation else { continue };
        let Some(node) = observations
            .pod(namespace, pod)
            .filter(|p| p.phase.as_deref() == Some("Running"))
            .and_then(|p| p.node_name.as_deref())
        else {
            continue;
        };
        let equivalent: Vec<&str> =
            observations.nodes.iter().filter(|n| n.pool.as_deref() == Some(pool)).map(|n| n.name.as_str()).collect();
        if equivalent.len() > 1 {
            notes.push(format!(
                "{pod} landed on {node} (any of the {} {pool} nodes, {}, was valid; placement is up to the scheduler's scoring).",
                equivalent.len(),
                equivalent.join(", ")
            ));
        }
    }
    notes
}

fn gaps(observations: &RunObservations) -> Vec<String> {
    let mut lines: Vec<String> = observations
        .manifest
        .gaps
        .iter()
        .map(|gap| {
            format!(
                "{} watch relisted (epoch {}) between {} and {}: {}; {} object(s) vanished in the gap",
                gap.kind,
                gap.epoch,
                if gap.from.is_empty() { "the start" } else { &gap.from },
                gap.to,
                gap.reason,
                gap.tombstones
            )
        })
        .collect();
    for recovery in &observations.manifest.recoveries {
        if recovery.records_dropped > 0 {
            lines.push(format!(
                "recovery at {} dropped {} damaged write-ahead log record(s): {}",
                recovery.at, recovery.records_dropped, recovery.detail
            ));
        }
    }
    lines
}
