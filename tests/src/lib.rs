//! Harness of the end-to-end tests: the real local control plane (kube-apiserver,
//! kube-scheduler, kube-controller-manager v1.36, etcd and the KWOK controller, started by
//! `hack/cluster.sh up`), reached through its kubeconfig.
//!
//! Tests that change the cluster take [`exclusive`] first: the fleet has 32 GPUs, and two
//! tests placing pods at once would change each other's outcome. The lock is a file lock
//! ([`cluster_lock_path`], in the cache folder beside the cluster's state), so it also
//! serialises tests in different test binaries and processes, not only in one. Tests count
//! only what they made (their namespaces, the fleet's nodes), never the whole cluster.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::sync::{Mutex, MutexGuard};

/// The repository root: the nearest ancestor of the running test's package (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs a test) that holds `hack/cluster.sh`. Looked up at run
/// time, not compile time, so a test binary built from another checkout sharing the target
/// folder still uses this checkout.
pub fn repo_root() -> PathBuf {
    let package =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    package
        .ancestors()
        .find(|dir| dir.join("hack/cluster.sh").is_file())
        .unwrap_or_else(|| panic!("no hack/cluster.sh above {}", package.display()))
        .to_path_buf()
}

/// Runs `hack/cluster.sh <args>` and returns its stdout.
pub fn cluster_script(args: &[&str]) -> anyhow::Result<String> {
    let script = repo_root().join("hack/cluster.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .current_dir(repo_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!("hack/cluster.sh {} failed with {}", args.join(" "), output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Brings the local cluster up once per test process (no-op when it is healthy) and
/// returns its kubeconfig path.
pub fn kubeconfig() -> anyhow::Result<PathBuf> {
    static KUBECONFIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    KUBECONFIG
        .get_or_init(|| {
            cluster_script(&["up"]).map_err(|e| format!("{e:#}"))?;
            let path = cluster_script(&["kubeconfig"]).map_err(|e| format!("{e:#}"))?;
            Ok(PathBuf::from(path.lines().last().unwrap_or_default()))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A client for the local cluster.
pub async fn client() -> anyhow::Result<Client> {
    let path = kubeconfig()?;
    let file = Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Every namespace the end-to-end tests create. A test that changes the cluster deletes
/// them all first, so pods a failed earlier test left behind cannot hold GPUs or add rows.
pub const TEST_NAMESPACES: &[&str] =
    &["gpu-demo", "evident-crash", "evident-restart", "evident-canary", "evident-bystander", "evident-hostile"];

/// The file locked while a test changes the cluster: `cluster-tests.lock` in the cache folder
/// (`$EVIDENT_CACHE`, else `~/.cache/evident`), where the cluster's own state lives. Not
/// `/tmp/evident-cluster.lock`, which people take from the shell around whole test runs.
pub fn cluster_lock_path() -> PathBuf {
    let cache = std::env::var_os("EVIDENT_CACHE").filter(|value| !value.is_empty()).map(PathBuf::from);
    let home = || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/evident");
    cache.unwrap_or_else(home).join("cluster-tests.lock")
}

/// Held while a test changes the cluster; dropping it lets the next test in.
#[derive(Debug)]
pub struct ClusterGuard {
    /// Holds the file lock; the operating system releases it when the file is closed, or when
    /// the process dies, so a crashed test never leaves the cluster locked.
    _file: File,
    _in_process: MutexGuard<'static, ()>,
}

/// Serialises tests that change the cluster, across threads and processes: `let _guard =
/// exclusive().await;` (without the `.await` nothing is locked). Tests of one process queue on
/// an async mutex first, then take the file lock at [`cluster_lock_path`] on a blocking
/// thread, so waiting never stalls the runtime. Panics, failing the test, when the lock file
/// cannot be created or locked.
pub async fn exclusive() -> ClusterGuard {
    static LOCK: Mutex<()> = Mutex::const_new(());
    let in_process = LOCK.lock().await;
    let path = cluster_lock_path();
    let locked = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> std::io::Result<File> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    eprintln!("waiting for {}: another test process is using the cluster", path.display());
                    file.lock()?;
                }
                Err(std::fs::TryLockError::Error(error)) => return Err(error),
            }
            Ok(file)
        }
    })
    .await;
    match locked {
        Ok(Ok(file)) => ClusterGuard { _file: file, _in_process: in_process },
        Ok(Err(error)) => panic!("cannot lock {} to use the cluster alone: {error}", path.display()),
        Err(error) => panic!("taking the cluster lock {} failed: {error}", path.display()),
    }
}

/// Path of a manifest folder or file in the repository.
pub fn manifest(relative: &str) -> PathBuf {
    repo_root().join("manifests").join(relative)
}

/// Deletes namespaces (if present) and waits until they and their pods are gone, so the
/// fleet's GPUs are free again.
pub async fn delete_namespaces(client: &Client, names: &[&str], timeout: Duration) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in names {
        match namespaces.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error).with_context(|| format!("deleting namespace {name}")),
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let mut remaining = Vec::new();
        for name in names {
            if namespaces.get_opt(name).await?.is_some() {
                remaining.push(*name);
            }
        }
        if remaining.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("namespaces {remaining:?} still exist after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `condition` every 250 ms until it returns `Some`, or fails after `timeout`
/// with the last description it gave.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Result<T, String>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match condition().await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(state)) => last = state,
            Err(error) => last = format!("{error:#}"),
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Pods of a namespace.
pub async fn pods(client: &Client, namespace: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Phase of a pod ("" when unknown).
pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

/// Applies the lesson-1 fleet (`manifests/fleet`) and waits until its nodes can take pods and
/// its GPU nodes advertise the GPUs the fake-gpu-operator gives them.
/// Tests that place pods call it first: the cluster may be fresh, or an earlier test (or
/// `evident run` without `--keep`) may have removed the fleet.
pub async fn ensure_fleet(client: &Client) -> anyhow::Result<Vec<String>> {
    use evident_recorder::apply;
    let fleet = apply::load(&[manifest("fleet")])?;
    apply::apply(client, &fleet).await.context("applying the fleet")?;
    let nodes = apply::node_names(&fleet);
    apply::wait_nodes_ready(client, &nodes, Duration::from_secs(90)).await?;
    // The GPU nodes get nvidia.com/gpu from the fake-gpu-operator's device plugin.
    apply::wait_nodes_gpus(client, &apply::device_plugin_gpu_nodes(&fleet), Duration::from_secs(90)).await?;
    Ok(nodes)
}
