//! Server-side apply of YAML manifests (files or folders of them), as `kubectl apply
//! --server-side` does: each document is resolved through API discovery and applied with
//! the field manager `evident`. A document that carries a `status` (KWOK node manifests
//! do: that is how a fake node advertises capacity) has it applied to the status
//! subresource too, since the main resource ignores status.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Api, Client};
use serde_json::Value;

/// The field manager evident applies with.
pub const FIELD_MANAGER: &str = "evident";

/// Errors applying manifests.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A manifest file or folder could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML or lacks apiVersion/kind/metadata.name.
    #[error("manifest {path} document {index}: {reason}")]
    Invalid { path: PathBuf, index: usize, reason: String },
    /// The API server does not serve the document's kind.
    #[error("{kind} ({api_version}) in {path} is not served by the cluster: {source}")]
    Discovery {
        path: PathBuf,
        api_version: String,
        kind: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server refused the apply.
    #[error("applying {kind} {name} from {path} failed: {source}")]
    Apply {
        path: PathBuf,
        kind: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// Applied nodes did not become schedulable in time.
    #[error("nodes not ready after {}s: {}; check the KWOK controller (hack/cluster.sh status)", waited.as_secs(), pending.join(", "))]
    NodesNotReady { waited: Duration, pending: Vec<String> },
    /// Nodes whose GPUs a device plugin is to advertise did not get them in time.
    #[error("nodes without nvidia.com/gpu after {}s: {}; their manifests leave it to a device plugin: run the fake-gpu-operator on the cluster (in an evident checkout: hack/cluster.sh status), or use a fleet with nvidia.com/gpu in its manifests (evident run lesson1-manifest-gpus; GPU_LAYER=manifests for make demo)", waited.as_secs(), pending.join(", "))]
    NodesWithoutGpus { waited: Duration, pending: Vec<String> },
    /// Reading nodes failed while waiting for them.
    #[error("cannot read nodes: {0}")]
    Nodes(#[source] kube::Error),
}

pub type Result<T, E = ApplyError> = std::result::Result<T, E>;

/// One parsed manifest document.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    pub index: usize,
    pub object: Value,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.object.get("kind").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object.pointer("/metadata/namespace").and_then(Value::as_str)
    }
}

/// Expands files and folders (their `*.yaml`/`*.yml`/`*.json` files, sorted by name) into
/// documents, in order. Empty documents are skipped.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|source| ApplyError::Read { path: file.clone(), source })?;
            for (index, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
                let invalid = |reason: String| ApplyError::Invalid { path: file.clone(), index, reason };
                let value: Value = serde::Deserialize::deserialize(document).map_err(|e| invalid(e.to_string()))?;
                if value.is_null() {
                    continue;
                }
                let document = Document { path: file.clone(), index, object: value };
                if document.kind().is_empty() || document.object.get("apiVersion").and_then(Value::as_str).is_none() {
                    return Err(invalid("missing apiVersion or kind".into()));
                }
                if document.name().is_empty() {
                    return Err(invalid("missing metadata.name".into()));
                }
                documents.push(document);
            }
        }
    }
    Ok(documents)
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>> {
    let read_error = |source| ApplyError::Read { path: path.to_path_buf(), source };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
        .collect();
    files.sort();
    Ok(files)
}

/// Applies documents in order. Returns `kind/name` of each applied object.
pub async fn apply(client: &Client, documents: &[Document]) -> Result<Vec<String>> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::with_capacity(documents.len());
    for document in documents {
        let api_version = document.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, document.kind());
        let (resource, capabilities) =
            discovery::pinned_kind(client, &gvk).await.map_err(|source| ApplyError::Discovery {
                path: document.path.clone(),
                api_version: api_version.to_string(),
                kind: document.kind().to_string(),
                source: Box::new(source),
            })?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                Api::namespaced_with(client.clone(), document.namespace().unwrap_or("default"), &resource)
            }
        };
        let apply_error = |source| ApplyError::Apply {
            path: document.path.clone(),
            kind: document.kind().to_string(),
            name: document.name().to_string(),
            source: Box::new(source),
        };
        api.patch(document.name(), &params, &Patch::Apply(&document.object)).await.map_err(apply_error)?;
        if document.object.get("status").is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty())) {
            let status_patch = serde_json::json!({
                "apiVersion": api_version,
                "kind": document.kind(),
                "metadata": {"name": document.name()},
                "status": document.object["status"],
            });
            api.patch_status(document.name(), &params, &Patch::Apply(&status_patch)).await.map_err(apply_error)?;
        }
        applied.push(format!("{}/{}", document.kind(), document.name()));
    }
    Ok(applied)
}

/// Why a node cannot take pods yet, or `None` when it can: its `Ready` condition is not
/// `True`, or the node lifecycle controller tainted it (`node.kubernetes.io/not-ready`,
/// `unreachable`, ...). Taints the manifest itself declares (a control-plane taint) are the
/// node's design, not a readiness problem, and are ignored.
pub fn not_ready_reason(node: &Node) -> Option<String> {
    let status = node.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    if ready.as_deref() != Some("True") {
        return Some(format!("Ready={}", ready.as_deref().unwrap_or("unknown")));
    }
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).and_then(|taints| {
        taints.iter().find(|t| t.key.starts_with("node.kubernetes.io/")).map(|t| format!("taint {}", t.key))
    })
}

/// Waits until every named node exists and can take pods (see [`not_ready_reason`]).
/// Pods applied before that would see a smaller fleet and record a different outcome.
pub async fn wait_nodes_ready(client: &Client, names: &[String], timeout: Duration) -> Result<()> {
    let pending = wait_nodes(client, names, timeout, not_ready_reason).await?;
    if pending.is_empty() { Ok(()) } else { Err(ApplyError::NodesNotReady { waited: timeout, pending }) }
}

/// Polls the named nodes until `unmet` finds nothing to say about any of them, or `timeout`
/// passes: then returns each node still waited for, as `name (reason)` (`(absent)` for a node
/// that does not exist). Empty when every node is as wanted.
async fn wait_nodes(
    client: &Client,
    names: &[String],
    timeout: Duration,
    unmet: impl Fn(&Node) -> Option<String>,
) -> Result<Vec<String>> {
    let api: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let mut pending = Vec::new();
        for name in names {
            match api.get_opt(name).await.map_err(ApplyError::Nodes)? {
                None => pending.push(format!("{name} (absent)")),
                Some(node) => {
                    if let Some(reason) = unmet(&node) {
                        pending.push(format!("{name} ({reason})"));
                    }
                }
            }
        }
        if pending.is_empty() || Instant::now() >= deadline {
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The label by which run.ai's fake-gpu-operator puts a node into a GPU pool (its chart's
/// default `topology.nodePoolLabelKey`): its device plugin advertises the pool's GPUs on it.
pub const GPU_POOL_LABEL: &str = "run.ai/simulated-gpu-node-pool";

/// The GPU resource a device plugin advertises.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Names of the Node documents that leave their GPUs to a device plugin: they carry
/// [`GPU_POOL_LABEL`] and no [`GPU_RESOURCE`] in their manifest's status. A node that writes
/// its GPUs into its manifest (the fallback fleet) is not waited for.
pub fn device_plugin_gpu_nodes(documents: &[Document]) -> Vec<String> {
    documents
        .iter()
        .filter(|d| d.kind() == "Node")
        .filter(|d| d.object.pointer("/metadata/labels").and_then(|l| l.get(GPU_POOL_LABEL)).is_some())
        .filter(|d| {
            ["capacity", "allocatable"]
                .iter()
                .all(|field| d.object.pointer(&format!("/status/{field}")).and_then(|r| r.get(GPU_RESOURCE)).is_none())
        })
        .map(|d| d.name().to_string())
        .collect()
}

/// Allocatable [`GPU_RESOURCE`] of a node, 0 when it advertises none (or an unreadable
/// quantity).
pub fn allocatable_gpus(node: &Node) -> i64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(GPU_RESOURCE))
        .and_then(|q| q.0.parse().ok())
        .unwrap_or(0)
}

/// Waits until every named node advertises allocatable [`GPU_RESOURCE`]. With the
/// fake-gpu-operator the GPUs appear seconds after a node registers; pods applied before that
/// would see fewer GPUs and record a different outcome.
pub async fn wait_nodes_gpus(client: &Client, names: &[String], timeout: Duration) -> Result<()> {
    let no_gpus = |node: &Node| (allocatable_gpus(node) <= 0).then(|| "0 allocatable".to_string());
    let pending = wait_nodes(client, names, timeout, no_gpus).await?;
    if pending.is_empty() { Ok(()) } else { Err(ApplyError::NodesWithoutGpus { waited: timeout, pending }) }
}

/// Names of the Node documents among `documents`.
pub fn node_names(documents: &[Document]) -> Vec<String> {
    documents.iter().filter(|d| d.kind() == "Node").map(|d| d.name().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_plugin_gpu_nodes_are_the_pool_labelled_nodes_without_gpus_in_their_manifest() {
        let document = |object: Value| Document { path: PathBuf::from("fleet.yaml"), index: 0, object };
        let node = |name: &str, labels: Value, status: Value| {
            document(
                serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "status": status}),
            )
        };
        let pool = serde_json::json!({GPU_POOL_LABEL: "a100"});
        let fleet = [
            node("operator", pool.clone(), serde_json::json!({"capacity": {"cpu": "8"}})),
            node("manifest", pool.clone(), serde_json::json!({"allocatable": {GPU_RESOURCE: "8"}})),
            node("cpu-only", serde_json::json!({"type": "kwok"}), Value::Null),
            document(
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": pool}}),
            ),
        ];
        assert_eq!(device_plugin_gpu_nodes(&fleet), ["operator"]);
    }

    #[test]
    fn loads_multi_document_files_in_name_order_and_rejects_nameless() {
        let dir = std::env::temp_dir().join(format!("evident-apply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n").unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let names: Vec<String> =
            load(std::slice::from_ref(&dir)).unwrap().iter().map(|d| format!("{}/{}", d.kind(), d.name())).collect();
        assert_eq!(names, ["Namespace/ns", "Node/n", "Pod/p"]);
        std::fs::write(dir.join("c.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {}\n").unwrap();
        let error = load(std::slice::from_ref(&dir)).unwrap_err().to_string();
        assert!(error.contains("c.yaml") && error.contains("metadata.name"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
