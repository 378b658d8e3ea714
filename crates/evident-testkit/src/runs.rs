//! The run generator: whole run directories of a scripted scenario, for tests of what reads
//! runs (queries, reports, the CLI), the committed sample `evidence/sample-synthetic/` and the
//! query benchmark, while no real recording is needed.
//!
//! [`write_lesson1`] replays the lesson-1 notebook deterministically (fixed clock, fixed
//! names): 7 nodes (a100 x2 with 8 GPUs, h100 with 8, l40s x2 with 4, a tainted
//! `evident-control-plane` and an `evident-worker` without GPUs) stamped with `kubeletVersion`
//! one at a time, `cuda-batch-small` Running on `kwok-gpu-a100-1`, `cuda-train-16gpu` and
//! `cuda-needs-b200` Pending with the scheduler's messages, `queue-pressure` with 40 replicas
//! of which 31 run, and one pod created and deleted. [`write_scaled`] plays the same fleet
//! grown to many nodes with pods created, scheduled, run and deleted until a number of changes
//! is reached.
//!
//! Invariants:
//! - Every change goes through the recorder's own write path,
//!   [`evident_recorder::ChangeStore::append`] (redaction, seq, WAL, Parquet segment, footer
//!   keys, `run.json`), in time order, with an `observed_at` computed from the scenario's
//!   clock. So a generated run is in exactly the recorder's format, and no second writer of
//!   that format exists to drift from it.
//! - Deterministic: the store is given fixed receipt times, and `run.json`'s `started_at` and
//!   `stopped_at` are the scenario's (the store stamps `stopped_at` with the wall clock at
//!   close; the generator replaces it afterwards). The run id is the directory's name, as the
//!   recorder's. Two generations into directories of the same name have the same `run.json`
//!   byte for byte and the same rows in every segment. Segment bytes can still differ: the
//!   recorder's Parquet writer lists the schema's key/value metadata in `HashMap` order.
//!
//! Nothing here is evidence: a generated run's `run.json` says `platform: synthetic`.

use std::path::{Path, PathBuf};

use evident_core::layout;
use evident_core::redact::{KEY_BYTES, Redactor};
use evident_core::run_manifest::{ClusterInfo, RunManifest};
use evident_core::{Kind, Op};
use evident_recorder::metric_store::{MetricStore, MetricStoreError, Scrape};
use evident_recorder::{ChangeStore, StoreConfig, StoreError};
use serde_json::{Value, json};

pub use crate::plan::LESSON1_START_NS;
use crate::plan::{Fate, GpuReading, POD_TEMPLATE_HASH, Plan, replica_suffix};

/// Why a run could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum RunWriteError {
    /// The directory already holds a run; the store would continue it instead.
    #[error("{} already holds a run", path.display())]
    Exists { path: PathBuf },
    /// The recorder's change store refused a step.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The recorder's metrics store refused a scrape.
    #[error(transparent)]
    Metrics(#[from] MetricStoreError),
    /// A plan names something it does not have (e.g. a pod bound to a node index past the
    /// plan's nodes); nothing was written.
    #[error("the plan is inconsistent: {0}")]
    Plan(String),
    /// The store gave a change another seq than the scenario's count (a reopened run).
    #[error("the store gave seq {got}, the scenario expected {expected}")]
    Seq { expected: u64, got: u64 },
    /// Rewriting `run.json` with the scenario's stop time failed.
    #[error("cannot rewrite {}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = RunWriteError> = std::result::Result<T, E>;

const NS_PER_MS: i64 = 1_000_000;
const FLUSH_EVERY: usize = 50_000;
const POOL_LABEL: &str = "run.ai/simulated-gpu-node-pool";
const NAMESPACE: &str = "gpu-demo";
const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

/// Writes the lesson-1 run into `dir` (created; [`RunWriteError::Exists`] if it holds a run).
pub fn write_lesson1(dir: &Path) -> Result<RunManifest> {
    write_lesson1_with_scrapes(dir, &[])
}

/// One answered scrape of a metrics endpoint: `text` (Prometheus text) served at `at_ms`
/// after the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeAt {
    pub at_ms: i64,
    pub endpoint: String,
    pub text: String,
}

/// The lesson-1 run with `scrapes` in its `metrics` table, written through the recorder's
/// metrics store (the manifest counts them per endpoint, as a recording does; its interval is
/// the time between the first two scrapes).
pub fn write_lesson1_with_scrapes(dir: &Path, scrapes: &[ScrapeAt]) -> Result<RunManifest> {
    let mut sim = Simulation::new(dir, LESSON1_START_NS, 100_000, false)?;
    if let [first, second, ..] = scrapes {
        sim.store.manifest_mut().metrics.interval_ms = second.at_ms.abs_diff(first.at_ms);
    }
    for scrape in scrapes {
        sim.scrape(ms(scrape.at_ms), &scrape.endpoint, scrape.text.clone());
    }
    let fleet = [
        ("evident-control-plane", None, 0),
        ("evident-worker", None, 0),
        ("kwok-gpu-a100-0", Some("a100"), 8),
        ("kwok-gpu-a100-1", Some("a100"), 8),
        ("kwok-gpu-h100-0", Some("h100"), 8),
        ("kwok-gpu-l40s-0", Some("l40s"), 4),
        ("kwok-gpu-l40s-1", Some("l40s"), 4),
    ];
    for (index, (name, pool, gpus)) in fleet.into_iter().enumerate() {
        sim.add_node(ms(150 + 40 * index as i64), name, pool, gpus);
    }
    // KWOK stamps kubeletVersion asynchronously, one node at a time (the notebook's surprise).
    for (index, delay) in [1_210, 1_730, 2_380, 2_890, 3_540, 4_170, 4_720].into_iter().enumerate() {
        sim.stamp_node(ms(delay), index);
    }
    // The fake GPU operator advertises nvidia.com/gpu after its device plugin starts.
    for (index, delay) in [(2, 6_100), (3, 6_180), (4, 6_260), (5, 6_340), (6, 6_420)] {
        sim.advertise_gpus(ms(delay), index);
    }

    let small = sim.create_pod(ms(12_000), NAMESPACE, "cuda-batch-small", None, 1, Some("a100"));
    sim.bind(ms(12_014), small, 3);
    sim.run(ms(13_102), small);

    let nodes = sim.nodes.len();
    let train = sim.create_pod(ms(12_500), NAMESPACE, "cuda-train-16gpu", None, 16, None);
    sim.unschedulable(ms(12_511), train, insufficient_gpu_message(nodes));
    let b200 = sim.create_pod(ms(13_000), NAMESPACE, "cuda-needs-b200", None, 1, Some("b200"));
    sim.unschedulable(ms(13_009), b200, selector_mismatch_message(nodes));

    let owner = ("queue-pressure-6b9f7d8c5d", "6b9f7d8c5d");
    let mut replicas = Vec::new();
    for replica in 0..40 {
        let name = format!("queue-pressure-6b9f7d8c5d-{}", replica_suffix(replica));
        replicas.push(sim.create_pod(ms(20_000 + 3 * replica), NAMESPACE, &name, Some(owner), 1, None));
    }
    for (index, pod) in replicas.iter().enumerate() {
        let at = ms(20_150 + 9 * index as i64);
        match sim.emptiest_node_with(1) {
            Some(node) => {
                sim.bind(at, *pod, node);
                sim.run(at + ms(700 + 13 * index as i64), *pod);
            }
            None => sim.unschedulable(at, *pod, insufficient_gpu_message(nodes)),
        }
    }
    // The scheduler retries the Pending pods; Events aggregate into a series.
    for (index, pod) in [train, b200].into_iter().chain(replicas.iter().copied().skip(31)).enumerate() {
        sim.repeat_failed_scheduling(ms(32_000 + 25 * index as i64), pod);
    }

    let smoke = sim.create_pod(ms(35_000), "default", "smoke-test", None, 0, None);
    sim.bind(ms(35_010), smoke, 1);
    sim.run(ms(35_600), smoke);
    sim.delete_pod(ms(40_000), smoke);

    sim.finish(ms(45_000))
}

/// Writes a run of at least `changes` rows: the lesson-1 fleet grown to `nodes` GPU nodes,
/// with pods (1–8 GPUs, some asking for a pool that does not exist) created every few
/// milliseconds, scheduled when a node has room, run, updated and deleted.
pub fn write_scaled(dir: &Path, changes: u64, nodes: usize) -> Result<RunManifest> {
    let mut sim = Simulation::new(dir, LESSON1_START_NS, 250_000, true)?;
    let pools = [("a100", 8), ("a100", 8), ("h100", 8), ("l40s", 4), ("l40s", 4)];
    sim.add_node(ms(100), "evident-control-plane", None, 0);
    sim.add_node(ms(120), "evident-worker", None, 0);
    for index in 0..nodes {
        let (pool, gpus) = pools[index % pools.len()];
        sim.add_node(ms(150) + index as i64 * 1_000_000, &format!("kwok-gpu-{pool}-{index}"), Some(pool), gpus);
    }
    for index in 0..sim.nodes.len() {
        sim.stamp_node(ms(2_000) + index as i64 * 7_000_000, index);
    }
    for index in 2..sim.nodes.len() {
        sim.advertise_gpus(ms(5_000) + index as i64 * 3_000_000, index);
    }
    let total_nodes = sim.nodes.len();
    let mut live: std::collections::VecDeque<(usize, i64)> = std::collections::VecDeque::new();
    let mut clock = ms(10_000);
    let mut number: u64 = 0;
    while sim.rows() < changes {
        number += 1;
        clock += 2 * NS_PER_MS + (number as i64 * 7_919) % NS_PER_MS;
        let gpus = [1, 1, 2, 1, 4, 1, 8, 2][(number % 8) as usize];
        let pool = match number % 29 {
            0 => Some("b200"),
            1 => Some("h100"),
            _ => None,
        };
        let owner_name = format!("batch-{:04}-7c9d8f6b5a", number / 500);
        let name = format!("{owner_name}-{}", replica_suffix(number as i64));
        let pod = sim.create_pod(clock, "gpu-batch", &name, Some((&owner_name, "7c9d8f6b5a")), gpus, pool);
        let node = if pool == Some("b200") { None } else { sim.emptiest_node_with_pool(gpus, pool) };
        match node {
            Some(node) => {
                sim.bind(clock + 4 * NS_PER_MS, pod, node);
                sim.run(clock + 600 * NS_PER_MS, pod);
                sim.touch(clock + 1_500 * NS_PER_MS, pod);
            }
            None => {
                let message = if pool == Some("b200") {
                    selector_mismatch_message(total_nodes)
                } else {
                    insufficient_gpu_message(total_nodes)
                };
                sim.unschedulable(clock + 3 * NS_PER_MS, pod, message);
                sim.repeat_failed_scheduling(clock + 1_000 * NS_PER_MS, pod);
            }
        }
        live.push_back((pod, clock));
        // Pods live 2.5 s of simulated time (after their last update); deleting them frees
        // their GPUs, so the fleet stays mostly busy with some pods Pending.
        while live.front().is_some_and(|(_, created)| clock - created > 2_500 * NS_PER_MS) {
            let (old, _) = live.pop_front().expect("checked non-empty");
            sim.delete_pod(clock, old);
        }
    }
    let stop = clock + ms(1_000);
    sim.finish(stop)
}

/// Writes the run `plan` describes into `dir` (created; [`RunWriteError::Exists`] if it holds a
/// run), with receipt times exactly the plan's: see [`crate::plan`].
pub fn write_plan(dir: &Path, plan: &Plan) -> Result<RunManifest> {
    for pod in &plan.pods {
        if let Fate::Bound { node, .. } = pod.fate
            && node >= plan.nodes.len()
        {
            let nodes = plan.nodes.len();
            return Err(RunWriteError::Plan(format!("pod {} is bound to node {node} of {nodes}", pod.name)));
        }
    }
    let mut sim = Simulation::new(dir, plan.start_ns, 100_000, false)?;
    sim.exact_receipt = true;
    for (index, node) in plan.nodes.iter().enumerate() {
        sim.add_node(ms(node.added_ms), &node.name, node.pool.as_deref(), node.gpus);
        if let Some(at) = node.stamped_ms {
            sim.stamp_node(ms(at), index);
        }
        if let Some(at) = node.advertised_ms {
            sim.advertise_gpus(ms(at), index);
        }
    }
    for planned in &plan.pods {
        let replica_set = planned.deployment.as_ref().map(|deployment| format!("{deployment}-{POD_TEMPLATE_HASH}"));
        let owner = replica_set.as_deref().map(|replica_set| (replica_set, POD_TEMPLATE_HASH));
        let pod = sim.create_pod(
            ms(planned.created_ms),
            &planned.namespace,
            &planned.name,
            owner,
            planned.gpus,
            planned.pool.as_deref(),
        );
        match &planned.fate {
            Fate::Bound { node, bound_ms, running_ms, succeeded_ms } => {
                sim.bind(ms(*bound_ms), pod, *node);
                if let Some(at) = running_ms {
                    sim.run(ms(*at), pod);
                }
                if let Some(at) = succeeded_ms {
                    sim.succeed(ms(*at), pod);
                }
            }
            fate @ Fate::Unschedulable { at_ms, on_condition, .. } => {
                let message = fate.message().unwrap_or_default();
                sim.judge_unschedulable(ms(*at_ms), pod, message, *on_condition);
            }
        }
        if let Some(at) = planned.deleted_ms {
            sim.delete_pod(ms(at), pod);
        }
    }
    if !plan.scrapes.is_empty() {
        sim.store.manifest_mut().metrics.interval_ms = plan.metrics_interval_ms;
    }
    for scrape in &plan.scrapes {
        sim.scrape(ms(scrape.at_ms), &scrape.endpoint, exposition_text(&scrape.readings));
    }
    sim.finish(ms(plan.stop_ms))
}

/// The value one metric family takes from a reading.
type ReadingValue = fn(&GpuReading) -> f64;

/// dcgm-exporter's text for one scrape of `readings`, plus the samples the plan's module
/// documentation lists as noise (a clock per GPU, a node-level utilisation without a GPU).
fn exposition_text(readings: &[GpuReading]) -> String {
    let labels = |reading: &GpuReading| {
        let mut labels = format!(
            "gpu=\"{}\",UUID=\"{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"",
            reading.gpu, reading.uuid, reading.gpu, reading.model, reading.node
        );
        if let Some((namespace, pod)) = &reading.pod {
            labels.push_str(&format!(",container=\"cuda\",namespace=\"{namespace}\",pod=\"{pod}\""));
        }
        labels
    };
    let mut text = String::new();
    let families: [(&str, &str, ReadingValue); 4] = [
        ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", |_| 1_410.0),
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", |reading| reading.util),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", |reading| reading.fb_free_mib),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", |reading| reading.fb_used_mib),
    ];
    for (metric, help, value) in families {
        text.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
        for reading in readings {
            text.push_str(&format!("{metric}{{{}}} {}\n", labels(reading), value(reading)));
        }
        if metric == "DCGM_FI_DEV_GPU_UTIL"
            && let Some(first) = readings.first()
        {
            text.push_str(&format!("{metric}{{Hostname=\"{}\"}} 100\n", first.node));
        }
    }
    text
}

/// A run scripted step by step by a test: nodes, pods, bindings and the scheduler's refusals,
/// each one 10 ms after the previous, written through the recorder's change store like
/// [`write_lesson1`]. The scheduler's messages are the test's to write (as the scheduler of the
/// Kubernetes version under test words them): nothing here decides where a pod fits.
///
/// ```no_run
/// # fn demo(dir: &std::path::Path) -> evident_testkit::runs::Result<()> {
/// let mut run = evident_testkit::runs::RunScript::new(dir)?;
/// let node = run.node("kwok-gpu-a100-0", Some("a100"), 8, &["gpu=true:NoSchedule"]);
/// let pod = run.pod("gpu-demo", "small", None, 1, serde_json::json!({}));
/// run.bind_and_run(pod, node);
/// run.finish()?;
/// # Ok(()) }
/// ```
#[allow(missing_debug_implementations)]
pub struct RunScript {
    sim: Simulation,
    clock: i64,
}

impl RunScript {
    /// Opens a new run in `dir` (created; [`RunWriteError::Exists`] if it holds a run).
    pub fn new(dir: &Path) -> Result<RunScript> {
        Ok(RunScript { sim: Simulation::new(dir, LESSON1_START_NS, 100_000, false)?, clock: 0 })
    }

    fn tick(&mut self) -> i64 {
        self.clock += ms(10);
        self.clock
    }

    /// A Ready KWOK node with `gpus` GPUs (advertised from creation when above 0), labelled
    /// with `pool` (`run.ai/simulated-gpu-node-pool`), tainted with `taints` (`key=value:Effect`
    /// or `key:Effect`; a name ending in `control-plane` also gets the control-plane taint).
    /// Returns its index.
    pub fn node(&mut self, name: &str, pool: Option<&str>, gpus: i64, taints: &[&str]) -> usize {
        let at = self.tick();
        self.sim.add_node_tainted(at, name, pool, gpus, taints);
        let index = self.sim.nodes.len() - 1;
        let at = self.tick();
        self.sim.stamp_node(at, index);
        if gpus > 0 {
            let at = self.tick();
            self.sim.advertise_gpus(at, index);
        }
        index
    }

    /// A Ready KWOK node like [`RunScript::node`] whose `gpus` GPUs are not advertised yet, as
    /// before a device plugin registers: [`RunScript::advertise`] advertises them. Returns its
    /// index.
    pub fn node_advertising_later(&mut self, name: &str, pool: Option<&str>, gpus: i64, taints: &[&str]) -> usize {
        let at = self.tick();
        self.sim.add_node_tainted(at, name, pool, gpus, taints);
        let index = self.sim.nodes.len() - 1;
        let at = self.tick();
        self.sim.stamp_node(at, index);
        index
    }

    /// A device plugin advertises the node's GPUs (`nvidia.com/gpu` capacity and allocatable).
    pub fn advertise(&mut self, node: usize) {
        let at = self.tick();
        self.sim.advertise_gpus(at, node);
    }

    /// A Pending pod asking for `gpus` GPUs; `owner` is its ReplicaSet and pod-template-hash
    /// (the workload is then the Deployment), `spec` is merged into the pod's spec
    /// (`nodeSelector`, `affinity`, `tolerations`, ...). Returns its index.
    pub fn pod(&mut self, namespace: &str, name: &str, owner: Option<(&str, &str)>, gpus: i64, spec: Value) -> usize {
        let at = self.tick();
        self.sim.create_pod_with(at, namespace, name, owner, gpus, spec)
    }

    /// The scheduler binds the pod to the node and it starts Running.
    pub fn bind_and_run(&mut self, pod: usize, node: usize) {
        let at = self.tick();
        self.sim.bind(at, pod, node);
        let at = self.tick();
        self.sim.run(at, pod);
    }

    /// The scheduler refuses the pod with `message` (condition and FailedScheduling Event).
    pub fn refuse(&mut self, pod: usize, message: &str) {
        let at = self.tick();
        self.sim.unschedulable(at, pod, message.to_string());
    }

    /// Writes everything and closes the run one second after the last step.
    pub fn finish(mut self) -> Result<RunManifest> {
        let stop = self.tick() + ms(1_000);
        self.sim.finish(stop)
    }
}

fn ms(value: i64) -> i64 {
    value * NS_PER_MS
}

fn insufficient_gpu_message(nodes: usize) -> String {
    format!(
        "0/{nodes} nodes are available: 1 node(s) had untolerated taint(s), {others} Insufficient nvidia.com/gpu. \
         preemption: 0/{nodes} nodes are available: 1 Preemption is not helpful for scheduling, \
         {others} No preemption victims found for incoming pod.",
        others = nodes - 1
    )
}

fn selector_mismatch_message(nodes: usize) -> String {
    format!(
        "0/{nodes} nodes are available: 1 node(s) had untolerated taint(s), {others} node(s) didn't match Pod's node \
         affinity/selector. preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling.",
        others = nodes - 1
    )
}

fn seconds(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn micros(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

struct NodeState {
    object: Value,
    pool: Option<String>,
    gpus: i64,
    free: i64,
    advertised: bool,
}

struct PodState {
    object: Value,
    gpus: i64,
    node: Option<usize>,
    /// The FailedScheduling Event of this pod, once there is one.
    event: Option<Value>,
}

/// One queued write of the simulation.
enum Queued {
    /// A change of a Node, Pod or Event, for the change log.
    Change { op: Op, kind: Kind, object: Value },
    /// An answered scrape, for the `metrics` table (its time is set when it is written).
    Scrape(Scrape),
}

/// Plays changes in time order and writes them through the recorder's change store.
struct Simulation {
    store: ChangeStore,
    start_ns: i64,
    /// Scaled runs get a sub-microsecond receipt jitter, as a real clock has; the committed
    /// sample keeps whole microseconds so that DuckDB (µs timestamps) reads it exactly.
    nanosecond_jitter: bool,
    /// Changes handed to the store so far (= the seq of the next one).
    seq: u64,
    resource_version: u64,
    uids: u64,
    nodes: Vec<NodeState>,
    pods: Vec<PodState>,
    pending: Vec<(i64, Queued)>,
    /// The store's settings, for the metrics store opened at the first scrape.
    config: StoreConfig,
    /// The `metrics` table, once a scrape was written.
    metrics: Option<MetricStore>,
    /// Receipt times are exactly the scenario's (no per-seq spread): for runs whose oracle
    /// computes receipt-clock latencies from the scenario's own times.
    exact_receipt: bool,
    /// Queue length at which queued changes old enough to be final are written out.
    flush_at: usize,
    /// The first error of the store; once set, nothing more is written.
    error: Option<RunWriteError>,
}

impl Simulation {
    /// Opens a new run in `dir` whose segments roll every `segment_rows` rows. Segments never
    /// roll by age: the store's clock only matters in [`ChangeStore::tick`], never called here.
    fn new(dir: &Path, start_ns: i64, segment_rows: usize, nanosecond_jitter: bool) -> Result<Simulation> {
        let manifest = layout::run_manifest_path(dir);
        if manifest.exists() {
            return Err(RunWriteError::Exists { path: dir.to_path_buf() });
        }
        let config = StoreConfig::default().with_segment_max_rows(segment_rows);
        // A fixed redaction key, so the committed sample regenerates byte for byte; its hashes
        // can be recomputed by anyone, which is fine for values the generator made up.
        let redactor = Redactor::from_key([0x5e; KEY_BYTES]);
        let (mut store, _recovery) = ChangeStore::open_with_redactor(dir, config.clone(), redactor)?;
        let run = store.manifest_mut();
        run.tool_version = format!("evident-testkit {} (synthetic)", env!("CARGO_PKG_VERSION"));
        run.started_at = seconds(start_ns);
        run.cluster = ClusterInfo {
            context: "synthetic".to_string(),
            server: "synthetic.invalid".to_string(),
            server_version: "v1.36.1".to_string(),
            platform: "synthetic".to_string(),
            kwok_version: "kwok-v0.7.0".to_string(),
        };
        run.settings.kinds = Kind::ALL.iter().map(|kind| kind.table().to_string()).collect();
        Ok(Simulation {
            store,
            start_ns,
            nanosecond_jitter,
            seq: 0,
            resource_version: 1_000,
            uids: 0,
            nodes: Vec::new(),
            pods: Vec::new(),
            pending: Vec::new(),
            config,
            metrics: None,
            exact_receipt: false,
            flush_at: FLUSH_EVERY,
            error: None,
        })
    }

    fn rows(&self) -> u64 {
        self.seq + self.pending.len() as u64
    }

    fn uid(&mut self, kind: Kind) -> String {
        self.uids += 1;
        format!("{:08x}-5eed-4000-8000-{:012x}", kind.code() as u32 + 0x0e1d_0000, self.uids)
    }

    /// Queues a change at `offset` ns after the start; changes are written in time order by
    /// [`Simulation::flush_until`], because the scenario is described per object, not in time.
    fn emit(&mut self, offset: i64, op: Op, kind: Kind, mut object: Value) {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.queue(offset, Queued::Change { op, kind, object });
    }

    /// Queues a scrape of `endpoint` answered with `text` at `offset` ns after the start.
    fn scrape(&mut self, offset: i64, endpoint: &str, text: String) {
        self.queue(offset, Queued::Scrape(Scrape { endpoint: endpoint.to_string(), scraped_at_ns: 0, text }));
    }

    fn queue(&mut self, offset: i64, queued: Queued) {
        self.pending.push((offset, queued));
        // Nothing is ever queued more than a minute before the change being queued, so older
        // changes are final and can be written.
        if self.pending.len() >= self.flush_at {
            self.flush_until(offset - ms(60_000));
            self.flush_at = self.pending.len() + FLUSH_EVERY;
        }
    }

    /// Writes every queued change at or before `until`, in time order (ties by queue order).
    fn flush_until(&mut self, until: i64) {
        self.pending.sort_by_key(|(offset, ..)| *offset);
        let ready = self.pending.partition_point(|(offset, ..)| *offset <= until);
        let changes: Vec<_> = self.pending.drain(..ready).collect();
        for (offset, queued) in changes {
            if self.error.is_some() {
                // Still counted, so a scaled run's loop (which counts rows) ends.
                if matches!(queued, Queued::Change { .. }) {
                    self.seq += 1;
                }
                continue;
            }
            let written = match queued {
                Queued::Change { op, kind, object } => self.write_change(offset, op, kind, &object),
                Queued::Scrape(mut scrape) => {
                    scrape.scraped_at_ns = self.start_ns + offset;
                    self.write_scrape(&scrape)
                }
            };
            if let Err(error) = written {
                self.error = Some(error);
            }
        }
    }

    fn write_change(&mut self, offset: i64, op: Op, kind: Kind, object: &Value) -> Result<()> {
        let spread = if self.exact_receipt {
            0
        } else {
            let jitter = if self.nanosecond_jitter { (self.seq as i64 * 7_777) % 1_000 } else { 0 };
            (self.seq as i64 * 37 % 900) * 1_000 + jitter
        };
        let observed_at = self.start_ns + offset + spread;
        let expected = self.seq;
        self.seq += 1;
        // Epoch 1: the recorder's first watch of a run.
        let got = self.store.append(kind, op, 1, observed_at, &object.to_string())?;
        if got != expected {
            return Err(RunWriteError::Seq { expected, got });
        }
        Ok(())
    }

    /// Writes a scrape as the recorder does: into the `metrics` table, counted per endpoint in
    /// the manifest, each finished segment listed there.
    fn write_scrape(&mut self, scrape: &Scrape) -> Result<()> {
        let metrics = match &mut self.metrics {
            Some(metrics) => metrics,
            None => self.metrics.insert(MetricStore::open(self.store.run_dir(), &self.config)?),
        };
        let appended = metrics.append(scrape)?;
        let counts = self.store.manifest_mut().metrics.endpoint_mut(&scrape.endpoint);
        counts.scrapes += 1;
        counts.samples += appended.samples;
        counts.bad_lines += appended.bad_lines;
        if let Some(problem) = appended.first_problem {
            counts.last_problem = format!("{} bad line(s), first at {problem}", appended.bad_lines);
        }
        if let Some(segment) = appended.rolled {
            evident_recorder::run_manifest::add_segment(self.store.manifest_mut(), segment);
        }
        Ok(())
    }

    fn add_node(&mut self, at: i64, name: &str, pool: Option<&str>, gpus: i64) {
        self.add_node_tainted(at, name, pool, gpus, &[]);
    }

    /// A node as [`Simulation::add_node`] makes it, with `taints` (`key=value:Effect` or
    /// `key:Effect`) added to the control-plane taint a `*control-plane` node gets.
    fn add_node_tainted(&mut self, at: i64, name: &str, pool: Option<&str>, gpus: i64, extra_taints: &[&str]) {
        let uid = self.uid(Kind::Node);
        let mut labels = json!({
            "beta.kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok",
        });
        let mut taints = json!([]);
        if let Some(pool) = pool {
            labels[POOL_LABEL] = json!(pool);
        } else if name.ends_with("control-plane") {
            labels[CONTROL_PLANE_TAINT] = json!("");
            taints = json!([{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]);
        }
        for taint in extra_taints {
            let (key_value, effect) = taint.rsplit_once(':').unwrap_or((taint, "NoSchedule"));
            let mut object = json!({"key": key_value, "effect": effect});
            if let Some((key, value)) = key_value.split_once('=') {
                object = json!({"key": key, "value": value, "effect": effect});
            }
            taints.as_array_mut().expect("taints is a list").push(object);
        }
        let object = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name, "uid": uid, "creationTimestamp": seconds(self.start_ns + at), "labels": labels,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {"taints": taints},
            "status": {
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "conditions": [],
                "nodeInfo": {"kubeletVersion": "", "architecture": "amd64", "operatingSystem": "linux"},
                "phase": "Running",
            },
        });
        self.emit(at, Op::Added, Kind::Node, object.clone());
        self.nodes.push(NodeState { object, pool: pool.map(str::to_string), gpus, free: 0, advertised: false });
    }

    fn stamp_node(&mut self, at: i64, index: usize) {
        let time = seconds(self.start_ns + at);
        let node = &mut self.nodes[index];
        node.object["status"]["nodeInfo"]["kubeletVersion"] = json!("kwok-v0.7.0");
        node.object["status"]["conditions"] = json!([{
            "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": time, "lastTransitionTime": time,
        }]);
        let object = node.object.clone();
        self.emit(at, Op::Modified, Kind::Node, object);
    }

    fn advertise_gpus(&mut self, at: i64, index: usize) {
        let node = &mut self.nodes[index];
        let count = json!(node.gpus.to_string());
        node.object["status"]["capacity"]["nvidia.com/gpu"] = count.clone();
        node.object["status"]["allocatable"]["nvidia.com/gpu"] = count;
        let product = match node.pool.as_deref() {
            Some("a100") => "NVIDIA-A100-SXM4-80GB",
            Some("h100") => "NVIDIA-H100-80GB-HBM3",
            _ => "NVIDIA-L40S",
        };
        node.object["metadata"]["labels"]["nvidia.com/gpu.product"] = json!(product);
        node.object["metadata"]["labels"]["nvidia.com/gpu.count"] = json!(node.gpus.to_string());
        node.free = node.gpus;
        node.advertised = true;
        let object = node.object.clone();
        self.emit(at, Op::Modified, Kind::Node, object);
    }

    fn emptiest_node_with(&self, gpus: i64) -> Option<usize> {
        self.emptiest_node_with_pool(gpus, None)
    }

    /// The node with the most free GPUs that fits (the default scheduler's spreading, roughly).
    fn emptiest_node_with_pool(&self, gpus: i64, pool: Option<&str>) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.advertised && node.free >= gpus)
            .filter(|(_, node)| pool.is_none() || node.pool.as_deref() == pool)
            .max_by_key(|(index, node)| (node.free, std::cmp::Reverse(*index)))
            .map(|(index, _)| index)
    }

    fn create_pod(
        &mut self,
        at: i64,
        namespace: &str,
        name: &str,
        owner: Option<(&str, &str)>,
        gpus: i64,
        pool: Option<&str>,
    ) -> usize {
        let spec = match pool {
            Some(pool) => json!({"nodeSelector": {POOL_LABEL: pool}}),
            None => json!({}),
        };
        self.create_pod_with(at, namespace, name, owner, gpus, spec)
    }

    /// A pod whose spec gets every member of `extra_spec` (`nodeSelector`, `affinity`, ...).
    fn create_pod_with(
        &mut self,
        at: i64,
        namespace: &str,
        name: &str,
        owner: Option<(&str, &str)>,
        gpus: i64,
        extra_spec: Value,
    ) -> usize {
        let uid = self.uid(Kind::Pod);
        let mut metadata = json!({
            "name": name, "namespace": namespace, "uid": uid, "creationTimestamp": seconds(self.start_ns + at),
            "labels": {"app": owner.map_or(name, |(replica_set, hash)| replica_set.strip_suffix(hash).unwrap_or(replica_set).trim_end_matches('-'))},
        });
        if let Some((replica_set, hash)) = owner {
            metadata["labels"]["pod-template-hash"] = json!(hash);
            metadata["generateName"] = json!(format!("{replica_set}-"));
            metadata["ownerReferences"] = json!([{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
                "uid": format!("0e1d0009-5eed-4000-8000-{:012x}", replica_set.len()), "controller": true, "blockOwnerDeletion": true,
            }]);
        }
        let mut container = json!({
            "name": "cuda", "image": "nvidia/cuda:12.4.1-base-ubuntu22.04", "command": ["sleep", "infinity"],
            "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
        });
        if gpus > 0 {
            let count = json!(gpus.to_string());
            container["resources"] =
                json!({"limits": {"nvidia.com/gpu": count}, "requests": {"nvidia.com/gpu": count}});
        }
        let mut spec =
            json!({"schedulerName": "default-scheduler", "restartPolicy": "Always", "containers": [container]});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
            spec.extend(extra.clone());
        }
        let object = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        });
        self.emit(at, Op::Added, Kind::Pod, object.clone());
        self.pods.push(PodState { object, gpus, node: None, event: None });
        self.pods.len() - 1
    }

    fn bind(&mut self, at: i64, pod: usize, node: usize) {
        let time = seconds(self.start_ns + at);
        let node_name = self.nodes[node].object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        self.nodes[node].free -= self.pods[pod].gpus;
        let state = &mut self.pods[pod];
        state.node = Some(node);
        state.object["spec"]["nodeName"] = json!(node_name);
        state.object["status"]["conditions"] =
            json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": time}]);
        let object = state.object.clone();
        let message = format!(
            "Successfully assigned {}/{} to {node_name}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        self.emit(at, Op::Modified, Kind::Pod, object.clone());
        let event = self.scheduler_event(at, &object, "Scheduled", "Normal", &message);
        self.emit(at + 2 * NS_PER_MS, Op::Added, Kind::Event, event);
    }

    fn run(&mut self, at: i64, pod: usize) {
        let start = self.start_ns;
        let state = &mut self.pods[pod];
        let scheduled = state.object["status"]["conditions"][0]["lastTransitionTime"].clone();
        let time = seconds(start + at);
        let condition = |kind: &str, when: &Value| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": when});
        state.object["status"] = json!({
            "phase": "Running", "qosClass": "BestEffort", "hostIP": "10.0.0.2", "podIP": format!("10.244.0.{}", pod % 250 + 2),
            "startTime": scheduled,
            "conditions": [
                condition("PodReadyToStartContainers", &json!(time)), condition("Initialized", &scheduled),
                condition("Ready", &json!(time)), condition("ContainersReady", &json!(time)), condition("PodScheduled", &scheduled),
            ],
            "containerStatuses": [{"name": "cuda", "ready": true, "restartCount": 0, "started": true,
                                   "image": "nvidia/cuda:12.4.1-base-ubuntu22.04", "state": {"running": {"startedAt": time}}}],
        });
        let object = state.object.clone();
        self.emit(at, Op::Modified, Kind::Pod, object);
    }

    /// The container exits 0: phase Succeeded, Ready and ContainersReady False; the pod's GPUs
    /// are free again.
    fn succeed(&mut self, at: i64, pod: usize) {
        if let Some(node) = self.pods[pod].node.take() {
            self.nodes[node].free += self.pods[pod].gpus;
        }
        let time = json!(seconds(self.start_ns + at));
        let state = &mut self.pods[pod];
        let status = &mut state.object["status"];
        status["phase"] = json!("Succeeded");
        if let Some(conditions) = status["conditions"].as_array_mut() {
            for condition in conditions {
                if matches!(condition["type"].as_str(), Some("Ready" | "ContainersReady")) {
                    condition["status"] = json!("False");
                    condition["reason"] = json!("PodCompleted");
                    condition["lastTransitionTime"] = time.clone();
                }
            }
        }
        status["containerStatuses"][0]["ready"] = json!(false);
        status["containerStatuses"][0]["state"] =
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": time}});
        let object = state.object.clone();
        self.emit(at, Op::Modified, Kind::Pod, object);
    }

    /// A status refresh that changes nothing the typed columns show (a later heartbeat).
    fn touch(&mut self, at: i64, pod: usize) {
        let state = &mut self.pods[pod];
        state.object["metadata"]["annotations"] = json!({"evident.dev/heartbeat": seconds(self.start_ns + at)});
        let object = state.object.clone();
        self.emit(at, Op::Modified, Kind::Pod, object);
    }

    fn unschedulable(&mut self, at: i64, pod: usize, message: String) {
        self.judge_unschedulable(at, pod, message, true);
    }

    /// The scheduler's verdict: the PodScheduled condition False (with the message when
    /// `on_condition`, as kube-scheduler writes it; without, as some schedulers do) and a
    /// FailedScheduling Event with the message.
    fn judge_unschedulable(&mut self, at: i64, pod: usize, message: String, on_condition: bool) {
        let time = seconds(self.start_ns + at);
        let state = &mut self.pods[pod];
        state.object["status"]["conditions"] = json!([{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "lastProbeTime": null, "lastTransitionTime": time,
        }]);
        if on_condition {
            state.object["status"]["conditions"][0]["message"] = json!(message);
        }
        let object = state.object.clone();
        self.emit(at, Op::Modified, Kind::Pod, object.clone());
        let event = self.scheduler_event(at, &object, "FailedScheduling", "Warning", &message);
        self.pods[pod].event = Some(event.clone());
        self.emit(at + NS_PER_MS, Op::Added, Kind::Event, event);
    }

    /// The scheduler tried again and failed the same way: the Event becomes a series.
    fn repeat_failed_scheduling(&mut self, at: i64, pod: usize) {
        let Some(mut event) = self.pods[pod].event.take() else { return };
        let count = event["series"]["count"].as_i64().unwrap_or(1) + 1;
        event["series"] = json!({"count": count, "lastObservedTime": micros(self.start_ns + at)});
        self.pods[pod].event = Some(event.clone());
        self.emit(at, Op::Modified, Kind::Event, event);
    }

    fn delete_pod(&mut self, at: i64, pod: usize) {
        if let Some(node) = self.pods[pod].node.take() {
            self.nodes[node].free += self.pods[pod].gpus;
        }
        let time = seconds(self.start_ns + at);
        let state = &mut self.pods[pod];
        state.object["metadata"]["deletionTimestamp"] = json!(time);
        state.object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let object = std::mem::take(&mut state.object);
        state.event = None;
        self.emit(at, Op::Deleted, Kind::Pod, object);
    }

    /// An Event as kube-scheduler writes it through events.k8s.io/v1 (eventTime in µs,
    /// reportingComponent instead of source), read back through core/v1.
    fn scheduler_event(&mut self, at: i64, pod: &Value, reason: &str, kind: &str, message: &str) -> Value {
        let uid = self.uid(Kind::Event);
        let namespace = pod["metadata"]["namespace"].clone();
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{pod_name}.{:016x}", self.uids * 2_654_435_761), "namespace": namespace, "uid": uid,
                         "creationTimestamp": seconds(self.start_ns + at)},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod_name,
                               "uid": pod["metadata"]["uid"], "resourceVersion": pod["metadata"]["resourceVersion"]},
            "reason": reason, "message": message, "type": kind, "action": "Scheduling",
            "source": {}, "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-evident-control-plane",
            "eventTime": micros(self.start_ns + at), "firstTimestamp": null, "lastTimestamp": null,
        })
    }

    /// Writes what is queued and closes the store, then puts the scenario's stop time into
    /// `run.json` in place of the wall-clock time the store stamped at close.
    fn finish(mut self, stop_offset: i64) -> Result<RunManifest> {
        self.flush_until(i64::MAX);
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some(segment) = self.metrics.take().map(MetricStore::close).transpose()?.flatten() {
            evident_recorder::run_manifest::add_segment(self.store.manifest_mut(), segment);
        }
        let dir = self.store.run_dir().to_path_buf();
        let mut manifest = self.store.close("duration")?;
        manifest.stopped_at = seconds(self.start_ns + stop_offset);
        let path = layout::run_manifest_path(&dir);
        let text = manifest.to_json().expect("a manifest always serialises");
        std::fs::write(&path, text).map_err(|source| RunWriteError::Manifest { path, source })?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_binding_a_pod_to_a_missing_node_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::generate(3);
        let pod = plan.pods.iter_mut().find(|pod| matches!(pod.fate, Fate::Bound { .. })).unwrap();
        if let Fate::Bound { node, .. } = &mut pod.fate {
            *node = 99;
        }
        let error = write_plan(&dir.path().join("run"), &plan).unwrap_err().to_string();
        assert!(error.contains("is bound to node 99 of"), "{error}");
        assert!(!dir.path().join("run").exists(), "nothing was written");
    }
}
