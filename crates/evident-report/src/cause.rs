//! Pending root causes as the report words them, on top of evident-query's parse of the
//! scheduler's FailedScheduling message (the same parse the `scheduling_reasons` SQL
//! function uses, so the report and `evident query` agree).
//!
//! Only the per-node reasons count: the preemption sentence says what preemption could do,
//! not why the pod did not fit, and it is never matched against an expectation.

pub use evident_query::failed_scheduling::{NodeReason, SchedulingFailure, parse};

/// The per-node reason containing `cause` (e.g. `didn't match Pod's node affinity/selector`).
pub fn reason_matching<'a>(failure: &'a SchedulingFailure, cause: &str) -> Option<&'a NodeReason> {
    failure.reasons.iter().find(|reason| reason.nodes.is_some() && reason.reason.contains(cause))
}

/// The reason that rejected most nodes (the first of equals): the root cause for the nodes
/// the pod could otherwise have used.
pub fn dominant(failure: &SchedulingFailure) -> Option<&NodeReason> {
    failure.reasons.iter().fold(None, |best: Option<&NodeReason>, reason| match best {
        Some(best) if best.nodes >= reason.nodes => Some(best),
        _ => Some(reason),
    })
}

/// The notebook's short form, `focus` first and the other reasons in parentheses:
/// `0/7 nodes available: ... 6 Insufficient nvidia.com/gpu (1 node untolerated taint)`.
pub fn summary(failure: &SchedulingFailure, focus: &NodeReason) -> String {
    let counted = |reason: &NodeReason| match reason.nodes {
        Some(nodes) => format!("{nodes} {}", reason.reason),
        None => reason.reason.clone(),
    };
    let others: Vec<String> = failure
        .reasons
        .iter()
        .filter(|reason| *reason != focus)
        .map(|reason| match reason.nodes {
            Some(nodes) => format!("{nodes} {}", short_reason(&reason.reason, nodes)),
            None => reason.reason.clone(),
        })
        .collect();
    let total = failure.total_nodes.map(|total| format!("0/{total} nodes available: ... ")).unwrap_or_default();
    let mut text = format!("{total}{}", counted(focus));
    if !others.is_empty() {
        text.push_str(&format!(" ({})", others.join(", ")));
    }
    text
}

/// A reason without its detail in braces: `node(s) had untolerated taint {..}` -> `node untolerated taint`.
fn short_reason(reason: &str, nodes: i64) -> String {
    let without_detail = match reason.find(" {") {
        Some(start) => &reason[..start],
        None => reason,
    };
    let noun = if nodes == 1 { "node" } else { "nodes" };
    without_detail.replace("node(s) had ", &format!("{noun} ")).replace("node(s)", noun)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPU: &str = "0/7 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
        6 Insufficient nvidia.com/gpu. preemption: 0/7 nodes are available: 1 Preemption is not helpful for scheduling, \
        6 No preemption victims found for incoming pod.";
    const SELECTOR: &str = "0/7 nodes are available: 1 node(s) had untolerated taint {a: b, c: d}, \
        6 node(s) didn't match Pod's node affinity/selector. preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.";

    #[test]
    fn summary_puts_the_matched_reason_first() {
        let failure = parse(GPU);
        let dominant = dominant(&failure).unwrap();
        assert_eq!(dominant.reason, "Insufficient nvidia.com/gpu");
        assert_eq!(
            summary(&failure, dominant),
            "0/7 nodes available: ... 6 Insufficient nvidia.com/gpu (1 node untolerated taint)"
        );
        assert!(reason_matching(&failure, "Preemption").is_none(), "the preemption sentence is not a reason");
    }

    #[test]
    fn selector_mismatch_matches_its_cause() {
        let failure = parse(SELECTOR);
        let matched = reason_matching(&failure, "didn't match Pod's node affinity/selector").unwrap();
        assert_eq!(matched.nodes, Some(6));
        assert_eq!(
            summary(&failure, matched),
            "0/7 nodes available: ... 6 node(s) didn't match Pod's node affinity/selector (1 node untolerated taint)"
        );
        assert!(reason_matching(&failure, "Insufficient nvidia.com/gpu").is_none());
    }
}
