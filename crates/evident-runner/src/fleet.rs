//! A scenario's objects in the cluster: what an earlier run left behind, which nodes are KWOK
//! fakes, applying workloads in the order the scheduler must see them, and removing what a
//! run created.
//!
//! Invariants:
//! - Only nodes whose manifest carries the KWOK annotation (`kwok.x-k8s.io/node: fake`) are
//!   ever deleted to be re-created; a real node of the same name is left alone.
//! - Every deletion waits until the object is gone (or fails naming it), so what comes next
//!   never sees a terminating object.

use std::time::Duration;

use evident_recorder::apply::{self, ApplyError, Document};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::DeleteParams;
use kube::{Api, Client};

/// How long a namespace may take to terminate.
pub const NAMESPACE_DELETE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long deleted nodes may take to disappear.
pub const NODE_DELETE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a bare Pod is given to be scheduled (or found unschedulable) before the next
/// workload document is applied.
pub const POD_DECISION_TIMEOUT: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(250);

/// Errors of reading, applying and deleting a scenario's objects.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Reading an object from the API server failed.
    #[error("cannot read {what} {name}")]
    Read {
        what: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Deleting an object failed (one already gone is not an error).
    #[error("cannot delete {what} {name}")]
    Delete {
        what: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A namespace did not finish terminating in time.
    #[error("namespace {name} is still terminating after {}s; delete it by hand and retry", NAMESPACE_DELETE_TIMEOUT.as_secs())]
    NamespaceStuck { name: String },
    /// Deleted nodes still exist.
    #[error("nodes {} still exist {}s after deletion; delete them by hand and retry", names.join(", "), NODE_DELETE_TIMEOUT.as_secs())]
    NodesRemain { names: Vec<String> },
    /// Applying a document failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

pub type Result<T, E = FleetError> = std::result::Result<T, E>;

/// A node manifest handed to the KWOK controller (annotation `kwok.x-k8s.io/node: fake`).
pub fn is_kwok_fake(document: &Document) -> bool {
    document.object.pointer("/metadata/annotations/kwok.x-k8s.io~1node").and_then(|v| v.as_str()) == Some("fake")
}

/// Deletes each of `namespaces` that exists and waits until it is gone; `on_remove` is told
/// each name before its deletion.
pub async fn remove_namespaces_left(
    client: &Client,
    namespaces: &[String],
    mut on_remove: impl FnMut(&str),
) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in namespaces {
        if get(&api, "namespace", name).await?.is_some() {
            on_remove(name);
            delete_namespace_and_wait(&api, name).await?;
        }
    }
    Ok(())
}

/// Deletes `namespaces` (each one already gone is fine) and waits until each is gone.
pub async fn delete_namespaces(client: &Client, namespaces: &[String]) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in namespaces {
        delete_namespace_and_wait(&api, name).await?;
    }
    Ok(())
}

/// The Node documents of `fleet` whose node already exists.
pub async fn existing_nodes<'a>(client: &Client, fleet: &'a [Document]) -> Result<Vec<&'a Document>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut existing = Vec::new();
    for document in fleet.iter().filter(|d| d.kind() == "Node") {
        if get(&nodes, "node", document.name()).await?.is_some() {
            existing.push(document);
        }
    }
    Ok(existing)
}

/// Deletes the named nodes and waits until none exists.
pub async fn delete_nodes_and_wait(client: &Client, names: &[String]) -> Result<()> {
    delete_nodes(client, names).await?;
    let api: Api<Node> = Api::all(client.clone());
    if !wait_gone(&api, "node", names, NODE_DELETE_TIMEOUT).await? {
        return Err(FleetError::NodesRemain { names: names.to_vec() });
    }
    Ok(())
}

/// Deletes the named nodes without waiting.
pub async fn delete_nodes(client: &Client, names: &[String]) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    for name in names {
        delete_if_present(&api, "node", name).await?;
    }
    Ok(())
}

/// Applies one workload document. A bare Pod is given up to [`POD_DECISION_TIMEOUT`] to be
/// scheduled (or found unschedulable) before the next document, so the order of the spec is
/// the order the scheduler sees (cuda-batch-small takes its GPU before queue-pressure asks
/// for 40). Returns false when that pod was not decided in time (the run goes on).
pub async fn apply_in_order(client: &Client, document: &Document) -> Result<bool> {
    apply::apply(client, std::slice::from_ref(document)).await?;
    if document.kind() != "Pod" {
        return Ok(true);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), document.namespace().unwrap_or("default"));
    for _ in 0..POD_DECISION_TIMEOUT.as_millis() / POLL.as_millis() {
        let decided = get(&pods, "pod", document.name()).await?.is_some_and(|pod| {
            pod.status
                .and_then(|s| s.conditions)
                .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "PodScheduled"))
        });
        if decided {
            return Ok(true);
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(false)
}

async fn delete_namespace_and_wait(api: &Api<Namespace>, name: &str) -> Result<()> {
    delete_if_present(api, "namespace", name).await?;
    if !wait_gone(api, "namespace", &[name.to_string()], NAMESPACE_DELETE_TIMEOUT).await? {
        return Err(FleetError::NamespaceStuck { name: name.to_string() });
    }
    Ok(())
}

async fn get<K>(api: &Api<K>, what: &'static str, name: &str) -> Result<Option<K>>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.map_err(|source| FleetError::Read { what, name: name.to_string(), source })
}

/// Deletes one object; one that is already gone is not an error.
async fn delete_if_present<K>(api: &Api<K>, what: &'static str, name: &str) -> Result<()>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(FleetError::Delete { what, name: name.to_string(), source }),
    }
}

/// Polls until none of `names` exists; false if some still do after `timeout`.
async fn wait_gone<K>(api: &Api<K>, what: &'static str, names: &[String], timeout: Duration) -> Result<bool>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    for _ in 0..timeout.as_millis() / POLL.as_millis() {
        let mut left = 0;
        for name in names {
            left += usize::from(get(api, what, name).await?.is_some());
        }
        if left == 0 {
            return Ok(true);
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use k8s_openapi::serde_json::json;

    use super::*;

    fn node(annotations: k8s_openapi::serde_json::Value) -> Document {
        let object = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "annotations": annotations}});
        Document { path: PathBuf::from("fleet.yaml"), index: 0, object }
    }

    #[test]
    fn only_nodes_annotated_for_kwok_are_fakes() {
        assert!(is_kwok_fake(&node(json!({"kwok.x-k8s.io/node": "fake"}))));
        assert!(!is_kwok_fake(&node(json!({"kwok.x-k8s.io/node": "real"}))));
        assert!(!is_kwok_fake(&node(json!({}))));
        assert!(!is_kwok_fake(&node(json!(null))));
    }
}
