//! Why GPU pods wait (`pending_classification`) and the capacity behind it
//! (`gpu_capacity_timeline`), on the real lesson-1 recording and on a crafted run with one pod
//! of each class (`evident_testkit::gpu_pending`), whose answers were worked out by hand from
//! its fleet.

use std::path::Path;

use crate::{named_sql, repo};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use evident_query::{RunSet, Session};
use evident_testkit::gpu_pending;

async fn query(run: &Path, name: &str) -> Vec<RecordBatch> {
    let sql = named_sql(name);
    let session = Session::new(&RunSet::open_run(run).unwrap()).await.unwrap();
    session.sql(&sql).await.unwrap_or_else(|error| panic!("{name} fails: {error}"))
}

/// The value of `column` in every row, as text (`NULL` for a null).
fn column(batches: &[RecordBatch], name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for batch in batches {
        let column = cast(batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")), &DataType::Utf8)
            .expect("castable to text");
        let column = column.as_string::<i32>();
        values.extend(
            (0..column.len()).map(
                |row| {
                    if column.is_null(row) { "NULL".to_string() } else { column.value(row).to_string() }
                },
            ),
        );
    }
    values
}

/// `(pod, moment, class)` of every row.
async fn classes(run: &Path) -> Vec<(String, String, String)> {
    let batches = query(run, "pending_classification").await;
    let (pods, moments, classes) = (column(&batches, "pod"), column(&batches, "moment"), column(&batches, "class"));
    pods.into_iter().zip(moments).zip(classes).map(|((pod, moment), class)| (pod, moment, class)).collect()
}

#[tokio::test]
async fn lesson1_sample_pods_wait_for_shape_constraint_and_capacity() {
    let rows = classes(&repo().join("evidence/sample")).await;
    let class_of = |pod: &str, moment: &str| {
        rows.iter()
            .find(|(name, at, _)| name == pod && at == moment)
            .map(|(.., class)| class.clone())
            .unwrap_or_else(|| panic!("no {moment} row for {pod}: {rows:?}"))
    };
    for moment in ["first refusal", "end"] {
        assert_eq!(class_of("cuda-train-16gpu", moment), "shape", "16 GPUs on a fleet of 8-GPU nodes");
        assert_eq!(class_of("cuda-needs-b200", moment), "constraint", "no b200 pool exists");
    }
    let queue_at_end: Vec<&String> = rows
        .iter()
        .filter(|(pod, moment, _)| pod.starts_with("queue-pressure-") && moment == "end")
        .map(|(.., class)| class)
        .collect();
    assert_eq!(queue_at_end.len(), 9, "the 9 Pending queue-pressure replicas: {rows:?}");
    assert!(queue_at_end.iter().all(|class| *class == "capacity"), "{queue_at_end:?}");
}

#[tokio::test]
async fn crafted_run_has_one_pod_of_each_class() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pending-classes");
    gpu_pending::write_pending_classes(&run).unwrap();
    let rows = classes(&run).await;
    let mut expected = Vec::new();
    for (pod, class) in gpu_pending::EXPECTED {
        for moment in ["first refusal", "end"] {
            expected.push((pod.to_string(), moment.to_string(), class.to_string()));
        }
    }
    assert_eq!(rows, expected);

    // The figures behind fragmentation: 8 free in its pool, 4 on each node.
    let batches = query(&run, "pending_classification").await;
    let frag = column(&batches, "pod").iter().position(|pod| pod == "frag-8").unwrap();
    let figure = |name: &str| column(&batches, name)[frag].clone();
    assert_eq!(
        [figure("gpus_requested"), figure("eligible_free"), figure("largest_eligible_free_block")],
        ["8", "8", "4"]
    );
    assert_eq!(figure("largest_eligible_allocatable"), "8");
    assert_eq!(figure("fleet_free"), "8", "the l40s node is full");

    // The fleet's capacity at the end: 20 GPUs, 12 bound, 8 free, 4 at most on one node.
    let timeline = query(&run, "gpu_capacity_timeline").await;
    let last_fleet = column(&timeline, "scope").iter().rposition(|scope| scope == "fleet").unwrap();
    let at_end = |name: &str| column(&timeline, name)[last_fleet].parse::<i64>().unwrap();
    assert_eq!(
        ["gpu_nodes", "allocatable_gpus", "allocated_gpus", "free_gpus", "largest_free_block"].map(at_end),
        [3, 20, 12, 8, 4]
    );
    assert_eq!(["nodes_free_1", "nodes_free_2", "nodes_free_4", "nodes_free_8"].map(at_end), [2, 2, 2, 0]);
}

/// With a device plugin, a node's first rows have no `nvidia.com/gpu` (issue 15): a pod refused
/// before any node advertised GPUs waits for capacity then, and is judged against the
/// advertised allocatable afterwards.
#[tokio::test]
async fn classes_follow_the_allocatable_a_node_advertises_at_each_moment() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("late-gpus");
    let mut script = evident_testkit::runs::RunScript::new(&run).unwrap();
    let node = script.node_advertising_later("kwok-gpu-a100-0", Some("a100"), 8, &[]);
    let early = script.pod("gpu-late", "early-16", None, 16, serde_json::json!({}));
    let message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 \
                   Preemption is not helpful for scheduling.";
    script.refuse(early, message);
    script.advertise(node);
    script.finish().unwrap();

    let batches = query(&run, "pending_classification").await;
    let moments = column(&batches, "moment");
    let row = |moment: &str| moments.iter().position(|m| m == moment).unwrap();
    let (first, end) = (row("first refusal"), row("end"));
    let at = |name: &str, index: usize| column(&batches, name)[index].clone();
    assert_eq!([at("class", first), at("gpu_nodes", first)], ["capacity", "0"], "no GPU advertised yet");
    assert_eq!(
        [at("class", end), at("gpu_nodes", end), at("largest_eligible_allocatable", end)],
        ["shape", "1", "8"],
        "16 GPUs on the 8 it advertised since"
    );

    let timeline = query(&run, "gpu_capacity_timeline").await;
    assert_eq!(column(&timeline, "allocatable_gpus"), ["8", "8"], "pool and fleet from the advertising row on");
}
