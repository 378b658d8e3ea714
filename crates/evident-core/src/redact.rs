//! Redaction applied to every object before it is written anywhere (WAL or Parquet).
//!
//! Policy [`POLICY_VERSION`] (`redact-v2`; `docs/schema.md`, "Redaction policy", is the
//! user's statement of it):
//! - `metadata.managedFields` is dropped (noise, and it can echo field values);
//! - the annotation `kubectl.kubernetes.io/last-applied-configuration` is dropped (it holds
//!   the whole applied manifest, env values included); every other annotation keeps its key
//!   and has its value replaced (nodes, pods and events alike: tools embed whole manifests
//!   and tokens there);
//! - in the containers, init containers and ephemeral containers of a pod (and of a pod
//!   template): every `env[].value` is replaced, and so is every item of `args` and
//!   `command` (the count and order of the items stay);
//! - in `spec.volumes[]`: every value of `csi.volumeAttributes` and of `flexVolume.options`
//!   is replaced (the keys stay);
//! - in `status.containerStatuses[]`, `initContainerStatuses[]` and
//!   `ephemeralContainerStatuses[]`: `state.terminated.message` and
//!   `lastState.terminated.message` are replaced;
//! - Secrets are never watched at all (see the recorder), so no Secret data reaches here.
//!
//! A replaced string becomes `hmac:<key id>:<16 hex digits>`: HMAC-SHA-256 under the
//! [`Redactor`]'s key, cut to 64 bits, so equal values still compare equal within one
//! recording while a dictionary of likely values cannot be checked against it without the
//! key. The recorder draws a fresh random key for every recording session and keeps it in
//! memory only; the key id (a keyed hash of a fixed label, 32 bits) tells which key made a
//! hash, so hashes of two sessions (a resumed run) are never taken for unequal values of
//! one. A `null` stays `null`; a value of another type where the policy expects a string,
//! an object or a list (which no API server sends) is replaced whole by the hash of the
//! empty string, so nothing of it is written.
//!
//! Everything else is kept as the API server sent it: names, labels, resources, node
//! selectors, tolerations, affinity, phases, conditions and their messages, events and
//! their messages are what the scheduling experiments read.
//!
//! The version string is stamped into every Parquet file and the run manifest; bump it when
//! the policy changes. Runs recorded under `redact-v1` (env values as unkeyed
//! `sha256:<16 hex>`, nothing else replaced) read as they are: reading never redacts.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::extract::{Facts, Meta, Spec, Status, Text, walk};
use crate::json::{self, Cursor, Rewriter};

/// Version of the redaction policy, stamped into every file written.
pub const POLICY_VERSION: &str = "redact-v2";

/// Bytes of a redaction key: SHA-256's block size, the longest key HMAC-SHA-256 uses as is.
pub const KEY_BYTES: usize = 64;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
const CONTAINER_STATUS_LISTS: [&str; 3] = ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"];

// Domain separation: a value's hash and the key id never hash the same bytes.
const VALUE_DOMAIN: &[u8] = b"evident redact-v2 value\0";
const KEY_ID_DOMAIN: &[u8] = b"evident redact-v2 key id\0";

type HmacSha256 = Hmac<Sha256>;

/// Applies the policy with one key. Build one per recording session from a key drawn from
/// the operating system's random number generator (the recorder does) and keep it in
/// memory only: whoever holds the key can test guesses against the hashes.
///
/// Its `Debug` shows the key id, never the key.
#[derive(Clone)]
pub struct Redactor {
    mac: HmacSha256,
    key_id: String,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor hashing with `key`. The recorder passes random bytes; a fixed key is for
    /// tests and generated sample runs only, whose hashes anyone can then reproduce.
    pub fn from_key(key: [u8; KEY_BYTES]) -> Redactor {
        let mac = HmacSha256::new(&key.into());
        let mut id = mac.clone();
        id.update(KEY_ID_DOMAIN);
        let key_id = hex(&id.finalize().into_bytes()[..4]);
        Redactor { mac, key_id }
    }

    /// The key's id, 8 hex digits: the middle part of every hash this redactor writes, and
    /// what `run.json` lists in `redaction_keys`. It tells keys apart; it gives nothing
    /// about the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The replacement for a secret-bearing string: `hmac:<key id>:<16 hex digits>`.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(VALUE_DOMAIN);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("hmac:{}:{}", self.key_id, hex(&digest[..8]))
    }

    /// Redacts `object` in place.
    pub fn redact(&self, object: &mut Value) {
        let Some(object) = object.as_object_mut() else {
            return;
        };
        if let Some(metadata) = object.get_mut("metadata") {
            self.within_object(metadata, Redactor::metadata);
        }
        if let Some(spec) = object.get_mut("spec") {
            self.within_object(spec, |r, spec| {
                r.pod_spec(spec);
                // Pods carry containers under spec; objects embedding a pod template (never
                // recorded today, but cheap to cover) under spec.template.spec.
                if let Some(template) = spec.get_mut("template") {
                    r.within_object(template, |r, template| {
                        if let Some(spec) = template.get_mut("spec") {
                            r.within_object(spec, Redactor::pod_spec);
                        }
                    });
                }
            });
        }
        if let Some(status) = object.get_mut("status") {
            self.within_object(status, |r, status| {
                for list in CONTAINER_STATUS_LISTS {
                    if let Some(statuses) = status.get_mut(list) {
                        r.each_object(statuses, Redactor::container_status);
                    }
                }
            });
        }
    }

    /// Redacts JSON text with the same policy as [`Redactor::redact`] and returns compact
    /// JSON.
    ///
    /// One pass over the text ([`Redactor::redact_read`]). Text the rewriter cannot walk
    /// safely (not an object, an escaped key where a name is compared, a value of an
    /// unexpected type where the policy or the typed columns look) takes the full-parse
    /// path, so every input gets the same policy. The rewriter checks only the structure it
    /// walks: invalid JSON elsewhere passes through, so the text must be known to be JSON
    /// (the recorder's `ChangeStore::append` checks it; its watch has serde_json decode
    /// every object).
    pub fn redact_json(&self, text: &str) -> Result<String, serde_json::Error> {
        match self.redact_read(text) {
            Some((redacted, _)) => Ok(redacted),
            None => self.redact_parsed(text),
        }
    }

    /// The full-parse path of [`Redactor::redact_json`]: parses `text`, applies
    /// [`Redactor::redact`] and writes compact JSON (members sorted). For text
    /// [`Redactor::redact_read`] has already refused, so it is not walked a second time.
    /// Fails only on invalid JSON.
    pub fn redact_parsed(&self, text: &str) -> Result<String, serde_json::Error> {
        let mut object: Value = serde_json::from_str(text)?;
        self.redact(&mut object);
        serde_json::to_string(&object)
    }

    /// Redacts JSON text as [`Redactor::redact_json`] does and reads the typed columns'
    /// [`Facts`] of the redacted object in the same pass: the recorder's write path, which
    /// would otherwise walk the text twice.
    ///
    /// Members the policy does not touch are copied verbatim (so their order and spelling
    /// are the input's); only `metadata`, `spec`, `status`, the containers, volumes and
    /// container statuses and the Event fields are walked. The facts equal
    /// [`Facts::read`] of the redacted text; they borrow from `text`. `None` where the
    /// full-parse path must decide (see [`Redactor::redact_json`]) or [`Facts::read`] would
    /// fall back to [`Facts::parse`]: the caller does both.
    pub fn redact_read<'a>(&self, text: &'a str) -> Option<(String, Facts<'a>)> {
        let mut facts = Facts::default();
        let mut w = Rewriter::new(text);
        w.object(|w, key| match key {
            "metadata" => walk(w, |w, key| self.metadata_member(w, key, &mut facts.metadata)),
            "spec" => walk(w, |w, key| self.spec_member(w, key, &mut facts.spec)),
            "status" => walk(w, |w, key| self.status_member(w, key, &mut facts.status)),
            _ => facts.member(w, key),
        })?;
        Some((w.finish()?, facts))
    }

    // The tree path. Where the policy expects an object or a list and finds another type,
    // the value is replaced whole ([`Redactor::leaf`]): nothing in it is known to be safe.

    fn within_object(&self, value: &mut Value, member: impl FnOnce(&Self, &mut Map<String, Value>)) {
        match value {
            Value::Object(object) => member(self, object),
            Value::Null => {}
            other => *other = self.leaf(other),
        }
    }

    fn each_object(&self, value: &mut Value, member: impl Fn(&Self, &mut Map<String, Value>)) {
        match value {
            Value::Array(items) => {
                for item in items {
                    self.within_object(item, &member);
                }
            }
            Value::Null => {}
            other => *other = self.leaf(other),
        }
    }

    /// A string's hash; `null` stays; any other value is the empty string's hash.
    fn leaf(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.hash(text)),
            Value::Null => Value::Null,
            _ => Value::String(self.hash("")),
        }
    }

    /// `args`, `command`: each item replaced, so their number stays.
    fn list_items(&self, value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|item| *item = self.leaf(item)),
            other => *other = self.leaf(other),
        }
    }

    /// Annotations, volume attributes, flexVolume options: keys kept, values replaced.
    fn map_values(&self, value: &mut Value) {
        match value {
            Value::Object(object) => object.values_mut().for_each(|item| *item = self.leaf(item)),
            other => *other = self.leaf(other),
        }
    }

    fn metadata(&self, metadata: &mut Map<String, Value>) {
        metadata.remove("managedFields");
        if let Some(annotations) = metadata.get_mut("annotations") {
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.remove(LAST_APPLIED);
            }
            self.map_values(annotations);
        }
    }

    fn pod_spec(&self, spec: &mut Map<String, Value>) {
        for list in CONTAINER_LISTS {
            if let Some(containers) = spec.get_mut(list) {
                self.each_object(containers, Redactor::container);
            }
        }
        if let Some(volumes) = spec.get_mut("volumes") {
            self.each_object(volumes, Redactor::volume);
        }
    }

    fn container(&self, container: &mut Map<String, Value>) {
        if let Some(env) = container.get_mut("env") {
            self.each_object(env, |r, var| {
                if let Some(value) = var.get_mut("value") {
                    *value = r.leaf(value);
                }
            });
        }
        for list in ["args", "command"] {
            if let Some(items) = container.get_mut(list) {
                self.list_items(items);
            }
        }
    }

    fn volume(&self, volume: &mut Map<String, Value>) {
        for (source, options) in [("csi", "volumeAttributes"), ("flexVolume", "options")] {
            if let Some(source) = volume.get_mut(source) {
                self.within_object(source, |r, source| {
                    if let Some(options) = source.get_mut(options) {
                        r.map_values(options);
                    }
                });
            }
        }
    }

    fn container_status(&self, status: &mut Map<String, Value>) {
        for state in ["state", "lastState"] {
            if let Some(state) = status.get_mut(state) {
                self.within_object(state, |r, state| {
                    if let Some(terminated) = state.get_mut("terminated") {
                        r.within_object(terminated, |r, terminated| {
                            if let Some(message) = terminated.get_mut("message") {
                                *message = r.leaf(message);
                            }
                        });
                    }
                });
            }
        }
    }

    // The text path: the same policy on the rewriter. Anything the tree path would replace
    // whole (a value of an unexpected type) is `None` here, so the tree path decides.

    /// A string at the cursor written as its hash; `null` copied; `None` on another type.
    fn leaf_text(&self, w: &mut Rewriter<'_>) -> Option<String> {
        if w.null() {
            return Some("null".to_string());
        }
        let hashed = self.hash(&json::string(w.take()?)?);
        w.write_raw("\"");
        w.write_raw(&hashed);
        w.write_raw("\"");
        Some(hashed)
    }

    fn leaf_member(&self, w: &mut Rewriter<'_>) -> Option<bool> {
        self.leaf_text(w).map(|_| true)
    }

    fn list_items_text(&self, w: &mut Rewriter<'_>) -> Option<bool> {
        each(w, |w| self.leaf_member(w))
    }

    fn map_values_text(&self, w: &mut Rewriter<'_>) -> Option<bool> {
        walk(w, |w, _| self.leaf_member(w))
    }

    fn metadata_member<'a>(&self, w: &mut Rewriter<'a>, key: &str, meta: &mut Meta<'a>) -> Option<bool> {
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
                    if w.null() {
                        return None; // the columns cannot read it: both slow paths
                    }
                    let hashed = self.leaf_text(w)?;
                    annotations.push((Text(Cow::Borrowed(key)), Text(Cow::Owned(hashed))));
                    Some(true)
                })
                .map(|()| true)
            }
            _ => meta.member(w, key),
        }
    }

    fn spec_member<'a>(&self, w: &mut Rewriter<'a>, key: &str, spec: &mut Spec<'a>) -> Option<bool> {
        match key {
            "containers" => spec.read_containers(w, |w, key| self.container_member(w, key)),
            "template" => walk(w, |w, key| match key {
                "spec" => walk(w, |w, key| self.pod_spec_member(w, key)),
                _ => w.copy(),
            }),
            "initContainers" | "ephemeralContainers" | "volumes" => self.pod_spec_member(w, key),
            _ => spec.member(w, key),
        }
    }

    fn pod_spec_member(&self, w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
        match key {
            "containers" | "initContainers" | "ephemeralContainers" => {
                each(w, |w| walk(w, |w, key| self.container_member(w, key)))
            }
            "volumes" => each(w, |w| walk(w, |w, key| self.volume_member(w, key))),
            _ => w.copy(),
        }
    }

    fn container_member(&self, w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
        match key {
            "env" => each(w, |w| walk(w, |w, key| if key == "value" { self.leaf_member(w) } else { w.copy() })),
            "args" | "command" => self.list_items_text(w),
            _ => w.copy(),
        }
    }

    fn volume_member(&self, w: &mut Rewriter<'_>, key: &str) -> Option<bool> {
        let options = match key {
            "csi" => "volumeAttributes",
            "flexVolume" => "options",
            _ => return w.copy(),
        };
        walk(w, |w, key| if key == options { self.map_values_text(w) } else { w.copy() })
    }

    fn status_member<'a>(&self, w: &mut Rewriter<'a>, key: &str, status: &mut Status<'a>) -> Option<bool> {
        if !CONTAINER_STATUS_LISTS.contains(&key) {
            return status.member(w, key);
        }
        each(w, |w| {
            walk(w, |w, key| match key {
                "state" | "lastState" => walk(w, |w, key| match key {
                    "terminated" => walk(w, |w, key| if key == "message" { self.leaf_member(w) } else { w.copy() }),
                    _ => w.copy(),
                }),
                _ => w.copy(),
            })
        })
    }
}

/// Rewrites the array at the cursor with `element` for each item; `null` is copied; `None`
/// on another type.
fn each<'a>(w: &mut Rewriter<'a>, element: impl FnMut(&mut Rewriter<'a>) -> Option<bool>) -> Option<bool> {
    if !w.null() {
        w.array(element)?;
    }
    Some(true)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::from_key([7; KEY_BYTES])
    }

    /// A pod carrying `CANARY` in every field the policy covers, and the fields the
    /// experiments need (which must survive unchanged).
    fn canary_pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "ns", "labels": {"app": "trainer"},
                "managedFields": [{"manager": "CANARY"}],
                "annotations": {LAST_APPLIED: "{\"secret\":\"CANARY\"}", "tool/manifest": "CANARY-annotation"}
            },
            "spec": {
                "nodeSelector": {"pool": "a100"},
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
                "containers": [{
                    "name": "c", "image": "busybox",
                    "command": ["/bin/run", "--password=CANARY-command"],
                    "args": ["--token=CANARY-args", "--verbose", "--token=CANARY-args"],
                    "env": [
                        {"name": "TOKEN", "value": "CANARY-env"},
                        {"name": "REF", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                    ],
                    "resources": {"requests": {"nvidia.com/gpu": "1"}}
                }],
                "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY-init"}], "args": ["CANARY-init-args"]}],
                "volumes": [
                    {"name": "v", "csi": {"driver": "d", "volumeAttributes": {"secretKey": "CANARY-csi"}}},
                    {"name": "f", "flexVolume": {"driver": "f", "options": {"password": "CANARY-flex"}}},
                    {"name": "e", "emptyDir": {}}
                ]
            },
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "PodScheduled", "status": "True", "message": "kept"}],
                "containerStatuses": [{
                    "name": "c",
                    "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "CANARY-terminated"}},
                    "lastState": {"terminated": {"exitCode": 2, "message": "CANARY-last"}}
                }],
                "initContainerStatuses": [{"name": "i", "state": {"terminated": {"message": "CANARY-init-status"}}}]
            }
        })
    }

    #[test]
    fn every_covered_field_is_replaced_and_what_experiments_need_is_kept() {
        let r = redactor();
        let mut pod = canary_pod();
        r.redact(&mut pod);
        let text = pod.to_string();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(pod["metadata"].get("managedFields").is_none());
        let annotations = pod["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["tool/manifest"], "keys kept, last-applied dropped");
        assert_eq!(annotations["tool/manifest"], r.hash("CANARY-annotation"));
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["env"][0]["value"], r.hash("CANARY-env"));
        assert!(container["env"][1].get("valueFrom").is_some());
        assert_eq!(container["command"], json!([r.hash("/bin/run"), r.hash("--password=CANARY-command")]));
        // Count and order stay; equal items hash equally.
        assert_eq!(
            container["args"],
            json!([r.hash("--token=CANARY-args"), r.hash("--verbose"), r.hash("--token=CANARY-args")])
        );
        assert_eq!(pod["spec"]["initContainers"][0]["args"][0], r.hash("CANARY-init-args"));
        assert_eq!(pod["spec"]["volumes"][0]["csi"]["volumeAttributes"]["secretKey"], r.hash("CANARY-csi"));
        assert_eq!(pod["spec"]["volumes"][0]["csi"]["driver"], "d");
        assert_eq!(pod["spec"]["volumes"][1]["flexVolume"]["options"]["password"], r.hash("CANARY-flex"));
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["state"]["terminated"]["message"], r.hash("CANARY-terminated"));
        assert_eq!(status["state"]["terminated"]["reason"], "Error");
        assert_eq!(status["lastState"]["terminated"]["message"], r.hash("CANARY-last"));
        // What the scheduling experiments read is untouched.
        let original = canary_pod();
        for pointer in [
            "/metadata/name",
            "/metadata/labels",
            "/spec/nodeSelector",
            "/spec/tolerations",
            "/spec/affinity",
            "/spec/containers/0/resources",
            "/spec/containers/0/image",
            "/status/phase",
            "/status/conditions",
        ] {
            assert_eq!(pod.pointer(pointer), original.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn node_and_event_annotations_are_replaced() {
        let r = redactor();
        let mut node = json!({"kind": "Node", "metadata": {"name": "n", "annotations": {"kwok.x-k8s.io/node": "fake", "secret/token": "CANARY"}}});
        r.redact(&mut node);
        assert_eq!(
            node["metadata"]["annotations"],
            json!({"kwok.x-k8s.io/node": r.hash("fake"), "secret/token": r.hash("CANARY")})
        );
        let event = json!({"kind": "Event", "metadata": {"name": "e", "annotations": {"a": "CANARY"}}, "message": "0/3 nodes are available"});
        let redacted = r.redact_json(&event.to_string()).unwrap();
        assert!(!redacted.contains("CANARY") && redacted.contains("0/3 nodes are available"), "{redacted}");
    }

    #[test]
    fn hashes_are_keyed_and_name_their_key() {
        let (a, b) = (Redactor::from_key([1; KEY_BYTES]), Redactor::from_key([2; KEY_BYTES]));
        assert_eq!(a.hash("x"), a.hash("x"));
        assert_ne!(a.hash("x"), a.hash("y"));
        assert_ne!(a.hash("x"), b.hash("x"), "another key, another hash");
        assert_ne!(a.key_id(), b.key_id());
        let hash = a.hash("x");
        assert_eq!(hash.len(), "hmac:".len() + 8 + 1 + 16);
        assert!(hash.starts_with(&format!("hmac:{}:", a.key_id())), "{hash}");
        // Not the v1 form, which anyone could recompute from a guess: unsalted SHA-256.
        use sha2::Digest;
        let unkeyed = hex(&Sha256::digest(b"x")[..8]);
        assert!(!hash.contains(&unkeyed));
        assert!(!format!("{a:?}").contains("[1,") && format!("{a:?}").contains(a.key_id()));
    }

    #[test]
    fn unexpected_types_where_secrets_go_are_replaced_whole() {
        let r = redactor();
        let mut pod = json!({
            "metadata": {"annotations": "CANARY-odd"},
            "spec": {"containers": [{"args": "--token=CANARY", "command": {"a": "CANARY"}, "env": "TOKEN=CANARY"}, "CANARY"],
                     "volumes": [{"csi": {"volumeAttributes": ["CANARY"]}}, {"flexVolume": "CANARY"}]},
            "status": {"containerStatuses": [{"state": {"terminated": {"message": {"text": "CANARY"}}}}], "initContainerStatuses": "CANARY"}
        });
        r.redact(&mut pod);
        assert!(!pod.to_string().contains("CANARY"), "{pod}");
        assert_eq!(pod["spec"]["containers"][0]["args"], r.hash("--token=CANARY"));
        assert_eq!(pod["spec"]["containers"][0]["command"], r.hash(""));
    }

    #[test]
    fn text_redaction_matches_tree_redaction() {
        let r = redactor();
        let objects = [
            canary_pod(),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "managedFields": [{"manager": "CANARY"}],
                             "annotations": {LAST_APPLIED: "CANARY", "keep": "me"}},
                "spec": {"containers": [
                    {"name": "c", "env": [{"name": "T", "value": "CANARY"}, {"name": "Q", "value": "quo\"te CANARY"},
                                          {"name": "N", "value": 7}, {"name": "F", "valueFrom": {"fieldRef": {}}}]},
                    {"name": "d", "env": null, "args": null},
                    {"name": "e", "args": ["CANARY", null, 3], "command": []}
                ], "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY"}]}]},
                "status": {"phase": "Running", "containerStatuses": [{"state": {"running": {}}, "lastState": {}},
                           {"state": {"terminated": {"message": null}}}, {"state": {"terminated": {"message": 5}}}]}
            }),
            json!({"metadata": {"name": "n", "annotations": null}, "spec": {"template": {"spec":
                {"initContainers": [{"env": [{"name": "X", "value": "CANARY"}]}], "volumes": [{"csi": {"volumeAttributes": {"k": "CANARY"}}}]}}}}),
            json!({"metadata": {"name": "n", "labels": {"a": "b"}, "annotations": {"a": null, "b": "CANARY"}}, "spec": {"taints": []}}),
            json!({"metadata": {"annotations": "odd", "managedFields": null},
                   "spec": {"containers": [7, {"env": "odd"}, {"env": [3, {"value": null}, {"value": ["CANARY"]}]}],
                            "initContainers": {"not": "a list"},
                            "template": {"metadata": {}, "spec": {"containers": [{"env": [{"value": "CANARY"}]}]}}}}),
            json!({"metadata": [], "spec": "plain", "status": "CANARY"}),
            json!({"kind": "Event", "message": "quote \" and \\u0041 and <tag>", "metadata": {}}),
            json!({}),
        ];
        for object in objects {
            let text = serde_json::to_string(&object).unwrap();
            let redacted = r.redact_json(&text).unwrap();
            assert!(!redacted.contains("CANARY"), "{redacted}");
            let mut expected = object.clone();
            r.redact(&mut expected);
            assert_eq!(serde_json::from_str::<Value>(&redacted).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn text_path_keeps_member_order_and_spelling() {
        let r = redactor();
        let text = r#"{"z":1,"metadata":{"name":"p","managedFields":[{"f:x":{}}],"labels":{"b":"1","a":"2"}},"spec":{"containers":[{"name":"c","env":[{"value":"s","name":"E"}],"args":["a\u0041"]}]},"a":"\u0041"}"#;
        let expected = format!(
            r#"{{"z":1,"metadata":{{"name":"p","labels":{{"b":"1","a":"2"}}}},"spec":{{"containers":[{{"name":"c","env":[{{"value":"{}","name":"E"}}],"args":["{}"]}}]}},"a":"\u0041"}}"#,
            r.hash("s"),
            r.hash("aA")
        );
        assert_eq!(r.redact_json(text).unwrap(), expected);
    }

    #[test]
    fn escaped_keys_and_non_objects_take_the_full_parse() {
        let r = redactor();
        // `\u0065nv` is "env", `managed\u0046ields` is "managedFields", `\u0061rgs` is "args".
        let text = r#"{"metadata":{"managed\u0046ields":[1],"name":"p"},"spec":{"containers":[{"\u0065nv":[{"name":"T","value":"CANARY"}],"\u0061rgs":["CANARY"]}]}}"#;
        let redacted = r.redact_json(text).unwrap();
        assert!(!redacted.contains("CANARY") && !redacted.contains("managedFields"), "{redacted}");
        assert_eq!(r.redact_json("[1,2]").unwrap(), "[1,2]");
        assert!(r.redact_json("{\"a\":").is_err());
    }

    /// `redact_read` gives `redact_json`'s text and `Facts::parse` of it, or `None` on what
    /// takes the slow paths.
    #[test]
    fn one_pass_gives_what_redaction_then_facts_give() {
        let r = redactor();
        let one_pass = [
            canary_pod(),
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
                              "args": ["--token=CANARY"], "command": null,
                              "resources": {"limits": {"nvidia.com/gpu": "2"}, "requests": {"cpu": 1}}},
                             {"name": "d", "env": null, "resources": null}
                         ],
                         "initContainers": [{"name": "i", "env": [{"name": "X", "value": "CANARY"}]}],
                         "volumes": [{"name": "v", "flexVolume": {"options": {"k": "CANARY"}}}, {"name": "w", "csi": null}],
                         "tolerations": [{"key": "k", "operator": "Exists"}]},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                           "reason": "Unschedulable", "message": "0/3 nodes are available: \"gpu\"",
                           "lastTransitionTime": "2026-06-14T15:39:51Z"}],
                           "containerStatuses": [{"state": {"terminated": {"message": "CANARY"}}, "lastState": null}]}
            }),
            json!({"kind": "Node", "metadata": {"name": "n", "labels": {"pool": "h100"}, "annotations": {"kwok.x-k8s.io/node": "fake"}},
                   "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "unschedulable": true},
                   "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": 8},
                              "nodeInfo": {"kubeletVersion": "v1.33.0"}}}),
            json!({"kind": "Node", "metadata": {"name": "n", "annotations": null}}),
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
            json!({"metadata": {"name": "p", "annotations": {"a": null}}}),
            json!({"metadata": {"name": "p", "labels": ["x"]}}),
            json!({"metadata": [], "spec": "plain"}),
            json!({"spec": {"containers": [7, {"env": [{"value": "CANARY"}]}]}}),
            json!({"spec": {"containers": [{"args": "CANARY"}]}}),
            json!({"spec": {"volumes": [{"csi": {"volumeAttributes": ["CANARY"]}}]}}),
            json!({"status": {"containerStatuses": [{"state": {"terminated": {"message": 1}}}]}}),
            json!({"status": {"phase": 42}}),
            json!([1, 2]),
        ];
        for (object, fast) in one_pass.iter().map(|o| (o, true)).chain(slow.iter().map(|o| (o, false))) {
            let text = serde_json::to_string(object).unwrap();
            let expected = r.redact_json(&text).unwrap();
            assert!(!expected.contains("CANARY"), "{expected}");
            match r.redact_read(&text) {
                Some((redacted, facts)) => {
                    assert!(fast, "took the one pass: {text}");
                    assert_eq!(redacted, expected);
                    assert_eq!(format!("{facts:?}"), format!("{:?}", Facts::parse(&expected).unwrap()), "{text}");
                }
                None => assert!(!fast, "took the slow paths: {text}"),
            }
        }
        let text = one_pass[1].to_string();
        let (_, facts) = r.redact_read(&text).unwrap();
        assert_eq!((facts.pod_gpu_request(), facts.metadata.annotations.0.len()), (Some(2), 2));
        let text = one_pass[2].to_string();
        assert_eq!(r.redact_read(&text).unwrap().1.node_kwok_managed(), Some(true), "the kwok annotation's key stays");
    }
}
