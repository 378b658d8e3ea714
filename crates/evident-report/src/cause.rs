//! Pending root causes as the report words them, on top of evident-query's parse of the
//! scheduler's FailedScheduling message (the same parse the `scheduling_reasons` SQL
//! function uses, so the report and `evident query` agree on the reasons and their counts).
//!
//! A message counts reasons over every node of the cluster, including nodes the pod's own
//! node selection excludes anyway: the control-plane node's taint appears in the message of a
//! pod that asks for a pool that does not exist, and `didn't match Pod's node
//! affinity/selector` covers most nodes for any pod restricted to a pool. So a reason is the
//! cause only when it accounts for the nodes the pod could otherwise use ([`Attribution`]):
//!
//! - *Eligible* nodes are the recorded nodes (at the end of the recording) that the pod's own
//!   node selection admits: every `nodeSelector` label, and one term of the required node
//!   affinity (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, `matchFields` on
//!   `metadata.name`), as [`evident_core::placement`] models it.
//! - Every other node is attributed to the reason the scheduler gives it, replaying its filter
//!   order: `were unschedulable` for a cordoned node the pod does not tolerate, else
//!   `untolerated taint` for a `NoSchedule`/`NoExecute` taint the pod does not tolerate, else
//!   `didn't match Pod's node affinity/selector`. Those nodes are taken off their reason's
//!   count; what is left is how many eligible nodes each reason accounts for.
//! - With eligible nodes, the cause is the reason that accounts for most of them (each of
//!   equals counts). With none, the pod's own selection is the cause: the selector/affinity
//!   reason. A PreFilter message (no count) refused the pod on every node, so it is the cause.
//! - When the message counts another number of nodes than the recording holds, the nodes the
//!   scheduler saw are not known: no reason is attributed and the check is undecidable.
//!
//! Only the reasons count: the PostFilter sentences (DRA's `no new claims to deallocate`,
//! preemption) say what was tried afterwards, not why the pod did not fit.

use evident_core::placement::{self, UNSCHEDULABLE_TAINT};
use serde_json::Value;

pub use evident_query::failed_scheduling::{NodeReason, SchedulingFailure, parse};

use crate::observation::{NodeTaint, ObservedNode};

/// What a reason says about a node, as far as attributing nodes needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReasonKind {
    /// The pod's node selection excludes the node.
    Selection,
    /// A taint the pod does not tolerate.
    Taint,
    /// The node is cordoned.
    Unschedulable,
    /// Anything else (resources, ports, volumes, DRA, ...).
    Other,
}

fn kind_of(reason: &str) -> ReasonKind {
    if reason.contains("didn't match Pod's node affinity") || reason.contains("didn't match node selector") {
        ReasonKind::Selection
    } else if reason.contains("taint") {
        ReasonKind::Taint
    } else if reason.contains("were unschedulable") {
        ReasonKind::Unschedulable
    } else {
        ReasonKind::Other
    }
}

/// How the reasons of one refusal account for the nodes a pod could use.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub failure: SchedulingFailure,
    /// Nodes in the recording at its end.
    pub recorded_nodes: usize,
    /// Of those, the ones the pod's own node selection admits.
    pub eligible_nodes: usize,
    /// Per reason of `failure.reasons` (same order): how many eligible nodes it accounts for;
    /// empty when the message and the recording disagree on the number of nodes.
    pub on_eligible: Vec<i64>,
}

impl Attribution {
    /// Attributes the reasons of `message` for the pod (its recorded object) over `nodes`.
    pub fn new(message: &str, pod: &Value, nodes: &[ObservedNode]) -> Attribution {
        let failure = parse(message);
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let tolerations: &[Value] = spec.get("tolerations").and_then(Value::as_array).map_or(&[], Vec::as_slice);
        let mut excluded = [0_i64; 4];
        let mut eligible_nodes = 0;
        for node in nodes {
            if admits(spec, node) {
                eligible_nodes += 1;
                continue;
            }
            let unschedulable_taint =
                NodeTaint { key: UNSCHEDULABLE_TAINT.into(), value: String::new(), effect: "NoSchedule".into() };
            let kind = if node.unschedulable && !tolerates(tolerations, &unschedulable_taint) {
                ReasonKind::Unschedulable
            } else if node.taint_list.iter().any(|taint| repels(taint) && !tolerates(tolerations, taint)) {
                ReasonKind::Taint
            } else {
                ReasonKind::Selection
            };
            if let Some(count) = excluded.get_mut(kind as usize) {
                *count += 1;
            }
        }
        let consistent = failure.total_nodes.is_none_or(|total| usize::try_from(total) == Ok(nodes.len()));
        let on_eligible = if consistent {
            failure
                .reasons
                .iter()
                .map(|reason| {
                    let Some(count) = reason.nodes else { return i64::try_from(eligible_nodes).unwrap_or(i64::MAX) };
                    let kind = kind_of(&reason.reason);
                    if kind == ReasonKind::Selection {
                        return 0;
                    }
                    // Reasons of one kind split by detail (`taint {a: }`, `taint {b: }`) take
                    // the excluded nodes in turn.
                    let Some(left) = excluded.get_mut(kind as usize) else { return count.max(0) };
                    let taken = (*left).min(count.max(0));
                    *left -= taken;
                    count.max(0) - taken
                })
                .collect()
        } else {
            Vec::new()
        };
        Attribution { failure, recorded_nodes: nodes.len(), eligible_nodes, on_eligible }
    }

    /// Whether the message counted the nodes the recording holds, so reasons can be attributed.
    pub fn attributable(&self) -> bool {
        self.on_eligible.len() == self.failure.reasons.len()
    }

    /// Whether reason `index` is the cause (see the module docs).
    pub fn is_cause(&self, index: usize) -> bool {
        let Some(reason) = self.failure.reasons.get(index) else { return false };
        if !self.attributable() {
            return false;
        }
        if reason.nodes.is_none() {
            return true;
        }
        if self.eligible_nodes == 0 {
            return kind_of(&reason.reason) == ReasonKind::Selection;
        }
        let most = self.on_eligible.iter().copied().max().unwrap_or(0);
        most > 0 && self.on_eligible.get(index) == Some(&most)
    }

    /// The cause: the first reason [`Attribution::is_cause`] accepts.
    pub fn cause(&self) -> Option<&NodeReason> {
        (0..self.failure.reasons.len())
            .find(|index| self.is_cause(*index))
            .and_then(|index| self.failure.reasons.get(index))
    }

    /// The reason containing `cause` (e.g. `Insufficient nvidia.com/gpu`) that is the cause, if
    /// one is.
    pub fn cause_matching(&self, cause: &str) -> Option<&NodeReason> {
        self.failure
            .reasons
            .iter()
            .enumerate()
            .find(|(index, reason)| reason.reason.contains(cause) && self.is_cause(*index))
            .map(|(_, reason)| reason)
    }

    /// The first reason containing `cause`, cause or not.
    pub fn reason_containing(&self, cause: &str) -> Option<&NodeReason> {
        self.failure.reasons.iter().find(|reason| reason.reason.contains(cause))
    }

    /// The notebook's short form, `focus` first, then the other reasons that concern nodes
    /// the pod could use, in parentheses:
    /// `0/7 nodes available: ... 6 Insufficient nvidia.com/gpu (1 node untolerated taint)`.
    /// Reasons only about nodes the pod's selection excludes are left out; when nothing can be
    /// attributed, every reason is shown.
    pub fn summary(&self, focus: &NodeReason) -> String {
        let counted = |reason: &NodeReason| match reason.nodes {
            Some(nodes) => format!("{nodes} {}", reason.reason),
            None => reason.reason.clone(),
        };
        let attributable = self.attributable();
        let others: Vec<String> = self
            .failure
            .reasons
            .iter()
            .enumerate()
            .filter(|(_, reason)| *reason != focus)
            .filter(|(index, _)| !attributable || self.on_eligible.get(*index).is_some_and(|n| *n > 0))
            .map(|(_, reason)| match reason.nodes {
                Some(nodes) => format!("{nodes} {}", short_reason(&reason.reason, nodes)),
                None => reason.reason.clone(),
            })
            .collect();
        let total =
            self.failure.total_nodes.map(|total| format!("0/{total} nodes available: ... ")).unwrap_or_default();
        let mut text = format!("{total}{}", counted(focus));
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join(", ")));
        }
        text
    }

    /// Why no reason could be attributed, or why none is the cause, in a few words.
    pub fn explanation(&self) -> String {
        if !self.attributable() {
            return format!(
                "the message counts {} nodes, the recording holds {} at its end: which reason concerns the nodes this pod could use is unknown",
                self.failure.total_nodes.unwrap_or_default(),
                self.recorded_nodes
            );
        }
        if self.eligible_nodes == 0 {
            "no recorded node matches the pod's own node selection".to_string()
        } else {
            format!("{} recorded node(s) match the pod's own node selection", self.eligible_nodes)
        }
    }
}

/// A taint that keeps pods off the node (`PreferNoSchedule` only discourages).
fn repels(taint: &NodeTaint) -> bool {
    placement::repels(&taint.effect)
}

/// Whether one of the pod's tolerations tolerates `taint`.
fn tolerates(tolerations: &[Value], taint: &NodeTaint) -> bool {
    placement::tolerates(tolerations, &taint.key, &taint.value, &taint.effect)
}

/// Whether the pod's `nodeSelector` and required node affinity admit the node.
fn admits(spec: &Value, node: &ObservedNode) -> bool {
    placement::selection_admits(spec, &node.name, |key| node.labels.get(key).map(String::as_str))
}

/// A reason without its detail in braces, counted: `node(s) had untolerated taint(s)` on one
/// node -> `node untolerated taint`, on three -> `nodes untolerated taints`.
fn short_reason(reason: &str, nodes: i64) -> String {
    let without_detail = reason.split_once(" {").map_or(reason, |(before, _)| before);
    let (noun, plural) = if nodes == 1 { ("node", "") } else { ("nodes", "s") };
    without_detail.replace("node(s) had ", &format!("{noun} ")).replace("node(s)", noun).replace("(s)", plural)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POOL: &str = "run.ai/simulated-gpu-node-pool";

    fn node(name: &str, pool: Option<&str>, taints: &[(&str, &str)]) -> ObservedNode {
        ObservedNode {
            name: name.into(),
            labels: pool.map(|pool| [(POOL.to_string(), pool.to_string())].into_iter().collect()).unwrap_or_default(),
            taint_list: taints
                .iter()
                .map(|(key, effect)| NodeTaint { key: (*key).into(), value: String::new(), effect: (*effect).into() })
                .collect(),
            ..ObservedNode::default()
        }
    }

    /// The lesson-1 cluster: a tainted control plane, a worker, five GPU nodes in three pools.
    fn lesson1_nodes() -> Vec<ObservedNode> {
        let mut nodes = vec![
            node("cp", None, &[("node-role.kubernetes.io/control-plane", "NoSchedule")]),
            node("worker", None, &[]),
        ];
        for (name, pool) in [("a0", "a100"), ("a1", "a100"), ("h0", "h100"), ("l0", "l40s"), ("l1", "l40s")] {
            nodes.push(node(name, Some(pool), &[]));
        }
        nodes
    }

    const GPU: &str = "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 Insufficient nvidia.com/gpu. \
        no new claims to deallocate, preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.";
    const SELECTOR: &str = "0/7 nodes are available: 1 node(s) had untolerated taint(s), \
        6 node(s) didn't match Pod's node affinity/selector. preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.";

    #[test]
    fn a_pod_without_selection_is_held_by_the_reason_on_most_nodes() {
        let attribution = Attribution::new(GPU, &json!({"spec": {}}), &lesson1_nodes());
        assert_eq!((attribution.eligible_nodes, attribution.on_eligible.clone()), (7, vec![1, 6]));
        let cause = attribution.cause().unwrap();
        assert_eq!(cause.reason, "Insufficient nvidia.com/gpu");
        assert_eq!(
            attribution.summary(cause),
            "0/7 nodes available: ... 6 Insufficient nvidia.com/gpu (1 node untolerated taint)"
        );
        assert!(attribution.cause_matching("untolerated taint").is_none());
        assert!(attribution.cause_matching("no new claims to deallocate").is_none(), "a PostFilter sentence");
    }

    #[test]
    fn a_pod_asking_for_a_missing_pool_is_held_by_its_selection_not_the_control_plane_taint() {
        let pod = json!({"spec": {"nodeSelector": {POOL: "b200"}}});
        let attribution = Attribution::new(SELECTOR, &pod, &lesson1_nodes());
        assert_eq!(attribution.eligible_nodes, 0);
        assert!(attribution.cause_matching("untolerated taint").is_none());
        let cause = attribution.cause_matching("didn't match Pod's node affinity/selector").unwrap();
        assert_eq!(
            attribution.summary(cause),
            "0/7 nodes available: ... 6 node(s) didn't match Pod's node affinity/selector"
        );
    }

    #[test]
    fn tolerations_and_cordons_decide_which_reason_an_excluded_node_is_counted_under() {
        let mut nodes = lesson1_nodes();
        nodes[1].unschedulable = true;
        let tolerant = json!({"spec": {
            "nodeSelector": {POOL: "h100"},
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        }});
        // cp is tolerated, so the scheduler counts it under the selector; the cordoned worker
        // under `were unschedulable`; h0 is full.
        let message = "0/7 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable, \
            5 node(s) didn't match Pod's node affinity/selector.";
        let attribution = Attribution::new(message, &tolerant, &nodes);
        assert_eq!(attribution.on_eligible, [1, 0, 0]);
        assert_eq!(attribution.cause().unwrap().reason, "Insufficient nvidia.com/gpu");
    }

    #[test]
    fn a_prefilter_message_refused_every_node() {
        let message = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes \
            are available: 3 Preemption is not helpful for scheduling..";
        let nodes = [node("a", None, &[]), node("b", None, &[]), node("c", None, &[])];
        let attribution = Attribution::new(message, &json!({}), &nodes);
        assert!(attribution.cause_matching("unbound immediate PersistentVolumeClaims").is_some());
    }

    #[test]
    fn short_reasons_are_counted_in_words() {
        assert_eq!(short_reason("node(s) had untolerated taint(s)", 1), "node untolerated taint");
        assert_eq!(short_reason("node(s) had untolerated taint(s)", 3), "nodes untolerated taints");
        assert_eq!(short_reason("node(s) had untolerated taint {a: b, c: d}", 2), "nodes untolerated taint");
    }
}
