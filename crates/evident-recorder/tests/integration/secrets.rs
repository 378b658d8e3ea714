//! Secrets never reach the disk: a canary in every field redaction covers (`docs/schema.md`,
//! "Redaction policy") appears in no byte of any file of the run and in no decoded value of
//! any Parquet column, whether the run was closed cleanly or crashed and was recovered. Each
//! test also checks the other side (a positive control): the canary objects were recorded,
//! with every covered field in its redacted form, so "no canary found" cannot come from
//! nothing having been recorded, or from a scan that cannot see into compressed pages.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use evident_core::redact::{KEY_BYTES, Redactor};
use evident_core::{Kind, Op};
use evident_recorder::{ChangeStore, StoreConfig, StoreError, recover};
use evident_testkit::objects::{SyntheticPod, node};
use serde_json::{Value, json};

use crate::common::{parquet_files, read_segment, snapshot};

/// One canary per covered field: (what it stands for, the value, where the recorded object
/// holds its redacted form).
const CANARIES: &[(&str, &str, &str)] = &[
    ("env value", "CANARY-env-7f3a9c", "/spec/containers/0/env/0/value"),
    ("args", "--token=CANARY-args-51c2e0", "/spec/containers/0/args/1"),
    ("command", "--password=CANARY-command-d93b47", "/spec/containers/0/command/1"),
    ("init container env value", "CANARY-init-env-0a6e13", "/spec/initContainers/0/env/0/value"),
    ("pod annotation", "CANARY-annotation-2b8f6d", "/metadata/annotations/tool.example~1manifest"),
    ("terminated.message", "CANARY-terminated-8e41a7", "/status/containerStatuses/0/state/terminated/message"),
    (
        "lastState terminated.message",
        "CANARY-last-terminated-c0f952",
        "/status/containerStatuses/0/lastState/terminated/message",
    ),
    ("CSI volumeAttributes", "CANARY-csi-4d7a1b", "/spec/volumes/0/csi/volumeAttributes/secretKey"),
    ("flexVolume options", "CANARY-flex-9e3c58", "/spec/volumes/1/flexVolume/options/password"),
    ("node annotation", "CANARY-node-annotation-6f0b2d", "/metadata/annotations/secret.example~1token"),
];

/// Dropped whole, so it has no redacted form to look for.
const LAST_APPLIED_CANARY: &str = "CANARY-last-applied-3a9d7e";

fn canary(what: &str) -> &'static str {
    CANARIES.iter().find(|(name, _, _)| *name == what).map(|(_, value, _)| *value).unwrap()
}

/// A realistic pod carrying every pod canary. Its name is `canary-<index>`.
fn canary_pod(index: u64) -> Value {
    let mut pod = SyntheticPod::new(index, 100 + index);
    pod.env.insert(0, ("DB_PASSWORD".into(), canary("env value").into()));
    let mut object = pod.to_json();
    object["metadata"]["name"] = json!(format!("canary-{index}"));
    let annotations = &mut object["metadata"]["annotations"];
    annotations["kubectl.kubernetes.io/last-applied-configuration"] =
        json!(format!("{{\"password\":\"{LAST_APPLIED_CANARY}\"}}"));
    annotations["tool.example/manifest"] = json!(canary("pod annotation"));
    let container = &mut object["spec"]["containers"][0];
    container["args"] = json!(["--verbose", canary("args")]);
    container["command"] = json!(["/bin/trainer", canary("command")]);
    object["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox", "env": [{"name": "SEED", "value": canary("init container env value")}]}]);
    object["spec"]["volumes"] = json!([
        {"name": "secrets-store", "csi": {"driver": "secrets-store.csi.k8s.io", "volumeAttributes": {"secretKey": canary("CSI volumeAttributes")}}},
        {"name": "flex", "flexVolume": {"driver": "example/flex", "options": {"password": canary("flexVolume options")}}}
    ]);
    object["status"]["containerStatuses"] = json!([{
        "name": "trainer", "ready": false, "restartCount": 1,
        "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": canary("terminated.message")}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": canary("lastState terminated.message")}}
    }]);
    let text = object.to_string();
    for (what, value, _) in CANARIES.iter().filter(|(what, _, _)| *what != "node annotation") {
        assert!(text.contains(value), "the pod carries the {what} canary");
    }
    object
}

fn canary_node() -> Value {
    let mut object = node(0, 7, "v1.36.1");
    object["metadata"]["annotations"]["secret.example/token"] = json!(canary("node annotation"));
    object
}

/// Writes the canary node and `pods` canary pods.
fn append_canaries(store: &mut ChangeStore, op: Op, pods: u64) {
    store.append(Kind::Node, Op::Added, 1, 0, &canary_node().to_string()).unwrap();
    for index in 0..pods {
        store.append(Kind::Pod, op, 1, index as i64 + 1, &canary_pod(index).to_string()).unwrap();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir).into_keys().map(|relative| dir.join(relative)).collect()
}

/// Every value of every column of every Parquet file of the run, decoded (pages are
/// compressed, so their raw bytes need not hold a string the file holds), one per line.
fn decoded_values(run: &Path) -> String {
    let mut text = String::new();
    for path in parquet_files(run) {
        for batch in read_segment(&path) {
            for column in batch.columns() {
                let column = cast(column, &DataType::Utf8).unwrap();
                for value in column.as_string::<i32>().iter().flatten() {
                    text.push_str(value);
                    text.push('\n');
                }
            }
        }
    }
    text
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// No canary in any byte of any file (the WAL holds its JSON uncompressed), nor in any
/// decoded Parquet value. Returns the number of files scanned.
fn assert_canaries_absent(run: &Path) -> usize {
    let files = files_under(run);
    assert!(!files.is_empty(), "nothing to scan under {}", run.display());
    let decoded = decoded_values(run);
    let all = CANARIES.iter().map(|(what, value, _)| (*what, *value)).chain([("last-applied", LAST_APPLIED_CANARY)]);
    for (what, value) in all {
        for path in &files {
            assert!(!contains(&std::fs::read(path).unwrap(), value), "the {what} canary is in {}", path.display());
        }
        assert!(!decoded.contains(value), "the {what} canary is in a decoded Parquet value");
    }
    files.len()
}

/// The recorded objects of `kind` named `name`, from the Parquet files.
fn recorded(run: &Path, kind: Kind, name: &str) -> Vec<Value> {
    let mut objects = Vec::new();
    for path in parquet_files(run).into_iter().filter(|path| path.parent().unwrap().ends_with(kind.table())) {
        for batch in read_segment(&path) {
            let column = batch.column_by_name("object").unwrap().as_string::<i32>().clone();
            for object in column.iter().flatten() {
                let object: Value = serde_json::from_str(object).unwrap();
                if object["metadata"]["name"] == name {
                    objects.push(object);
                }
            }
        }
    }
    objects
}

/// The positive control: the canary pod and node were recorded, every covered field in its
/// redacted form under `redactor`'s key, and what the experiments read is still there.
fn assert_recorded_redacted(run: &Path, redactor: &Redactor) {
    let pods = recorded(run, Kind::Pod, "canary-0");
    assert_eq!(pods.len(), 1, "the canary pod is recorded once");
    let nodes = recorded(run, Kind::Node, canary_node()["metadata"]["name"].as_str().unwrap());
    assert_eq!(nodes.len(), 1, "the canary node is recorded once");
    for (what, value, pointer) in CANARIES {
        let object = if *what == "node annotation" { &nodes[0] } else { &pods[0] };
        assert_eq!(object.pointer(pointer), Some(&json!(redactor.hash(value))), "{what} at {pointer}");
    }
    let pod = &pods[0];
    assert!(pod.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration").is_none());
    assert_eq!(pod["spec"]["containers"][0]["args"][0], redactor.hash("--verbose"), "every item, in order");
    assert_eq!(pod["spec"]["nodeSelector"], canary_pod(0)["spec"]["nodeSelector"], "scheduling fields are kept");
    assert_eq!(nodes[0]["metadata"]["annotations"]["kwok.x-k8s.io/node"], redactor.hash("fake"));
}

fn known_key() -> Redactor {
    Redactor::from_key([0x42; KEY_BYTES])
}

#[test]
fn no_canary_is_written_anywhere_and_the_canary_pod_is_recorded_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open_with_redactor(&run, StoreConfig::default(), known_key()).unwrap();
    append_canaries(&mut store, Op::Added, 20);
    store.close("duration").unwrap();
    assert_canaries_absent(&run);
    assert_recorded_redacted(&run, &known_key());
}

#[test]
fn no_canary_is_in_the_wal_nor_in_recovered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open_with_redactor(&run, StoreConfig::default(), known_key()).unwrap();
    append_canaries(&mut store, Op::Modified, 20);
    store.sync().unwrap();
    drop(store); // without `close`: the WAL stays, as after a crash
    let wal: Vec<PathBuf> = files_under(&run).into_iter().filter(|path| path.starts_with(run.join("wal"))).collect();
    assert!(!wal.is_empty(), "the WAL is there");
    assert_canaries_absent(&run);
    // The raw scan sees the WAL's text: the redacted values are there in the clear.
    let hashed = known_key().hash(canary("env value"));
    assert!(wal.iter().any(|path| contains(&std::fs::read(path).unwrap(), &hashed)), "{hashed} in the WAL");
    assert_eq!(recover(&run).unwrap().changes.records_recovered, 21);
    assert_canaries_absent(&run);
    assert_recorded_redacted(&run, &known_key());
}

/// Equal values hash equally within one recording; another recording draws another key, so
/// the same value hashes differently there; `run.json` names the key, never holds it.
#[test]
fn each_recording_hashes_with_its_own_random_key() {
    let dir = tempfile::tempdir().unwrap();
    let hash_in = |run: &Path| {
        let (mut store, _) = ChangeStore::open(run, StoreConfig::default()).unwrap();
        for index in 0..2 {
            store.append(Kind::Pod, Op::Added, 1, 1, &canary_pod(index).to_string()).unwrap();
        }
        let manifest = store.close("duration").unwrap();
        assert_eq!(manifest.redaction_policy, "redact-v2");
        assert_eq!(manifest.redaction_keys.len(), 1, "one key per recording session");
        let values: Vec<Value> = (0..2)
            .map(|index| {
                recorded(run, Kind::Pod, &format!("canary-{index}"))[0]["spec"]["containers"][0]["env"][0]["value"]
                    .clone()
            })
            .collect();
        assert_eq!(values[0], values[1], "equal values, equal hashes within a recording");
        let hash = values[0].as_str().unwrap().to_string();
        assert!(hash.starts_with(&format!("hmac:{}:", manifest.redaction_keys[0])), "{hash}");
        assert_canaries_absent(run);
        (manifest.redaction_keys[0].clone(), hash)
    };
    let (first_key, first_hash) = hash_in(&dir.path().join("first"));
    let (second_key, second_hash) = hash_in(&dir.path().join("second"));
    assert_ne!(first_key, second_key);
    assert_ne!(first_hash, second_hash, "a hash from one recording cannot be matched in another");
}

#[test]
fn a_reopened_run_lists_the_key_of_each_session() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    for session in 0..2 {
        let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
        store.append(Kind::Pod, Op::Added, 1, 1, &canary_pod(session).to_string()).unwrap();
        store.close("duration").unwrap();
    }
    let manifest = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
    assert_eq!(manifest.redaction_keys.len(), 2, "{:?}", manifest.redaction_keys);
    assert_ne!(manifest.redaction_keys[0], manifest.redaction_keys[1]);
    assert_canaries_absent(&run);
}

/// A run started under `redact-v1` is not resumed under `redact-v2`: refused in one line
/// before anything is written, and the run is left byte for byte as it was.
#[test]
fn a_run_recorded_under_another_policy_is_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    store.append(Kind::Pod, Op::Added, 1, 1, &canary_pod(0).to_string()).unwrap();
    store.close("duration").unwrap();
    let mut manifest = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
    manifest.redaction_policy = "redact-v1".into();
    manifest.redaction_keys.clear();
    evident_recorder::run_manifest::write(&run, &manifest).unwrap();
    // An open that fails leaves its lock file (unlocked) behind, whatever the reason.
    let files = || {
        let mut files = snapshot(&run);
        files.remove(Path::new(".lock"));
        files
    };
    let before = files();
    let error = ChangeStore::open(&run, StoreConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::RedactionPolicy { ref found, .. } if found == "redact-v1"), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("redact-v1") && message.contains("--run-id") && !message.contains('\n'), "{message}");
    assert_eq!(files(), before, "nothing was written");
}
