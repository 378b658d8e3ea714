//! Scenario plans: a run described entirely by its parameters, so that a test can work out
//! what every named query must answer from the plan alone, without running any SQL (an
//! oracle independent of the queries, their expected files and DuckDB).
//!
//! A [`Plan`] says, in milliseconds after the run's start, when each node appears, is stamped
//! with a `kubeletVersion` and advertises its GPUs; when each pod is created, and whether it
//! is bound (to which node, when it runs, when it succeeds) or judged unschedulable (with which
//! reasons and node counts); when pods are deleted; and what each metrics scrape reads per GPU.
//! [`crate::runs::write_plan`] plays it through the recorder's own stores with receipt times
//! exactly the plan's (`observed_at` = start + the planned millisecond), and object timestamps
//! the planned time cut to the second, as an API server writes them.
//!
//! [`Plan::generate`] makes a varied plan from a seed (deterministic: the same seed, the same
//! plan). Its times are all distinct, so no two changes of a run share a receipt time and an
//! order by time is an order by seq.
//!
//! What a written run holds beyond the plan, which an oracle must know the queries ignore:
//! - every scrape also carries a `DCGM_FI_DEV_SM_CLOCK` sample per GPU and one
//!   `DCGM_FI_DEV_GPU_UTIL` sample without `gpu` or `UUID` labels (a node-level aggregate);
//! - bound pods get a `Scheduled` Event 2 ms after binding, unschedulable ones a
//!   `FailedScheduling` Event 1 ms after the verdict.

use std::collections::BTreeSet;

/// Start of the lesson-1 run: 2026-06-14T15:39:51Z, the notebook's evidence directory time.
pub const LESSON1_START_NS: i64 = 1_781_451_591_000_000_000;

/// Five lowercase alphanumerics, like a ReplicaSet's pod name suffix.
pub(crate) fn replica_suffix(number: i64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut value = (number as u64).wrapping_mul(2_654_435_761).wrapping_add(97_531) % 14_348_907;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(value % ALPHABET.len() as u64) as usize] as char;
            value /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A whole run, by its parameters. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The run's start, ns since the Unix epoch (a whole second).
    pub start_ns: i64,
    pub nodes: Vec<PlannedNode>,
    pub pods: Vec<PlannedPod>,
    pub scrapes: Vec<PlannedScrape>,
    /// The interval recorded in `run.json` for the scrapes.
    pub metrics_interval_ms: u64,
    /// When the recording stops.
    pub stop_ms: i64,
}

/// A node: added with no GPUs and a blank `kubeletVersion`; a node named
/// `evident-control-plane` without a pool carries the control-plane `NoSchedule` taint.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedNode {
    pub name: String,
    pub pool: Option<String>,
    /// GPUs it advertises (`nvidia.com/gpu` allocatable) from `advertised_ms` on.
    pub gpus: i64,
    pub added_ms: i64,
    /// When KWOK stamps its `kubeletVersion` ([`KUBELET_VERSION`]); never when `None`.
    pub stamped_ms: Option<i64>,
    pub advertised_ms: Option<i64>,
}

/// The `kubeletVersion` stamped on nodes.
pub const KUBELET_VERSION: &str = "kwok-v0.7.0";

/// A pod, created Pending.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPod {
    pub namespace: String,
    pub name: String,
    /// The Deployment owning it through ReplicaSet `<deployment>-<`[`POD_TEMPLATE_HASH`]`>`; a
    /// bare pod when `None`.
    pub deployment: Option<String>,
    /// `nvidia.com/gpu` requested; no request at all when 0.
    pub gpus: i64,
    /// The pool named in its nodeSelector.
    pub pool: Option<String>,
    pub created_ms: i64,
    pub fate: Fate,
    /// When it is deleted (after everything its fate says).
    pub deleted_ms: Option<i64>,
}

/// The pod-template-hash of every planned ReplicaSet.
pub const POD_TEMPLATE_HASH: &str = "7d9c8b6f5a";

/// What the scheduler (and kubelet) do with a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Bound to `nodes[node]` at `bound_ms`; Running (Ready) at `running_ms`; Succeeded
    /// (Ready turns False) at `succeeded_ms`. Pending with a node until it runs.
    Bound { node: usize, bound_ms: i64, running_ms: Option<i64>, succeeded_ms: Option<i64> },
    /// Judged unschedulable at `at_ms`: the message is [`Fate::message`]. With `on_condition`
    /// the message is on the PodScheduled condition, else only on the FailedScheduling Event.
    Unschedulable {
        at_ms: i64,
        total_nodes: usize,
        reasons: Vec<(String, usize)>,
        preemption: String,
        on_condition: bool,
    },
}

impl Fate {
    /// The scheduler's message of an unschedulable pod, in the scheduler's words:
    /// `0/<total> nodes are available: <n> <reason>, .... preemption: <preemption>`.
    pub fn message(&self) -> Option<String> {
        let Fate::Unschedulable { total_nodes, reasons, preemption, .. } = self else { return None };
        let reasons: Vec<String> = reasons.iter().map(|(reason, nodes)| format!("{nodes} {reason}")).collect();
        Some(format!("0/{total_nodes} nodes are available: {}. preemption: {preemption}", reasons.join(", ")))
    }
}

/// One answered scrape of `endpoint` at `at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedScrape {
    pub at_ms: i64,
    pub endpoint: String,
    pub readings: Vec<GpuReading>,
}

/// What one GPU reads in one scrape (DCGM_FI_DEV_GPU_UTIL, _FB_USED, _FB_FREE).
#[derive(Debug, Clone, PartialEq)]
pub struct GpuReading {
    pub node: String,
    pub gpu: u32,
    pub uuid: String,
    pub model: String,
    /// (namespace, pod) the exporter attributes the GPU to.
    pub pod: Option<(String, String)>,
    pub util: f64,
    pub fb_used_mib: f64,
    pub fb_free_mib: f64,
}

/// The reasons a scheduler gives, as `scheduling_reasons` names them.
pub const INSUFFICIENT_GPU: &str = "Insufficient nvidia.com/gpu";
pub const UNTOLERATED_TAINT: &str = "node(s) had untolerated taint(s)";
pub const SELECTOR_MISMATCH: &str = "node(s) didn't match Pod's node affinity/selector";

/// splitmix64: a tiny deterministic generator (quality is not the point; determinism is).
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..high` (`high > low`).
    fn range(&mut self, low: i64, high: i64) -> i64 {
        let span = high.saturating_sub(low).max(1) as u64;
        low + (self.next() % span) as i64
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Hands out distinct times: a taken millisecond moves to the next free one.
#[derive(Debug, Default)]
struct Clock(BTreeSet<i64>);

impl Clock {
    fn at(&mut self, mut ms: i64) -> i64 {
        while !self.0.insert(ms) {
            ms += 1;
        }
        ms
    }
}

impl Plan {
    /// A varied plan from `seed`: a control-plane node and 3 to 5 GPU nodes (one never
    /// stamped), 30 to 39 pods in two namespaces (Deployments and bare pods, one without a GPU
    /// request) placed on the node with the most free GPUs or judged unschedulable, some
    /// running, succeeding or deleted, and a scrape every 5 s of two GPUs per node.
    pub fn generate(seed: u64) -> Plan {
        let mut dice = Dice(seed);
        let mut clock = Clock::default();
        let start_ns = LESSON1_START_NS;
        let mut nodes = vec![PlannedNode {
            name: "evident-control-plane".into(),
            pool: None,
            gpus: 0,
            added_ms: clock.at(100),
            stamped_ms: Some(clock.at(dice.range(800, 4_000))),
            advertised_ms: None,
        }];
        let gpu_nodes = dice.range(3, 6) as usize;
        for index in 0..gpu_nodes {
            let (pool, gpus) = [("a100", 8), ("h100", 8), ("l40s", 4)][index % 3];
            let last = index + 1 == gpu_nodes;
            nodes.push(PlannedNode {
                name: format!("kwok-gpu-{pool}-{index}"),
                pool: Some(pool.into()),
                gpus,
                added_ms: clock.at(140 + 40 * index as i64),
                stamped_ms: (!last).then(|| clock.at(dice.range(800, 4_000))),
                advertised_ms: Some(clock.at(5_000 + 60 * index as i64)),
            });
        }
        let total_nodes = nodes.len();
        let mut free: Vec<i64> = nodes.iter().map(|node| node.gpus).collect();
        let preemption =
            format!("0/{total_nodes} nodes are available: {total_nodes} Preemption is not helpful for scheduling.");

        let mut pods = Vec::new();
        let count = dice.range(30, 40);
        for number in 0..count {
            let namespace = if number % 3 == 2 { "oracle-serve" } else { "oracle-train" };
            let (deployment, name) = if number % 5 == 4 {
                (None, format!("bare-{number}"))
            } else {
                let deployment =
                    format!("{}-{}", if namespace == "oracle-serve" { "serve" } else { "train" }, number % 2);
                let name = format!("{deployment}-{POD_TEMPLATE_HASH}-{}", replica_suffix(number));
                (Some(deployment), name)
            };
            let gpus = if number == 7 { 0 } else { [1, 2, 1, 4, 1, 8][dice.range(0, 6) as usize] };
            let pool = if dice.chance(12) { Some("b200".to_string()) } else { None };
            let created_ms = clock.at(10_000 + 250 * number + dice.range(0, 200));
            let target = if pool.is_some() {
                None
            } else {
                free.iter()
                    .enumerate()
                    .filter(|(index, free)| nodes[*index].gpus > 0 && **free >= gpus)
                    .max_by_key(|(index, free)| (**free, std::cmp::Reverse(*index)))
                    .map(|(index, _)| index)
            };
            let fate = match target {
                Some(node) => {
                    free[node] -= gpus;
                    let bound_ms = clock.at(created_ms + dice.range(2, 2_500));
                    let running_ms = dice.chance(85).then(|| clock.at(bound_ms + dice.range(200, 3_000)));
                    let succeeded_ms = running_ms
                        .filter(|_| dice.chance(12))
                        .map(|running| clock.at(running + dice.range(500, 5_000)));
                    Fate::Bound { node, bound_ms, running_ms, succeeded_ms }
                }
                None => {
                    let others = total_nodes - 1;
                    let first = if pool.is_some() { SELECTOR_MISMATCH } else { INSUFFICIENT_GPU };
                    Fate::Unschedulable {
                        at_ms: clock.at(created_ms + dice.range(1, 50)),
                        total_nodes,
                        reasons: vec![(UNTOLERATED_TAINT.into(), 1), (first.into(), others)],
                        preemption: preemption.clone(),
                        on_condition: dice.chance(75),
                    }
                }
            };
            let deleted_ms = dice.chance(10).then(|| clock.at(created_ms + 20_000 + dice.range(0, 3_000)));
            pods.push(PlannedPod {
                namespace: namespace.into(),
                name,
                deployment,
                gpus,
                pool,
                created_ms,
                fate,
                deleted_ms,
            });
        }

        let last_change = clock.0.last().copied().unwrap_or(0);
        let mut scrapes = Vec::new();
        let mut at = 12_000;
        while at < last_change {
            let at_ms = clock.at(at);
            let mut readings = Vec::new();
            for (index, node) in nodes.iter().enumerate().filter(|(_, node)| node.gpus > 0) {
                // The pods running on the node at this scrape, one per GPU in creation order.
                let running: Vec<&PlannedPod> = pods
                    .iter()
                    .filter(|pod| match pod.fate {
                        Fate::Bound { node, running_ms: Some(running), succeeded_ms, .. } => {
                            node == index
                                && running <= at_ms
                                && succeeded_ms.is_none_or(|done| done > at_ms)
                                && pod.deleted_ms.is_none_or(|gone| gone > at_ms)
                        }
                        _ => false,
                    })
                    .collect();
                for gpu in 0..2u32 {
                    let fb_used_mib = dice.range(0, 80_000) as f64;
                    readings.push(GpuReading {
                        node: node.name.clone(),
                        gpu,
                        uuid: format!("GPU-{index:04x}{gpu:04x}-5eed-4000-8000-000000000000"),
                        model: format!("NVIDIA {}", node.pool.as_deref().unwrap_or("GPU").to_uppercase()),
                        pod: running.get(gpu as usize).map(|pod| (pod.namespace.clone(), pod.name.clone())),
                        util: dice.range(0, 101) as f64,
                        fb_used_mib,
                        fb_free_mib: 81_920.0 - fb_used_mib,
                    });
                }
            }
            scrapes.push(PlannedScrape { at_ms, endpoint: "http://127.0.0.1:9400/metrics".into(), readings });
            at += 5_000;
        }
        let stop_ms = clock.0.last().copied().unwrap_or(0) + 5_000;
        Plan { start_ns, nodes, pods, scrapes, metrics_interval_ms: 5_000, stop_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_plan_and_its_times_are_distinct() {
        assert_eq!(Plan::generate(7), Plan::generate(7));
        assert_ne!(Plan::generate(7), Plan::generate(8));
        let plan = Plan::generate(7);
        let mut times = Vec::new();
        for node in &plan.nodes {
            times.extend([Some(node.added_ms), node.stamped_ms, node.advertised_ms].into_iter().flatten());
        }
        for pod in &plan.pods {
            times.extend([Some(pod.created_ms), pod.deleted_ms].into_iter().flatten());
            match &pod.fate {
                Fate::Bound { bound_ms, running_ms, succeeded_ms, .. } => {
                    times.extend([Some(*bound_ms), *running_ms, *succeeded_ms].into_iter().flatten())
                }
                Fate::Unschedulable { at_ms, .. } => times.push(*at_ms),
            }
        }
        let distinct: BTreeSet<i64> = times.iter().copied().collect();
        assert_eq!(distinct.len(), times.len(), "every planned time is distinct");
        assert!(plan.pods.iter().any(|pod| matches!(pod.fate, Fate::Unschedulable { .. })), "some pod is Pending");
        assert!(plan.scrapes.len() > 3, "{} scrapes", plan.scrapes.len());
    }
}
