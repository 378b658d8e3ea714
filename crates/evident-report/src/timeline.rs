//! Time series replayed from the change log for the report's plots: pods per phase, GPUs
//! allocated per pool, and when each node got its `kubeletVersion`.
//!
//! Times are the recorder's receipt clock, as offsets in seconds from the first change of
//! the run. A series is a step function: each point holds until the next one.

use std::collections::{BTreeMap, HashMap};

use crate::facts::RunFacts;

/// One step function per label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSeries {
    /// label -> (seconds since the start, value) in time order.
    pub lines: BTreeMap<String, Vec<(f64, f64)>>,
    /// Horizontal reference values (e.g. a pool's GPU capacity), label -> value.
    pub limits: BTreeMap<String, f64>,
    /// Where the time axis ends (the end of the recording), seconds.
    pub end_secs: f64,
}

/// A node's `kubeletVersion` stamping, in seconds since the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StampSpan {
    pub node: String,
    pub first_seen_secs: f64,
    pub stamped_secs: Option<f64>,
    pub version: Option<String>,
}

fn secs(facts: &RunFacts, ns: i64) -> f64 {
    (ns - facts.started_ns) as f64 / 1e9
}

/// Pods per phase over time (deleted pods leave every phase).
pub fn pods_by_phase(facts: &RunFacts) -> StepSeries {
    let mut current: HashMap<&str, String> = HashMap::new();
    let mut series = StepSeries { end_secs: secs(facts, facts.recording_end_ns()), ..StepSeries::default() };
    for change in &facts.pod_changes {
        if change.deleted {
            current.remove(change.uid.as_str());
        } else {
            current.insert(&change.uid, change.phase.clone().unwrap_or_else(|| "Unknown".into()));
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for phase in current.values() {
            *counts.entry(phase).or_default() += 1;
        }
        let at = secs(facts, change.observed_at_ns);
        for phase in counts.keys() {
            series.lines.entry(phase.to_string()).or_default();
        }
        for (phase, line) in series.lines.iter_mut() {
            push_step(line, at, counts.get(phase.as_str()).copied().unwrap_or(0) as f64);
        }
    }
    series
}

/// GPUs requested by pods bound to a node of each pool and not finished, over time; the
/// limit of each pool is its allocatable GPUs at the end of the recording.
pub fn gpu_allocation_by_pool(facts: &RunFacts) -> StepSeries {
    let pool_of: HashMap<&str, &str> =
        facts.node_pools.iter().filter_map(|(node, pool)| Some((node.as_str(), pool.as_deref()?))).collect();
    let mut series = StepSeries { end_secs: secs(facts, facts.recording_end_ns()), ..StepSeries::default() };
    for node in &facts.nodes {
        if let (Some(pool), Some(gpus)) = (node.pool.as_deref(), node.gpu_allocatable) {
            *series.limits.entry(pool.to_string()).or_default() += gpus as f64;
            series.lines.entry(pool.to_string()).or_default();
        }
    }
    let mut holding: HashMap<&str, (&str, i64)> = HashMap::new();
    for change in &facts.pod_changes {
        let active = !change.deleted && !matches!(change.phase.as_deref(), Some("Succeeded" | "Failed"));
        let pool = change.node_name.as_deref().and_then(|node| pool_of.get(node).copied());
        match (active, pool, change.gpu_request.filter(|gpus| *gpus > 0)) {
            (true, Some(pool), Some(gpus)) => {
                holding.insert(&change.uid, (pool, gpus));
            }
            _ => {
                holding.remove(change.uid.as_str());
            }
        }
        let mut per_pool: BTreeMap<&str, i64> = BTreeMap::new();
        for (pool, gpus) in holding.values() {
            *per_pool.entry(pool).or_default() += gpus;
        }
        let at = secs(facts, change.observed_at_ns);
        for pool in per_pool.keys() {
            series.lines.entry(pool.to_string()).or_default();
        }
        for (pool, line) in series.lines.iter_mut() {
            push_step(line, at, per_pool.get(pool.as_str()).copied().unwrap_or(0) as f64);
        }
    }
    series
}

/// When each KWOK-managed node was first seen and first carried a `kubeletVersion`.
pub fn version_stamping(facts: &RunFacts) -> Vec<StampSpan> {
    facts
        .node_stamps
        .iter()
        .filter(|stamp| stamp.kwok_managed)
        .map(|stamp| StampSpan {
            node: stamp.name.clone(),
            first_seen_secs: secs(facts, stamp.first_seen_ns),
            stamped_secs: stamp.stamped_at_ns.map(|ns| secs(facts, ns)),
            version: stamp.version.clone(),
        })
        .collect()
}

/// Appends a point unless the value did not change; several changes at one instant keep
/// the last value.
fn push_step(line: &mut Vec<(f64, f64)>, at: f64, value: f64) {
    match line.last_mut() {
        Some(last) if last.1 == value => {}
        Some(last) if last.0 == at => {
            last.1 = value;
            if line.len() >= 2 && line[line.len() - 2].1 == value {
                line.pop();
            }
        }
        _ => line.push((at, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{NodeFact, PodChange};
    use evident_core::manifest::RunManifest;

    fn change(at_secs: i64, uid: &str, phase: &str, node: Option<&str>, deleted: bool) -> PodChange {
        PodChange {
            observed_at_ns: at_secs * 1_000_000_000,
            uid: uid.into(),
            deleted,
            phase: Some(phase.into()),
            node_name: node.map(Into::into),
            gpu_request: Some(1),
        }
    }

    fn facts() -> RunFacts {
        RunFacts {
            run_id: "r".into(),
            manifest: RunManifest::default(),
            started_ns: 0,
            ended_ns: 10_000_000_000,
            nodes: vec![NodeFact {
                name: "n".into(),
                pool: Some("a100".into()),
                gpu_allocatable: Some(8),
                taints: None,
                kubelet_version: None,
                kwok_managed: true,
            }],
            pods: vec![],
            pod_events: vec![],
            pod_changes: vec![
                change(1, "a", "Pending", None, false),
                change(2, "a", "Pending", Some("n"), false),
                change(3, "a", "Running", Some("n"), false),
                change(3, "b", "Pending", None, false),
                change(5, "a", "Running", Some("n"), true),
            ],
            node_pools: vec![("n".into(), Some("a100".into()))],
            node_stamps: vec![],
        }
    }

    #[test]
    fn phases_step_with_each_change() {
        let series = pods_by_phase(&facts());
        assert_eq!(series.lines["Pending"], vec![(1.0, 1.0)], "a Pending pod leaving and another arriving at once");
        assert_eq!(series.lines["Running"], vec![(3.0, 1.0), (5.0, 0.0)]);
        assert_eq!(series.end_secs, 10.0);
    }

    #[test]
    fn gpus_count_from_binding_until_deletion() {
        let series = gpu_allocation_by_pool(&facts());
        assert_eq!(series.lines["a100"], vec![(1.0, 0.0), (2.0, 1.0), (5.0, 0.0)]);
        assert_eq!(series.limits["a100"], 8.0);
    }
}
