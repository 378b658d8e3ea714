//! Oracles for the named queries that share nothing with their SQL: runs generated from a
//! [`Plan`] (written through the recorder's own stores), and every query's answer worked out
//! in Rust from the plan's parameters (when each node appeared and was stamped, which pod went
//! where and when, what each GPU read in each scrape). A query whose logic changes fails here
//! even after its expected files are re-blessed and DuckDB agrees (it runs the same SQL).
//!
//! Every named query under `queries/` must have an oracle here
//! (`every_named_query_has_an_oracle`).

use std::collections::{BTreeMap, BTreeSet};

use crate::{named_sql, queries};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use evident_query::{RunSet, Session};
use evident_testkit::plan::{Fate, KUBELET_VERSION, Plan, PlannedPod};
use evident_testkit::runs;

/// Seeds of the generated plans: each gives other fleets, placements, latencies and readings.
const SEEDS: [u64; 3] = [1, 2, 2026];

/// The queries the oracles below cover; a query without one fails
/// `every_named_query_has_an_oracle`.
const ORACLES: [&str; 11] = [
    "fleet",
    "gpu_allocation",
    "gpu_capacity_timeline",
    "gpu_metrics",
    "namespace_totals",
    "node_version_stamping",
    "pending_causes",
    "pending_classification",
    "placement",
    "pod_latency",
    "queue_pressure",
];

/// One cell of a result, compared by value (timestamps as ns since the epoch).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

use Cell::{Bool, Float, Int, Null, Text};

fn text(value: &str) -> Cell {
    Text(value.to_string())
}

fn opt<T>(value: Option<T>, cell: impl Fn(T) -> Cell) -> Cell {
    value.map_or(Null, cell)
}

/// The run's rows, one map of column name to cell per row, in the query's order.
fn rows(batches: &[RecordBatch]) -> Vec<BTreeMap<String, Cell>> {
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let columns: Vec<(String, Vec<Cell>)> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| (field.name().clone(), cells(column.as_ref())))
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|(name, cells)| (name.clone(), cells[row].clone())).collect());
        }
    }
    rows
}

fn cells(column: &dyn Array) -> Vec<Cell> {
    let typed = |kind: &DataType| cast(column, kind).expect("castable column");
    let values: Box<dyn Fn(usize) -> Cell> = match column.data_type() {
        DataType::Boolean => {
            let array = column.as_boolean().clone();
            Box::new(move |row| Bool(array.value(row)))
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            let array = typed(&DataType::Float64);
            let array = array.as_primitive::<Float64Type>().clone();
            Box::new(move |row| Float(array.value(row)))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let array = typed(&DataType::Utf8);
            let array = array.as_string::<i32>().clone();
            Box::new(move |row| Text(array.value(row).to_string()))
        }
        _ => {
            // Integers, and timestamps as their ns.
            let array = typed(&DataType::Int64);
            let array = array.as_primitive::<Int64Type>().clone();
            Box::new(move |row| Int(array.value(row)))
        }
    };
    (0..column.len()).map(|row| if column.is_null(row) { Null } else { values(row) }).collect()
}

/// Cells of `columns` of every row, for comparisons of whole results.
fn project(rows: &[BTreeMap<String, Cell>], columns: &[&str]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .map(|column| row.get(*column).cloned().unwrap_or_else(|| panic!("no column {column}")))
                .collect()
        })
        .collect()
}

/// Float cells agree to one unit of the queries' rounding (3 decimals: an interpolated
/// percentile on a rounding tie, such as x.2795, may round either way in floating point); the
/// rest exactly.
fn assert_same(query: &str, seed: u64, actual: &[Vec<Cell>], expected: &[Vec<Cell>]) {
    let same = |a: &Cell, b: &Cell| match (a, b) {
        (Float(a), Float(b)) => (a - b).abs() <= 1.000_001e-3,
        (a, b) => a == b,
    };
    let mismatch = actual.len() != expected.len()
        || actual.iter().zip(expected).any(|(a, e)| a.len() != e.len() || a.iter().zip(e).any(|(a, e)| !same(a, e)));
    if mismatch {
        let first = actual.iter().zip(expected).position(|(a, e)| a != e).unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{query} (plan seed {seed}) differs from the plan's oracle: {} rows, expected {}; first difference at row \
             {first}:\n  actual   {:?}\n  expected {:?}",
            actual.len(),
            expected.len(),
            actual.get(first),
            expected.get(first)
        );
    }
}

struct Oracle {
    seed: u64,
    plan: Plan,
    session: Session,
    _dir: tempfile::TempDir,
}

impl Oracle {
    async fn new(seed: u64) -> Oracle {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join(format!("oracle-{seed}"));
        let plan = Plan::generate(seed);
        runs::write_plan(&run, &plan).unwrap();
        let session = Session::new(&RunSet::open_run(&run).unwrap()).await.unwrap();
        Oracle { seed, plan, session, _dir: dir }
    }

    async fn query(&self, name: &str) -> Vec<BTreeMap<String, Cell>> {
        let sql = named_sql(name);
        rows(&self.session.sql(&sql).await.unwrap_or_else(|error| panic!("{name} fails: {error}")))
    }

    fn run_id(&self) -> Cell {
        Text(format!("oracle-{}", self.seed))
    }

    /// ns of `ms` after the start: the receipt clock (observed_at, scraped_at).
    fn receipt(&self, ms: i64) -> i64 {
        self.plan.start_ns + ms * 1_000_000
    }

    /// ns of `ms` after the start, cut to the second: the object clock (1 s timestamps).
    fn object(&self, ms: i64) -> i64 {
        let ns = self.receipt(ms);
        ns - ns.rem_euclid(1_000_000_000)
    }

    fn live_pods(&self) -> impl Iterator<Item = &PlannedPod> {
        self.plan.pods.iter().filter(|pod| pod.deleted_ms.is_none())
    }

    fn node_name(&self, index: usize) -> &str {
        &self.plan.nodes[index].name
    }
}

fn phase(pod: &PlannedPod) -> &'static str {
    match pod.fate {
        Fate::Bound { succeeded_ms: Some(_), .. } => "Succeeded",
        Fate::Bound { running_ms: Some(_), .. } => "Running",
        _ => "Pending",
    }
}

/// `percentile_cont`: linear interpolation between the closest ranks of the sorted values.
fn percentile_cont(values: &[f64], fraction: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    let position = fraction * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * weight)
}

fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

async fn fleet(oracle: &Oracle) {
    let advertised =
        |node: &evident_testkit::plan::PlannedNode| if node.advertised_ms.is_some() { node.gpus } else { 0 };
    let total: i64 = oracle.plan.nodes.iter().map(advertised).sum();
    let mut nodes: Vec<_> = oracle.plan.nodes.iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let expected: Vec<Vec<Cell>> = nodes
        .iter()
        .map(|node| {
            vec![oracle.run_id(), text(&node.name), opt(node.pool.as_deref(), text), Int(advertised(node)), Int(total)]
        })
        .collect();
    let actual = project(&oracle.query("fleet").await, &["run_id", "node", "pool", "gpus", "fleet_gpus"]);
    assert_same("fleet", oracle.seed, &actual, &expected);
}

async fn placement(oracle: &Oracle) {
    let mut pods: Vec<&PlannedPod> = oracle.live_pods().collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let expected: Vec<Vec<Cell>> = pods
        .iter()
        .map(|pod| {
            let (node, scheduled, running) = match &pod.fate {
                Fate::Bound { node, bound_ms, running_ms, .. } => {
                    (Some(*node), Int(oracle.object(*bound_ms)), opt(*running_ms, |ms| Int(oracle.receipt(ms))))
                }
                Fate::Unschedulable { .. } => (None, Null, Null),
            };
            vec![
                text(&pod.namespace),
                text(&pod.name),
                text(phase(pod)),
                opt(node, |node| text(oracle.node_name(node))),
                opt(node.and_then(|node| oracle.plan.nodes[node].pool.as_deref()), text),
                if pod.gpus > 0 { Int(pod.gpus) } else { Null },
                scheduled,
                running,
            ]
        })
        .collect();
    let columns = ["namespace", "pod", "phase", "node", "pool", "gpus", "scheduled_at", "first_running_observed_at"];
    assert_same("placement", oracle.seed, &project(&oracle.query("placement").await, &columns), &expected);
}

async fn namespace_totals(oracle: &Oracle) {
    let mut counts: BTreeMap<&str, [i64; 5]> = BTreeMap::new();
    for pod in oracle.live_pods() {
        let count = counts.entry(&pod.namespace).or_default();
        match phase(pod) {
            "Running" => count[0] += 1,
            "Pending" => count[1] += 1,
            _ => count[2] += 1,
        }
        count[4] += 1;
    }
    let expected: Vec<Vec<Cell>> = counts
        .into_iter()
        .map(|(namespace, [running, pending, succeeded, failed, pods])| {
            vec![text(namespace), Int(running), Int(pending), Int(succeeded), Int(failed), Int(pods)]
        })
        .collect();
    let columns = ["namespace", "running", "pending", "succeeded", "failed", "pods"];
    assert_same(
        "namespace_totals",
        oracle.seed,
        &project(&oracle.query("namespace_totals").await, &columns),
        &expected,
    );
}

async fn queue_pressure(oracle: &Oracle) {
    let mut workloads: BTreeMap<(&str, &str), [i64; 5]> = BTreeMap::new();
    for pod in oracle.live_pods() {
        let workload = pod.deployment.as_deref().unwrap_or(&pod.name);
        let sums = workloads.entry((&pod.namespace, workload)).or_default();
        let running = phase(pod) == "Running";
        sums[0] += 1;
        sums[1] += i64::from(running);
        sums[2] += i64::from(phase(pod) == "Pending");
        sums[3] += pod.gpus;
        sums[4] += if running { pod.gpus } else { 0 };
    }
    let expected: Vec<Vec<Cell>> = workloads
        .into_iter()
        .map(|((namespace, workload), sums)| {
            let mut row = vec![text(namespace), text(workload)];
            row.extend(sums.map(Int));
            row
        })
        .collect();
    let columns = ["namespace", "workload", "replicas", "running", "pending", "gpus_requested", "gpus_running"];
    assert_same("queue_pressure", oracle.seed, &project(&oracle.query("queue_pressure").await, &columns), &expected);
}

async fn node_version_stamping(oracle: &Oracle) {
    let nodes = &oracle.plan.nodes;
    let stamps: Vec<i64> = nodes.iter().filter_map(|node| node.stamped_ms).collect();
    let (first, last) = (stamps.iter().min().copied(), stamps.iter().max().copied());
    let mut order: Vec<_> = nodes.iter().collect();
    // Stamped nodes by stamp time, then the unstamped ones by name.
    order.sort_by_key(|node| (node.stamped_ms.is_none(), node.stamped_ms, node.name.clone()));
    let expected: Vec<Vec<Cell>> = order
        .iter()
        .enumerate()
        .map(|(rank, node)| {
            let stamped = node.stamped_ms;
            let delay = |from: Option<i64>| match (stamped, from) {
                (Some(to), Some(from)) => Float((to - from) as f64),
                _ => Null,
            };
            vec![
                text(&node.name),
                Int(oracle.receipt(node.added_ms)),
                opt(stamped, |ms| Int(oracle.receipt(ms))),
                opt(stamped, |_| text(KUBELET_VERSION)),
                opt(stamped, |_| Int(rank as i64 + 1)),
                delay(Some(node.added_ms)),
                delay(first),
                // The run's spread, on every row.
                match (first, last) {
                    (Some(first), Some(last)) => Float((last - first) as f64),
                    _ => Null,
                },
            ]
        })
        .collect();
    let columns = [
        "node",
        "appeared_at",
        "stamped_at",
        "kubelet_version",
        "stamp_order",
        "appear_to_stamp_ms",
        "after_first_stamp_ms",
        "stamp_spread_ms",
    ];
    let actual = project(&oracle.query("node_version_stamping").await, &columns);
    assert_same("node_version_stamping", oracle.seed, &actual, &expected);
}

/// A clock of the run: ns of a planned millisecond on it.
type ClockOf = fn(&Oracle, i64) -> i64;

async fn pod_latency(oracle: &Oracle) {
    // Per pod and clock: (created, scheduled, running) in ms after the start, None when never.
    let clocks: [(&str, ClockOf); 2] =
        [("conditions (object, 1 s)", Oracle::object), ("observed_at (receipt, ns)", Oracle::receipt)];
    let mut expected = Vec::new();
    for (clock, at) in &clocks {
        let mut per_pod = Vec::new();
        for pod in &oracle.plan.pods {
            let (scheduled, running) = match &pod.fate {
                Fate::Bound { bound_ms, running_ms, .. } => (Some(*bound_ms), *running_ms),
                Fate::Unschedulable { .. } => (None, None),
            };
            let ms = |at_ms: i64| (at(oracle, at_ms) / 1_000_000) as f64;
            let between = |from: Option<i64>, to: Option<i64>| Some(ms(to?) - ms(from?));
            per_pod.push((
                pod,
                [
                    between(Some(pod.created_ms), scheduled),
                    between(scheduled, running),
                    between(Some(pod.created_ms), running),
                ],
            ));
        }
        let mut rows: Vec<(String, Vec<Cell>)> = Vec::new();
        for (statistic, fraction) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            let mut row = vec![text(clock), text(statistic), Null, Null];
            for latency in 0..3 {
                let values: Vec<f64> = per_pod.iter().filter_map(|(_, latencies)| latencies[latency]).collect();
                row.push(opt(percentile_cont(&values, fraction), |value| Float(round3(value))));
            }
            rows.push((statistic.to_string(), row));
        }
        for (pod, latencies) in &per_pod {
            let mut row = vec![text(clock), text("pod"), text(&pod.namespace), text(&pod.name)];
            row.extend(latencies.iter().map(|latency| opt(*latency, Float)));
            rows.push((format!("pod {} {}", pod.namespace, pod.name), row));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        expected.extend(rows.into_iter().map(|(_, row)| row));
    }
    let columns = [
        "clock",
        "statistic",
        "namespace",
        "pod",
        "create_to_scheduled_ms",
        "scheduled_to_running_ms",
        "create_to_running_ms",
    ];
    assert_same("pod_latency", oracle.seed, &project(&oracle.query("pod_latency").await, &columns), &expected);
}

async fn gpu_allocation(oracle: &Oracle) {
    let changes = gpu_changes(oracle);
    let mut per_node: BTreeMap<&str, Vec<(i64, i64, i64)>> = BTreeMap::new();
    let mut totals: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for (at, node, allocatable, requested) in changes {
        let total = totals.entry(node).or_default();
        *total = (total.0 + allocatable, total.1 + requested);
        per_node.entry(oracle.node_name(node)).or_default().push((at, total.0, total.1));
    }
    let mut expected = Vec::new();
    for (name, timeline) in per_node {
        let pool = oracle.plan.nodes.iter().find(|node| node.name == name).and_then(|node| node.pool.as_deref());
        for (position, (at, allocatable, requested)) in timeline.iter().enumerate() {
            expected.push(vec![
                text(name),
                opt(pool, text),
                Int(oracle.receipt(*at)),
                Int(*allocatable),
                Int(*requested),
                Int(allocatable - requested),
                Bool(position + 1 == timeline.len()),
            ]);
        }
    }
    let columns = ["node", "pool", "observed_at", "allocatable_gpus", "requested_gpus", "free_gpus", "at_end"];
    assert_same("gpu_allocation", oracle.seed, &project(&oracle.query("gpu_allocation").await, &columns), &expected);
}

async fn pending_causes(oracle: &Oracle) {
    let mut pods: Vec<&PlannedPod> = oracle.live_pods().collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut expected = Vec::new();
    for pod in pods {
        let Fate::Unschedulable { total_nodes, reasons, preemption, on_condition, .. } = &pod.fate else { continue };
        let mut reasons = reasons.clone();
        reasons.sort();
        for (reason, nodes) in reasons {
            expected.push(vec![
                text(&pod.namespace),
                text(&pod.name),
                text(&reason),
                Int(nodes as i64),
                Int(*total_nodes as i64),
                text(preemption),
                text(if *on_condition { "pod condition" } else { "event" }),
            ]);
        }
    }
    let columns = ["namespace", "pod", "reason", "nodes", "total_nodes", "preemption", "message_source"];
    assert_same("pending_causes", oracle.seed, &project(&oracle.query("pending_causes").await, &columns), &expected);
}

/// Every change of a node's allocatable or bound GPUs, in time order: (ms, node, Δallocatable,
/// Δallocated). Planned times are distinct, so the order is the recording's.
fn gpu_changes(oracle: &Oracle) -> Vec<(i64, usize, i64, i64)> {
    let mut changes: Vec<(i64, usize, i64, i64)> = Vec::new();
    for (index, node) in oracle.plan.nodes.iter().enumerate() {
        if let (Some(at), true) = (node.advertised_ms, node.gpus > 0) {
            changes.push((at, index, node.gpus, 0));
        }
    }
    for pod in oracle.plan.pods.iter().filter(|pod| pod.gpus > 0) {
        if let Fate::Bound { node, bound_ms, succeeded_ms, .. } = pod.fate {
            changes.push((bound_ms, node, 0, pod.gpus));
            if let Some(released) = succeeded_ms.or(pod.deleted_ms) {
                changes.push((released, node, 0, -pod.gpus));
            }
        }
    }
    changes.sort();
    changes
}

/// (allocatable, allocated) per node after every change up to `until_ms` (inclusive); nodes
/// without a change by then are absent.
fn gpu_state_at(oracle: &Oracle, until_ms: i64) -> BTreeMap<usize, (i64, i64)> {
    let mut state: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for (at, node, allocatable, allocated) in gpu_changes(oracle) {
        if at > until_ms {
            break;
        }
        let entry = state.entry(node).or_default();
        *entry = (entry.0 + allocatable, entry.1 + allocated);
    }
    state
}

/// A row's scope in `gpu_capacity_timeline`'s order: (is the fleet, pool is NULL, pool).
type ScopeKey<'a> = (bool, bool, &'a str);

async fn gpu_capacity_timeline(oracle: &Oracle) {
    let mut expected = Vec::new();
    for (at, ..) in gpu_changes(oracle) {
        let state = gpu_state_at(oracle, at);
        // (is the fleet, pool is NULL, pool): 'pool' rows first, a NULL pool last among them.
        let mut scopes: BTreeMap<ScopeKey, Vec<(i64, i64)>> = BTreeMap::new();
        for (node, figures) in &state {
            let pool = oracle.plan.nodes[*node].pool.as_deref();
            scopes.entry((false, pool.is_none(), pool.unwrap_or(""))).or_default().push(*figures);
            scopes.entry((true, false, "")).or_default().push(*figures);
        }
        for ((fleet, no_pool, pool), nodes) in scopes {
            let free: Vec<i64> =
                nodes.iter().map(|(allocatable, allocated)| (allocatable - allocated).max(0)).collect();
            let allocatable: i64 = nodes.iter().map(|node| node.0).sum();
            let allocated: i64 = nodes.iter().map(|node| node.1).sum();
            let at_least = |n: i64| Int(free.iter().filter(|free| **free >= n).count() as i64);
            expected.push(vec![
                Int(oracle.receipt(at)),
                text(if fleet { "fleet" } else { "pool" }),
                if fleet || no_pool { Null } else { text(pool) },
                Int(nodes.iter().filter(|node| node.0 > 0).count() as i64),
                Int(allocatable),
                Int(allocated),
                Int(allocatable - allocated),
                Int(free.iter().copied().max().unwrap_or(0)),
                at_least(1),
                at_least(2),
                at_least(4),
                at_least(8),
            ]);
        }
    }
    let columns = [
        "observed_at",
        "scope",
        "pool",
        "gpu_nodes",
        "allocatable_gpus",
        "allocated_gpus",
        "free_gpus",
        "largest_free_block",
        "nodes_free_1",
        "nodes_free_2",
        "nodes_free_4",
        "nodes_free_8",
    ];
    let actual = project(&oracle.query("gpu_capacity_timeline").await, &columns);
    assert_same("gpu_capacity_timeline", oracle.seed, &actual, &expected);
}

async fn pending_classification(oracle: &Oracle) {
    // The plan's pods select a pool by nodeSelector (or none); only the GPU-less control plane
    // is tainted, so a pod may use every GPU node of its pool, or every one without a pool.
    let classify = |pod: &PlannedPod, at_ms: i64| {
        let state = gpu_state_at(oracle, at_ms);
        let gpu_nodes: Vec<(usize, i64, i64)> = state
            .iter()
            .filter(|(_, (allocatable, _))| *allocatable > 0)
            .map(|(node, (allocatable, allocated))| (*node, *allocatable, (allocatable - allocated).max(0)))
            .collect();
        let eligible: Vec<&(usize, i64, i64)> = gpu_nodes
            .iter()
            .filter(|(node, ..)| pod.pool.is_none() || oracle.plan.nodes[*node].pool == pod.pool)
            .collect();
        let largest_allocatable = eligible.iter().map(|node| node.1).max();
        let eligible_free: i64 = eligible.iter().map(|node| node.2).sum();
        let largest_block = eligible.iter().map(|node| node.2).max().unwrap_or(0);
        let class = if eligible.is_empty() {
            Some(if gpu_nodes.is_empty() { "capacity" } else { "constraint" })
        } else if largest_allocatable.is_some_and(|largest| pod.gpus > largest) {
            Some("shape")
        } else if eligible_free < pod.gpus {
            Some("capacity")
        } else if largest_block < pod.gpus {
            Some("fragmentation")
        } else {
            None
        };
        vec![
            opt(class, text),
            Int(pod.gpus),
            opt(largest_allocatable, Int),
            Int(gpu_nodes.iter().map(|node| node.2).sum()),
            Int(eligible_free),
            Int(largest_block),
            Int(eligible.len() as i64),
            Int(gpu_nodes.len() as i64),
            opt(pod.fate.message(), |message| text(&message)),
        ]
    };
    let mut pods: Vec<&PlannedPod> = oracle.plan.pods.iter().filter(|pod| pod.gpus > 0).collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut expected = Vec::new();
    for pod in pods {
        let Fate::Unschedulable { at_ms, .. } = pod.fate else { continue };
        let head = |moment: &str, observed: Cell| vec![text(&pod.namespace), text(&pod.name), text(moment), observed];
        expected.push([head("first refusal", Int(oracle.receipt(at_ms))), classify(pod, at_ms)].concat());
        if pod.deleted_ms.is_none() {
            expected.push([head("end", Null), classify(pod, i64::MAX)].concat());
        }
    }
    let columns = [
        "namespace",
        "pod",
        "moment",
        "observed_at",
        "class",
        "gpus_requested",
        "largest_eligible_allocatable",
        "fleet_free",
        "eligible_free",
        "largest_eligible_free_block",
        "eligible_gpu_nodes",
        "gpu_nodes",
        "scheduler_message",
    ];
    let mut actual = project(&oracle.query("pending_classification").await, &columns);
    for row in &mut actual {
        if row[2] == text("end") {
            row[3] = Null; // the run's last change, whatever it was: not planned per pod
        }
    }
    assert_same("pending_classification", oracle.seed, &actual, &expected);
}

async fn gpu_metrics(oracle: &Oracle) {
    type Key = (String, u32, String, String, Option<(String, String)>);
    // Per (node, gpu, uuid, model, pod): utilisation samples, scrape times, fb used/free.
    #[derive(Default)]
    struct Readings {
        utils: Vec<f64>,
        times: Vec<i64>,
        used: Vec<f64>,
        free: Vec<f64>,
    }
    let mut groups: BTreeMap<Key, Readings> = BTreeMap::new();
    for scrape in &oracle.plan.scrapes {
        for reading in &scrape.readings {
            let key =
                (reading.node.clone(), reading.gpu, reading.uuid.clone(), reading.model.clone(), reading.pod.clone());
            let group = groups.entry(key).or_default();
            group.utils.push(reading.util);
            group.times.push(oracle.receipt(scrape.at_ms));
            group.used.push(reading.fb_used_mib);
            group.free.push(reading.fb_free_mib);
        }
    }
    assert!(groups.len() > 4, "the plan gives gpu_metrics rows to check: {}", groups.len());
    let max = |values: &[f64]| values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Ordered as the query: node, gpu, uuid, namespace, pod, with pod NULL last.
    let mut keys: Vec<&Key> = groups.keys().collect();
    keys.sort_by_key(|(node, gpu, uuid, _, pod)| (node.clone(), *gpu, uuid.clone(), pod.is_none(), pod.clone()));
    let expected: Vec<Vec<Cell>> = keys
        .into_iter()
        .map(|key| {
            let (node, gpu, uuid, model, pod) = key;
            let Readings { utils, times, used, free } = &groups[key];
            vec![
                text(node),
                text(&gpu.to_string()),
                text(uuid),
                text(model),
                opt(pod.as_ref(), |(namespace, _)| text(namespace)),
                opt(pod.as_ref(), |(_, pod)| text(pod)),
                Int(utils.len() as i64),
                Int(*times.iter().min().unwrap()),
                Int(*times.iter().max().unwrap()),
                Float(utils.iter().sum::<f64>() / utils.len() as f64),
                Float(max(utils)),
                Float(max(used)),
                Float(max(free)),
            ]
        })
        .collect();
    let columns = [
        "node",
        "gpu",
        "uuid",
        "model",
        "namespace",
        "pod",
        "samples",
        "first_scrape",
        "last_scrape",
        "avg_gpu_util",
        "max_gpu_util",
        "max_fb_used_mib",
        "max_fb_free_mib",
    ];
    assert_same("gpu_metrics", oracle.seed, &project(&oracle.query("gpu_metrics").await, &columns), &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn named_queries_answer_what_the_plan_says() {
    for seed in SEEDS {
        let oracle = Oracle::new(seed).await;
        fleet(&oracle).await;
        placement(&oracle).await;
        namespace_totals(&oracle).await;
        queue_pressure(&oracle).await;
        node_version_stamping(&oracle).await;
        pod_latency(&oracle).await;
        gpu_allocation(&oracle).await;
        gpu_capacity_timeline(&oracle).await;
        pending_causes(&oracle).await;
        pending_classification(&oracle).await;
        gpu_metrics(&oracle).await;
    }
}

#[test]
fn every_named_query_has_an_oracle() {
    let queries: BTreeSet<String> = queries().into_iter().map(|query| query.name).collect();
    let covered: BTreeSet<String> = ORACLES.iter().map(|name| name.to_string()).collect();
    assert_eq!(queries, covered, "each query under queries/ needs an oracle in oracles.rs (and only those)");
}

#[test]
fn percentile_cont_interpolates_between_ranks() {
    assert_eq!(percentile_cont(&[], 0.5), None);
    assert_eq!(percentile_cont(&[7.0], 0.9), Some(7.0));
    assert_eq!(percentile_cont(&[40.0, 10.0, 20.0, 30.0], 0.5), Some(25.0));
    assert_eq!(percentile_cont(&[0.0, 100.0], 0.9), Some(90.0));
}
