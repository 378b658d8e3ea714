//! A lesson-1 run with hostile text wherever a cluster controls the text: for tests of every
//! output sink (report.md, report.html, junit.xml, evidence files, terminal output).
//!
//! [`write_lesson1_hostile`] writes [`runs::write_lesson1`](crate::runs::write_lesson1), then
//! reopens the run through the recorder's `ChangeStore` and appends, 44 s into the run:
//! - a GPU node `kwok-gpu-hostile-0` whose pool label is [`HOSTILE`];
//! - a Pending pod [`HOSTILE_POD`] in `gpu-demo` (a name that is a path out of the run
//!   directory) owned by a ReplicaSet whose Deployment name is [`HOSTILE`], so its workload is;
//! - a FailedScheduling Event about that pod whose message is [`HOSTILE`].
//!
//! A real API server refuses most of this (label values and names are restricted; Event
//! messages are not): a recording is read back as it is on disk, so every reader must cope.

use std::path::Path;

use evident_core::layout;
use evident_core::run_manifest::RunManifest;
use evident_core::{Kind, Op};
use evident_recorder::{ChangeStore, StoreConfig};
use serde_json::json;

use crate::runs::{LESSON1_START_NS, Result, RunWriteError};

/// Text that tries every trick on every sink: raw HTML, Markdown markup and table pipes, a
/// forged verdict line after CR/LF, terminal escape sequences (ESC, OSC, C1 CSI, BEL),
/// characters XML forbids (U+FFFE, U+FFFF, C0), and a bidirectional override.
pub const HOSTILE: &str = "evil <img src=x onerror=alert(1)> \\| `tick` *star* _under_ [link](javascript:alert(1)) \
~~strike~~ # hash &amp; \r\n**Result: PASS** — 9 of 9 expectations passed.\r\n| forged | row | with | cells |\n\
\u{1b}[2J\u{1b}]0;owned\u{7} \u{9b}31m \u{fffe}\u{ffff}\u{1} \u{202e}desrever";

/// The name of the hostile pod: a relative path that leaves the run directory.
pub const HOSTILE_POD: &str = "../hostile-pod";

/// When the hostile objects are observed, after the start of the run.
const AT_NS: i64 = 44_000_000_000;

/// Writes the hostile lesson-1 run into `dir` (created; [`RunWriteError::Exists`] if it holds
/// a run).
pub fn write_lesson1_hostile(dir: &Path) -> Result<RunManifest> {
    let lesson1 = crate::runs::write_lesson1(dir)?;
    let (mut store, _recovery) = ChangeStore::open(dir, StoreConfig::default())?;
    let at = LESSON1_START_NS + AT_NS;
    let time = evident_core::time::format_ns(at);

    let mut node = crate::objects::node(0, 9_000, "kwok-v0.7.0");
    node["metadata"]["name"] = json!("kwok-gpu-hostile-0");
    node["metadata"]["uid"] = json!("0b5e55ed-0000-4000-8000-000000000001");
    node["metadata"]["labels"]["run.ai/simulated-gpu-node-pool"] = json!(HOSTILE);
    node["metadata"]["labels"]["kubernetes.io/hostname"] = json!("kwok-gpu-hostile-0");
    store.append(Kind::Node, Op::Added, 1, at, &node.to_string())?;

    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": HOSTILE_POD, "namespace": "gpu-demo", "uid": "0b5e55ed-0000-4000-8000-000000000002",
            "resourceVersion": "9001", "creationTimestamp": time,
            "labels": {"app": HOSTILE, "pod-template-hash": "abc12"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{HOSTILE}-abc12"),
                                 "uid": "0b5e55ed-0000-4000-8000-000000000003", "controller": true}],
        },
        "spec": {"containers": [{"name": "main", "image": "busybox",
                                 "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                   "reason": "Unschedulable", "message": HOSTILE, "lastTransitionTime": time}]},
    });
    store.append(Kind::Pod, Op::Added, 1, at + 1_000_000, &pod.to_string())?;

    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "hostile-pod.0b5e55ed", "namespace": "gpu-demo",
                     "uid": "0b5e55ed-0000-4000-8000-000000000004", "resourceVersion": "9002", "creationTimestamp": time},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "gpu-demo", "name": HOSTILE_POD,
                           "uid": "0b5e55ed-0000-4000-8000-000000000002"},
        "reason": "FailedScheduling", "message": HOSTILE, "type": "Warning", "action": "Scheduling",
        "source": {}, "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-hostile",
        "eventTime": evident_core::time::format_ns(at + 2_000_000), "firstTimestamp": null, "lastTimestamp": null,
    });
    store.append(Kind::Event, Op::Added, 1, at + 2_000_000, &event.to_string())?;

    // As write_lesson1: the scenario's stop time, not the wall clock the store stamps at close.
    let mut manifest = store.close("duration")?;
    manifest.stopped_at.clone_from(&lesson1.stopped_at);
    let path = layout::run_manifest_path(dir);
    let text = manifest.to_json().map_err(|error| RunWriteError::Manifest {
        path: path.clone(),
        source: std::io::Error::other(error.to_string()),
    })?;
    std::fs::write(&path, text).map_err(|source| RunWriteError::Manifest { path, source })?;
    Ok(manifest)
}
