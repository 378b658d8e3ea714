//! The report's only data access: SQL over one recorded run, through evident-query's session
//! (tables `nodes`, `pods`, `events`, views `*_latest`), read into plain Rust values.
//!
//! The fleet, namespace totals, Pending causes, kubeletVersion stamping, GPU allocation and the
//! GPU metrics summary come from the named queries in `queries/` (`fleet`, `namespace_totals`,
//! `pending_causes`, `node_version_stamping`, `gpu_allocation`, `gpu_metrics`), so the report
//! and `evident query <name>` show the same numbers. The per-pod and per-event rows the expectations and evidence files need
//! come from the `*_latest` views with the SQL below.
//!
//! Everything the report says comes from here, so the report can be rebuilt from the
//! recording alone: never from a live cluster. The change-log rows of pods and nodes are
//! read in `seq` order so the timelines (phases, GPU allocation) can be replayed.

use std::path::Path;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use evident_core::run_manifest::RunManifest;
use serde_json::Value;

/// Errors of reading facts from a run.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The run could not be opened or a query over it failed.
    #[error("cannot query run {run}: {source}")]
    Query {
        run: String,
        #[source]
        source: evident_query::Error,
    },
    /// A query result lacked a column or had one of an unexpected type (a named query on disk
    /// changed its columns).
    #[error("query result of {query} has no usable column {column}")]
    Column { query: &'static str, column: &'static str },
}

pub type Result<T, E = FactsError> = std::result::Result<T, E>;

/// A node as last recorded (not deleted by the end of the recording).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFact {
    pub name: String,
    pub pool: Option<String>,
    pub gpu_allocatable: Option<i64>,
    pub taints: Option<String>,
    pub kubelet_version: Option<String>,
    pub kwok_managed: bool,
}

/// A pod as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFact {
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

/// An Event about a pod, as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFact {
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

/// A row of the `fleet` named query.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub node: String,
    pub pool: Option<String>,
    pub gpus: i64,
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

/// A row of the `pending_causes` named query: one reason of one Pending pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingReason {
    pub namespace: String,
    pub pod: String,
    pub reason: String,
    pub nodes: Option<i64>,
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

/// The average `DCGM_FI_DEV_GPU_UTIL` over a node's GPUs at one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct UtilPoint {
    pub node: String,
    pub scraped_ns: i64,
    pub util: f64,
}

/// Everything the report reads from one run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub run_id: String,
    pub manifest: RunManifest,
    /// First and last `observed_at` over all tables.
    pub started_ns: i64,
    pub ended_ns: i64,
    pub nodes: Vec<NodeFact>,
    pub pods: Vec<PodFact>,
    pub pod_events: Vec<EventFact>,
    pub pod_changes: Vec<PodChange>,
    pub node_stamps: Vec<NodeStamp>,
    pub fleet: Vec<FleetRow>,
    pub namespace_totals: Vec<NamespaceTotal>,
    pub pending_reasons: Vec<PendingReason>,
    pub stamping: Vec<StampRow>,
    pub gpu_allocation: Vec<AllocationRow>,
    /// Samples in the run's `metrics` table (any metric).
    pub metric_samples: u64,
    pub gpu_metrics: Vec<GpuMetricRow>,
    /// GPU utilisation per node over time, in scrape order.
    pub gpu_util: Vec<UtilPoint>,
}

const NODES_LATEST: &str = "SELECT name, pool, gpu_allocatable, taints, kubelet_version, \
     coalesce(kwok_managed, false) AS kwok_managed FROM nodes_latest ORDER BY name";

const PODS_LATEST: &str = "SELECT namespace, name, uid, phase, node_name, gpu_request, workload, \
     CAST(created_at AS BIGINT) AS created_at, object FROM pods_latest ORDER BY namespace, name";

const POD_EVENTS: &str = "SELECT involved_namespace, involved_name, involved_uid, reason, event_type, message, \
     source_component, coalesce(series_count, count) AS count, \
     CAST(coalesce(first_timestamp, event_time, observed_at) AS BIGINT) AS first_at, \
     CAST(coalesce(series_last_observed, last_timestamp, event_time, observed_at) AS BIGINT) AS last_at \
     FROM events_latest WHERE involved_kind = 'Pod' ORDER BY first_at, involved_name";

const POD_CHANGES: &str = "SELECT CAST(observed_at AS BIGINT) AS observed_at, uid, \
     op IN ('DELETED', 'DELETED_IN_GAP') AS deleted, phase, node_name, gpu_request FROM pods ORDER BY seq";

// The first row of each node tells whether the recording saw it being created (ADDED) or
// found it existing (SYNC); stamping is only measured in the first case.
const NODE_STAMPS: &str = "SELECT n.name, coalesce(bool_or(n.kwok_managed), false) AS kwok_managed, \
     CAST(min(n.observed_at) AS BIGINT) AS first_seen, \
     CAST(min(CASE WHEN n.gpu_allocatable IS NOT NULL THEN n.observed_at END) AS BIGINT) AS gpu_seen, \
     first_value(n.op ORDER BY n.seq) AS first_op \
     FROM nodes n GROUP BY n.name ORDER BY n.name";

// NaN samples (an exporter without a reading) would break the plot's coordinates.
const GPU_UTIL: &str = "SELECT node, CAST(scraped_at AS BIGINT) AS scraped_at, avg(value) AS util FROM ( \
     SELECT coalesce(node, 'unknown node') AS node, scraped_at, value FROM metrics \
     WHERE metric = 'DCGM_FI_DEV_GPU_UTIL' AND NOT isnan(value)) AS samples \
     GROUP BY node, scraped_at ORDER BY node, scraped_at";

const BOUNDS: &str = "SELECT CAST(min(t) AS BIGINT) AS started, CAST(max(t) AS BIGINT) AS ended FROM ( \
     SELECT observed_at AS t FROM nodes UNION ALL SELECT observed_at FROM pods \
     UNION ALL SELECT observed_at FROM events)";

impl RunFacts {
    /// Opens the run directory and reads every fact the report needs.
    pub async fn load(run_dir: &Path) -> Result<RunFacts> {
        let run_name = run_dir.display().to_string();
        let query_error = |source: evident_query::Error| FactsError::Query { run: run_name.clone(), source };
        let runs = evident_query::RunSet::open_run(run_dir).map_err(|e| query_error(e.into()))?;
        let run = runs.runs()[0].clone();
        let session = evident_query::Session::new(&runs).await.map_err(|e| query_error(e.into()))?;
        let sql = |query: &'static str| {
            let session = &session;
            let query_error = &query_error;
            async move {
                let batches = session.sql(query).await.map_err(|e| query_error(e.into()))?;
                Ok::<_, FactsError>(Rows::new(query, batches))
            }
        };

        let rows = sql(NODES_LATEST).await?;
        let nodes = (0..rows.len())
            .map(|i| {
                Ok(NodeFact {
                    name: rows.string(i, "name")?.unwrap_or_default(),
                    pool: rows.string(i, "pool")?,
                    gpu_allocatable: rows.int(i, "gpu_allocatable")?,
                    taints: rows.string(i, "taints")?,
                    kubelet_version: rows.string(i, "kubelet_version")?,
                    kwok_managed: rows.boolean(i, "kwok_managed")?.unwrap_or(false),
                })
            })
            .collect::<Result<_>>()?;

        let rows = sql(PODS_LATEST).await?;
        let pods = (0..rows.len())
            .map(|i| {
                let object = rows.string(i, "object")?.and_then(|text| serde_json::from_str(&text).ok());
                Ok(PodFact {
                    namespace: rows.string(i, "namespace")?.unwrap_or_default(),
                    name: rows.string(i, "name")?.unwrap_or_default(),
                    uid: rows.string(i, "uid")?.unwrap_or_default(),
                    phase: rows.string(i, "phase")?,
                    node_name: rows.string(i, "node_name")?,
                    gpu_request: rows.int(i, "gpu_request")?,
                    workload: rows.string(i, "workload")?,
                    created_at_ns: rows.int(i, "created_at")?,
                    object: object.unwrap_or(Value::Null),
                })
            })
            .collect::<Result<_>>()?;

        let rows = sql(POD_EVENTS).await?;
        let pod_events = (0..rows.len())
            .map(|i| {
                Ok(EventFact {
                    involved_namespace: rows.string(i, "involved_namespace")?,
                    involved_name: rows.string(i, "involved_name")?.unwrap_or_default(),
                    involved_uid: rows.string(i, "involved_uid")?,
                    reason: rows.string(i, "reason")?,
                    event_type: rows.string(i, "event_type")?,
                    message: rows.string(i, "message")?,
                    source_component: rows.string(i, "source_component")?,
                    count: rows.int(i, "count")?,
                    first_at_ns: rows.int(i, "first_at")?.unwrap_or_default(),
                    last_at_ns: rows.int(i, "last_at")?.unwrap_or_default(),
                })
            })
            .collect::<Result<_>>()?;

        let rows = sql(POD_CHANGES).await?;
        let pod_changes = (0..rows.len())
            .map(|i| {
                Ok(PodChange {
                    observed_at_ns: rows.int(i, "observed_at")?.unwrap_or_default(),
                    uid: rows.string(i, "uid")?.unwrap_or_default(),
                    deleted: rows.boolean(i, "deleted")?.unwrap_or(false),
                    phase: rows.string(i, "phase")?,
                    node_name: rows.string(i, "node_name")?,
                    gpu_request: rows.int(i, "gpu_request")?,
                })
            })
            .collect::<Result<_>>()?;

        let rows = sql(NODE_STAMPS).await?;
        let node_stamps = (0..rows.len())
            .map(|i| {
                Ok(NodeStamp {
                    name: rows.string(i, "name")?.unwrap_or_default(),
                    kwok_managed: rows.boolean(i, "kwok_managed")?.unwrap_or(false),
                    first_seen_ns: rows.int(i, "first_seen")?.unwrap_or_default(),
                    gpu_seen_ns: rows.int(i, "gpu_seen")?,
                    first_op: rows.string(i, "first_op")?.unwrap_or_default(),
                })
            })
            .collect::<Result<_>>()?;

        let named = |name: &'static str| {
            let session = &session;
            let query_error = &query_error;
            async move {
                let query = evident_query::named_query(name).map_err(|e| query_error(e.into()))?;
                let batches = session.sql(&query.sql).await.map_err(|e| query_error(e.into()))?;
                Ok::<_, FactsError>(Rows::new(name, batches))
            }
        };

        let rows = named("fleet").await?;
        let fleet = (0..rows.len())
            .map(|i| {
                Ok(FleetRow {
                    node: rows.string(i, "node")?.unwrap_or_default(),
                    pool: rows.string(i, "pool")?,
                    gpus: rows.int(i, "gpus")?.unwrap_or(0),
                })
            })
            .collect::<Result<_>>()?;

        let rows = named("namespace_totals").await?;
        let namespace_totals = (0..rows.len())
            .map(|i| {
                Ok(NamespaceTotal {
                    namespace: rows.string(i, "namespace")?.unwrap_or_default(),
                    running: rows.int(i, "running")?.unwrap_or(0),
                    pending: rows.int(i, "pending")?.unwrap_or(0),
                    succeeded: rows.int(i, "succeeded")?.unwrap_or(0),
                    failed: rows.int(i, "failed")?.unwrap_or(0),
                    pods: rows.int(i, "pods")?.unwrap_or(0),
                })
            })
            .collect::<Result<_>>()?;

        let rows = named("pending_causes").await?;
        let pending_reasons = (0..rows.len())
            .map(|i| {
                Ok(PendingReason {
                    namespace: rows.string(i, "namespace")?.unwrap_or_default(),
                    pod: rows.string(i, "pod")?.unwrap_or_default(),
                    reason: rows.string(i, "reason")?.unwrap_or_default(),
                    nodes: rows.int(i, "nodes")?,
                })
            })
            .collect::<Result<_>>()?;

        let rows = named("node_version_stamping").await?;
        let stamping = (0..rows.len())
            .map(|i| {
                Ok(StampRow {
                    node: rows.string(i, "node")?.unwrap_or_default(),
                    appeared_ns: rows.int(i, "appeared_at")?.unwrap_or_default(),
                    stamped_ns: rows.int(i, "stamped_at")?,
                    version: rows.string(i, "kubelet_version")?,
                    appear_to_stamp_ms: rows.float(i, "appear_to_stamp_ms")?,
                    spread_ms: rows.float(i, "stamp_spread_ms")?,
                })
            })
            .collect::<Result<_>>()?;

        let rows = named("gpu_allocation").await?;
        let mut gpu_allocation = (0..rows.len())
            .map(|i| {
                Ok(AllocationRow {
                    node: rows.string(i, "node")?.unwrap_or_default(),
                    pool: rows.string(i, "pool")?,
                    seq: rows.int(i, "seq")?.unwrap_or_default(),
                    observed_ns: rows.int(i, "observed_at")?.unwrap_or_default(),
                    allocatable: rows.int(i, "allocatable_gpus")?.unwrap_or(0),
                    requested: rows.int(i, "requested_gpus")?.unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        gpu_allocation.sort_by_key(|row| row.seq);

        let rows = named("gpu_metrics").await?;
        let gpu_metrics = (0..rows.len())
            .map(|i| {
                Ok(GpuMetricRow {
                    node: rows.string(i, "node")?,
                    gpu: rows.string(i, "gpu")?,
                    uuid: rows.string(i, "uuid")?,
                    model: rows.string(i, "model")?,
                    namespace: rows.string(i, "namespace")?,
                    pod: rows.string(i, "pod")?,
                    samples: rows.int(i, "samples")?.unwrap_or(0),
                    avg_util: rows.float(i, "avg_gpu_util")?,
                    max_util: rows.float(i, "max_gpu_util")?,
                    max_fb_used_mib: rows.float(i, "max_fb_used_mib")?,
                    max_fb_free_mib: rows.float(i, "max_fb_free_mib")?,
                })
            })
            .collect::<Result<_>>()?;

        let rows = sql(GPU_UTIL).await?;
        let gpu_util = (0..rows.len())
            .map(|i| {
                Ok(UtilPoint {
                    node: rows.string(i, "node")?.unwrap_or_default(),
                    scraped_ns: rows.int(i, "scraped_at")?.unwrap_or_default(),
                    util: rows.float(i, "util")?.unwrap_or(0.0),
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let rows = sql(BOUNDS).await?;
        let started_ns = rows.int(0, "started")?.unwrap_or_default();
        let ended_ns = rows.int(0, "ended")?.unwrap_or(started_ns);

        Ok(RunFacts {
            run_id: run.id.clone(),
            manifest: run.manifest.clone(),
            started_ns,
            ended_ns,
            nodes,
            pods,
            pod_events,
            pod_changes,
            node_stamps,
            fleet,
            namespace_totals,
            pending_reasons,
            stamping,
            gpu_allocation,
            metric_samples: run.metric_rows,
            gpu_metrics,
            gpu_util,
        })
    }

    /// When the recording ended: `stopped_at` from run.json, else the last change seen.
    pub fn recording_end_ns(&self) -> i64 {
        evident_core::time::parse_rfc3339_ns(&self.manifest.stopped_at).unwrap_or(self.ended_ns).max(self.ended_ns)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodFact> {
        self.pods.iter().find(|pod| pod.namespace == namespace && pod.name == name)
    }

    pub fn node(&self, name: &str) -> Option<&NodeFact> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// Events about a pod (matched by uid when the event names one), oldest first.
    pub fn events_of<'a>(&'a self, pod: &'a PodFact) -> impl Iterator<Item = &'a EventFact> + 'a {
        self.pod_events.iter().filter(move |event| {
            event.involved_name == pod.name
                && event.involved_namespace.as_deref() == Some(pod.namespace.as_str())
                && event.involved_uid.as_deref().is_none_or(|uid| uid.is_empty() || uid == pod.uid)
        })
    }

    /// The newest FailedScheduling message about a pod.
    pub fn failed_scheduling<'a>(&'a self, pod: &'a PodFact) -> Option<&'a EventFact> {
        self.events_of(pod)
            .filter(|event| event.reason.as_deref() == Some("FailedScheduling"))
            .max_by_key(|event| event.last_at_ns)
    }
}

/// Query results with typed access by column name.
struct Rows {
    /// The query's name, for errors.
    query: &'static str,
    batches: Vec<RecordBatch>,
    /// (batch, row within batch) of each row.
    index: Vec<(usize, usize)>,
}

impl Rows {
    fn new(query: &'static str, batches: Vec<RecordBatch>) -> Rows {
        let index = batches
            .iter()
            .enumerate()
            .flat_map(|(batch, rows)| (0..rows.num_rows()).map(move |row| (batch, row)))
            .collect();
        Rows { query, batches, index }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn cell(&self, row: usize, column: &'static str, to: &DataType) -> Result<Option<ArrayRef>> {
        let Some(&(batch, offset)) = self.index.get(row) else { return Ok(None) };
        let array = self.batches[batch]
            .column_by_name(column)
            .ok_or(FactsError::Column { query: self.query, column })?
            .slice(offset, 1);
        let array = cast(&array, to).map_err(|_| FactsError::Column { query: self.query, column })?;
        Ok((!array.is_null(0)).then_some(array))
    }

    fn string(&self, row: usize, column: &'static str) -> Result<Option<String>> {
        Ok(self.cell(row, column, &DataType::Utf8)?.map(|array| array.as_string::<i32>().value(0).to_string()))
    }

    fn int(&self, row: usize, column: &'static str) -> Result<Option<i64>> {
        Ok(self.cell(row, column, &DataType::Int64)?.map(|array| array.as_primitive::<Int64Type>().value(0)))
    }

    fn float(&self, row: usize, column: &'static str) -> Result<Option<f64>> {
        Ok(self.cell(row, column, &DataType::Float64)?.map(|array| array.as_primitive::<Float64Type>().value(0)))
    }

    fn boolean(&self, row: usize, column: &'static str) -> Result<Option<bool>> {
        Ok(self.cell(row, column, &DataType::Boolean)?.map(|array| array.as_boolean().value(0)))
    }
}
