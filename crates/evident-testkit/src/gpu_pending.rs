//! A crafted run where GPU pods wait for each of the four reasons the `pending_classification`
//! query tells apart, on a fleet small enough to work the answer out by hand
//! ([`write_pending_classes`], with the expected classes in [`EXPECTED`]).
//!
//! The fleet: `evident-control-plane` (no GPUs, control-plane taint), `kwok-gpu-a100-0` and
//! `-1` (pool a100, 8 GPUs each), `kwok-gpu-l40s-0` (pool l40s, 4 GPUs, tainted
//! `dedicated=ml:NoSchedule`). Every node advertises its GPUs a few milliseconds after it is
//! created, as a device plugin does.
//!
//! Then, in this order:
//! - `fill-a0` and `fill-a1` (4 GPUs each) are bound, one to each a100 node: 4 free on each;
//! - `tolerant-l40s` (4 GPUs, node selector l40s, tolerates `dedicated=ml`) is bound to the
//!   l40s node: it is full;
//! - `frag-8` (8 GPUs, affinity `pool NotIn [h100, l40s]`) is refused: the a100 pool has 8
//!   free but 4 on each node: **fragmentation**;
//! - `wide-16` (16 GPUs, no selection) is refused: no node it may use has 16: **shape**;
//! - `l40s-untolerated` (2 GPUs, affinity `pool In [l40s]`, no toleration) is refused: the only
//!   l40s node is tainted: **constraint**;
//! - `l40s-tolerant-2` (2 GPUs, node selector l40s, tolerates `dedicated=ml` with `Equal`) is
//!   refused: its one node is full: **capacity**.
//!
//! The scheduler's messages are written as kube-scheduler v1.36 words them for this fleet.

use std::path::Path;

use evident_core::run_manifest::RunManifest;
use serde_json::json;

use crate::runs::{Result, RunScript};

/// Namespace of every pod of the run.
pub const NAMESPACE: &str = "gpu-classes";

/// Each refused pod and its class, at its first refusal and at the end of the run alike.
pub const EXPECTED: [(&str, &str); 4] = [
    ("frag-8", "fragmentation"),
    ("l40s-tolerant-2", "capacity"),
    ("l40s-untolerated", "constraint"),
    ("wide-16", "shape"),
];

const POOL_LABEL: &str = "run.ai/simulated-gpu-node-pool";

/// Writes the run described in the module docs into `dir`.
pub fn write_pending_classes(dir: &Path) -> Result<RunManifest> {
    let mut run = RunScript::new(dir)?;
    run.node("evident-control-plane", None, 0, &[]);
    let a0 = run.node("kwok-gpu-a100-0", Some("a100"), 8, &[]);
    let a1 = run.node("kwok-gpu-a100-1", Some("a100"), 8, &[]);
    let l0 = run.node("kwok-gpu-l40s-0", Some("l40s"), 4, &["dedicated=ml:NoSchedule"]);
    let tolerate_ml = json!([{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]);
    let affinity = |operator: &str, pools: &[&str]| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": POOL_LABEL, "operator": operator, "values": pools}]}
        ]}}})
    };

    let fill_a0 = run.pod(NAMESPACE, "fill-a0", None, 4, json!({"nodeSelector": {POOL_LABEL: "a100"}}));
    run.bind_and_run(fill_a0, a0);
    let fill_a1 = run.pod(NAMESPACE, "fill-a1", None, 4, json!({"nodeSelector": {POOL_LABEL: "a100"}}));
    run.bind_and_run(fill_a1, a1);
    let tolerant = run.pod(
        NAMESPACE,
        "tolerant-l40s",
        None,
        4,
        json!({"nodeSelector": {POOL_LABEL: "l40s"}, "tolerations": tolerate_ml.clone()}),
    );
    run.bind_and_run(tolerant, l0);

    let frag = run.pod(NAMESPACE, "frag-8", None, 8, json!({"affinity": affinity("NotIn", &["h100", "l40s"])}));
    run.refuse(
        frag,
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated \
         taint(s), 2 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 2 No preemption victims found \
         for incoming pod, 2 Preemption is not helpful for scheduling.",
    );
    let wide = run.pod(NAMESPACE, "wide-16", None, 16, json!({}));
    run.refuse(
        wide,
        "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint(s). preemption: \
         0/4 nodes are available: 2 No preemption victims found for incoming pod, 2 Preemption is not helpful for \
         scheduling.",
    );
    let untolerated = run.pod(NAMESPACE, "l40s-untolerated", None, 2, json!({"affinity": affinity("In", &["l40s"])}));
    run.refuse(
        untolerated,
        "0/4 nodes are available: 1 node(s) had untolerated taint(s), 3 node(s) didn't match Pod's node \
         affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
    );
    let capacity = run.pod(
        NAMESPACE,
        "l40s-tolerant-2",
        None,
        2,
        json!({"nodeSelector": {POOL_LABEL: "l40s"}, "tolerations": tolerate_ml}),
    );
    run.refuse(
        capacity,
        "0/4 nodes are available: 1 Insufficient nvidia.com/gpu, 3 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not \
         helpful for scheduling.",
    );
    run.finish()
}
