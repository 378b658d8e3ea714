//! The report model: every sentence and table of the lab report, computed once from a
//! scenario and the observations of a run, then rendered as Markdown, HTML and JUnit.

use std::collections::BTreeMap;
use std::path::Path;

use evident_core::time::format_ns;

use crate::cause::Attribution;
use crate::evaluate::{Outcome, evaluate, saturating_sum, scheduling_message};
use crate::evidence;
use crate::gpu_metrics::{self, GpuMetricsSection};
use crate::observation::{NamespaceTotal, ObservedNode, RunObservations};
use crate::pending::{self, PendingSection};
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
    /// Why GPU pods were Pending at the end: shape, constraint, capacity or fragmentation.
    pub pending_gpu: PendingSection,
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

/// The scenario's fleet as recorded: the nodes its fleet manifests create
/// ([`Scenario::fleet_nodes`]), or every recorded node when the scenario names none.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Fleet nodes advertising GPUs.
    pub gpu_nodes: Vec<FleetNode>,
    pub total_gpus: i64,
    /// Fleet nodes without GPUs.
    pub gpu_less: Vec<FleetNode>,
    /// Which layer advertised the GPUs, from the recording.
    pub advertised_by: String,
    /// Recorded nodes outside the scenario's fleet (the scheduler counts them too).
    pub outside: Vec<String>,
    /// GPUs those nodes advertise.
    pub outside_gpus: i64,
    /// Fleet nodes the recording does not hold at its end.
    pub missing: Vec<String>,
    /// Nodes in the recording at its end: the `N` of the scheduler's `0/N nodes`.
    pub cluster_nodes: usize,
}

/// One node of the fleet table.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetNode {
    pub name: String,
    /// The pool label, `-` without one.
    pub pool: String,
    pub gpus: i64,
    /// `key=value:Effect` joined by `, `; empty when untainted.
    pub taints: String,
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

/// Appended to an evidence file the scenario names but the report did not write.
pub const NOT_WRITTEN: &str = " (not written)";

impl ResultRow {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.outcome.passed)
    }

    /// The Result column: `PASS`, `FAIL`, or `FAIL (undecidable)` when a failing check could
    /// not be decided from the recording.
    pub fn verdict(&self) -> &'static str {
        if self.passed() {
            "PASS"
        } else if self.checks.iter().any(|check| !check.outcome.passed && !check.outcome.decided) {
            "FAIL (undecidable)"
        } else {
            "FAIL"
        }
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
        let namespaces: Vec<String> = scenario.namespaces().into_iter().collect();
        let written = evidence::file_names(observations, &namespaces);
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
                    evidence: case.evidence.iter().map(|file| resolve_evidence(file, &checks, &written)).collect(),
                    checks,
                }
            })
            .collect();
        let fleet = fleet(scenario, observations);
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
            pending_gpu: pending::build(observations),
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
        (EVIDENCE_DIRECTORY.into(), evidence_directory(&observations.run_dir, &observations.run_id)),
    ]
}

/// The Environment row naming the folder the evidence files are in.
const EVIDENCE_DIRECTORY: &str = "Evidence directory";

impl Report {
    /// Names `dir` as the Evidence directory: the report and its evidence files are written
    /// there instead of into the run directory (`evident report <run> --out <dir>`).
    pub fn set_evidence_directory(&mut self, dir: &Path) {
        let shown = evidence_directory(dir, "");
        for (name, value) in &mut self.environment {
            if name == EVIDENCE_DIRECTORY {
                value.clone_from(&shown);
            }
        }
    }
}

/// The directory as given, ending in `/` (`evidence/<run-id>/` for `evident run`'s default
/// `--out`).
fn evidence_directory(dir: &Path, run_id: &str) -> String {
    let dir = dir.display().to_string();
    if dir.is_empty() {
        format!("evidence/{run_id}/")
    } else if dir.ends_with('/') {
        dir
    } else {
        format!("{dir}/")
    }
}

/// An evidence file of a row as the Evidence column shows it: the file written, or the name
/// with [`NOT_WRITTEN`]. A `describe-pod-<pod>.txt` without namespace (specs older than the
/// namespaced names) stands for the describe file of that pod in the namespace the row's
/// expectations give it.
fn resolve_evidence(file: &str, checks: &[Check], written: &[String]) -> String {
    if written.iter().any(|name| name == file) {
        return file.to_string();
    }
    let named_pod = file.strip_prefix("describe-pod-").and_then(|rest| rest.strip_suffix(".txt"));
    let resolved = checks.iter().find_map(|check| {
        let pod = check.expectation.pod()?;
        let name = evidence::describe_file_name(check.expectation.namespace(), pod);
        (named_pod == Some(pod) && written.contains(&name)).then_some(name)
    });
    resolved.unwrap_or_else(|| format!("{file}{NOT_WRITTEN}"))
}

fn fleet(scenario: &Scenario, observations: &RunObservations) -> Fleet {
    let in_fleet = |node: &ObservedNode| scenario.fleet_nodes.is_empty() || scenario.fleet_nodes.contains(&node.name);
    let mut gpu_nodes = Vec::new();
    let mut gpu_less = Vec::new();
    let mut outside = Vec::new();
    let mut outside_gpus: i64 = 0;
    for node in &observations.nodes {
        let gpus = observations.fleet.iter().find(|row| row.node == node.name).map_or(0, |row| row.gpus);
        if !in_fleet(node) {
            outside.push(node.name.clone());
            outside_gpus = outside_gpus.saturating_add(gpus.max(0));
            continue;
        }
        let entry = FleetNode {
            name: node.name.clone(),
            pool: node.pool.clone().unwrap_or_else(|| "-".into()),
            gpus,
            taints: node.taints.as_deref().unwrap_or("").replace(',', ", "),
        };
        if gpus > 0 { gpu_nodes.push(entry) } else { gpu_less.push(entry) }
    }
    let missing: Vec<String> =
        scenario.fleet_nodes.iter().filter(|name| observations.node(name).is_none()).cloned().collect();
    let total_gpus = gpu_nodes.iter().fold(0_i64, |sum, node| sum.saturating_add(node.gpus));
    // A device plugin or operator patches GPUs into a node after it registers; nodes created
    // with GPUs in their status got them from their manifest.
    let gpu_stamps: Vec<_> =
        observations.node_stamps.iter().filter(|stamp| gpu_nodes.iter().any(|node| node.name == stamp.name)).collect();
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
    Fleet {
        gpu_nodes,
        total_gpus,
        gpu_less,
        advertised_by,
        outside,
        outside_gpus,
        missing,
        cluster_nodes: observations.nodes.len(),
    }
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
            let fleet = saturating_sum(observations.nodes.iter().filter_map(|node| node.gpu_allocatable));
            let allocated = saturating_sum(
                observations
                    .pods
                    .iter()
                    .filter(|pod| {
                        pod.node_name.is_some() && matches!(pod.phase.as_deref(), Some("Running" | "Pending"))
                    })
                    .filter_map(|pod| pod.gpu_request),
            );
            if pending > 0 && fleet > 0 && allocated >= fleet {
                sentence.push_str(&format!(
                    " All {fleet} GPUs of the fleet are allocated: GPUs are the binding constraint."
                ));
            }
            sentence
        })
        .collect()
}

/// Pending pods of the scenario's namespaces grouped by their cause: the reason of their
/// newest scheduling message that accounts for the nodes they could use (see [`crate::cause`]),
/// not the one on most nodes, which for a pod restricted to a pool is always its own selector.
/// Largest group first.
fn pending_causes(scenario: &Scenario, observations: &RunObservations) -> Vec<PendingCause> {
    let namespaces = scenario.namespaces();
    let mut causes: Vec<PendingCause> = Vec::new();
    let pending = observations.pods.iter().filter(|pod| {
        namespaces.contains(&pod.namespace) && pod.phase.as_deref() == Some("Pending") && pod.node_name.is_none()
    });
    for pod in pending {
        let Some((message, _)) = scheduling_message(observations, pod) else { continue };
        let attribution = Attribution::new(&message, &pod.object, &observations.nodes);
        let reason = match attribution.cause() {
            Some(cause) => cause.reason.strip_prefix("node(s) ").unwrap_or(&cause.reason).to_string(),
            None => format!("not attributed ({})", attribution.explanation()),
        };
        let workload = pod.workload.clone().unwrap_or_else(|| pod.name.clone());
        match causes.iter_mut().find(|cause| cause.reason == reason) {
            Some(cause) => cause.pods.push((pod.name.clone(), workload)),
            None => causes.push(PendingCause { reason, pods: vec![(pod.name.clone(), workload)] }),
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
        let never = measured.len().saturating_sub(stamped.len());
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
