//! A scenario's objects in the cluster: what an earlier run left behind, which nodes are KWOK
//! fakes, applying workloads in the order the scheduler
//! must see them, and removing what a run created.
//!
//! Invariants:
//! - Only nodes whose manifest carries the KWOK annotation (`kwok.x-k8s.io/node: fake`) are
//!   ever deleted to be re-created; a real node of the same name is left alone.
//! - A namespace is deleted only when it carries [`RUN_LABEL`] (an `evident run` created it),
//!   or when the caller asked to replace the scenario's namespaces
//!   ([`NamespacePlan::new`] with `replace`). Every namespace a run creates carries the label
//!   with its run id, and its teardown deletes only namespaces labelled with that id.
//! - Every deletion waits until the object is gone (or fails naming it), so what comes next
//!   never sees a terminating object.

use std::time::Duration;

use std::collections::BTreeMap;

use evident_recorder::apply::{self, ApplyError, Document};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

/// The label `evident run` puts on every namespace it creates; its value is the run id.
/// Teardown deletes only namespaces carrying it, and a later run may delete one an earlier
/// run left (kept with `--keep`, or left by a crash).
pub const RUN_LABEL: &str = "evident.dev/run";
/// The field manager of the namespaces `evident run` creates (apart from the manifests'
/// `evident`, so applying a Namespace manifest never takes the label away).
pub const NAMESPACE_FIELD_MANAGER: &str = "evident-run";

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
    /// Namespaces the scenario uses exist and were not created by `evident run`.
    #[error(
        "namespace{} {} already exist{} and {} not created by evident run; running would delete {}: pass --replace-namespaces to delete and re-create {}, or point --kubeconfig at another cluster",
        plural(names), names.join(", "), if names.len() == 1 { "s" } else { "" },
        if names.len() == 1 { "was" } else { "were" }, if names.len() == 1 { "it and everything in it" } else { "them and everything in them" },
        if names.len() == 1 { "it" } else { "them" }
    )]
    NotCreatedByEvident { names: Vec<String> },
    /// A namespace appeared between the check and its creation by this run.
    #[error("namespace {name} was created by someone else while this run started; it is left alone, retry")]
    CreatedMeanwhile { name: String },
    /// Creating a namespace failed.
    #[error("cannot create namespace {name}")]
    Create {
        name: String,
        #[source]
        source: kube::Error,
    },
}

fn plural(names: &[String]) -> &'static str {
    if names.len() == 1 { "" } else { "s" }
}

pub type Result<T, E = FleetError> = std::result::Result<T, E>;

/// A node manifest handed to the KWOK controller (annotation `kwok.x-k8s.io/node: fake`).
pub fn is_kwok_fake(document: &Document) -> bool {
    document.object.pointer("/metadata/annotations/kwok.x-k8s.io~1node").and_then(|v| v.as_str()) == Some("fake")
}

/// The namespaces a run uses: those its expectations look at and the Namespace documents of
/// its manifests, sorted, each once.
pub fn scenario_namespaces<'a>(
    expectation_namespaces: impl IntoIterator<Item = String>,
    documents: impl IntoIterator<Item = &'a Document>,
) -> Vec<String> {
    let mut names: std::collections::BTreeSet<String> = expectation_namespaces.into_iter().collect();
    names.extend(documents.into_iter().filter(|d| d.kind() == "Namespace").map(|d| d.name().to_string()));
    names.into_iter().collect()
}

/// A namespace the run uses, as found before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not there: the run creates it.
    Absent,
    /// Being deleted already: the run waits until it is gone.
    Terminating,
    /// Created by `evident run` (it carries [`RUN_LABEL`]; the value is that run's id).
    LeftByRun(String),
    /// Created by someone else.
    Foreign,
}

impl Found {
    /// What `namespace` (as read from the API server) is to a run.
    pub fn of(namespace: Option<&Namespace>) -> Found {
        let Some(namespace) = namespace else { return Found::Absent };
        if namespace.metadata.deletion_timestamp.is_some() {
            return Found::Terminating;
        }
        match namespace.metadata.labels.as_ref().and_then(|labels| labels.get(RUN_LABEL)) {
            Some(run) => Found::LeftByRun(run.clone()),
            None => Found::Foreign,
        }
    }
}

/// What a run does with its namespaces before it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePlan {
    /// Left by an earlier `evident run` (name, that run's id): deleted.
    pub left_by_runs: Vec<(String, String)>,
    /// Not created by evident, and the caller asked to replace them: deleted.
    pub replaced: Vec<String>,
    /// Being deleted by someone: waited for.
    pub terminating: Vec<String>,
    /// Every namespace of the run: created, labelled with the run id, after the above.
    pub create: Vec<String>,
}

impl NamespacePlan {
    /// The plan for namespaces found as `found`; fails naming every namespace not created by
    /// evident unless `replace` (`--replace-namespaces`).
    pub fn new(found: &[(String, Found)], replace: bool) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan::default();
        let mut foreign = Vec::new();
        for (name, state) in found {
            match state {
                Found::Absent => {}
                Found::Terminating => plan.terminating.push(name.clone()),
                Found::LeftByRun(run) => plan.left_by_runs.push((name.clone(), run.clone())),
                Found::Foreign if replace => plan.replaced.push(name.clone()),
                Found::Foreign => foreign.push(name.clone()),
            }
            plan.create.push(name.clone());
        }
        if !foreign.is_empty() {
            return Err(FleetError::NotCreatedByEvident { names: foreign });
        }
        Ok(plan)
    }
}

/// Reads each of `names` from the API server.
pub async fn find_namespaces(client: &Client, names: &[String]) -> Result<Vec<(String, Found)>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        let namespace = get(&api, "namespace", name).await?;
        found.push((name.clone(), Found::of(namespace.as_ref())));
    }
    Ok(found)
}

/// Deletes the namespaces `plan` names and waits until they are gone, also those someone
/// else is deleting; `on_remove` is told each deletion first.
pub async fn clear_namespaces(
    client: &Client,
    plan: &NamespacePlan,
    mut on_remove: impl FnMut(Removal<'_>),
) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for (name, run) in &plan.left_by_runs {
        on_remove(Removal::LeftByRun { name, run });
        delete_namespace_and_wait(&api, name).await?;
    }
    for name in &plan.replaced {
        on_remove(Removal::Replaced { name });
        delete_namespace_and_wait(&api, name).await?;
    }
    for name in &plan.terminating {
        on_remove(Removal::Terminating { name });
        delete_namespace_and_wait(&api, name).await?;
    }
    Ok(())
}

/// A namespace removed before a run.
#[derive(Debug, Clone, Copy)]
pub enum Removal<'a> {
    /// Left by the earlier run `run`.
    LeftByRun { name: &'a str, run: &'a str },
    /// Not created by evident; replaced as asked.
    Replaced { name: &'a str },
    /// Already being deleted by someone.
    Terminating { name: &'a str },
}

/// Creates `names`, each labelled [`RUN_LABEL`]`=<run_id>`, in order; stops at the first
/// failure (the teardown finds those created by their label).
pub async fn create_namespaces(client: &Client, names: &[String], run_id: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let params = PostParams { field_manager: Some(NAMESPACE_FIELD_MANAGER.into()), ..PostParams::default() };
    for name in names {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(RUN_LABEL.to_string(), run_id.to_string())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match api.create(&params, &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {
                return Err(FleetError::CreatedMeanwhile { name: name.clone() });
            }
            Err(source) => return Err(FleetError::Create { name: name.clone(), source }),
        }
    }
    Ok(())
}

/// Deletes those of `names` that carry [`RUN_LABEL`]`=<run_id>` and waits until they are
/// gone; any other namespace of that name (replaced by someone meanwhile) is left alone.
/// Returns the names deleted.
pub async fn delete_run_namespaces(client: &Client, names: &[String], run_id: &str) -> Result<Vec<String>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut deleted = Vec::new();
    for name in names {
        let namespace = get(&api, "namespace", name).await?;
        if Found::of(namespace.as_ref()) == Found::LeftByRun(run_id.to_string()) {
            delete_namespace_and_wait(&api, name).await?;
            deleted.push(name.clone());
        }
    }
    Ok(deleted)
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

    fn namespace(labels: &[(&str, &str)], terminating: bool) -> Namespace {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some("gpu-demo".into());
        if !labels.is_empty() {
            namespace.metadata.labels =
                Some(labels.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect());
        }
        if terminating {
            namespace.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()));
        }
        namespace
    }

    #[test]
    fn a_namespace_is_evidents_only_with_the_run_label() {
        assert_eq!(Found::of(None), Found::Absent);
        assert_eq!(Found::of(Some(&namespace(&[], false))), Found::Foreign);
        assert_eq!(Found::of(Some(&namespace(&[("evident.dev/other", "x"), ("app", "demo")], false))), Found::Foreign);
        assert_eq!(
            Found::of(Some(&namespace(&[(RUN_LABEL, "k8s-20260614-153951")], false))),
            Found::LeftByRun("k8s-20260614-153951".into())
        );
        assert_eq!(Found::of(Some(&namespace(&[], true))), Found::Terminating);
    }

    #[test]
    fn a_namespace_not_created_by_evident_is_refused_unless_replacing() {
        let found = vec![
            ("a-left".to_string(), Found::LeftByRun("k8s-1".into())),
            ("b-absent".to_string(), Found::Absent),
            ("c-theirs".to_string(), Found::Foreign),
            ("d-theirs".to_string(), Found::Foreign),
            ("e-going".to_string(), Found::Terminating),
        ];
        let error = NamespacePlan::new(&found, false).unwrap_err();
        assert!(matches!(&error, FleetError::NotCreatedByEvident { names } if names == &["c-theirs", "d-theirs"]));
        let line = error.to_string();
        assert!(
            line.starts_with("namespaces c-theirs, d-theirs already exist and were not created by evident run"),
            "{line}"
        );
        assert!(line.contains("--replace-namespaces") && !line.contains('\n'), "{line}");

        let plan = NamespacePlan::new(&found, true).unwrap();
        assert_eq!(plan.left_by_runs, [("a-left".to_string(), "k8s-1".to_string())]);
        assert_eq!(plan.replaced, ["c-theirs", "d-theirs"]);
        assert_eq!(plan.terminating, ["e-going"]);
        assert_eq!(plan.create, ["a-left", "b-absent", "c-theirs", "d-theirs", "e-going"]);

        let one = NamespacePlan::new(&found[2..3], false).unwrap_err().to_string();
        assert!(one.starts_with("namespace c-theirs already exists and was not created by evident run"), "{one}");
    }

    #[test]
    fn a_plan_without_foreign_namespaces_needs_no_flag() {
        let found = vec![("gpu-demo".to_string(), Found::LeftByRun("k8s-1".into())), ("x".into(), Found::Absent)];
        let plan = NamespacePlan::new(&found, false).unwrap();
        assert_eq!(plan.left_by_runs.len(), 1);
        assert!(plan.replaced.is_empty());
        assert_eq!(plan.create, ["gpu-demo", "x"]);
    }

    #[test]
    fn the_scenarios_namespaces_include_its_namespace_manifests() {
        let document = |kind: &str, name: &str| Document {
            path: PathBuf::from("w.yaml"),
            index: 0,
            object: json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "elsewhere"}}),
        };
        let documents = [document("Namespace", "made"), document("Pod", "p"), document("Namespace", "gpu-demo")];
        assert_eq!(scenario_namespaces(["gpu-demo".to_string()], &documents), ["gpu-demo", "made"]);
    }

    fn node_with(ready: Option<&str>, taints: &[&str]) -> Node {
        let mut node: Node = k8s_openapi::serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap();
        if let Some(status) = ready {
            node.status = Some(
                k8s_openapi::serde_json::from_value(json!({"conditions": [{"type": "Ready", "status": status}]}))
                    .unwrap(),
            );
        }
        let taints: Vec<_> = taints.iter().map(|key| json!({"key": key, "effect": "NoSchedule"})).collect();
        node.spec = Some(k8s_openapi::serde_json::from_value(json!({"taints": taints})).unwrap());
        node
    }

    // `evident run` waits for the fleet with `apply::wait_nodes_ready`, which polls this
    // predicate: these tests pin the readiness a workload may be applied at.
    #[test]
    fn a_ready_node_still_tainted_not_ready_cannot_take_pods() {
        // The moment between Ready=True and the node lifecycle controller lifting its taint.
        let reason = apply::not_ready_reason(&node_with(Some("True"), &["node.kubernetes.io/not-ready"]));
        assert_eq!(reason.as_deref(), Some("taint node.kubernetes.io/not-ready"));
        for taint in ["node.kubernetes.io/unreachable", "node.kubernetes.io/network-unavailable"] {
            assert!(apply::not_ready_reason(&node_with(Some("True"), &[taint])).is_some(), "{taint}");
        }
    }

    #[test]
    fn a_node_is_ready_when_ready_and_without_lifecycle_taints() {
        assert_eq!(apply::not_ready_reason(&node_with(Some("True"), &[])), None);
        // A taint the manifest declares (the control-plane stand-in's) is the node's design.
        assert_eq!(apply::not_ready_reason(&node_with(Some("True"), &["node-role.kubernetes.io/control-plane"])), None);
        assert_eq!(apply::not_ready_reason(&node_with(Some("False"), &[])).as_deref(), Some("Ready=False"));
        assert_eq!(apply::not_ready_reason(&node_with(None, &[])).as_deref(), Some("Ready=unknown"));
    }

    #[test]
    fn only_nodes_annotated_for_kwok_are_fakes() {
        assert!(is_kwok_fake(&node(json!({"kwok.x-k8s.io/node": "fake"}))));
        assert!(!is_kwok_fake(&node(json!({"kwok.x-k8s.io/node": "real"}))));
        assert!(!is_kwok_fake(&node(json!({}))));
        assert!(!is_kwok_fake(&node(json!(null))));
    }
}
