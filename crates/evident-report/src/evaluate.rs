//! Checking one expectation against the recording, and the Observed text of the notebook.
//!
//! Every verdict is taken from the state at the end of the recording ([`RunObservations`]): the
//! last recorded row of each pod and the newest FailedScheduling Event about it. When no
//! Event was recorded, the pod's own `PodScheduled` condition message (same text, written by
//! the same scheduler) stands in, and the Observed text says so.

use std::collections::BTreeMap;

use crate::cause::Attribution;
use crate::observation::{ObservedPod, RunObservations};
use crate::scenario::{Expectation, phase_rank};

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub passed: bool,
    /// Whether the recording holds enough to decide (a pod not yet scheduled nor refused is
    /// not). `evident run` waits for this when the spec asks `settle.decidable`.
    pub decided: bool,
    /// What was observed, in the notebook's words (`Running on kwok-gpu-a100-1`).
    pub observed: String,
}

pub fn evaluate(expectation: &Expectation, observations: &RunObservations) -> Outcome {
    match expectation {
        Expectation::PodRunningInPool { namespace, pod, pool } => running_in_pool(observations, namespace, pod, pool),
        Expectation::PodPendingWithCause { namespace, pod, cause } => {
            pending_with_cause(observations, namespace, pod, cause)
        }
        Expectation::PendingClass { namespace, pod, class } => pending_class(observations, namespace, pod, class),
        Expectation::PhaseCounts { namespace, workload, counts, tolerance } => {
            phase_counts(observations, namespace, workload, counts, *tolerance)
        }
    }
}

/// The pod is Pending and refused at the end, and `pending_classification` says `class` then.
fn pending_class(observations: &RunObservations, namespace: &str, name: &str, class: &str) -> Outcome {
    let Some(pod) = observations.pod(namespace, name) else { return not_recorded(namespace, name) };
    if pod.phase.as_deref() != Some("Pending") || pod.node_name.is_some() {
        let (decided, observed) = describe_not_running(observations, pod);
        return Outcome { passed: false, decided: decided || pod.node_name.is_some(), observed };
    }
    let at_end = observations
        .pending_classes
        .iter()
        .find(|row| row.namespace == namespace && row.pod == name && row.moment == crate::pending::AT_END);
    let Some(row) = at_end else {
        let observed = "Pending, not refused by the scheduler yet: no class".to_string();
        return Outcome { passed: false, decided: false, observed };
    };
    let observed = format!("Pending - {}", crate::pending::describe(row));
    Outcome { passed: row.class.as_deref() == Some(class), decided: true, observed }
}

fn not_recorded(namespace: &str, pod: &str) -> Outcome {
    Outcome { passed: false, decided: false, observed: format!("pod {namespace}/{pod} not in the recording") }
}

fn running_in_pool(observations: &RunObservations, namespace: &str, name: &str, pool: &str) -> Outcome {
    let Some(pod) = observations.pod(namespace, name) else { return not_recorded(namespace, name) };
    match (pod.phase.as_deref(), pod.node_name.as_deref()) {
        (Some("Running"), Some(node)) => {
            let node_pool = observations.node(node).and_then(|n| n.pool.as_deref());
            let passed = node_pool == Some(pool);
            let observed = if passed {
                format!("Running on {node}")
            } else {
                format!("Running on {node} (pool {})", node_pool.unwrap_or("none"))
            };
            Outcome { passed, decided: true, observed }
        }
        _ => {
            let (decided, observed) = describe_not_running(observations, pod);
            Outcome { passed: false, decided, observed }
        }
    }
}

fn pending_with_cause(observations: &RunObservations, namespace: &str, name: &str, cause: &str) -> Outcome {
    let Some(pod) = observations.pod(namespace, name) else { return not_recorded(namespace, name) };
    if pod.phase.as_deref() != Some("Pending") || pod.node_name.is_some() {
        let (decided, observed) = describe_not_running(observations, pod);
        let observed = match (pod.phase.as_deref(), pod.node_name.as_deref()) {
            (Some("Running"), Some(node)) => format!("Running on {node}"),
            _ => observed,
        };
        return Outcome { passed: false, decided: decided || pod.node_name.is_some(), observed };
    }
    let Some((message, source)) = scheduling_message(observations, pod) else {
        return Outcome { passed: false, decided: false, observed: "Pending, no FailedScheduling recorded".into() };
    };
    let attribution = Attribution::new(&message, &pod.object, &observations.nodes);
    if !attribution.attributable() {
        let observed = format!("Pending - {message}{source} (undecidable: {})", attribution.explanation());
        return Outcome { passed: false, decided: false, observed };
    }
    if let Some(reason) = attribution.cause_matching(cause) {
        return Outcome {
            passed: true,
            decided: true,
            observed: format!("Pending - {}{source}", attribution.summary(reason)),
        };
    }
    let mut observed = match attribution.cause() {
        Some(reason) => format!("Pending - {}{source}", attribution.summary(reason)),
        None => format!("Pending - {message}{source} ({})", attribution.explanation()),
    };
    if attribution.reason_containing(cause).is_some() {
        observed
            .push_str(&format!("; {cause:?} is in the message but is not the cause: {}", attribution.explanation()));
    }
    Outcome { passed: false, decided: true, observed }
}

/// The newest scheduling failure text of a pod and a note on where it came from.
pub(crate) fn scheduling_message(observations: &RunObservations, pod: &ObservedPod) -> Option<(String, &'static str)> {
    if let Some(message) = observations.failed_scheduling(pod).and_then(|event| event.message.clone()) {
        return Some((message, ""));
    }
    let conditions = pod.object.pointer("/status/conditions")?.as_array()?;
    let scheduled = conditions.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some("PodScheduled"))?;
    let message = scheduled.get("message")?.as_str().filter(|m| !m.is_empty())?;
    Some((message.to_string(), " (from the PodScheduled condition; no Event recorded)"))
}

/// Observed text for a pod that is not Running: its phase and, when refused, why.
fn describe_not_running(observations: &RunObservations, pod: &ObservedPod) -> (bool, String) {
    let phase = pod.phase.as_deref().unwrap_or("Unknown");
    if phase == "Pending"
        && pod.node_name.is_none()
        && let Some((message, source)) = scheduling_message(observations, pod)
    {
        let attribution = Attribution::new(&message, &pod.object, &observations.nodes);
        let summary = match attribution.cause() {
            Some(reason) => attribution.summary(reason),
            None => format!("{message} ({})", attribution.explanation()),
        };
        return (true, format!("Pending - {summary}{source}"));
    }
    let decided = !matches!(phase, "Pending" | "Unknown");
    match pod.node_name.as_deref() {
        Some(node) => (decided, format!("{phase} on {node}")),
        None => (decided, phase.to_string()),
    }
}

fn phase_counts(
    observations: &RunObservations,
    namespace: &str,
    workload: &str,
    expected: &BTreeMap<String, u64>,
    tolerance: u64,
) -> Outcome {
    let pods: Vec<&ObservedPod> = observations
        .pods
        .iter()
        .filter(|pod| pod.namespace == namespace && pod.workload.as_deref() == Some(workload))
        .collect();
    let mut observed: BTreeMap<&str, u64> = BTreeMap::new();
    for pod in &pods {
        *observed.entry(pod.phase.as_deref().unwrap_or("Unknown")).or_default() += 1;
    }
    let passed = expected.iter().all(|(phase, want)| {
        let got = observed.get(phase.as_str()).copied().unwrap_or(0);
        got.abs_diff(*want) <= tolerance
    });
    let mut phases: Vec<&str> = expected.keys().map(String::as_str).chain(observed.keys().copied()).collect();
    phases.sort_by_key(|phase| (phase_rank(phase), *phase));
    phases.dedup();
    let shown: Vec<String> =
        phases.iter().map(|phase| format!("{} {phase}", observed.get(phase).copied().unwrap_or(0))).collect();
    if pods.is_empty() {
        // `{Running: 0}` holds for any name: a workload the recording never saw decides nothing.
        let observed = format!("undecidable: no pod of workload {namespace}/{workload} in the recording at its end");
        return Outcome { passed: false, decided: false, observed };
    }
    let mut text = shown.join(", ");
    if let Some(note) = gpus_held_elsewhere(observations, namespace, workload, &pods) {
        text.push_str(&format!(" ({note})"));
    }
    let replicas: u64 = expected.values().fold(0, |sum, n| sum.saturating_add(*n));
    let all_refusals_seen = pods
        .iter()
        .filter(|pod| pod.phase.as_deref() == Some("Pending") && pod.node_name.is_none())
        .all(|pod| scheduling_message(observations, pod).is_some());
    let decided = pods.len() as u64 >= replicas.saturating_sub(tolerance) && all_refusals_seen;
    Outcome { passed, decided, observed: text }
}

/// When the workload has Pending pods and every GPU of the fleet is taken, which other pods
/// hold GPUs: `the 32nd GPU is held by cuda-batch-small`.
fn gpus_held_elsewhere(
    observations: &RunObservations,
    namespace: &str,
    workload: &str,
    pods: &[&ObservedPod],
) -> Option<String> {
    pods.iter().find(|pod| pod.phase.as_deref() == Some("Pending"))?;
    let fleet = saturating_sum(observations.nodes.iter().filter_map(|node| node.gpu_allocatable));
    let holding = |pod: &&ObservedPod| {
        pod.node_name.is_some()
            && matches!(pod.phase.as_deref(), Some("Running" | "Pending"))
            && pod.gpu_request.unwrap_or(0) > 0
    };
    let allocated = saturating_sum(observations.pods.iter().filter(holding).filter_map(|pod| pod.gpu_request));
    if fleet == 0 || allocated < fleet {
        return None;
    }
    let others: Vec<&ObservedPod> = observations
        .pods
        .iter()
        .filter(holding)
        .filter(|pod| !(pod.namespace == namespace && pod.workload.as_deref() == Some(workload)))
        .collect();
    let held = saturating_sum(others.iter().filter_map(|pod| pod.gpu_request));
    if held == 0 {
        return None;
    }
    let names: Vec<&str> = others.iter().map(|pod| pod.name.as_str()).collect();
    Some(if held == 1 {
        format!("the {} GPU is held by {}", ordinal(fleet), names.join(", "))
    } else {
        format!("{held} of the {fleet} GPUs are held by {}", names.join(", "))
    })
}

/// GPU counts from the recording, summed without wrapping (a damaged row may hold anything).
pub(crate) fn saturating_sum(values: impl Iterator<Item = i64>) -> i64 {
    values.fold(0, |sum, value| sum.saturating_add(value))
}

fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{NodeTaint, ObservedEvent, ObservedNode, PendingClassRow};
    use evident_core::run_manifest::RunManifest;
    use serde_json::json;

    const GPU_MESSAGE: &str = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";

    fn node(name: &str, pool: Option<&str>, gpus: Option<i64>) -> ObservedNode {
        let taint_list = match pool {
            None => vec![NodeTaint {
                key: "node-role.kubernetes.io/control-plane".into(),
                value: String::new(),
                effect: "NoSchedule".into(),
            }],
            Some(_) => vec![],
        };
        ObservedNode {
            name: name.into(),
            pool: pool.map(Into::into),
            gpu_allocatable: gpus,
            kubelet_version: Some("kwok-v0.7.0".into()),
            kwok_managed: true,
            labels: pool.map(|pool| [("pool".to_string(), pool.to_string())].into_iter().collect()).unwrap_or_default(),
            taint_list,
            ..ObservedNode::default()
        }
    }

    fn pod(name: &str, workload: &str, phase: &str, node: Option<&str>, gpus: i64) -> ObservedPod {
        ObservedPod {
            namespace: "gpu-demo".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            phase: Some(phase.into()),
            node_name: node.map(Into::into),
            gpu_request: Some(gpus),
            workload: Some(workload.into()),
            created_at_ns: Some(0),
            object: json!({}),
        }
    }

    fn refused(name: &str, message: &str) -> ObservedEvent {
        ObservedEvent {
            involved_namespace: Some("gpu-demo".into()),
            involved_name: name.into(),
            involved_uid: Some(format!("uid-{name}")),
            reason: Some("FailedScheduling".into()),
            event_type: Some("Warning".into()),
            message: Some(message.into()),
            source_component: Some("default-scheduler".into()),
            count: Some(1),
            first_at_ns: 1,
            last_at_ns: 2,
        }
    }

    /// 3 GPUs in the fleet: `small` holds one, `q` has 2 Running and 1 Pending.
    fn observations() -> RunObservations {
        RunObservations {
            run_id: "r".into(),
            manifest: RunManifest::default(),
            started_ns: 0,
            ended_ns: 10,
            nodes: vec![
                node("a100-0", Some("a100"), Some(2)),
                node("h100-0", Some("h100"), Some(1)),
                node("cp", None, None),
            ],
            pods: vec![
                pod("small", "small", "Running", Some("a100-0"), 1),
                pod("q-1", "q", "Running", Some("a100-0"), 1),
                pod("q-2", "q", "Running", Some("h100-0"), 1),
                pod("q-3", "q", "Pending", None, 1),
                pod("big", "big", "Pending", None, 16),
            ],
            pod_events: vec![refused("q-3", GPU_MESSAGE), refused("big", GPU_MESSAGE)],
            pod_changes: vec![],
            node_stamps: vec![],
            fleet: vec![],
            namespace_totals: vec![],
            run_dir: "r".into(),
            stamping: vec![],
            gpu_allocation: vec![],
            pending_classes: vec![PendingClassRow {
                namespace: "gpu-demo".into(),
                pod: "big".into(),
                moment: crate::pending::AT_END.into(),
                class: Some("shape".into()),
                gpus_requested: 16,
                largest_eligible_allocatable: Some(2),
                fleet_free: 0,
                eligible_free: 0,
                largest_eligible_free_block: 0,
                eligible_gpu_nodes: 2,
                gpu_nodes: 2,
                scheduler_message: Some(GPU_MESSAGE.into()),
            }],
            fleet_capacity: vec![],
            metric_samples: 0,
            gpu_metrics: vec![],
            gpu_util: vec![],
        }
    }

    fn class(pod: &str, class: &str) -> Expectation {
        Expectation::PendingClass { namespace: "gpu-demo".into(), pod: pod.into(), class: class.into() }
    }

    #[test]
    fn pending_class_is_the_class_at_the_end_of_the_recording() {
        let observations = observations();
        let shape = evaluate(&class("big", "shape"), &observations);
        assert!(shape.passed && shape.decided, "{shape:?}");
        assert_eq!(
            shape.observed,
            "Pending - big asks for 16 GPUs; the largest node it may use has 2: no placement exists on this fleet"
        );
        let capacity = evaluate(&class("big", "capacity"), &observations);
        assert!(!capacity.passed && capacity.decided, "{capacity:?}");
        let unclassified = evaluate(&class("q-3", "capacity"), &observations);
        assert!(!unclassified.passed && !unclassified.decided, "no row for q-3 yet: {unclassified:?}");
        let running = evaluate(&class("q-1", "capacity"), &observations);
        assert!(!running.passed && running.decided, "{running:?}");
        assert!(!evaluate(&class("ghost", "shape"), &observations).decided);
    }

    fn running(pod: &str, pool: &str) -> Expectation {
        Expectation::PodRunningInPool { namespace: "gpu-demo".into(), pod: pod.into(), pool: pool.into() }
    }

    fn pending(pod: &str, cause: &str) -> Expectation {
        Expectation::PodPendingWithCause { namespace: "gpu-demo".into(), pod: pod.into(), cause: cause.into() }
    }

    fn counts(running: u64, pending: u64, tolerance: u64) -> Expectation {
        Expectation::PhaseCounts {
            namespace: "gpu-demo".into(),
            workload: "q".into(),
            counts: [("Running".to_string(), running), ("Pending".to_string(), pending)].into_iter().collect(),
            tolerance,
        }
    }

    #[test]
    fn running_in_pool_passes_and_fails() {
        let observations = observations();
        let pass = evaluate(&running("small", "a100"), &observations);
        assert_eq!(pass, Outcome { passed: true, decided: true, observed: "Running on a100-0".into() });
        let wrong_pool = evaluate(&running("small", "h100"), &observations);
        assert!(!wrong_pool.passed);
        assert_eq!(wrong_pool.observed, "Running on a100-0 (pool a100)");
        let pending = evaluate(&running("big", "a100"), &observations);
        assert!(!pending.passed && pending.decided);
        assert_eq!(
            pending.observed,
            "Pending - 0/3 nodes available: ... 2 Insufficient nvidia.com/gpu (1 node untolerated taint)"
        );
        let missing = evaluate(&running("ghost", "a100"), &observations);
        assert!(!missing.passed && !missing.decided);
    }

    #[test]
    fn pending_with_cause_matches_parsed_reasons_only() {
        let observations = observations();
        let pass = evaluate(&pending("big", "Insufficient nvidia.com/gpu"), &observations);
        assert!(pass.passed, "{pass:?}");
        let wrong = evaluate(&pending("big", "didn't match Pod's node affinity/selector"), &observations);
        assert!(!wrong.passed && wrong.decided);
        assert!(wrong.observed.contains("2 Insufficient nvidia.com/gpu"), "{}", wrong.observed);
        // The control-plane taint is a reason, on a node the pod could use, but not the cause.
        let taint = evaluate(&pending("big", "untolerated taint"), &observations);
        assert!(!taint.passed && taint.decided, "{taint:?}");
        assert!(taint.observed.contains("is in the message but is not the cause"), "{}", taint.observed);
        // Text of the preemption sentence is not a reason.
        assert!(!evaluate(&pending("big", "Preemption is not helpful"), &observations).passed);
        let running = evaluate(&pending("small", "Insufficient nvidia.com/gpu"), &observations);
        assert_eq!(running.observed, "Running on a100-0");
        assert!(!running.passed);
    }

    #[test]
    fn pending_without_event_uses_the_condition_and_says_so() {
        let mut observations = observations();
        observations.pod_events.clear();
        let big = observations.pods.iter_mut().find(|p| p.name == "big").unwrap();
        big.object =
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "message": GPU_MESSAGE}]}});
        let outcome = evaluate(&pending("big", "Insufficient nvidia.com/gpu"), &observations);
        assert!(outcome.passed);
        assert!(outcome.observed.ends_with("(from the PodScheduled condition; no Event recorded)"));
        let undecided = evaluate(&pending("q-3", "Insufficient nvidia.com/gpu"), &observations);
        assert!(!undecided.passed && !undecided.decided);
    }

    #[test]
    fn phase_counts_within_tolerance() {
        let observations = observations();
        let exact = evaluate(&counts(2, 1, 0), &observations);
        assert!(exact.passed && exact.decided);
        assert_eq!(exact.observed, "2 Running, 1 Pending (the 3rd GPU is held by small)");
        assert!(evaluate(&counts(3, 0, 1), &observations).passed, "off by one within tolerance 1");
        let off = evaluate(&counts(3, 0, 0), &observations);
        assert!(!off.passed);
        assert!(!evaluate(&counts(1, 3, 1), &observations).passed, "Pending off by two");
    }

    #[test]
    fn phase_counts_of_a_workload_never_recorded_is_undecidable_not_passed() {
        let mut ghost = counts(0, 0, 0);
        let Expectation::PhaseCounts { workload, .. } = &mut ghost else { unreachable!() };
        *workload = "ghost".into();
        let outcome = evaluate(&ghost, &observations());
        assert!(!outcome.passed && !outcome.decided, "{outcome:?}");
        assert!(outcome.observed.starts_with("undecidable: no pod of workload gpu-demo/ghost"), "{}", outcome.observed);
    }

    #[test]
    fn a_message_about_other_nodes_than_recorded_is_undecidable() {
        let mut observations = observations();
        observations.nodes.push(node("late", Some("a100"), Some(8)));
        let outcome = evaluate(&pending("big", "Insufficient nvidia.com/gpu"), &observations);
        assert!(!outcome.passed && !outcome.decided, "{outcome:?}");
        assert!(outcome.observed.contains("the message counts 3 nodes, the recording holds 4"), "{}", outcome.observed);
    }

    #[test]
    fn ordinals() {
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 32].map(ordinal),
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "32nd"]
        );
    }
}
