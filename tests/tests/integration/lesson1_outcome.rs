//! The notebook's lesson-1 outcome, asserted from the API of the real local control plane:
//! the fleet, the four scenarios, and the scheduler's own FailedScheduling messages.

use std::time::Duration;

use anyhow::Context as _;
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, exclusive, manifest, phase, pods, wait_for};
use evident_recorder::apply;
use k8s_openapi::api::core::v1::{Event, Node};
use kube::Api;
use kube::api::ListParams;

const POOL_LABEL: &str = "run.ai/simulated-gpu-node-pool";

async fn failed_scheduling_message(client: &kube::Client, pod: &str) -> anyhow::Result<Result<String, String>> {
    let events: Api<Event> = Api::namespaced(client.clone(), "gpu-demo");
    let list = events.list(&ListParams::default().fields(&format!("involvedObject.name={pod}"))).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .filter_map(|e| e.message)
        .next_back()
        .ok_or_else(|| format!("no FailedScheduling event for {pod} yet")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson1_fleet_and_scenarios_match_the_notebook() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;

    let fleet = apply::load(&[manifest("fleet")])?;
    apply::apply(&client, &fleet).await.context("applying the fleet")?;
    apply::wait_nodes_ready(&client, &apply::node_names(&fleet), Duration::from_secs(90)).await?;

    // The fleet's own nodes, not whatever else the cluster holds.
    let names = apply::node_names(&fleet);
    let nodes: Api<Node> = Api::all(client.clone());
    let fleet_nodes = wait_for("7 nodes with 32 allocatable GPUs", Duration::from_secs(60), || async {
        let list: Vec<Node> = nodes
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|node| node.metadata.name.as_ref().is_some_and(|name| names.contains(name)))
            .collect();
        let gpus: i64 = list
            .iter()
            .filter_map(|n| n.status.as_ref()?.allocatable.as_ref()?.get("nvidia.com/gpu")?.0.parse::<i64>().ok())
            .sum();
        Ok(if list.len() == 7 && gpus == 32 { Ok(list) } else { Err(format!("{} nodes, {gpus} GPUs", list.len())) })
    })
    .await?;
    let a100_nodes: Vec<String> = fleet_nodes
        .iter()
        .filter(|n| n.metadata.labels.as_ref().and_then(|l| l.get(POOL_LABEL)).map(String::as_str) == Some("a100"))
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert_eq!(a100_nodes.len(), 2, "two a100 nodes: {a100_nodes:?}");

    let workloads = apply::load(&[manifest("workloads")])?;
    apply::apply(&client, &workloads).await.context("applying the workloads")?;

    let node = wait_for("cuda-batch-small Running", Duration::from_secs(90), || async {
        let pods = pods(&client, "gpu-demo").await?;
        let pod = pods.iter().find(|p| p.metadata.name.as_deref() == Some("cuda-batch-small"));
        Ok(match pod {
            Some(p) if phase(p) == "Running" => {
                Ok(p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default())
            }
            Some(p) => Err(format!("phase {:?}", phase(p))),
            None => Err("no pod yet".into()),
        })
    })
    .await?;
    assert!(a100_nodes.contains(&node), "cuda-batch-small runs on {node}, not an a100 node {a100_nodes:?}");

    let train = wait_for("FailedScheduling of cuda-train-16gpu", Duration::from_secs(60), || {
        failed_scheduling_message(&client, "cuda-train-16gpu")
    })
    .await?;
    assert!(train.starts_with("0/7 nodes are available"), "{train}");
    assert!(train.contains("6 Insufficient nvidia.com/gpu"), "{train}");
    assert!(train.contains("1 node(s) had untolerated taint"), "{train}");

    let b200 = wait_for("FailedScheduling of cuda-needs-b200", Duration::from_secs(60), || {
        failed_scheduling_message(&client, "cuda-needs-b200")
    })
    .await?;
    assert!(b200.starts_with("0/7 nodes are available"), "{b200}");
    assert!(b200.contains("didn't match Pod's node affinity/selector"), "{b200}");

    let (running, pending) = wait_for("queue-pressure 31 Running / 9 Pending", Duration::from_secs(120), || async {
        let pods = pods(&client, "gpu-demo").await?;
        let replicas: Vec<_> = pods
            .iter()
            .filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with("queue-pressure-")))
            .collect();
        let running = replicas.iter().filter(|p| phase(p) == "Running").count();
        let pending = replicas.iter().filter(|p| phase(p) == "Pending").count();
        Ok(if replicas.len() == 40 && running == 31 {
            Ok((running, pending))
        } else {
            Err(format!("{} replicas, {running} Running, {pending} Pending", replicas.len()))
        })
    })
    .await?;
    assert_eq!((running, pending), (31, 9));

    let all = pods(&client, "gpu-demo").await?;
    for name in ["cuda-train-16gpu", "cuda-needs-b200"] {
        let pod = all.iter().find(|p| p.metadata.name.as_deref() == Some(name)).context(name.to_string())?;
        assert_eq!(phase(pod), "Pending", "{name}");
    }
    Ok(())
}
