//! The GPU layer: run.ai's fake-gpu-operator, run by `hack/cluster.sh up` beside the control
//! plane, advertises the lesson-1 fleet's GPUs and serves their DCGM metrics; a recording of
//! the lesson shows both.
//!
//! The GPU nodes are deleted first, so the recording sees each one created: with no
//! `nvidia.com/gpu` at creation (its manifest has none) and the pool's GPU count after (the
//! device plugin's patch). The oracles come from elsewhere than the recording: the pools' GPU
//! counts as the notebook states them, the pool labels of the fleet manifests, and the API
//! server's own pods (which ones run, where, with how many GPUs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use evident_e2e::{
    TEST_NAMESPACES, client, cluster_script, delete_namespaces, exclusive, manifest, phase, pods, wait_for,
};
use evident_recorder::apply;
use evident_recorder::recording::{MetricsConfig, Recording, RecordingConfig};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;

/// The status exporter's endpoint (its port is fixed in its code).
const EXPORTER: &str = "http://127.0.0.1:9400/metrics";

/// GPUs per pool, as the notebook's fleet has them (hack/gpu-operator-chart/values.yaml gives
/// the operator the same numbers).
fn pool_gpus(pool: &str) -> Option<i64> {
    match pool {
        "a100" | "h100" => Some(8),
        "l40s" => Some(4),
        _ => None,
    }
}

/// Every cell of a query's result as text ("" for NULL), by column name.
async fn rows(session: &evident_query::Session, sql: &str) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    let mut rows = Vec::new();
    for batch in session.sql(sql).await? {
        let schema = batch.schema();
        let columns: Vec<_> =
            batch.columns().iter().map(|column| cast(column, &DataType::Utf8)).collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let mut cells = BTreeMap::new();
            for (field, column) in schema.fields().iter().zip(&columns) {
                let column = column.as_string::<i32>();
                let cell = if column.is_null(row) { String::new() } else { column.value(row).to_string() };
                cells.insert(field.name().clone(), cell);
            }
            rows.push(cells);
        }
    }
    Ok(rows)
}

fn restart_exporter() -> anyhow::Result<()> {
    let script = evident_e2e::repo_root().join("hack/gpu-operator.sh");
    let status = std::process::Command::new("bash").arg(&script).arg("restart-exporter").status()?;
    ensure!(status.success(), "{} restart-exporter failed with {status}", script.display());
    Ok(())
}

async fn delete_nodes_and_wait(client: &kube::Client, names: &[String]) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in names {
        match nodes.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error).with_context(|| format!("deleting node {name}")),
        }
    }
    wait_for("the GPU nodes gone", Duration::from_secs(60), || async {
        let mut left = Vec::new();
        for name in names {
            if nodes.get_opt(name).await?.is_some() {
                left.push(name.clone());
            }
        }
        Ok(if left.is_empty() { Ok(()) } else { Err(format!("still there: {left:?}")) })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_advertises_the_fleet_gpus_and_its_metrics_name_the_pods_holding_them() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    // `up` ran (client() brings the cluster up); status fails if an operator process is down.
    cluster_script(&["status"]).context("the local cluster and its fake-gpu-operator must be healthy")?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;

    let fleet = apply::load(&[manifest("fleet")])?;
    let gpu_nodes = apply::device_plugin_gpu_nodes(&fleet);
    let manifest_pools: BTreeMap<String, String> = fleet
        .iter()
        .filter(|d| gpu_nodes.iter().any(|name| name == d.name()))
        .map(|d| {
            let pool = d.object.pointer("/metadata/labels").and_then(|l| l.get(apply::GPU_POOL_LABEL));
            (d.name().to_string(), pool.and_then(|p| p.as_str()).unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(gpu_nodes.len(), 5, "the fleet's GPU nodes leave nvidia.com/gpu to the operator: {gpu_nodes:?}");
    delete_nodes_and_wait(&client, &gpu_nodes).await?;
    // The exporter keeps serving series of pods that no longer hold a GPU (earlier tests'):
    // started anew, it serves only what the operator's topology holds now.
    restart_exporter()?;

    let run = tempfile::tempdir()?;
    let run_dir = run.path().join("operator");
    let mut config = RecordingConfig::new(&run_dir);
    config.metrics = MetricsConfig { endpoints: vec![EXPORTER.into()], interval: Duration::from_secs(1) };
    let recording = Recording::start(client.clone(), Default::default(), config)?;
    wait_for("the recorder's first lists", Duration::from_secs(30), || async {
        let stats = recording.stats();
        Ok(if stats.all_synced(recording.watch_count()) { Ok(()) } else { Err(format!("{:?}", stats.watches)) })
    })
    .await?;

    apply::apply(&client, &fleet).await.context("applying the fleet")?;
    apply::wait_nodes_ready(&client, &apply::node_names(&fleet), Duration::from_secs(90)).await?;
    apply::wait_nodes_gpus(&client, &gpu_nodes, Duration::from_secs(90)).await?;
    apply::apply(&client, &apply::load(&[manifest("workloads")])?).await.context("applying the workloads")?;
    let held = wait_for("32 GPU pods Running", Duration::from_secs(120), || async {
        let pods = pods(&client, "gpu-demo").await?;
        let running: Vec<_> = pods.iter().filter(|p| phase(p) == "Running").collect();
        Ok(if running.len() == 32 {
            Ok(running.into_iter().cloned().collect::<Vec<_>>())
        } else {
            Err(format!("{} Running", running.len()))
        })
    })
    .await?;
    // The status updater assigns GPUs once a pod is bound; the exporter reports it at its next
    // tick. Three scrapes after the last pod runs, every allocation is in the recording.
    let scrapes = recording.stats().metric_scrapes;
    wait_for("3 more scrapes", Duration::from_secs(30), || async {
        let now = recording.stats().metric_scrapes;
        Ok(if now >= scrapes + 3 { Ok(()) } else { Err(format!("{now} scrapes")) })
    })
    .await?;
    let stats = recording.stats();
    let manifest = recording.stop("test").await?;
    ensure!(stats.metric_failures == 0, "scrapes failed: {:?}", stats.last_metric_problem);
    ensure!(manifest.gaps.is_empty(), "gaps: {:?}", manifest.gaps);

    let runs = evident_query::RunSet::open_run(&run_dir)?;
    let session = evident_query::Session::new(&runs).await?;

    // nvidia.com/gpu: absent when each GPU node was created, the pool's count afterwards.
    for node in &gpu_nodes {
        let pool = &manifest_pools[node];
        let expected = pool_gpus(pool).with_context(|| format!("{node}: unknown pool {pool:?}"))?;
        let history = rows(
            &session,
            &format!("SELECT op, pool, gpu_capacity, gpu_allocatable FROM nodes WHERE name = '{node}' ORDER BY seq"),
        )
        .await?;
        let first = history.first().with_context(|| format!("{node}: not recorded"))?;
        assert_eq!(first["op"], "ADDED", "{node}: its creation is recorded: {history:?}");
        assert!(
            first["gpu_allocatable"].is_empty() && first["gpu_capacity"].is_empty(),
            "{node}: nvidia.com/gpu at creation, so not from the device plugin: {first:?}"
        );
        assert_eq!(&first["pool"], pool, "{node}: pool label as in its manifest");
        let last = history.last().unwrap();
        assert_eq!(last["gpu_allocatable"], expected.to_string(), "{node} ({pool}) at the end: {history:?}");
        assert_eq!(last["gpu_capacity"], expected.to_string(), "{node} ({pool}) at the end: {history:?}");
    }

    // Which GPUs the API server's pods hold: per node, the GPUs requested by its Running pods.
    let mut pod_node = BTreeMap::new();
    let mut requested_per_node: BTreeMap<String, i64> = BTreeMap::new();
    for pod in &held {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        let gpus: i64 = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .filter_map(|c| c.resources.as_ref()?.limits.as_ref()?.get("nvidia.com/gpu")?.0.parse::<i64>().ok())
            .sum();
        *requested_per_node.entry(node.clone()).or_default() += gpus;
        pod_node.insert(name, node);
    }
    assert_eq!(requested_per_node.values().sum::<i64>(), 32, "{requested_per_node:?}");

    // DCGM samples for every allocated GPU: at the last scrape, the exporter attributes to the
    // Running pods of each node as many distinct GPUs as they requested there, each with one
    // utilisation sample. (Series of pods of earlier runs may be served too: the exporter never
    // deletes a GPU's series when it changes hands. Those are not the Running pods.)
    let last_scrape = rows(
        &session,
        "SELECT node, gpu, pod, COUNT(*) AS samples FROM metrics
         WHERE metric = 'DCGM_FI_DEV_GPU_UTIL' AND namespace = 'gpu-demo'
           AND scrape_seq = (SELECT MAX(scrape_seq) FROM metrics)
         GROUP BY node, gpu, pod",
    )
    .await?;
    let mut allocated: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pods_with_samples = BTreeSet::new();
    for row in last_scrape.iter().filter(|row| pod_node.contains_key(&row["pod"])) {
        assert_eq!(row["samples"], "1", "one utilisation sample per GPU and scrape: {row:?}");
        assert_eq!(&row["node"], &pod_node[&row["pod"]], "{row:?}: GPU on another node than its pod");
        let fresh = allocated.entry(row["node"].clone()).or_default().insert(row["gpu"].clone());
        assert!(fresh, "{row:?}: GPU given to two Running pods");
        pods_with_samples.insert(row["pod"].clone());
    }
    let allocated_per_node: BTreeMap<String, i64> =
        allocated.iter().map(|(node, gpus)| (node.clone(), gpus.len() as i64)).collect();
    assert_eq!(allocated_per_node, requested_per_node, "GPUs of Running pods in the exporter vs requested");
    assert_eq!(pods_with_samples.len(), pod_node.len(), "every Running pod has DCGM samples");
    let dcgm_metrics: BTreeSet<String> = rows(
        &session,
        "SELECT DISTINCT metric FROM metrics WHERE namespace = 'gpu-demo' AND metric LIKE 'DCGM_FI_DEV_%'",
    )
    .await?
    .into_iter()
    .map(|row| row["metric"].clone())
    .collect();
    for metric in ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"] {
        assert!(dcgm_metrics.contains(metric), "{metric} missing for allocated GPUs: {dcgm_metrics:?}");
    }

    // gpu_metrics names the pods that hold GPUs, on the node the scheduler bound them to.
    let named = evident_query::named_query("gpu_metrics")?;
    let gpu_metrics = rows(&session, &named.sql).await?;
    let mut named_pods = BTreeSet::new();
    for row in gpu_metrics.iter().filter(|row| row["namespace"] == "gpu-demo") {
        let pod = &row["pod"];
        let bound = pod_node.get(pod).with_context(|| format!("gpu_metrics names {pod}, not a Running pod"))?;
        assert_eq!(&row["node"], bound, "{pod}: exporter node vs the API server's binding");
        assert_eq!(&row["pod_node"], bound, "{pod}: pod_node");
        assert_eq!(row["pod_phase"], "Running", "{pod}");
        assert_ne!(row["samples"], "0", "{pod}: utilisation samples");
        named_pods.insert(pod.clone());
    }
    let running: BTreeSet<String> = pod_node.keys().cloned().collect();
    assert_eq!(named_pods, running, "gpu_metrics names exactly the Running pods holding GPUs");
    Ok(())
}

/// The folder of the operator's processes: `gpu-operator/<cluster>` in the cache folder, as
/// `hack/lib/paths.sh` has it.
fn operator_dir() -> std::path::PathBuf {
    let cache = std::env::var_os("EVIDENT_CACHE").filter(|value| !value.is_empty()).map(std::path::PathBuf::from);
    let home = || std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/evident");
    let cluster = std::env::var("EVIDENT_CLUSTER_NAME").ok().filter(|name| !name.is_empty());
    cache.unwrap_or_else(home).join("gpu-operator").join(cluster.as_deref().unwrap_or("evident"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_operator_process_fails_status_until_up_starts_it_again() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    client().await?;
    cluster_script(&["status"]).context("healthy before the crash")?;
    let pid_file = operator_dir().join("pids/status-updater.pid");
    let pid = std::fs::read_to_string(&pid_file).with_context(|| format!("reading {}", pid_file.display()))?;
    let pid = pid.trim().to_string();
    // SIGKILL, as a crash: the process started by hack/gpu-operator.sh, named by its pid file.
    ensure!(std::process::Command::new("kill").args(["-KILL", &pid]).status()?.success(), "kill {pid}");
    wait_for("the status updater gone", Duration::from_secs(10), || async {
        Ok(if Path::new(&format!("/proc/{pid}")).exists() { Err("still there".to_string()) } else { Ok(()) })
    })
    .await?;

    let status = std::process::Command::new("bash")
        .arg(evident_e2e::repo_root().join("hack/cluster.sh"))
        .arg("status")
        .output()?;
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(!status.status.success(), "status passes with the status updater dead:\n{said}");
    let line = said.lines().find(|line| line.trim_start().starts_with("status-updater")).unwrap_or_default();
    assert!(line.contains("CRASHED"), "status-updater's line: {line:?} in\n{said}");

    cluster_script(&["up"]).context("up starts the crashed process again")?;
    cluster_script(&["status"]).context("healthy after up")?;
    Ok(())
}
