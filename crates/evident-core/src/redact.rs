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

use crate::json;

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
/// Members the policy does not touch are copied verbatim (so their order and spelling are
/// the input's); only `metadata`, and `spec` when it holds env vars, are split further.
/// Text the scanner cannot split safely (not an object, escaped keys, a pod template) takes
/// the full-parse path, so every input gets the same policy. The scanner checks only the
/// structure it walks: invalid JSON elsewhere passes through, and the recorder's facts parse
/// (`ChangeStore::append`) refuses it before anything is written.
pub fn redact_json(text: &str) -> Result<String, serde_json::Error> {
    if let Some(redacted) = redact_members(text) {
        return Ok(redacted);
    }
    let mut object: Value = serde_json::from_str(text)?;
    redact(&mut object);
    serde_json::to_string(&object)
}

fn redact_members(text: &str) -> Option<String> {
    rewrite_object(text, |key, value| match key {
        "metadata" => redact_metadata_text(value).map(Edit::Replace),
        // `"env"` finds every env list; `\u` a key that might spell it with escapes.
        "spec" if value.contains("\"env\"") || value.contains("\\u") => redact_spec_text(value).map(Edit::Replace),
        _ => Some(Edit::Keep),
    })
}

fn redact_metadata_text(text: &str) -> Option<String> {
    rewrite_object(text, |key, value| match key {
        "managedFields" => Some(Edit::Drop),
        "annotations" if value != "null" => {
            rewrite_object(value, |key, _| Some(if key == LAST_APPLIED { Edit::Drop } else { Edit::Keep }))
                .map(Edit::Replace)
        }
        _ => Some(Edit::Keep),
    })
}

/// The pod spec with env values hashed. Pod templates (`spec.template`) are left to the
/// full-parse path.
fn redact_spec_text(text: &str) -> Option<String> {
    rewrite_object(text, |key, value| match key {
        "template" => None,
        "containers" | "initContainers" | "ephemeralContainers" if value != "null" => {
            rewrite_array(value, redact_container_text).map(Edit::Replace)
        }
        _ => Some(Edit::Keep),
    })
}

fn redact_container_text(text: &str) -> Option<String> {
    rewrite_object(text, |key, value| match key {
        "env" if value != "null" => rewrite_array(value, redact_env_var_text).map(Edit::Replace),
        _ => Some(Edit::Keep),
    })
}

fn redact_env_var_text(text: &str) -> Option<String> {
    rewrite_object(text, |key, value| match key {
        "value" => {
            // Hash the decoded string, as the tree path does (non-strings hash as "").
            let decoded: Value = serde_json::from_str(value).ok()?;
            Some(Edit::Replace(format!("\"{}\"", hash_value(decoded.as_str().unwrap_or_default()))))
        }
        _ => Some(Edit::Keep),
    })
}

/// What to do with one member of an object being rewritten.
enum Edit {
    Keep,
    Drop,
    Replace(String),
}

/// Rewrites the object `text` member by member. `None` (from the scanner, from an escaped
/// key, or from `edit`) means the text path cannot redact it safely: the caller falls back
/// to the full parse.
fn rewrite_object(text: &str, mut edit: impl FnMut(&str, &str) -> Option<Edit>) -> Option<String> {
    let mut kept: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for member in json::members(text).ok()? {
        if member.key_is_escaped() {
            return None;
        }
        match edit(member.key, member.value)? {
            Edit::Keep => kept.push((member.key, Cow::Borrowed(member.value))),
            Edit::Drop => {}
            Edit::Replace(value) => kept.push((member.key, Cow::Owned(value))),
        }
    }
    let mut out = String::with_capacity(text.len());
    json::write_object(&mut out, kept.iter().map(|(key, value)| (*key, value.as_ref())));
    Some(out)
}

/// Rewrites every element of the array `text` with `edit`.
fn rewrite_array(text: &str, edit: impl Fn(&str) -> Option<String>) -> Option<String> {
    let elements: Option<Vec<String>> = json::elements(text).ok()?.into_iter().map(edit).collect();
    let mut out = String::with_capacity(text.len());
    json::write_array(&mut out, elements?.iter().map(String::as_str));
    Some(out)
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
    fn escaped_keys_and_non_objects_take_the_full_parse() {
        // `\u0065nv` is "env" and `managed\u0046ields` is "managedFields" once unescaped.
        let text = r#"{"metadata":{"managed\u0046ields":[1],"name":"p"},"spec":{"containers":[{"\u0065nv":[{"name":"T","value":"CANARY"}]}]}}"#;
        let redacted = redact_json(text).unwrap();
        assert!(!redacted.contains("CANARY") && !redacted.contains("managedFields"), "{redacted}");
        assert_eq!(redact_json("[1,2]").unwrap(), "[1,2]");
        assert!(redact_json("{\"a\":").is_err());
    }

    #[test]
    fn hash_is_stable_and_distinguishes_values() {
        assert_eq!(hash_value("a"), hash_value("a"));
        assert_ne!(hash_value("a"), hash_value("b"));
        assert_eq!(hash_value("a").len(), 23);
    }
}
