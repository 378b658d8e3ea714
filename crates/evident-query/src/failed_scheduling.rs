//! The scheduler's "why not" message (PodScheduled condition message, FailedScheduling Event)
//! split into `(reason, node count)` pairs, and the SQL function `scheduling_reasons(message)`
//! that does it inside a query.
//!
//! The message is `0/<N> nodes are available:` followed by sentences, each ended by `.`
//! (kube-scheduler's `FitError.Error()`), in this order:
//! 1. either the PreFilter message (a plugin refused the pod before looking at any node, e.g.
//!    `pod has unbound immediate PersistentVolumeClaims`; the scheduler then leaves the
//!    histogram out, since every node got that same status), or the per-node histogram,
//!    `<count> <reason>` items joined by `, ` and sorted as strings;
//! 2. then the PostFilter messages joined by `, `: what the scheduler tried after filtering
//!    (DRA's `no new claims to deallocate` or `still not schedulable`, then
//!    `preemption: 0/<N> nodes are available: ...`).
//!
//! Only the first sentence says why the pod does not fit, so only it gives [`SchedulingFailure::reasons`]
//! (one meaning everywhere: the report's Observed text, its cause checks and the SQL function
//! read the same list). PostFilter sentences are kept apart in
//! [`SchedulingFailure::post_filter`] and [`SchedulingFailure::preemption`]. Its wording moved
//! between versions, so the parse is lenient and never fails:
//! - taints: `node(s) had taint {k: v}, that the pod didn't tolerate` (≤1.22),
//!   `node(s) had untolerated taint {k: v}` (1.23+), `node(s) had untolerated taint(s)` (newer);
//!   a `, ` inside a reason is kept, because an item starts only where `, ` is followed by a count;
//! - a first sentence that does not start with a count (a PreFilter message, or a message
//!   without the `nodes are available` part such as `no nodes available to schedule pods`) is one
//!   reason with no node count: it refused the pod on every node;
//! - the PostFilter part may follow `. ` or `, ` (DRA's `no new claims to deallocate, preemption:`)
//!   and end in `.` or `..`;
//! - Events cut messages at 1024 bytes, ending them in ` ...`: the marker is dropped and the last
//!   item is kept as cut.
//!
//! `queries/duckdb/pending_causes.sql` restates these rules with DuckDB's regexp functions;
//! keep the two in step (the parity test compares their output).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Builder, ListBuilder, StringArray, StringBuilder, StructBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Name of the SQL function.
pub const FUNCTION_NAME: &str = "scheduling_reasons";

const AVAILABLE_MARKER: &str = "nodes are available: ";
const PREEMPTION_MARKER: &str = "preemption: ";
const TRUNCATION_MARKER: &str = " ...";

/// One reason and on how many nodes the scheduler found it; `nodes` is `None` for the
/// PreFilter message, which carries no count because it refused the pod on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReason {
    pub reason: String,
    pub nodes: Option<i64>,
}

/// A parsed FailedScheduling message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulingFailure {
    /// `N` of `0/N nodes are available`.
    pub total_nodes: Option<i64>,
    /// Why the pod does not fit: the per-node reasons with their counts, or the PreFilter
    /// message alone (without a count).
    pub reasons: Vec<NodeReason>,
    /// PostFilter messages other than preemption's (`no new claims to deallocate`), as
    /// written: what the scheduler tried after filtering, not why the pod does not fit.
    pub post_filter: Vec<String>,
    /// The text after `preemption: `, as written.
    pub preemption: Option<String>,
    /// The message ended in the Event truncation marker ` ...`.
    pub truncated: bool,
}

/// Splits a FailedScheduling message. Never fails: a first sentence it does not recognise
/// becomes a reason without a node count.
pub fn parse(message: &str) -> SchedulingFailure {
    let truncated = message.ends_with(TRUNCATION_MARKER);
    let message = message.strip_suffix(TRUNCATION_MARKER).unwrap_or(message);
    let (head, preemption) = match message.split_once(PREEMPTION_MARKER) {
        Some((head, rest)) => (head, Some(rest.to_string())),
        None => (message, None),
    };
    let (total_nodes, body) = match head.split_once(AVAILABLE_MARKER) {
        Some((before, after)) => (total_before(before), after),
        None => (None, head),
    };
    let body = body.trim_end_matches([' ', ',', '.']);
    let (first, rest) = match body.split_once(". ") {
        Some((first, rest)) => (first, Some(rest)),
        None => (body, None),
    };
    let first = first.trim();
    let reasons = if starts_with_count(first) {
        split_items(first).into_iter().map(parse_item).collect()
    } else if first.is_empty() {
        Vec::new()
    } else {
        vec![NodeReason { reason: first.to_string(), nodes: None }]
    };
    let post_filter = rest
        .into_iter()
        .flat_map(|rest| rest.split(". "))
        .flat_map(|sentence| sentence.split(", "))
        .map(|item| item.trim().trim_end_matches('.').trim())
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect();
    SchedulingFailure { total_nodes, reasons, post_filter, preemption, truncated }
}

/// `7` from `0/7 ` (the text just before `nodes are available`).
fn total_before(prefix: &str) -> Option<i64> {
    let digits = prefix.trim_end().rsplit_once('/')?.1;
    digits.parse().ok()
}

/// Splits the histogram at every `, ` followed by `<digits> `.
fn split_items(histogram: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut search = 0;
    while let Some(found) = histogram.get(search..).and_then(|rest| rest.find(", ")) {
        let at = search + found;
        let next = at + 2;
        if histogram.get(next..).is_some_and(starts_with_count) {
            items.extend(histogram.get(start..at));
            start = next;
        }
        search = next;
    }
    items.extend(histogram.get(start..));
    items.into_iter().map(str::trim).filter(|item| !item.is_empty()).collect()
}

fn starts_with_count(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && text.as_bytes().get(digits) == Some(&b' ')
}

fn parse_item(item: &str) -> NodeReason {
    if starts_with_count(item)
        && let Some((count, reason)) = item.split_once(' ')
        && let Ok(nodes) = count.parse()
    {
        return NodeReason { reason: reason.trim().to_string(), nodes: Some(nodes) };
    }
    NodeReason { reason: item.to_string(), nodes: None }
}

/// `scheduling_reasons(message) -> list<struct<reason: utf8, nodes: int64>>`; NULL for a NULL
/// message. Use with `unnest` to get one row per reason.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SchedulingReasons {
    signature: Signature,
}

impl SchedulingReasons {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(SchedulingReasons { signature: Signature::string(1, Volatility::Immutable) })
    }

    fn struct_fields() -> Fields {
        Fields::from(vec![Field::new("reason", DataType::Utf8, false), Field::new("nodes", DataType::Int64, true)])
    }

    fn item_field() -> Arc<Field> {
        Arc::new(Field::new("item", DataType::Struct(Self::struct_fields()), true))
    }
}

impl ScalarUDFImpl for SchedulingReasons {
    fn name(&self) -> &str {
        FUNCTION_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(Self::item_field()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [message] = args.args.as_slice() else {
            return exec_err!("{FUNCTION_NAME} takes one argument, the message");
        };
        let messages = cast(&message.to_array(args.number_rows)?, &DataType::Utf8)?;
        let Some(messages) = messages.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("{FUNCTION_NAME} expects a string");
        };
        let entries = StructBuilder::new(
            Self::struct_fields(),
            vec![Box::new(StringBuilder::new()), Box::new(Int64Builder::new())],
        );
        let mut lists = ListBuilder::new(entries).with_field(Self::item_field());
        for message in messages.iter() {
            let Some(message) = message else {
                lists.append_null();
                continue;
            };
            let entries = lists.values();
            for NodeReason { reason, nodes } in parse(message).reasons {
                entries.field_builder::<StringBuilder>(0).expect("field 0 is utf8").append_value(reason);
                entries.field_builder::<Int64Builder>(1).expect("field 1 is int64").append_option(nodes);
                entries.append(true);
            }
            lists.append(true);
        }
        let array: ArrayRef = Arc::new(lists.finish());
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(message: &str) -> Vec<(String, Option<i64>)> {
        parse(message).reasons.into_iter().map(|r| (r.reason, r.nodes)).collect()
    }

    fn owned(expected: &[(&str, Option<i64>)]) -> Vec<(String, Option<i64>)> {
        expected.iter().map(|(reason, nodes)| (reason.to_string(), *nodes)).collect()
    }

    // v1.36 (the lesson-1 notebook's cluster): taint(s) wording and a preemption sentence.
    #[test]
    fn v1_36_insufficient_gpu() {
        let message = "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 Insufficient nvidia.com/gpu. \
                       preemption: 0/7 nodes are available: 1 Preemption is not helpful for scheduling, \
                       6 No preemption victims found for incoming pod.";
        let parsed = parse(message);
        assert_eq!(parsed.total_nodes, Some(7));
        assert_eq!(
            pairs(message),
            owned(&[("node(s) had untolerated taint(s)", Some(1)), ("Insufficient nvidia.com/gpu", Some(6))])
        );
        assert_eq!(
            parsed.preemption.as_deref(),
            Some(
                "0/7 nodes are available: 1 Preemption is not helpful for scheduling, 6 No preemption victims found for incoming pod."
            )
        );
        assert!(!parsed.truncated);
    }

    #[test]
    fn v1_36_selector_mismatch() {
        let message = "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 node(s) didn't match Pod's node \
                       affinity/selector. preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.";
        assert_eq!(
            pairs(message),
            owned(&[
                ("node(s) had untolerated taint(s)", Some(1)),
                ("node(s) didn't match Pod's node affinity/selector", Some(6))
            ])
        );
    }

    // ≤1.22 (from a v1.21.2 cluster in cilium/cilium#18829, and cluster-capacity#137): the taint
    // reason itself holds ", " and there is no preemption sentence.
    #[test]
    fn v1_21_taint_wording_keeps_its_comma() {
        let message = "0/21 nodes are available: 1 node(s) didn't find available persistent volumes to bind, \
                       1 node(s) had taint {node.k8s.test/lifecycle: offline}, that the pod didn't tolerate, \
                       18 node(s) didn't match Pod's node affinity.";
        let parsed = parse(message);
        assert_eq!(parsed.total_nodes, Some(21));
        assert_eq!(parsed.preemption, None);
        assert_eq!(
            pairs(message),
            owned(&[
                ("node(s) didn't find available persistent volumes to bind", Some(1)),
                ("node(s) had taint {node.k8s.test/lifecycle: offline}, that the pod didn't tolerate", Some(1)),
                ("node(s) didn't match Pod's node affinity", Some(18)),
            ])
        );
    }

    // 1.24–1.27 era (NVIDIA/k8s-device-plugin#421): `{key: }` taint wording and a `..` ending.
    #[test]
    fn v1_2x_untolerated_taint_with_key_and_double_dot() {
        let message = "0/1 nodes are available: 1 node(s) had untolerated taint {gpu: }. preemption: 0/1 nodes are \
                       available: 1 Preemption is not helpful for scheduling..";
        let parsed = parse(message);
        assert_eq!(pairs(message), owned(&[("node(s) had untolerated taint {gpu: }", Some(1))]));
        assert!(parsed.preemption.unwrap().ends_with("scheduling.."));
    }

    #[test]
    fn kind_control_plane_taint() {
        let message = "0/7 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
                       6 Insufficient nvidia.com/gpu. preemption: 0/7 nodes are available: 1 Preemption is not helpful \
                       for scheduling, 6 No preemption victims found for incoming pod..";
        assert_eq!(
            pairs(message),
            owned(&[
                ("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }", Some(1)),
                ("Insufficient nvidia.com/gpu", Some(6)),
            ])
        );
    }

    // v1.34+ with DRA (kubernetes/kubernetes#137617): a PreFilter sentence (no histogram follows
    // it) and DRA's PostFilter sentence joined to preemption's by ", ".
    #[test]
    fn dra_prefilter_sentence_and_comma_before_preemption() {
        let message = "0/2 nodes are available: resource claim default/single-gpu is in the process of being allocated. \
                       no new claims to deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful \
                       for scheduling.";
        let parsed = parse(message);
        assert_eq!(parsed.total_nodes, Some(2));
        assert_eq!(
            pairs(message),
            owned(&[("resource claim default/single-gpu is in the process of being allocated", None)])
        );
        assert_eq!(parsed.post_filter, ["no new claims to deallocate"]);
        assert_eq!(
            parsed.preemption.as_deref(),
            Some("0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
        );
    }

    // DRA filter reason with counts, then DRA's PostFilter sentence (format strings of
    // pkg/scheduler/framework/plugins/dynamicresources): the PostFilter sentence is not a reason.
    #[test]
    fn dra_filter_reason_with_count() {
        let message = "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 cannot allocate all claims. \
                       still not schedulable, preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.";
        assert_eq!(
            pairs(message),
            owned(&[("node(s) had untolerated taint(s)", Some(1)), ("cannot allocate all claims", Some(6))])
        );
        assert_eq!(parse(message).post_filter, ["still not schedulable"]);
    }

    // The lesson-1 recording (v1.36.1 with DRA on): the pod asks for no claim, so DRA's
    // PostFilter says `no new claims to deallocate` after the histogram. It is not a reason, so a
    // cause check can never be shown it as one and then fail to match it.
    #[test]
    fn v1_36_dra_post_filter_after_the_histogram_is_not_a_reason() {
        let message = "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 node(s) didn't match Pod's node \
                       affinity/selector. no new claims to deallocate, preemption: 0/7 nodes are available: 7 Preemption \
                       is not helpful for scheduling.";
        let parsed = parse(message);
        assert_eq!(
            pairs(message),
            owned(&[
                ("node(s) had untolerated taint(s)", Some(1)),
                ("node(s) didn't match Pod's node affinity/selector", Some(6))
            ])
        );
        assert_eq!(parsed.post_filter, ["no new claims to deallocate"]);
        assert!(parsed.preemption.unwrap().ends_with("7 Preemption is not helpful for scheduling."));
    }

    // hwameistor/hwameistor#1742: a third-party filter reason among the built-in ones.
    #[test]
    fn several_resources_and_custom_reason() {
        let message = "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 not the published node. \
                       preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.";
        assert_eq!(
            pairs(message),
            owned(&[
                ("Insufficient cpu", Some(1)),
                ("Insufficient memory", Some(1)),
                ("not the published node", Some(1))
            ])
        );
    }

    // The scheduler cuts Event messages at 1024 bytes and appends " ...".
    #[test]
    fn event_cut_at_1024_bytes() {
        let mut message = String::from("0/300 nodes are available: ");
        let mut n = 0;
        while message.len() < 1100 {
            message.push_str(&format!("{} node(s) had untolerated taint {{team-{n}: }}, ", n + 1));
            n += 1;
        }
        message.truncate(1020);
        message.push_str(" ...");
        assert_eq!(message.len(), 1024);
        let parsed = parse(&message);
        assert!(parsed.truncated);
        assert_eq!(parsed.preemption, None);
        assert_eq!(
            parsed.reasons[0],
            NodeReason { reason: "node(s) had untolerated taint {team-0: }".into(), nodes: Some(1) }
        );
        assert!(parsed.reasons.len() > 10);
        assert!(!parsed.reasons.last().unwrap().reason.ends_with("..."));
    }

    #[test]
    fn messages_without_the_histogram() {
        assert_eq!(
            pairs("no nodes available to schedule pods"),
            owned(&[("no nodes available to schedule pods", None)])
        );
        assert_eq!(
            pairs(
                "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
            ),
            owned(&[("pod has unbound immediate PersistentVolumeClaims", None)])
        );
        assert_eq!(pairs(""), owned(&[]));
    }
}
