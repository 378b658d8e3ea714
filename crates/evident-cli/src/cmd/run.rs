//! `evident run <scenario>`: the notebook's `phase1-up / phase1-demo / phase1-evidence` in
//! one command. Brings the local cluster up when no `--kubeconfig` is given, starts
//! recording, applies the fleet (re-creating KWOK fake nodes an earlier run left, so every
//! run sees its fleet start) and waits for it to be ready, applies the workloads in order,
//! waits until the cluster settles, stops, writes the report from the recording, and tears
//! down what it created unless `--keep`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context as _, bail};
use evident_recorder::apply::{self, Document};
use evident_recorder::session::{Recording, SessionConfig};
use evident_report::{RUN_SCENARIO_FILE, Scenario};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::DeleteParams;
use kube::{Api, Client};

use crate::cluster;
use crate::cmd::record::default_run_id;
use crate::progress::{self, StopWhen};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario spec (YAML).
    #[arg(value_name = "SCENARIO", default_value = "manifests/scenarios/lesson1.yaml")]
    pub scenario: PathBuf,

    /// Cluster to use; without it, the local cluster of hack/cluster.sh is brought up.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kube context to use (default: the kubeconfig's current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Folder that holds runs.
    #[arg(long, value_name = "DIR", default_value = "evidence")]
    pub out: PathBuf,

    /// Run id (default: k8s-<UTC date>-<time>).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Keep the cluster and the applied objects afterwards (default: remove what this run created).
    #[arg(long)]
    pub keep: bool,

    #[command(flatten)]
    pub metrics: crate::cmd::record::MetricsArgs,

    /// No live status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario).map_err(|error| anyhow::anyhow!(error.lines().join("; ")))?;
    let root = repository_root(&args.scenario)?;
    let run_id = args.run_id.clone().unwrap_or_else(default_run_id);
    let run_dir = args.out.join(&run_id);
    let metrics = args.metrics.config()?;
    anyhow::ensure!(
        !run_dir.join("run.json").exists(),
        "run {} already exists; pick another --run-id",
        run_dir.display()
    );

    let (kubeconfig, started_cluster) = match &args.kubeconfig {
        Some(path) => (path.clone(), false),
        None => local_cluster(&root)?,
    };
    let (client, info) = cluster::connect(Some(&kubeconfig), args.context.as_deref()).await?;
    eprintln!("run {run_id}: scenario {} on {} (Kubernetes {})", scenario.name, info.server, info.server_version);

    let fleet = apply::load(&paths(&root, &scenario.fleet))?;
    let workloads = apply::load(&paths(&root, &scenario.workloads))?;
    let namespaces: Vec<String> = scenario.namespaces().into_iter().collect();
    remove_leftovers(&client, &namespaces).await?;
    // The recording starts before the fleet exists, so it sees the nodes appear, their GPUs
    // advertised and kubeletVersion stamped: fake nodes left by an earlier run are
    // re-created. Nodes that are not KWOK fakes are never deleted.
    let existing = existing_nodes(&client, &fleet).await?;
    let (recreate, real): (Vec<&Document>, Vec<&Document>) =
        existing.iter().partition(|document| is_kwok_fake(document));
    let recreated: Vec<String> = recreate.iter().map(|d| d.name().to_string()).collect();
    if !recreated.is_empty() {
        eprintln!(
            "fleet: re-creating {} fake node(s) left by an earlier run, so the recording sees them start",
            recreated.len()
        );
        delete_nodes_and_wait(&client, &recreated).await?;
    }
    let created: Vec<String> = apply::node_names(&fleet)
        .into_iter()
        .filter(|name| !real.iter().any(|document| document.name() == name))
        .collect();

    let mut config = SessionConfig::new(&run_dir);
    config.metrics = metrics;
    let recording = Recording::start(client.clone(), info, config)
        .with_context(|| format!("cannot record into {}", run_dir.display()))?;
    let synced = progress::wait_synced(&recording, Duration::from_secs(60)).await;
    if let Err(error) = synced {
        let _ = recording.stop("error").await;
        return Err(error);
    }
    let fleet_nodes = apply::node_names(&fleet);
    let fleet_ready = async {
        apply::apply(&client, &fleet).await?;
        eprintln!("fleet: applied {} object(s); waiting for {} node(s) to be ready", fleet.len(), fleet_nodes.len());
        apply::wait_nodes_ready(&client, &fleet_nodes, Duration::from_secs(90)).await
    };
    if let Err(error) = fleet_ready.await {
        let _ = recording.stop("error").await;
        return Err(error.into());
    }
    for document in &workloads {
        if let Err(error) = apply_in_order(&client, document).await {
            let _ = recording.stop("error").await;
            return Err(error);
        }
    }
    eprintln!(
        "workloads: applied {} object(s); waiting until quiet for {}s",
        workloads.len(),
        scenario.settle.quiet_secs
    );

    let stop = StopWhen {
        duration: Some(Duration::from_secs(scenario.settle.timeout_secs)),
        until_quiet: Some(Duration::from_secs(scenario.settle.quiet_secs)),
        settled: None,
    };
    let reason = progress::follow(&recording, &stop, !args.quiet).await;
    let manifest = recording.stop(&reason).await.context("recording did not close cleanly")?;
    eprintln!("{}", progress::summary(&manifest, &run_dir));
    if reason == "duration" {
        eprintln!(
            "warning: the cluster did not settle within {}s; reporting what was recorded",
            scenario.settle.timeout_secs
        );
    }
    std::fs::write(run_dir.join(RUN_SCENARIO_FILE), scenario.to_yaml())
        .with_context(|| format!("cannot store the scenario in {}", run_dir.display()))?;

    let written = evident_report::write_report(&run_dir, &scenario).await?;
    for row in &written.report.rows {
        let verdict = if row.passed() { "PASS" } else { "FAIL" };
        println!("{verdict}  {}  {}: expected {}; observed {}", row.number, row.title, row.expected, row.observed);
    }
    println!(
        "{} passed, {} failed; report: {}",
        written.summary.passed,
        written.summary.failed,
        run_dir.join(evident_report::REPORT_MD).display()
    );

    if !args.keep {
        tear_down(&client, &namespaces, &created, started_cluster.then_some(root.as_path())).await?;
    }
    Ok(if written.summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The repository a scenario belongs to: the nearest ancestor holding `manifests/` and `hack/`.
fn repository_root(scenario: &Path) -> anyhow::Result<PathBuf> {
    let absolute = scenario.canonicalize().with_context(|| format!("scenario {} not found", scenario.display()))?;
    absolute
        .ancestors()
        .find(|dir| dir.join("manifests").is_dir() && dir.join("hack").is_dir())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!("{} is not inside an evident checkout (no manifests/ and hack/ above it)", scenario.display())
        })
}

fn paths(root: &Path, relative: &[String]) -> Vec<PathBuf> {
    relative.iter().map(|path| root.join(path)).collect()
}

/// Brings the local cluster up (building what is missing) and returns its kubeconfig and
/// whether this call started it.
fn local_cluster(root: &Path) -> anyhow::Result<(PathBuf, bool)> {
    let script = root.join("hack/cluster.sh");
    let was_up =
        Command::new("bash").arg(&script).arg("status").stderr(std::process::Stdio::null()).status()?.success();
    if !was_up {
        eprintln!("no --kubeconfig given: bringing up the local cluster (hack/cluster.sh up)");
        let status = Command::new("bash").arg(&script).arg("up").stdout(std::process::Stdio::null()).status()?;
        if !status.success() {
            bail!("hack/cluster.sh up failed ({status}); see its output above");
        }
    }
    let output = Command::new("bash").arg(&script).arg("kubeconfig").output()?;
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    anyhow::ensure!(output.status.success() && !path.is_empty(), "hack/cluster.sh kubeconfig printed no path");
    Ok((PathBuf::from(path), !was_up))
}

/// Namespaces a scenario uses must start empty, or an earlier run's pods change the outcome.
async fn remove_leftovers(client: &Client, namespaces: &[String]) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in namespaces {
        if api.get_opt(name).await?.is_some() {
            eprintln!("removing namespace {name} left by an earlier run");
            delete_namespace_and_wait(&api, name).await?;
        }
    }
    Ok(())
}

async fn delete_namespace_and_wait(api: &Api<Namespace>, name: &str) -> anyhow::Result<()> {
    delete_if_present(api, "namespace", name).await?;
    if !wait_gone(api, &[name.to_string()], Duration::from_secs(120)).await? {
        bail!("namespace {name} is still terminating after 120s; delete it by hand and retry")
    }
    Ok(())
}

/// Deletes one object; one that is already gone is not an error.
async fn delete_if_present<K>(api: &Api<K>, what: &str, name: &str) -> anyhow::Result<()>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot delete {what} {name}")),
    }
}

/// Polls every 250 ms until none of `names` exists; false if some still do after `timeout`.
async fn wait_gone<K>(api: &Api<K>, names: &[String], timeout: Duration) -> anyhow::Result<bool>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let poll = Duration::from_millis(250);
    for _ in 0..timeout.as_millis() / poll.as_millis() {
        let mut left = 0;
        for name in names {
            left += usize::from(api.get_opt(name).await?.is_some());
        }
        if left == 0 {
            return Ok(true);
        }
        tokio::time::sleep(poll).await;
    }
    Ok(false)
}

async fn existing_nodes<'a>(client: &Client, fleet: &'a [Document]) -> anyhow::Result<Vec<&'a Document>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut existing = Vec::new();
    for document in fleet.iter().filter(|d| d.kind() == "Node") {
        if nodes.get_opt(document.name()).await?.is_some() {
            existing.push(document);
        }
    }
    Ok(existing)
}

/// A node manifest handed to the KWOK controller (annotation `kwok.x-k8s.io/node: fake`).
fn is_kwok_fake(document: &Document) -> bool {
    document.object.pointer("/metadata/annotations/kwok.x-k8s.io~1node").and_then(|v| v.as_str()) == Some("fake")
}

async fn delete_nodes_and_wait(client: &Client, names: &[String]) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    for name in names {
        delete_if_present(&api, "node", name).await?;
    }
    if !wait_gone(&api, names, Duration::from_secs(60)).await? {
        bail!("nodes {} still exist 60s after deletion; delete them by hand and retry", names.join(", "))
    }
    Ok(())
}

/// Applies one workload document; a bare Pod is given up to 30 s to be scheduled (or found
/// unschedulable) before the next document, so the order of the spec is the order the
/// scheduler sees (cuda-batch-small takes its GPU before queue-pressure asks for 40).
async fn apply_in_order(client: &Client, document: &Document) -> anyhow::Result<()> {
    apply::apply(client, std::slice::from_ref(document)).await?;
    if document.kind() != "Pod" {
        return Ok(());
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), document.namespace().unwrap_or("default"));
    for _ in 0..120 {
        let decided = pods.get_opt(document.name()).await?.is_some_and(|pod| {
            pod.status
                .and_then(|s| s.conditions)
                .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "PodScheduled"))
        });
        if decided {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("warning: pod {} was not scheduled within 30s; continuing", document.name());
    Ok(())
}

async fn tear_down(
    client: &Client,
    namespaces: &[String],
    nodes: &[String],
    cluster_root: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(root) = cluster_root {
        eprintln!("stopping the local cluster this run started (use --keep to keep it)");
        let status = Command::new("bash").arg(root.join("hack/cluster.sh")).arg("down").status()?;
        anyhow::ensure!(status.success(), "hack/cluster.sh down failed ({status})");
        return Ok(());
    }
    let api: Api<Namespace> = Api::all(client.clone());
    for name in namespaces {
        delete_namespace_and_wait(&api, name).await?;
    }
    let node_api: Api<Node> = Api::all(client.clone());
    for name in nodes {
        delete_if_present(&node_api, "node", name).await?;
    }
    eprintln!(
        "removed what this run created ({} namespace(s), {} node(s)); use --keep to keep them",
        namespaces.len(),
        nodes.len()
    );
    Ok(())
}
