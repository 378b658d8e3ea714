//! Time series replayed from the change log for the report's plots: pods per phase, GPUs
//! allocated per pool, and when each node got its `kubeletVersion`.
//!
//! Times are the recorder's receipt clock, as offsets in seconds from the first change of
//! the run. A series is a step function: each point holds until the next one.

use std::collections::{BTreeMap, HashMap};

use crate::observation::RunObservations;

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

/// Seconds from the run's start to `ns`; in i128, as a recording's times can be anything an
/// i64 holds and their difference may not be.
pub(crate) fn secs(observations: &RunObservations, ns: i64) -> f64 {
    (i128::from(ns) - i128::from(observations.started_ns)) as f64 / 1e9
}

/// Pods per phase over time (deleted pods leave every phase).
pub fn pods_by_phase(observations: &RunObservations) -> StepSeries {
    let mut current: HashMap<&str, String> = HashMap::new();
    let mut series =
        StepSeries { end_secs: secs(observations, observations.recording_end_ns()), ..StepSeries::default() };
    for change in &observations.pod_changes {
        if change.deleted {
            current.remove(change.uid.as_str());
        } else {
            current.insert(&change.uid, change.phase.clone().unwrap_or_else(|| "Unknown".into()));
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for phase in current.values() {
            *counts.entry(phase).or_default() += 1;
        }
        let at = secs(observations, change.observed_at_ns);
        for phase in counts.keys() {
            series.lines.entry(phase.to_string()).or_default();
        }
        for (phase, line) in series.lines.iter_mut() {
            push_step(line, at, counts.get(phase.as_str()).copied().unwrap_or(0) as f64);
        }
    }
    series
}

/// GPUs requested by pods bound to the nodes of each pool over time, replayed from the
/// `gpu_allocation` named query (per node, after every change that moves a number); the limit
/// of each pool is its allocatable GPUs at the end of the recording.
pub fn gpu_allocation_by_pool(observations: &RunObservations) -> StepSeries {
    let mut series =
        StepSeries { end_secs: secs(observations, observations.recording_end_ns()), ..StepSeries::default() };
    for row in &observations.fleet {
        if let Some(pool) = row.pool.as_deref().filter(|_| row.gpus > 0) {
            *series.limits.entry(pool.to_string()).or_default() += row.gpus as f64;
            series.lines.entry(pool.to_string()).or_default();
        }
    }
    let mut requested: HashMap<&str, (&str, i64)> = HashMap::new();
    for row in &observations.gpu_allocation {
        let Some(pool) = row.pool.as_deref() else { continue };
        requested.insert(&row.node, (pool, row.requested));
        let mut per_pool: BTreeMap<&str, i64> = BTreeMap::new();
        for (pool, gpus) in requested.values() {
            *per_pool.entry(pool).or_default() += gpus;
        }
        let at = secs(observations, row.observed_ns);
        for pool in per_pool.keys() {
            series.lines.entry(pool.to_string()).or_default();
        }
        for (pool, line) in series.lines.iter_mut() {
            if line.is_empty() && at > 0.0 {
                line.push((0.0, 0.0));
            }
            push_step(line, at, per_pool.get(pool.as_str()).copied().unwrap_or(0) as f64);
        }
    }
    series
}

/// When each KWOK-managed node appeared and first carried a `kubeletVersion`, from the
/// `node_version_stamping` named query.
pub fn version_stamping(observations: &RunObservations) -> Vec<StampSpan> {
    let kwok = |node: &str| observations.node_stamps.iter().any(|stamp| stamp.name == node && stamp.kwok_managed);
    let mut spans: Vec<StampSpan> = observations
        .stamping
        .iter()
        .filter(|row| kwok(&row.node))
        .map(|row| StampSpan {
            node: row.node.clone(),
            first_seen_secs: secs(observations, row.appeared_ns),
            stamped_secs: row.stamped_ns.map(|ns| secs(observations, ns)),
            version: row.version.clone(),
        })
        .collect();
    spans.sort_by(|a, b| a.first_seen_secs.total_cmp(&b.first_seen_secs).then(a.node.cmp(&b.node)));
    spans
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
    use crate::observation::{AllocationRow, FleetRow, PodChange};
    use evident_core::run_manifest::RunManifest;

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

    fn observations() -> RunObservations {
        RunObservations {
            run_id: "r".into(),
            manifest: RunManifest::default(),
            started_ns: 0,
            ended_ns: 10_000_000_000,
            nodes: vec![],
            pods: vec![],
            pod_events: vec![],
            pod_changes: vec![
                change(1, "a", "Pending", None, false),
                change(2, "a", "Pending", Some("n"), false),
                change(3, "a", "Running", Some("n"), false),
                change(3, "b", "Pending", None, false),
                change(5, "a", "Running", Some("n"), true),
            ],
            node_stamps: vec![],
            fleet: vec![
                FleetRow { node: "n".into(), pool: Some("a100".into()), gpus: 8 },
                FleetRow { node: "m".into(), pool: Some("h100".into()), gpus: 8 },
                FleetRow { node: "cp".into(), pool: None, gpus: 0 },
            ],
            gpu_allocation: vec![allocation(3, 2, "n", 1), allocation(4, 3, "m", 2), allocation(5, 5, "n", 0)],
            ..RunObservations::default()
        }
    }

    fn allocation(seq: i64, at_secs: i64, node: &str, requested: i64) -> AllocationRow {
        let pool = if node == "n" { "a100" } else { "h100" };
        AllocationRow {
            node: node.into(),
            pool: Some(pool.into()),
            seq,
            observed_ns: at_secs * 1_000_000_000,
            allocatable: 8,
            requested,
        }
    }

    #[test]
    fn seconds_from_the_start_do_not_wrap_for_times_far_apart() {
        let mut observations = observations();
        observations.started_ns = i64::MAX;
        let seconds = secs(&observations, i64::MIN);
        assert!(seconds < -1.8e10, "{seconds}: 584 years before the start, not after it");
    }

    #[test]
    fn phases_step_with_each_change() {
        let series = pods_by_phase(&observations());
        assert_eq!(series.lines["Pending"], vec![(1.0, 1.0)], "a Pending pod leaving and another arriving at once");
        assert_eq!(series.lines["Running"], vec![(3.0, 1.0), (5.0, 0.0)]);
        assert_eq!(series.end_secs, 10.0);
    }

    #[test]
    fn gpus_per_pool_sum_the_nodes_latest_requests() {
        let series = gpu_allocation_by_pool(&observations());
        assert_eq!(series.lines["a100"], vec![(0.0, 0.0), (2.0, 1.0), (5.0, 0.0)]);
        assert_eq!(series.lines["h100"], vec![(0.0, 0.0), (3.0, 2.0)]);
        assert_eq!(series.limits["a100"], 8.0);
        assert!(!series.limits.contains_key("cp"), "GPU-less nodes have no pool line");
    }
}
