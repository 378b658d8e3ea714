//! Which nodes a pod may be placed on, as far as the pod's own spec and the node's labels,
//! taints and cordon decide it: the Filter checks of kube-scheduler's `NodeAffinity` (node
//! selector and required node affinity), `TaintToleration` and `NodeUnschedulable` plugins.
//!
//! Resource fit is not judged here: GPU figures are compared by the queries and the report
//! that use this. Not modelled at all: CPU, memory and pod-count fit, host ports, volumes
//! and their topology, inter-pod affinity and anti-affinity, topology spread, DRA claims,
//! and scheduler profiles with other plugins. One model serves the SQL function
//! `node_admits` (evident-query) and the report's attribution of Pending causes, so the two
//! never disagree on what a pod may use.
//!
//! Everything reads redacted objects as recorded (`spec.nodeSelector`, `spec.affinity`,
//! `spec.tolerations`; the node's `metadata.labels`, `metadata.name`, `spec.taints`,
//! `spec.unschedulable`), which redaction keeps as sent.

use serde_json::Value;

/// The taint the scheduler reads a cordon as; tolerating it admits a pod to a cordoned node.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Whether the pod (its recorded object) may be placed on the node (its recorded object):
/// its node selector and required node affinity admit the node, it tolerates every
/// `NoSchedule`/`NoExecute` taint of the node, and the node is not cordoned unless the pod
/// tolerates that.
pub fn node_admits(pod: &Value, node: &Value) -> bool {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let tolerations: &[Value] = spec.get("tolerations").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let labels = node.pointer("/metadata/labels");
    let label = |key: &str| labels.and_then(|labels| labels.get(key)).and_then(Value::as_str);
    if !selection_admits(spec, name, label) {
        return false;
    }
    let cordoned = node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
    if cordoned && !tolerates(tolerations, UNSCHEDULABLE_TAINT, "", "NoSchedule") {
        return false;
    }
    let text = |value: &Value, field: &str| value.get(field).and_then(Value::as_str).unwrap_or("").to_string();
    node.pointer("/spec/taints").and_then(Value::as_array).into_iter().flatten().all(|taint| {
        let effect = text(taint, "effect");
        !repels(&effect) || tolerates(tolerations, &text(taint, "key"), &text(taint, "value"), &effect)
    })
}

/// A taint effect that keeps pods off the node (`PreferNoSchedule` only discourages).
pub fn repels(effect: &str) -> bool {
    matches!(effect, "NoSchedule" | "NoExecute")
}

/// Whether one of the pod's tolerations tolerates the taint `key=value:effect` (Kubernetes'
/// `ToleratesTaint`).
pub fn tolerates(tolerations: &[Value], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|toleration| {
        let text = |field: &str| toleration.get(field).and_then(Value::as_str).unwrap_or("");
        let wanted_effect = text("effect");
        if !wanted_effect.is_empty() && wanted_effect != effect {
            return false;
        }
        let operator = match text("operator") {
            "" => "Equal",
            operator => operator,
        };
        let wanted_key = text("key");
        if wanted_key.is_empty() {
            return operator == "Exists";
        }
        wanted_key == key
            && match operator {
                "Exists" => true,
                "Equal" => text("value") == value,
                _ => false,
            }
    })
}

/// Whether the pod spec's `nodeSelector` and required node affinity admit the node named
/// `name` whose labels `label` reads.
pub fn selection_admits<'a>(spec: &Value, name: &str, label: impl Fn(&str) -> Option<&'a str>) -> bool {
    let selector_holds = spec
        .get("nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(key, value)| value.as_str().is_some_and(|value| label(key) == Some(value)));
    if !selector_holds {
        return false;
    }
    let terms = spec.pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    match terms {
        None | Some(Value::Null) => true,
        Some(terms) => terms.as_array().is_some_and(|terms| terms.iter().any(|term| term_matches(term, name, &label))),
    }
}

/// A node selector term: every expression and field requirement holds; an empty term matches
/// no node.
fn term_matches<'a>(term: &Value, name: &str, label: &impl Fn(&str) -> Option<&'a str>) -> bool {
    let list = |field: &str| term.get(field).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let (expressions, fields) = (list("matchExpressions"), list("matchFields"));
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions.iter().all(|requirement| {
        let key = requirement.get("key").and_then(Value::as_str).unwrap_or("");
        requirement_holds(requirement, label(key))
    }) && fields.iter().all(|requirement| {
        requirement.get("key").and_then(Value::as_str) == Some("metadata.name")
            && requirement_holds(requirement, Some(name))
    })
}

/// One `{key, operator, values}` requirement against the node's value for its key.
fn requirement_holds(requirement: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> =
        requirement.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let number = |text: &str| text.trim().parse::<i64>().ok();
    match requirement.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" => value.is_some_and(|value| values.contains(&value)),
        "NotIn" => value.is_none_or(|value| !values.contains(&value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        operator @ ("Gt" | "Lt") => {
            let (Some(have), [limit]) = (value.and_then(number), values.as_slice()) else { return false };
            let Some(limit) = number(limit) else { return false };
            if operator == "Gt" { have > limit } else { have < limit }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POOL: &str = "run.ai/simulated-gpu-node-pool";

    fn gpu_node(taints: Value) -> Value {
        json!({"metadata": {"name": "n", "labels": {POOL: "a100", "gpu.count": "8"}}, "spec": {"taints": taints}})
    }

    #[test]
    fn node_affinity_operators() {
        let labelled = gpu_node(json!([]));
        let with = |expressions: Value| {
            let pod = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}}});
            node_admits(&pod, &labelled)
        };
        assert!(with(json!([{"key": POOL, "operator": "In", "values": ["a100", "h100"]}])));
        assert!(!with(json!([{"key": POOL, "operator": "NotIn", "values": ["a100"]}])));
        assert!(with(json!([{"key": "zone", "operator": "DoesNotExist"}])));
        assert!(!with(json!([{"key": "zone", "operator": "Exists"}])));
        assert!(with(json!([{"key": "gpu.count", "operator": "Gt", "values": ["4"]}])));
        assert!(!with(json!([{"key": "gpu.count", "operator": "Lt", "values": ["4"]}])));
        assert!(!with(json!([{"key": "gpu.count", "operator": "Gt", "values": ["many"]}])), "not a number");
        assert!(!with(json!([{"key": POOL, "operator": "Sideways", "values": ["a100"]}])), "unknown operator");
        assert!(!with(json!([])), "an empty term matches no node");
        let by_name = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}}});
        assert!(node_admits(&by_name, &labelled));
    }

    #[test]
    fn node_selector_needs_every_label() {
        let node = gpu_node(json!([]));
        assert!(node_admits(&json!({"spec": {"nodeSelector": {POOL: "a100"}}}), &node));
        assert!(!node_admits(&json!({"spec": {"nodeSelector": {POOL: "b200"}}}), &node));
        assert!(!node_admits(&json!({"spec": {"nodeSelector": {POOL: "a100", "zone": "x"}}}), &node));
        assert!(node_admits(&json!({"spec": {}}), &node), "no selection admits every node");
    }

    #[test]
    fn taints_repel_unless_tolerated() {
        let tainted = gpu_node(json!([{"key": "gpu", "value": "reserved", "effect": "NoSchedule"}]));
        assert!(!node_admits(&json!({"spec": {}}), &tainted));
        let equal = json!({"spec": {"tolerations": [{"key": "gpu", "value": "reserved", "effect": "NoSchedule"}]}});
        assert!(node_admits(&equal, &tainted));
        let other_value = json!({"spec": {"tolerations": [{"key": "gpu", "value": "team-b"}]}});
        assert!(!node_admits(&other_value, &tainted));
        let exists = json!({"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}});
        assert!(node_admits(&exists, &tainted));
        let everything = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        assert!(node_admits(&everything, &tainted));
        let wrong_effect =
            json!({"spec": {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]}});
        assert!(!node_admits(&wrong_effect, &tainted));
        let preferred = gpu_node(json!([{"key": "gpu", "effect": "PreferNoSchedule"}]));
        assert!(node_admits(&json!({"spec": {}}), &preferred), "PreferNoSchedule only discourages");
    }

    #[test]
    fn a_cordoned_node_takes_only_pods_tolerating_the_cordon() {
        let mut cordoned = gpu_node(json!([]));
        cordoned["spec"]["unschedulable"] = json!(true);
        assert!(!node_admits(&json!({"spec": {}}), &cordoned));
        let tolerant = json!({"spec": {"tolerations": [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]}});
        assert!(node_admits(&tolerant, &cordoned));
    }
}
