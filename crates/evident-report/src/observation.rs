//! What a run's recording says about the cluster ([`RunObservations`]): the report's only data
//! access, SQL over one recorded run through evident-query's session (tables `nodes`, `pods`,
//! `events`, `metrics`, views `*_latest`), each result decoded into plain Rust structs by
//! column name (`decode`).
//!
//! Named so because evident-core's `Facts` are something else: the typed columns read out of
//! one object as it is recorded. These are the observations of a whole run, read back.
//!
//! The fleet, namespace totals, kubeletVersion stamping, GPU allocation, why GPU pods waited,
//! the fleet's free capacity and the GPU metrics summary come from the named queries in
//! `queries/` (`fleet`, `namespace_totals`, `node_version_stamping`, `gpu_allocation`,
//! `pending_classification`, `gpu_capacity_timeline`, `gpu_metrics`), so the report and `evident query
//! <name>` show the same numbers. Pending causes are read from each pod's scheduling message
//! with the parse `scheduling_reasons` (and so `pending_causes`) uses, then attributed to the
//! nodes the pod could use (`cause`), which needs the pod's and the nodes' objects. The per-pod and per-event rows the
//! expectations and evidence files need come from the `*_latest` views with the SQL below.
//!
//! Everything the report says comes from here, so the report can be rebuilt from the
//! recording alone: never from a live cluster. The change-log rows of pods and nodes are
//! read in `seq` order so the timelines (phases, GPU allocation) can be replayed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use evident_core::run_manifest::RunManifest;
use serde_json::Value;

use crate::decode::{self, DecodeError, FromRow, Row};

/// Errors of reading a run's observations.
#[derive(Debug, thiserror::Error)]
pub enum ObservationError {
    /// The run could not be opened or a query over it failed.
    #[error("cannot query run {run}: {source}")]
    Query {
        run: String,
        #[source]
        source: evident_query::Error,
    },
    /// A query result lacked a column or had one of an unexpected type (a named query on disk
    /// changed its columns).
    #[error("query result of {query}: {source}")]
    Decode {
        query: &'static str,
        #[source]
        source: DecodeError,
    },
}

pub type Result<T, E = ObservationError> = std::result::Result<T, E>;

/// A node as last recorded (not deleted by the end of the recording).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedNode {
    pub name: String,
    pub pool: Option<String>,
    pub gpu_allocatable: Option<i64>,
    /// The `taints` column: `key=value:Effect` joined by `,`.
    pub taints: Option<String>,
    pub kubelet_version: Option<String>,
    pub kwok_managed: bool,
    /// `metadata.labels` (values that are not strings are left out).
    pub labels: BTreeMap<String, String>,
    /// `spec.taints`, for matching the tolerations of a pod.
    pub taint_list: Vec<NodeTaint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

/// One taint of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeTaint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

impl FromRow for ObservedNode {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        let object: Option<String> = row.get("object")?;
        let object: Value = object.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null);
        let text = |value: &Value, field: &str| value.get(field).and_then(Value::as_str).unwrap_or("").to_string();
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect();
        let taint_list = object
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|taint| NodeTaint {
                key: text(taint, "key"),
                value: text(taint, "value"),
                effect: text(taint, "effect"),
            })
            .collect();
        Ok(ObservedNode {
            name: row.get("name")?,
            pool: row.get("pool")?,
            gpu_allocatable: row.get("gpu_allocatable")?,
            taints: row.get("taints")?,
            kubelet_version: row.get("kubelet_version")?,
            kwok_managed: row.get("kwok_managed")?,
            labels,
            taint_list,
            unschedulable: object.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// A pod as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub phase: Option<String>,
    pub node_name: Option<String>,
    pub gpu_request: Option<i64>,
    pub workload: Option<String>,
    pub created_at_ns: Option<i64>,
    /// The redacted object, for the fields the evidence files show.
    pub object: Value,
}

impl FromRow for ObservedPod {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        let object: Option<String> = row.get("object")?;
        Ok(ObservedPod {
            namespace: row.get("namespace")?,
            name: row.get("name")?,
            uid: row.get("uid")?,
            phase: row.get("phase")?,
            node_name: row.get("node_name")?,
            gpu_request: row.get("gpu_request")?,
            workload: row.get("workload")?,
            created_at_ns: row.get("created_at")?,
            object: object.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null),
        })
    }
}

/// An Event about a pod, as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedEvent {
    pub involved_namespace: Option<String>,
    pub involved_name: String,
    pub involved_uid: Option<String>,
    pub reason: Option<String>,
    pub event_type: Option<String>,
    pub message: Option<String>,
    pub source_component: Option<String>,
    pub count: Option<i64>,
    /// First and last occurrence, from the Event's own clocks, falling back to its
    /// `eventTime` and then to when the recorder received it.
    pub first_at_ns: i64,
    pub last_at_ns: i64,
}

impl FromRow for ObservedEvent {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(ObservedEvent {
            involved_namespace: row.get("involved_namespace")?,
            involved_name: row.get("involved_name")?,
            involved_uid: row.get("involved_uid")?,
            reason: row.get("reason")?,
            event_type: row.get("event_type")?,
            message: row.get("message")?,
            source_component: row.get("source_component")?,
            count: row.get("count")?,
            first_at_ns: row.get("first_at")?,
            last_at_ns: row.get("last_at")?,
        })
    }
}

/// One recorded change of a pod, for replaying timelines.
#[derive(Debug, Clone, PartialEq)]
pub struct PodChange {
    pub observed_at_ns: i64,
    pub uid: String,
    pub deleted: bool,
    pub phase: Option<String>,
    pub node_name: Option<String>,
    pub gpu_request: Option<i64>,
}

impl FromRow for PodChange {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(PodChange {
            observed_at_ns: row.get("observed_at")?,
            uid: row.get("uid")?,
            deleted: row.get("deleted")?,
            phase: row.get("phase")?,
            node_name: row.get("node_name")?,
            gpu_request: row.get("gpu_request")?,
        })
    }
}

/// How a node entered the recording: whether KWOK manages it, whether the recording saw it
/// created, and when its GPUs appeared.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStamp {
    pub name: String,
    pub kwok_managed: bool,
    /// When the recorder first saw the node.
    pub first_seen_ns: i64,
    /// When `nvidia.com/gpu` allocatable was first seen.
    pub gpu_seen_ns: Option<i64>,
    /// The op of the node's first row (`SYNC` when it existed before the recording).
    pub first_op: String,
}

impl FromRow for NodeStamp {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(NodeStamp {
            name: row.get("name")?,
            kwok_managed: row.get("kwok_managed")?,
            first_seen_ns: row.get("first_seen")?,
            gpu_seen_ns: row.get("gpu_seen")?,
            first_op: row.get("first_op")?,
        })
    }
}

/// A row of the `fleet` named query.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub node: String,
    pub pool: Option<String>,
    pub gpus: i64,
}

impl FromRow for FleetRow {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(FleetRow { node: row.get("node")?, pool: row.get("pool")?, gpus: row.get("gpus")? })
    }
}

/// A row of the `namespace_totals` named query.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceTotal {
    pub namespace: String,
    pub running: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub pods: i64,
}

impl FromRow for NamespaceTotal {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(NamespaceTotal {
            namespace: row.get("namespace")?,
            running: row.get("running")?,
            pending: row.get("pending")?,
            succeeded: row.get("succeeded")?,
            failed: row.get("failed")?,
            pods: row.get("pods")?,
        })
    }
}

/// A row of the `node_version_stamping` named query.
#[derive(Debug, Clone, PartialEq)]
pub struct StampRow {
    pub node: String,
    pub appeared_ns: i64,
    pub stamped_ns: Option<i64>,
    pub version: Option<String>,
    pub appear_to_stamp_ms: Option<f64>,
    pub spread_ms: Option<f64>,
}

impl FromRow for StampRow {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(StampRow {
            node: row.get("node")?,
            appeared_ns: row.get("appeared_at")?,
            stamped_ns: row.get("stamped_at")?,
            version: row.get("kubelet_version")?,
            appear_to_stamp_ms: row.get("appear_to_stamp_ms")?,
            spread_ms: row.get("stamp_spread_ms")?,
        })
    }
}

/// A row of the `gpu_allocation` named query: a node's GPUs after one change.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationRow {
    pub node: String,
    pub pool: Option<String>,
    pub seq: i64,
    pub observed_ns: i64,
    pub allocatable: i64,
    pub requested: i64,
}

impl FromRow for AllocationRow {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(AllocationRow {
            node: row.get("node")?,
            pool: row.get("pool")?,
            seq: row.get("seq")?,
            observed_ns: row.get("observed_at")?,
            allocatable: row.get("allocatable_gpus")?,
            requested: row.get("requested_gpus")?,
        })
    }
}

/// A row of the `pending_classification` named query: why a GPU pod waited at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingClassRow {
    pub namespace: String,
    pub pod: String,
    /// `first refusal` or `end`.
    pub moment: String,
    /// `shape`, `fragmentation`, `capacity` or `constraint`; `None` when the recorded state
    /// had room for the pod on a node it may use.
    pub class: Option<String>,
    pub gpus_requested: i64,
    pub largest_eligible_allocatable: Option<i64>,
    pub fleet_free: i64,
    pub eligible_free: i64,
    pub largest_eligible_free_block: i64,
    pub eligible_gpu_nodes: i64,
    pub gpu_nodes: i64,
    pub scheduler_message: Option<String>,
}

impl FromRow for PendingClassRow {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(PendingClassRow {
            namespace: row.get("namespace")?,
            pod: row.get("pod")?,
            moment: row.get("moment")?,
            class: row.get("class")?,
            gpus_requested: row.get("gpus_requested")?,
            largest_eligible_allocatable: row.get("largest_eligible_allocatable")?,
            fleet_free: row.get("fleet_free")?,
            eligible_free: row.get("eligible_free")?,
            largest_eligible_free_block: row.get("largest_eligible_free_block")?,
            eligible_gpu_nodes: row.get("eligible_gpu_nodes")?,
            gpu_nodes: row.get("gpu_nodes")?,
            scheduler_message: row.get("scheduler_message")?,
        })
    }
}

/// A fleet row of the `gpu_capacity_timeline` named query: free GPUs and the largest free
/// block after one change.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityPoint {
    pub observed_ns: i64,
    pub free: i64,
    pub largest_free_block: i64,
}

impl FromRow for CapacityPoint {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(CapacityPoint {
            observed_ns: row.get("observed_at")?,
            free: row.get("free_gpus")?,
            largest_free_block: row.get("largest_free_block")?,
        })
    }
}

/// A row of the `gpu_metrics` named query: one GPU, and the pod it served, over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuMetricRow {
    pub node: Option<String>,
    pub gpu: Option<String>,
    pub uuid: Option<String>,
    pub model: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// Utilisation samples.
    pub samples: i64,
    pub avg_util: Option<f64>,
    pub max_util: Option<f64>,
    pub max_fb_used_mib: Option<f64>,
    pub max_fb_free_mib: Option<f64>,
}

impl FromRow for GpuMetricRow {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(GpuMetricRow {
            node: row.get("node")?,
            gpu: row.get("gpu")?,
            uuid: row.get("uuid")?,
            model: row.get("model")?,
            namespace: row.get("namespace")?,
            pod: row.get("pod")?,
            samples: row.get("samples")?,
            avg_util: row.get("avg_gpu_util")?,
            max_util: row.get("max_gpu_util")?,
            max_fb_used_mib: row.get("max_fb_used_mib")?,
            max_fb_free_mib: row.get("max_fb_free_mib")?,
        })
    }
}

/// The average `DCGM_FI_DEV_GPU_UTIL` over a node's GPUs at one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct UtilPoint {
    pub node: String,
    pub scraped_ns: i64,
    pub util: f64,
}

impl FromRow for UtilPoint {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(UtilPoint { node: row.get("node")?, scraped_ns: row.get("scraped_at")?, util: row.get("util")? })
    }
}

/// Everything the report reads from one run.
#[derive(Debug, Clone, Default)]
pub struct RunObservations {
    pub run_id: String,
    /// The run directory as it was given (`evidence/<run-id>`, or wherever `--out` put it).
    pub run_dir: PathBuf,
    pub manifest: RunManifest,
    /// First and last `observed_at` over all tables.
    pub started_ns: i64,
    pub ended_ns: i64,
    pub nodes: Vec<ObservedNode>,
    pub pods: Vec<ObservedPod>,
    pub pod_events: Vec<ObservedEvent>,
    pub pod_changes: Vec<PodChange>,
    pub node_stamps: Vec<NodeStamp>,
    pub fleet: Vec<FleetRow>,
    pub namespace_totals: Vec<NamespaceTotal>,
    pub stamping: Vec<StampRow>,
    pub gpu_allocation: Vec<AllocationRow>,
    /// Why each refused GPU pod waited (`pending_classification`).
    pub pending_classes: Vec<PendingClassRow>,
    /// The fleet's free GPUs and largest free block over time (`gpu_capacity_timeline`).
    pub fleet_capacity: Vec<CapacityPoint>,
    /// Samples in the run's `metrics` table (any metric).
    pub metric_samples: u64,
    pub gpu_metrics: Vec<GpuMetricRow>,
    /// GPU utilisation per node over time, in scrape order.
    pub gpu_util: Vec<UtilPoint>,
}

/// One query the report runs: SQL of its own, or a named query shared with `evident query`.
#[derive(Debug, Clone, Copy)]
enum Query {
    /// SQL below, with a name for errors.
    Inline { name: &'static str, sql: &'static str },
    /// A query of `queries/`, looked up by name.
    Named(&'static str),
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Query::Inline { name, .. } | Query::Named(name) => name,
        }
    }
}

// Named queries: the report shows the numbers `evident query <name>` prints.
const FLEET: Query = Query::Named("fleet");
const NAMESPACE_TOTALS: Query = Query::Named("namespace_totals");
const NODE_VERSION_STAMPING: Query = Query::Named("node_version_stamping");
const GPU_ALLOCATION: Query = Query::Named("gpu_allocation");
const GPU_METRICS: Query = Query::Named("gpu_metrics");
const PENDING_CLASSIFICATION: Query = Query::Named("pending_classification");
const GPU_CAPACITY_TIMELINE: Query = Query::Named("gpu_capacity_timeline");

const NODES_LATEST: Query = Query::Inline {
    name: "nodes_latest",
    sql: "SELECT name, pool, gpu_allocatable, taints, kubelet_version, \
     coalesce(kwok_managed, false) AS kwok_managed, object FROM nodes_latest ORDER BY name",
};

const PODS_LATEST: Query = Query::Inline {
    name: "pods_latest",
    sql: "SELECT namespace, name, uid, phase, node_name, gpu_request, workload, \
     CAST(created_at AS BIGINT) AS created_at, object FROM pods_latest ORDER BY namespace, name",
};

const POD_EVENTS: Query = Query::Inline {
    name: "pod_events",
    sql: "SELECT involved_namespace, involved_name, involved_uid, reason, event_type, message, \
     source_component, coalesce(series_count, count) AS count, \
     CAST(coalesce(first_timestamp, event_time, observed_at) AS BIGINT) AS first_at, \
     CAST(coalesce(series_last_observed, last_timestamp, event_time, observed_at) AS BIGINT) AS last_at \
     FROM events_latest WHERE involved_kind = 'Pod' ORDER BY first_at, involved_name",
};

const POD_CHANGES: Query = Query::Inline {
    name: "pod_changes",
    sql: "SELECT CAST(observed_at AS BIGINT) AS observed_at, uid, \
     op IN ('DELETED', 'DELETED_IN_GAP') AS deleted, phase, node_name, gpu_request FROM pods ORDER BY seq",
};

// The first row of each node tells whether the recording saw it being created (ADDED) or
// found it existing (SYNC); stamping is only measured in the first case.
const NODE_STAMPS: Query = Query::Inline {
    name: "node_stamps",
    sql: "SELECT n.name, coalesce(bool_or(n.kwok_managed), false) AS kwok_managed, \
     CAST(min(n.observed_at) AS BIGINT) AS first_seen, \
     CAST(min(CASE WHEN n.gpu_allocatable IS NOT NULL THEN n.observed_at END) AS BIGINT) AS gpu_seen, \
     first_value(n.op ORDER BY n.seq) AS first_op \
     FROM nodes n GROUP BY n.name ORDER BY n.name",
};

// NaN samples (an exporter without a reading) would break the plot's coordinates.
const GPU_UTIL: Query = Query::Inline {
    name: "gpu_util",
    sql: "SELECT node, CAST(scraped_at AS BIGINT) AS scraped_at, avg(value) AS util FROM ( \
     SELECT coalesce(node, 'unknown node') AS node, scraped_at, value FROM metrics \
     WHERE metric = 'DCGM_FI_DEV_GPU_UTIL' AND NOT isnan(value)) AS samples \
     GROUP BY node, scraped_at ORDER BY node, scraped_at",
};

const BOUNDS: Query = Query::Inline {
    name: "bounds",
    sql: "SELECT CAST(min(t) AS BIGINT) AS started, CAST(max(t) AS BIGINT) AS ended FROM ( \
     SELECT observed_at AS t FROM nodes UNION ALL SELECT observed_at FROM pods \
     UNION ALL SELECT observed_at FROM events)",
};

impl RunObservations {
    /// Opens the run directory and reads every observation the report needs, with the named
    /// queries embedded in the binary.
    pub async fn load(run_dir: &Path) -> Result<RunObservations> {
        RunObservations::load_with(run_dir, &evident_query::QuerySet::embedded()).await
    }

    /// [`RunObservations::load`] with the named queries of `queries`.
    pub async fn load_with(run_dir: &Path, queries: &evident_query::QuerySet) -> Result<RunObservations> {
        let reader = RunReader::open(run_dir, queries).await?;
        let mut gpu_allocation: Vec<AllocationRow> = reader.rows(GPU_ALLOCATION).await?;
        gpu_allocation.sort_by_key(|row| row.seq);
        let fleet_capacity = reader
            .rows::<ScopedCapacity>(GPU_CAPACITY_TIMELINE)
            .await?
            .into_iter()
            .filter(|row| row.scope == "fleet")
            .map(|row| row.point)
            .collect();
        let bounds: Bounds = reader.rows(BOUNDS).await?.into_iter().next().unwrap_or_default();
        let started_ns = bounds.started.unwrap_or_default();
        Ok(RunObservations {
            run_id: reader.run.id.clone(),
            run_dir: run_dir.to_path_buf(),
            manifest: reader.run.manifest.clone(),
            started_ns,
            ended_ns: bounds.ended.unwrap_or(started_ns),
            nodes: reader.rows(NODES_LATEST).await?,
            pods: reader.rows(PODS_LATEST).await?,
            pod_events: reader.rows(POD_EVENTS).await?,
            pod_changes: reader.rows(POD_CHANGES).await?,
            node_stamps: reader.rows(NODE_STAMPS).await?,
            fleet: reader.rows(FLEET).await?,
            namespace_totals: reader.rows(NAMESPACE_TOTALS).await?,
            stamping: reader.rows(NODE_VERSION_STAMPING).await?,
            gpu_allocation,
            pending_classes: reader.rows(PENDING_CLASSIFICATION).await?,
            fleet_capacity,
            metric_samples: reader.run.metric_rows,
            gpu_metrics: reader.rows(GPU_METRICS).await?,
            gpu_util: reader.rows(GPU_UTIL).await?,
        })
    }

    /// When the recording ended: `stopped_at` from run.json, else the last change seen.
    pub fn recording_end_ns(&self) -> i64 {
        evident_core::time::parse_rfc3339_ns(&self.manifest.stopped_at).unwrap_or(self.ended_ns).max(self.ended_ns)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&ObservedPod> {
        self.pods.iter().find(|pod| pod.namespace == namespace && pod.name == name)
    }

    pub fn node(&self, name: &str) -> Option<&ObservedNode> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// Events about a pod (matched by uid when the event names one), oldest first.
    pub fn events_of<'a>(&'a self, pod: &'a ObservedPod) -> impl Iterator<Item = &'a ObservedEvent> + 'a {
        self.pod_events.iter().filter(move |event| {
            event.involved_name == pod.name
                && event.involved_namespace.as_deref() == Some(pod.namespace.as_str())
                && event.involved_uid.as_deref().is_none_or(|uid| uid.is_empty() || uid == pod.uid)
        })
    }

    /// The newest FailedScheduling message about a pod.
    pub fn failed_scheduling<'a>(&'a self, pod: &'a ObservedPod) -> Option<&'a ObservedEvent> {
        self.events_of(pod)
            .filter(|event| event.reason.as_deref() == Some("FailedScheduling"))
            .max_by_key(|event| event.last_at_ns)
    }
}

/// One run, open for queries.
struct RunReader {
    /// The run directory, for errors.
    dir: String,
    run: evident_query::Run,
    session: evident_query::Session,
    queries: evident_query::QuerySet,
}

impl RunReader {
    async fn open(run_dir: &Path, queries: &evident_query::QuerySet) -> Result<RunReader> {
        let dir = run_dir.display().to_string();
        let query_error = |source: evident_query::Error| ObservationError::Query { run: dir.clone(), source };
        let runs = evident_query::RunSet::open_run(run_dir).map_err(|e| query_error(e.into()))?;
        let run = runs.runs()[0].clone();
        let session = evident_query::Session::new(&runs).await.map_err(|e| query_error(e.into()))?;
        Ok(RunReader { dir, run, session, queries: queries.clone() })
    }

    /// Runs `query` and decodes every row of its result into a `T`.
    async fn rows<T: FromRow>(&self, query: Query) -> Result<Vec<T>> {
        let query_error = |source: evident_query::Error| ObservationError::Query { run: self.dir.clone(), source };
        let sql = match query {
            Query::Inline { sql, .. } => Cow::Borrowed(sql),
            Query::Named(name) => {
                Cow::Borrowed(self.queries.get(name).map_err(|e| query_error(e.into()))?.sql.as_str())
            }
        };
        let batches = self.session.sql(&sql).await.map_err(|e| query_error(e.into()))?;
        decode::decode(&batches).map_err(|source| ObservationError::Decode { query: query.name(), source })
    }
}

/// A row of `gpu_capacity_timeline` with its scope, to keep the fleet's.
struct ScopedCapacity {
    scope: String,
    point: CapacityPoint,
}

impl FromRow for ScopedCapacity {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(ScopedCapacity { scope: row.get("scope")?, point: CapacityPoint::from_row(row)? })
    }
}

/// First and last `observed_at` over all tables (`BOUNDS`), null for an empty run.
#[derive(Debug, Default)]
struct Bounds {
    started: Option<i64>,
    ended: Option<i64>,
}

impl FromRow for Bounds {
    fn from_row(row: &Row<'_>) -> decode::Result<Self> {
        Ok(Bounds { started: row.get("started")?, ended: row.get("ended")? })
    }
}
