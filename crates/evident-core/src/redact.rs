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

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::extract::{Facts, Meta, Spec, Text, walk};
use crate::json::{self, Cursor, Rewriter};

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
    if let Some(spec) = object.get_mut("spec") {
        redact_spec(spec);
    }
}

/// Redacts JSON text with the same policy as [`redact`] and returns compact JSON.
///
/// One pass over the text ([`redact_read`]). Text the rewriter cannot walk safely (not an
/// object, an escaped key where a name is compared, a value of an unexpected type where the
/// policy or the typed columns look) takes the full-parse path, so every input gets the same
/// policy. The rewriter checks only the structure it walks: invalid JSON elsewhere passes
/// through, so the text must be known to be JSON (the recorder's `ChangeStore::append`
/// checks it; its watch has serde_json decode every object).
pub fn redact_json(text: &str) -> Result<String, serde_json::Error> {
    match redact_read(text) {
        Some((redacted, _)) => Ok(redacted),
        None => redact_parsed(text),
    }
}

/// The full-parse path of [`redact_json`]: parses `text`, applies [`redact`] and writes
/// compact JSON (members sorted). For text [`redact_read`] has already refused, so it is
/// not walked a second time. Fails only on invalid JSON.
pub fn redact_parsed(text: &str) -> Result<String, serde_json::Error> {
    let mut object: Value = serde_json::from_str(text)?;
    redact(&mut object);
    serde_json::to_string(&object)
}

/// Redacts JSON text as [`redact_json`] does and reads the typed columns' [`Facts`] of the
/// redacted object in the same pass: the recorder's write path, which would otherwise walk
/// the text twice.
///
/// Members the policy does not touch are copied verbatim (so their order and spelling are
/// the input's); only `metadata`, `spec`, `status`, the containers and env lists and the
/// Event fields are walked. The facts equal [`Facts::read`] of the redacted text; they
/// borrow from `text`. `None` where [`redact_json`] would take the full-parse path or
/// [`Facts::read`] would fall back to [`Facts::parse`]: the caller does both.
pub fn redact_read(text: &str) -> Option<(String, Facts<'_>)> {
    let mut facts = Facts::default();
    let mut w = Rewriter::new(text);
    w.object(|w, key| match key {
        "metadata" => walk(w, |w, key| metadata_member(w, key, &mut facts.metadata)),
        "spec" => walk(w, |w, key| spec_member(w, key, &mut facts.spec)),
        _ => facts.member(w, key),
    })?;
    Some((w.finish()?, facts))
}

fn metadata_member<'a>(w: &mut Rewriter<'a>, key: &str, meta: &mut Meta<'a>) -> Option<bool> {
    match key {
        "managedFields" => w.skip(),
        "annotations" => {
            // As the typed columns read them from the redacted text: strings only.
            let annotations = &mut meta.annotations.0;
            annotations.clear();
            if w.null() {
                return Some(true);
            }
            w.object(|w, key| {
                if key == LAST_APPLIED {
                    return w.skip();
                }
                let value = json::string(w.value()?)?;
                annotations.push((Text(Cow::Borrowed(key)), Text(value)));
                Some(true)
            })
            .map(|()| true)
        }
        _ => meta.member(w, key),
    }
}

fn spec_member<'a>(w: &mut Rewriter<'a>, key: &str, spec: &mut Spec<'a>) -> Option<bool> {
    match key {
        "containers" => spec.read_containers(w, container_member),
        "template" => w.object_or_copy(|w, key| match key {
            "spec" => w.object_or_copy(pod_spec_member),
            _ => w.copy(),
        }),
        "initContainers" | "ephemeralContainers" => pod_spec_member(w, key),
        _ => spec.member(w, key),
    }
}

// Unexpected types in a pod template are copied as they are, as `redact` leaves them.
fn pod_spec_member(w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
    match key {
        "containers" | "initContainers" | "ephemeralContainers" => {
            w.array_or_copy(|w| w.object_or_copy(container_member))
        }
        _ => w.copy(),
    }
}

fn container_member(w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
    match key {
        "env" => w.array_or_copy(|w| w.object_or_copy(env_var_member)),
        _ => w.copy(),
    }
}

fn env_var_member(w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
    if key != "value" {
        return w.copy();
    }
    // Hash the decoded string, as the tree path does (non-strings hash as "").
    let raw = w.take()?;
    let hashed = match raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => hash_value(plain),
        Some(_) => hash_value(&serde_json::from_str::<String>(raw).ok()?),
        None => hash_value(""),
    };
    w.write_raw("\"");
    w.write_raw(&hashed);
    w.write_raw("\"");
    Some(true)
}

// Pods carry containers under spec; objects embedding a pod template (never recorded
// today, but cheap to cover) carry them under spec.template.spec.
fn redact_spec(spec: &mut Value) {
    redact_pod_spec(spec);
    if let Some(template_spec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        redact_pod_spec(template_spec);
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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The replacement for a secret-bearing string: stable, short, not reversible.
pub fn hash_value(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(7 + 16);
    out.push_str("sha256:");
    for byte in &digest[..8] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
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
    fn text_redaction_matches_tree_redaction() {
        let objects = [
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "managedFields": [{"manager": "CANARY"}],
                             "annotations": {LAST_APPLIED: "CANARY", "keep": "me"}},
                "spec": {"containers": [
                    {"name": "c", "env": [{"name": "T", "value": "CANARY"}, {"name": "Q", "value": "quo\"te CANARY"},
                                          {"name": "N", "value": 7}, {"name": "F", "valueFrom": {"fieldRef": {}}}]},
                    {"name": "d", "env": null},
                    {"name": "e"}
                ], "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY"}]}]},
                "status": {"phase": "Running"}
            }),
            json!({"metadata": {"name": "n", "annotations": null}, "spec": {"template": {"spec":
                {"initContainers": [{"env": [{"name": "X", "value": "CANARY"}]}]}}}}),
            json!({"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"taints": []}}),
            json!({"metadata": {"annotations": "odd", "managedFields": null},
                   "spec": {"containers": [7, {"env": "odd"}, {"env": [3, {"value": null}, {"value": ["CANARY"]}]}],
                            "initContainers": {"not": "a list"},
                            "template": {"metadata": {}, "spec": {"containers": [{"env": [{"value": "CANARY"}]}]}}}}),
            json!({"metadata": [], "spec": "plain"}),
            json!({"kind": "Event", "message": "quote \" and \\u0041 and <tag>", "metadata": {}}),
            json!({}),
        ];
        for object in objects {
            let text = serde_json::to_string(&object).unwrap();
            let redacted = redact_json(&text).unwrap();
            assert!(!redacted.contains("CANARY"), "{redacted}");
            let mut expected = object.clone();
            redact(&mut expected);
            assert_eq!(serde_json::from_str::<Value>(&redacted).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn text_path_keeps_member_order_and_spelling() {
        let text = r#"{"z":1,"metadata":{"name":"p","managedFields":[{"f:x":{}}],"labels":{"b":"1","a":"2"}},"spec":{"containers":[{"name":"c","env":[{"value":"s","name":"E"}]}]},"a":"\u0041"}"#;
        let expected = format!(
            r#"{{"z":1,"metadata":{{"name":"p","labels":{{"b":"1","a":"2"}}}},"spec":{{"containers":[{{"name":"c","env":[{{"value":"{}","name":"E"}}]}}]}},"a":"\u0041"}}"#,
            hash_value("s")
        );
        assert_eq!(redact_json(text).unwrap(), expected);
    }

    #[test]
    fn escaped_keys_and_non_objects_take_the_full_parse() {
        // `\u0065nv` is "env" and `managed\u0046ields` is "managedFields" once unescaped.
        let text = r#"{"metadata":{"managed\u0046ields":[1],"name":"p"},"spec":{"containers":[{"\u0065nv":[{"name":"T","value":"CANARY"}]}]}}"#;
        let redacted = redact_json(text).unwrap();
        assert!(!redacted.contains("CANARY") && !redacted.contains("managedFields"), "{redacted}");
        assert_eq!(redact_json("[1,2]").unwrap(), "[1,2]");
        assert!(redact_json("{\"a\":").is_err());
    }

    /// `redact_read` gives `redact_json`'s text and `Facts::parse` of it, or `None` on what
    /// takes the slow paths.
    #[test]
    fn one_pass_gives_what_redaction_then_facts_give() {
        let one_pass = [
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                             "labels": {"app": "a", "q\"uote": "vé"},
                             "annotations": {LAST_APPLIED: "{\"env\":\"CANARY\"}", "keep": "me", "esc": "a\"b"},
                             "ownerReferences": [{"kind": "Job", "name": "j", "controller": true}],
                             "managedFields": [{"manager": "CANARY", "fieldsV1": {"f:spec": {"k:{\"name\":\"c\"}": {}}}}],
                             "creationTimestamp": "2026-06-14T15:39:50Z"},
                "spec": {"nodeName": "n1", "nodeSelector": {"run.ai/simulated-gpu-node-pool": "a100"},
                         "containers": [
                             {"name": "c", "env": [{"name": "T", "value": "CANARY"}, {"name": "F", "valueFrom": {}}],
                              "resources": {"limits": {"nvidia.com/gpu": "2"}, "requests": {"cpu": 1}}},
                             {"name": "d", "env": null, "resources": null}
                         ],
                         "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY"}]}],
                         "tolerations": [{"key": "k", "operator": "Exists"}]},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                           "reason": "Unschedulable", "message": "0/3 nodes are available: \"gpu\"",
                           "lastTransitionTime": "2026-06-14T15:39:51Z"}]}
            }),
            json!({"kind": "Node", "metadata": {"name": "n", "labels": {"pool": "h100"}, "annotations": null},
                   "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "unschedulable": true},
                   "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": 8},
                              "nodeInfo": {"kubeletVersion": "v1.33.0"}}}),
            json!({"kind": "Event", "metadata": {"name": "e", "managedFields": []}, "involvedObject": {"kind": "Pod", "name": "p"},
                   "reason": "FailedScheduling", "type": "Warning", "message": "quote \" and <tag>", "count": 3,
                   "source": {"component": "default-scheduler"}, "series": {"count": 2}, "eventTime": null}),
            json!({"metadata": null, "spec": {"containers": null, "template": {"spec": {"containers": [{"env": [{"value": "CANARY"}]}]}}}}),
            json!({}),
        ];
        // Types the policy or the columns do not expect: both slow paths.
        let slow = [
            json!({"metadata": {"name": "p", "annotations": "odd"}}),
            json!({"metadata": {"name": "p", "annotations": {"a": 1}}}),
            json!({"metadata": {"name": "p", "labels": ["x"]}}),
            json!({"metadata": [], "spec": "plain"}),
            json!({"spec": {"containers": [7, {"env": [{"value": "CANARY"}]}]}}),
            json!({"status": {"phase": 42}}),
            json!([1, 2]),
        ];
        for (object, fast) in one_pass.iter().map(|o| (o, true)).chain(slow.iter().map(|o| (o, false))) {
            let text = serde_json::to_string(object).unwrap();
            let expected = redact_json(&text).unwrap();
            assert!(!expected.contains("CANARY"), "{expected}");
            match redact_read(&text) {
                Some((redacted, facts)) => {
                    assert!(fast, "took the one pass: {text}");
                    assert_eq!(redacted, expected);
                    assert_eq!(format!("{facts:?}"), format!("{:?}", Facts::parse(&expected).unwrap()), "{text}");
                }
                None => assert!(!fast, "took the slow paths: {text}"),
            }
        }
        let text = one_pass[0].to_string();
        let (_, facts) = redact_read(&text).unwrap();
        assert_eq!((facts.pod_gpu_request(), facts.metadata.annotations.0.len()), (Some(2), 2));
    }

    #[test]
    fn hash_is_stable_and_distinguishes_values() {
        assert_eq!(hash_value("a"), hash_value("a"));
        assert_ne!(hash_value("a"), hash_value("b"));
        assert_eq!(hash_value("a").len(), 23);
    }
}
