//! Typed columns extracted from a (redacted) object for the hot query paths.
//!
//! Each function reads one fact from the JSON object and returns `None` when the object
//! does not carry it; none of them fails. The JSON stays the source of truth.

use serde_json::Value;

use crate::gpu::{self, GPU_RESOURCE};
use crate::time::parse_rfc3339_ns;

/// A typed cell value produced by an extractor.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Str(Option<&'a str>),
    Owned(Option<String>),
    Int(Option<i64>),
    /// Nanoseconds since the Unix epoch, UTC.
    Time(Option<i64>),
    Bool(Option<bool>),
}

pub fn path<'a>(object: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(object, |value, key| value.get(key))
}

pub fn str_at<'a>(object: &'a Value, keys: &[&str]) -> Option<&'a str> {
    path(object, keys)?.as_str()
}

pub fn time_at(object: &Value, keys: &[&str]) -> Option<i64> {
    str_at(object, keys).and_then(parse_rfc3339_ns)
}

pub fn int_at(object: &Value, keys: &[&str]) -> Option<i64> {
    path(object, keys)?.as_i64()
}

/// A status condition of the given type (`PodScheduled`, `Ready`, ...).
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    path(object, &["status", "conditions"])?
        .as_array()?
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
}

pub fn condition_str<'a>(object: &'a Value, kind: &str, field: &str) -> Option<&'a str> {
    condition(object, kind)?.get(field)?.as_str()
}

/// When the condition last turned `True` (1 s precision), or `None` while it is not true.
pub fn condition_true_at(object: &Value, kind: &str) -> Option<i64> {
    let condition = condition(object, kind)?;
    if condition.get("status").and_then(Value::as_str) != Some("True") {
        return None;
    }
    condition.get("lastTransitionTime")?.as_str().and_then(parse_rfc3339_ns)
}

/// GPUs a pod asks for: the sum over its containers of the request (or, when only a limit
/// is set, the limit, which the API server copies into the request for extended resources).
pub fn pod_gpu_request(pod: &Value) -> Option<i64> {
    let containers = path(pod, &["spec", "containers"])?.as_array()?;
    let mut total = None;
    for container in containers {
        let resources = container.get("resources");
        let quantity = resources
            .and_then(|r| r.get("requests"))
            .and_then(|r| r.get(GPU_RESOURCE))
            .or_else(|| resources.and_then(|r| r.get("limits")).and_then(|r| r.get(GPU_RESOURCE)));
        if let Some(count) = quantity.and_then(gpu::device_count) {
            total = Some(total.unwrap_or(0) + count);
        }
    }
    total
}

/// The pool a pod's nodeSelector asks for, if it names one of the known pool labels.
pub fn pod_pool_selector(pod: &Value) -> Option<&str> {
    gpu::pool_of(path(pod, &["spec", "nodeSelector"]))
}

/// The controlling owner reference (kind, name).
pub fn controller_owner(object: &Value) -> Option<(&str, &str)> {
    let owners = path(object, &["metadata", "ownerReferences"])?.as_array()?;
    let owner = owners
        .iter()
        .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| owners.first())?;
    Some((owner.get("kind")?.as_str()?, owner.get("name")?.as_str()?))
}

/// The workload a pod belongs to: for a ReplicaSet created by a Deployment, the Deployment
/// (the owner name minus its `-<pod-template-hash>` suffix); otherwise the owner's name;
/// for a bare pod, the pod's own name.
pub fn pod_workload(pod: &Value) -> Option<String> {
    let name = str_at(pod, &["metadata", "name"])?;
    let Some((kind, owner)) = controller_owner(pod) else {
        return Some(name.to_string());
    };
    if kind == "ReplicaSet"
        && let Some(hash) = str_at(pod, &["metadata", "labels", "pod-template-hash"])
        && let Some(deployment) = owner.strip_suffix(hash).and_then(|rest| rest.strip_suffix('-'))
    {
        return Some(deployment.to_string());
    }
    Some(owner.to_string())
}

/// The nodeSelector as compact JSON text (keys sorted by serde_json's map order).
pub fn pod_node_selector(pod: &Value) -> Option<String> {
    let selector = path(pod, &["spec", "nodeSelector"])?;
    selector.as_object().filter(|map| !map.is_empty()).map(|_| selector.to_string())
}

pub fn node_gpus(node: &Value, field: &str) -> Option<i64> {
    path(node, &["status", field, GPU_RESOURCE]).and_then(gpu::device_count)
}

/// Taints as `key=value:Effect` joined by `,` in the order the API returns them.
pub fn node_taints(node: &Value) -> Option<String> {
    let taints = path(node, &["spec", "taints"])?.as_array()?;
    if taints.is_empty() {
        return None;
    }
    let parts: Vec<String> = taints
        .iter()
        .map(|taint| {
            let key = taint.get("key").and_then(Value::as_str).unwrap_or_default();
            let effect = taint.get("effect").and_then(Value::as_str).unwrap_or_default();
            match taint.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()) {
                Some(value) => format!("{key}={value}:{effect}"),
                None => format!("{key}:{effect}"),
            }
        })
        .collect();
    Some(parts.join(","))
}

pub fn node_pool(node: &Value) -> Option<&str> {
    gpu::pool_of(path(node, &["metadata", "labels"]))
}

/// `status.nodeInfo.kubeletVersion`, with the empty string (not yet stamped) as `None`.
pub fn node_kubelet_version(node: &Value) -> Option<&str> {
    str_at(node, &["status", "nodeInfo", "kubeletVersion"]).filter(|v| !v.is_empty())
}

pub fn node_kwok_managed(node: &Value) -> Option<bool> {
    Some(str_at(node, &["metadata", "annotations", "kwok.x-k8s.io/node"]).is_some())
}

/// The component that emitted an event: `source.component`, else `reportingComponent`
/// (events written through events.k8s.io/v1 fill only the latter).
pub fn event_source_component(event: &Value) -> Option<&str> {
    str_at(event, &["source", "component"])
        .filter(|v| !v.is_empty())
        .or_else(|| str_at(event, &["reportingComponent"]).filter(|v| !v.is_empty()))
}

pub fn event_source_host(event: &Value) -> Option<&str> {
    str_at(event, &["source", "host"])
        .filter(|v| !v.is_empty())
        .or_else(|| str_at(event, &["reportingInstance"]).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {
                "name": "queue-pressure-6d9f7c-abcde",
                "labels": {"pod-template-hash": "6d9f7c"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "queue-pressure-6d9f7c", "controller": true}]
            },
            "spec": {
                "nodeSelector": {"run.ai/simulated-gpu-node-pool": "a100"},
                "containers": [
                    {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}},
                    {"name": "b", "resources": {"requests": {"nvidia.com/gpu": "2"}}},
                    {"name": "c"}
                ]
            },
            "status": {"conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-06-14T15:39:51Z"},
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-06-14T15:39:52Z"}
            ]}
        })
    }

    #[test]
    fn pod_columns() {
        let pod = pod();
        assert_eq!(pod_gpu_request(&pod), Some(3));
        assert_eq!(pod_pool_selector(&pod), Some("a100"));
        assert_eq!(pod_workload(&pod).as_deref(), Some("queue-pressure"));
        assert_eq!(controller_owner(&pod), Some(("ReplicaSet", "queue-pressure-6d9f7c")));
        assert!(condition_true_at(&pod, "PodScheduled").is_some());
        assert_eq!(condition_true_at(&pod, "Ready"), None);
        assert_eq!(pod_gpu_request(&json!({"spec": {"containers": [{"name": "x"}]}})), None);
    }

    #[test]
    fn bare_pod_is_its_own_workload() {
        let pod = json!({"metadata": {"name": "cuda-batch-small"}});
        assert_eq!(pod_workload(&pod).as_deref(), Some("cuda-batch-small"));
    }

    #[test]
    fn node_columns() {
        let node = json!({
            "metadata": {"labels": {"run.ai/simulated-gpu-node-pool": "h100"}},
            "spec": {"taints": [
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "k", "value": "v", "effect": "NoExecute"}
            ]},
            "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8"},
                       "nodeInfo": {"kubeletVersion": ""}}
        });
        assert_eq!(node_pool(&node), Some("h100"));
        assert_eq!(node_gpus(&node, "allocatable"), Some(8));
        assert_eq!(
            node_taints(&node).as_deref(),
            Some("node-role.kubernetes.io/control-plane:NoSchedule,k=v:NoExecute")
        );
        assert_eq!(node_kubelet_version(&node), None);
    }
}
