//! Redaction applied to every object before it is written anywhere (WAL or Parquet).
//!
//! Policy [`POLICY_VERSION`]:
//! - `metadata.managedFields` is dropped (noise, and it can echo field values);
//! - the annotation `kubectl.kubernetes.io/last-applied-configuration` is dropped (it holds
//!   the whole applied manifest, env values included);
//! - every `env[].value` of containers, init containers and ephemeral containers is replaced
//!   by `sha256:<first 16 hex digits>` so equal values still compare equal;
//! - Secrets are never watched at all (see the recorder), so no Secret data reaches here.
//!
//! The version string is stamped into every Parquet file and the run manifest; bump it when
//! the policy changes.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version of the redaction policy, stamped into every file written.
pub const POLICY_VERSION: &str = "redact-v1";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Redacts `object` in place.
pub fn redact(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED);
        }
    }
    // Pods carry containers under spec; objects embedding a pod template (never recorded
    // today, but cheap to cover) carry them under spec.template.spec.
    if let Some(spec) = object.get_mut("spec") {
        redact_pod_spec(spec);
        if let Some(template_spec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
            redact_pod_spec(template_spec);
        }
    }
}

fn redact_pod_spec(spec: &mut Value) {
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) else {
                continue;
            };
            for var in env {
                if let Some(value) = var.get_mut("value") {
                    let hashed = hash_value(value.as_str().unwrap_or_default());
                    *value = Value::String(hashed);
                }
            }
        }
    }
}

/// The replacement for a secret-bearing string: stable, short, not reversible.
pub fn hash_value(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(7 + 16);
    out.push_str("sha256:");
    for byte in &digest[..8] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_managed_fields_last_applied_and_hashes_env() {
        let mut pod = json!({
            "metadata": {
                "name": "p",
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {LAST_APPLIED: "{\"secret\":\"CANARY\"}", "keep": "me"}
            },
            "spec": {
                "containers": [{"name": "c", "env": [
                    {"name": "TOKEN", "value": "CANARY"},
                    {"name": "REF", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ]}],
                "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY"}]}]
            }
        });
        redact(&mut pod);
        let text = pod.to_string();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(pod["metadata"].get("managedFields").is_none());
        assert_eq!(pod["metadata"]["annotations"]["keep"], "me");
        assert_eq!(pod["spec"]["containers"][0]["env"][0]["value"], hash_value("CANARY"));
        assert!(pod["spec"]["containers"][0]["env"][1].get("valueFrom").is_some());
    }

    #[test]
    fn hash_is_stable_and_distinguishes_values() {
        assert_eq!(hash_value("a"), hash_value("a"));
        assert_ne!(hash_value("a"), hash_value("b"));
        assert_eq!(hash_value("a").len(), 23);
    }
}
