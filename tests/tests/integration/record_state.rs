//! Recording the lesson-1 workloads on the real cluster: the log ends where the API server
//! ends, with no change recorded twice.
//!
//! What the test compares is scoped to what it made (the `gpu-demo` namespace, the fleet's
//! nodes): a bystander pod in another namespace, created on purpose, must change nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, exclusive, manifest, phase, pods, wait_for};
use evident_recorder::apply;
use evident_recorder::recording::{Recording, RecordingConfig};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;

async fn session_over(run_dir: &Path) -> anyhow::Result<SessionContext> {
    let ctx = SessionContext::new();
    for table in ["nodes", "pods", "events"] {
        let dir = run_dir.join(table);
        if dir.exists() {
            let options = ParquetReadOptions::default().file_extension(".parquet");
            ctx.register_parquet(table, dir.to_string_lossy().as_ref(), options).await?;
        }
    }
    Ok(ctx)
}

async fn strings(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|column| {
                    let column =
                        datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)?;
                    let column = column.as_string::<i32>();
                    Ok(if column.is_null(row) { String::new() } else { column.value(row).to_string() })
                })
                .collect::<anyhow::Result<Vec<String>>>()?;
            rows.push(cells);
        }
    }
    Ok(rows)
}

/// uid -> resourceVersion of the last recorded version of each live object that `filter` (a
/// SQL condition) keeps.
async fn recorded_latest(ctx: &SessionContext, table: &str, filter: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let sql = format!(
        "SELECT uid, resource_version, op FROM (
            SELECT uid, resource_version, op, row_number() OVER (PARTITION BY uid ORDER BY seq DESC) AS rn FROM {table}
            WHERE {filter}
         ) WHERE rn = 1"
    );
    Ok(strings(ctx, &sql)
        .await?
        .into_iter()
        .filter(|row| row[2] != "DELETED" && row[2] != "DELETED_IN_GAP")
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_ends_where_the_api_server_ends_and_records_nothing_twice() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    let run = tempfile::tempdir()?;
    let run_dir = run.path().join("state");

    let recording = Recording::start(client.clone(), Default::default(), RecordingConfig::new(&run_dir))?;
    wait_for("the recorder's first lists", Duration::from_secs(30), || async {
        let stats = recording.stats();
        Ok(if stats.all_synced(recording.watch_count()) { Ok(()) } else { Err(format!("{:?}", stats.watches)) })
    })
    .await?;

    let fleet = apply::load(&[manifest("fleet")])?;
    apply::apply(&client, &fleet).await?;
    let fleet_nodes = apply::node_names(&fleet);
    apply::wait_nodes_ready(&client, &fleet_nodes, Duration::from_secs(90)).await?;
    create_bystander(&client).await?;
    apply::apply(&client, &apply::load(&[manifest("workloads")])?).await?;
    wait_for("queue-pressure settled", Duration::from_secs(120), || async {
        let pods = pods(&client, "gpu-demo").await?;
        let running = pods.iter().filter(|p| phase(p) == "Running").count();
        Ok(if pods.len() == 43 && running == 32 {
            Ok(())
        } else {
            Err(format!("{} pods, {running} Running", pods.len()))
        })
    })
    .await?;
    // Let the last status updates arrive: stop after 3 s without a change.
    let quiet_since = Instant::now();
    wait_for("3 s without a change", Duration::from_secs(60), || async {
        let stats = recording.stats();
        let quiet = stats.last_change.is_some_and(|at| at.elapsed() >= Duration::from_secs(3));
        Ok(if quiet {
            Ok(())
        } else {
            Err(format!("{} changes, {:?} waited", stats.total_changes, quiet_since.elapsed()))
        })
    })
    .await?;
    let manifest = recording.stop("test").await?;
    let api_pods: Vec<Pod> = Api::namespaced(client.clone(), "gpu-demo").list(&ListParams::default()).await?.items;
    let api_nodes: Vec<Node> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|node| node.metadata.name.as_ref().is_some_and(|name| fleet_nodes.contains(name)))
        .collect();
    delete_namespaces(&client, &[BYSTANDER_NAMESPACE], Duration::from_secs(60)).await?;

    assert!(manifest.gaps.is_empty(), "no relist expected: {:?}", manifest.gaps);
    let ctx = session_over(&run_dir).await?;
    let expect = |objects: Vec<(Option<String>, Option<String>)>| -> BTreeMap<String, String> {
        objects.into_iter().map(|(uid, rv)| (uid.unwrap_or_default(), rv.unwrap_or_default())).collect()
    };
    let api_pods = expect(api_pods.into_iter().map(|p| (p.metadata.uid, p.metadata.resource_version)).collect());
    let api_nodes = expect(api_nodes.into_iter().map(|n| (n.metadata.uid, n.metadata.resource_version)).collect());
    assert_eq!(api_pods.len(), 43, "the lesson-1 workloads make 43 pods");
    assert_eq!(api_nodes.len(), fleet_nodes.len(), "every node of the fleet exists: {fleet_nodes:?}");
    let bystanders = recorded_latest(&ctx, "pods", &format!("namespace = '{BYSTANDER_NAMESPACE}'")).await?;
    assert_eq!(bystanders.len(), 1, "the bystander pod was recorded too (it is there, only not counted)");
    assert_eq!(recorded_latest(&ctx, "pods", "namespace = 'gpu-demo'").await?, api_pods, "last recorded pod versions");
    let fleet_names: Vec<String> = fleet_nodes.iter().map(|name| format!("'{name}'")).collect();
    let in_fleet = format!("name IN ({})", fleet_names.join(", "));
    assert_eq!(recorded_latest(&ctx, "nodes", &in_fleet).await?, api_nodes, "last recorded node versions");

    let duplicates = strings(
        &ctx,
        "SELECT uid, resource_version, count(*) FROM (
            SELECT uid, resource_version FROM pods UNION ALL SELECT uid, resource_version FROM nodes
            UNION ALL SELECT uid, resource_version FROM events)
         GROUP BY uid, resource_version HAVING count(*) > 1",
    )
    .await?;
    assert!(duplicates.is_empty(), "(uid, resourceVersion) recorded twice: {duplicates:?}");

    let seqs = strings(&ctx, "SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM pods UNION ALL SELECT seq FROM nodes UNION ALL SELECT seq FROM events)").await?;
    let (count, min, max): (u64, u64, u64) = (seqs[0][0].parse()?, seqs[0][1].parse()?, seqs[0][2].parse()?);
    assert_eq!((min, max + 1), (0, count), "seq is contiguous from 0");
    let total: u64 = manifest.row_counts.values().sum();
    assert_eq!(total, count, "manifest row counts match the Parquet files");
    Ok::<(), anyhow::Error>(()).context("record_state")
}

/// A namespace of no test's counts: its pod must not change what the test compares.
const BYSTANDER_NAMESPACE: &str = "evident-bystander";

/// A pod in [`BYSTANDER_NAMESPACE`] that stays Pending (its nodeSelector matches no node), so
/// it holds nothing the lesson-1 workloads need, while the recorder sees it like any other.
async fn create_bystander(client: &kube::Client) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::PostParams;
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BYSTANDER_NAMESPACE},
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .context("bystander namespace")?;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bystander", "namespace": BYSTANDER_NAMESPACE},
        "spec": {
            "nodeSelector": {"evident.dev/no-such-node": "true"},
            "containers": [{"name": "idle", "image": "registry.k8s.io/pause:3.10"}],
        },
    }))?;
    Api::<Pod>::namespaced(client.clone(), BYSTANDER_NAMESPACE)
        .create(&PostParams::default(), &pod)
        .await
        .context("bystander pod")?;
    Ok(())
}
