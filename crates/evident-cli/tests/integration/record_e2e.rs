//! `evident record` as a user runs it, against the real local control plane: killed with
//! SIGKILL and recovered, stopped with SIGTERM, across an API server restart, and with
//! secrets in the cluster that must not reach the evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use evident_e2e::{
    TEST_NAMESPACES, client, cluster_script, delete_namespaces, ensure_fleet, exclusive, kubeconfig, wait_for,
};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

fn evident() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evident"))
}

fn start_recorder(out: &Path, run_id: &str, namespace: &str, extra: &[&str]) -> anyhow::Result<Child> {
    let kubeconfig = kubeconfig()?;
    let child = evident()
        .args(["record", "--quiet", "--run-id", run_id, "-n", namespace, "--segment-age", "1s"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting evident record")?;
    Ok(child)
}

async fn fresh_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    delete_namespaces(client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    ensure_fleet(client).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    namespaces.create(&PostParams::default(), &namespace).await?;
    Ok(())
}

fn small_pod(name: &str, env_value: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "evident-e2e"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "evident-worker"},
            "containers": [{
                "name": "main", "image": "registry.k8s.io/pause:3.10",
                "env": [{"name": "PAYLOAD", "value": env_value}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
            }]
        }
    }))?)
}

async fn create_pods(client: &Client, namespace: &str, prefix: &str, count: usize) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for index in 0..count {
        pods.create(&PostParams::default(), &small_pod(&format!("{prefix}-{index}"), "harmless")?).await?;
    }
    Ok(())
}

fn parquet_files(run_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for table in ["nodes", "pods", "events"] {
        if let Ok(entries) = std::fs::read_dir(run_dir.join(table)) {
            files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    files.sort();
    files
}

async fn read_file(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let ctx = SessionContext::new();
    let options = ParquetReadOptions::default().file_extension(".parquet");
    let frame = ctx.read_parquet(path.to_string_lossy().as_ref(), options).await?;
    frame.collect().await.with_context(|| format!("reading {}", path.display()))
}

/// Every row of every table: (table, seq, op, epoch, uid, resource_version).
async fn rows(run_dir: &Path) -> anyhow::Result<Vec<(String, u64, String, u32, String, String)>> {
    let mut rows = Vec::new();
    for file in parquet_files(run_dir) {
        ensure!(file.extension().is_some_and(|e| e == "parquet"), "unexpected file {}", file.display());
        let table = file.parent().and_then(|p| p.file_name()).unwrap().to_string_lossy().to_string();
        for batch in read_file(&file).await? {
            let column = |name: &str| batch.column_by_name(name).cloned().context(name.to_string());
            let seq = column("seq")?;
            let seq = seq.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
            let epoch = column("epoch")?;
            let epoch = epoch.as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
            // DataFusion reads Parquet strings as Utf8View by default; cast to plain Utf8.
            let text = |name: &str| -> anyhow::Result<ArrayRef> { Ok(cast(&column(name)?, &DataType::Utf8)?) };
            let (op, uid, rv) = (text("op")?, text("uid")?, text("resource_version")?);
            let (op, uid, rv) = (op.as_string::<i32>(), uid.as_string::<i32>(), rv.as_string::<i32>());
            for i in 0..batch.num_rows() {
                rows.push((
                    table.clone(),
                    seq.value(i),
                    op.value(i).into(),
                    epoch.value(i),
                    uid.value(i).into(),
                    rv.value(i).into(),
                ));
            }
        }
    }
    rows.sort_by_key(|row| row.1);
    Ok(rows)
}

/// Seqs are unique and contiguous from 0; within one epoch no (uid, resourceVersion) twice.
fn assert_log_is_clean(rows: &[(String, u64, String, u32, String, String)]) -> anyhow::Result<()> {
    for (index, row) in rows.iter().enumerate() {
        ensure!(row.1 == index as u64, "seq {} at position {index}: seqs must be unique and contiguous", row.1);
    }
    let mut seen = BTreeMap::new();
    for row in rows {
        if let Some(previous) = seen.insert((row.3, row.4.clone(), row.5.clone()), row.1) {
            bail!("(uid {}, rv {}) recorded twice in epoch {}: seq {previous} and {}", row.4, row.5, row.3, row.1);
        }
    }
    Ok(())
}

fn wait_exit(child: &mut Child, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            bail!("evident record did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
    }
    text
}

fn signal(child: &Child, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status()?;
    ensure!(status.success(), "kill -{name} failed");
    Ok(())
}

/// Latest recorded resourceVersion of each live pod of `namespace`.
async fn recorded_pods(run_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut latest: BTreeMap<String, (String, String)> = BTreeMap::new();
    for row in rows(run_dir).await? {
        if row.0 == "pods" {
            latest.insert(row.4.clone(), (row.2.clone(), row.5.clone()));
        }
    }
    Ok(latest
        .into_iter()
        .filter(|(_, (op, _))| op != "DELETED" && op != "DELETED_IN_GAP")
        .map(|(uid, (_, rv))| (uid, rv))
        .collect())
}

async fn api_pods(client: &Client, namespace: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|p| (p.metadata.uid.unwrap_or_default(), p.metadata.resource_version.unwrap_or_default()))
        .collect())
}

/// A change found in the WAL: (seq, table, uid, resource_version).
type WalRecord = (u64, String, String, String);

/// The changes in the run's WAL that no Parquet segment holds yet, read the way recovery
/// reads them (each WAL file up to its first damaged frame).
fn unfolded_wal_records(run_dir: &Path) -> anyhow::Result<Vec<WalRecord>> {
    use evident_recorder::record::ChangeCodec;
    use evident_recorder::table::{ChangeLog, Table};
    use evident_recorder::{segment, wal};
    let mut durable_last_seq = BTreeMap::new();
    for table in ChangeLog::PARTITIONS {
        for found in segment::scan_table(run_dir, table)? {
            let last = durable_last_seq.entry(table.to_string()).or_insert(found.segment.last_seq);
            *last = (*last).max(found.segment.last_seq);
        }
    }
    let mut records = Vec::new();
    for (_, path) in wal::list_segments(&run_dir.join(ChangeLog::WAL_DIR))? {
        let mut reader = wal::WalReader::open(&path, None)?;
        while let Some(frame) = reader.next_frame(wal::FrameType::Change)? {
            let change = ChangeCodec::decode(frame.seq, frame.body)?;
            let table = change.kind.table().to_string();
            if durable_last_seq.get(&table).is_some_and(|last| change.seq <= *last) {
                continue;
            }
            let object: serde_json::Value = serde_json::from_str(&change.json)?;
            let text = |field: &str| object["metadata"][field].as_str().unwrap_or_default().to_string();
            records.push((change.seq, table, text("uid"), text("resourceVersion")));
        }
    }
    Ok(records)
}

/// `evident query --format csv` over one run; the rows without the header, split at commas.
fn query_rows(run_dir: &Path, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let output = evident().args(["query", "--format", "csv", "--run"]).arg(run_dir).arg(sql).output()?;
    ensure!(output.status.success(), "evident query failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout)?;
    Ok(text.lines().skip(1).map(|line| line.split(',').map(str::to_string).collect()).collect())
}

/// A node nobody runs (no KWOK annotation): recorded, then deleted while the recorder is down.
const DOOMED_NODE: &str = "evident-crash-doomed";

async fn delete_node(client: &Client, name: &str) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    wait_for("the node to be deleted", Duration::from_secs(30), || async {
        Ok(if nodes.get_opt(name).await?.is_none() { Ok(()) } else { Err(format!("{name} still exists")) })
    })
    .await
}

async fn api_node_uids(client: &Client) -> anyhow::Result<BTreeSet<String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    Ok(nodes.list(&ListParams::default()).await?.items.into_iter().filter_map(|n| n.metadata.uid).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_then_recover_and_resume() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    let namespace = "evident-crash";
    let out = tempfile::tempdir()?;
    for (round, kill_after_ms) in [300u64, 1_200, 2_500].into_iter().enumerate() {
        fresh_namespace(&client, namespace).await?;
        delete_node(&client, DOOMED_NODE).await?;
        let nodes: Api<Node> = Api::all(client.clone());
        nodes
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": DOOMED_NODE}}))?)
            .await?;
        // Pods that exist before the recording starts, so its first list records them.
        create_pods(&client, namespace, "before", 4).await?;
        let run_id = format!("crash-{round}");
        let run_dir = out.path().join(&run_id);
        let mut recorder = start_recorder(out.path(), &run_id, namespace, &[])?;
        let creator = {
            let client = client.clone();
            // One pod every 150 ms: changes keep coming until after the last kill point, so
            // every kill lands while the WAL holds changes not yet in Parquet.
            tokio::spawn(async move {
                for index in 0..20 {
                    create_pods(&client, namespace, &format!("churn-{index}"), 1).await?;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                anyhow::Ok(())
            })
        };
        // The kill must land mid-write: after `kill_after_ms`, and once the WAL holds changes
        // that are not in Parquet yet (segments roll every second; the WAL is fsynced every
        // 500 ms).
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        while unfolded_wal_records(&run_dir).map_or(true, |records| records.is_empty())
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        signal(&recorder, "KILL")?;
        let _ = wait_exit(&mut recorder, Duration::from_secs(10))?;
        creator.await??;

        for file in parquet_files(&run_dir) {
            if file.extension().is_some_and(|e| e == "parquet") {
                read_file(&file)
                    .await
                    .with_context(|| format!("round {round}: a Parquet file left by the crash must open"))?;
            }
        }
        let unfolded = unfolded_wal_records(&run_dir)?;
        ensure!(!unfolded.is_empty(), "round {round}: the kill landed with every change already in Parquet");
        let recover = evident().arg("recover").arg(&run_dir).output()?;
        ensure!(
            recover.status.success(),
            "round {round}: recover failed: {}",
            String::from_utf8_lossy(&recover.stderr)
        );
        let said = String::from_utf8_lossy(&recover.stdout);
        ensure!(
            said.contains(&format!(": recovered {} record(s) into", unfolded.len())),
            "round {round}: recover must report the {} change(s) only the WAL held: {said}",
            unfolded.len()
        );
        ensure!(
            parquet_files(&run_dir).iter().all(|f| f.extension().is_some_and(|e| e == "parquet")),
            "round {round}: no .inprogress file after recovery: {:?}",
            parquet_files(&run_dir)
        );
        // Every change only the WAL held is now queryable, with its identity.
        let queried: BTreeSet<WalRecord> = query_rows(
            &run_dir,
            "SELECT seq, 'nodes', uid, resource_version FROM nodes UNION ALL \
             SELECT seq, 'pods', uid, resource_version FROM pods UNION ALL \
             SELECT seq, 'events', uid, resource_version FROM events",
        )?
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [seq, table, uid, rv] => Some((seq.parse().ok()?, table.clone(), uid.clone(), rv.clone())),
            _ => None,
        })
        .collect();
        let missing: Vec<&WalRecord> = unfolded.iter().filter(|record| !queried.contains(*record)).collect();
        ensure!(missing.is_empty(), "round {round}: recovered changes not queryable: {missing:?}");
        let recovered = rows(&run_dir).await?;
        assert_log_is_clean(&recovered).with_context(|| format!("round {round} after recover"))?;
        let again = evident().arg("recover").arg(&run_dir).output()?;
        ensure!(again.status.success());
        assert_eq!(rows(&run_dir).await?.len(), recovered.len(), "round {round}: a second recover changes nothing");

        // While the recorder is down, two recorded pods and the recorded extra node go away.
        let recorded_before = recorded_pods(&run_dir).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let mut deleted = Vec::new();
        for pod in pods.list(&ListParams::default()).await?.items {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if deleted.len() < 2 && recorded_before.contains_key(&uid) {
                pods.delete(&pod.metadata.name.clone().unwrap_or_default(), &DeleteParams::default().grace_period(0))
                    .await?;
                deleted.push(uid);
            }
        }
        ensure!(deleted.len() == 2, "round {round}: the recording holds 2 live pods to delete: {recorded_before:?}");
        let doomed_uid = nodes.get(DOOMED_NODE).await?.metadata.uid.unwrap_or_default();
        ensure!(
            recovered.iter().any(|r| r.0 == "nodes" && r.4 == doomed_uid),
            "round {round}: the recording holds node {DOOMED_NODE}"
        );
        delete_node(&client, DOOMED_NODE).await?;
        wait_for("the deleted pods to be gone", Duration::from_secs(60), || async {
            let live = api_pods(&client, namespace).await?;
            let left = deleted.iter().filter(|uid| live.contains_key(*uid)).count();
            Ok(if left == 0 { Ok(()) } else { Err(format!("{left} still there")) })
        })
        .await?;

        // The next record into the same run resumes it: a new epoch lists what exists now.
        let mut resumed = start_recorder(out.path(), &run_id, namespace, &["--until-quiet", "3s"])?;
        let status = wait_exit(&mut resumed, Duration::from_secs(90))?;
        ensure!(status.success(), "round {round}: resumed record failed: {}", stderr_of(&mut resumed));
        let all = rows(&run_dir).await?;
        assert_log_is_clean(&all).with_context(|| format!("round {round} after resume"))?;
        ensure!(all.len() > recovered.len(), "round {round}: the resumed recording appended rows");
        let recovered_epoch = recovered.iter().map(|r| r.3).max().unwrap_or(0);
        let last_epoch = all.iter().filter(|r| r.0 == "pods").map(|r| r.3).max().unwrap_or(0);
        ensure!(
            last_epoch == recovered_epoch + 1,
            "round {round}: resuming opens epoch {} (got {last_epoch})",
            recovered_epoch + 1
        );
        // What vanished while the recorder was down is tombstoned, so the views agree with
        // the API server.
        let tombstoned: BTreeSet<(String, String)> =
            all.iter().filter(|r| r.2 == "DELETED_IN_GAP").map(|r| (r.0.clone(), r.4.clone())).collect();
        let mut expected_tombstones: BTreeSet<(String, String)> =
            deleted.iter().map(|uid| ("pods".to_string(), uid.clone())).collect();
        expected_tombstones.insert(("nodes".to_string(), doomed_uid.clone()));
        assert_eq!(tombstoned, expected_tombstones, "round {round}: tombstones of the resumed epoch");
        let api = api_pods(&client, namespace).await?;
        assert_eq!(recorded_pods(&run_dir).await?, api, "round {round}: final state");
        let pods_latest: BTreeMap<String, String> =
            query_rows(&run_dir, "SELECT uid, resource_version FROM pods_latest")?
                .into_iter()
                .filter_map(|row| match row.as_slice() {
                    [uid, rv] => Some((uid.clone(), rv.clone())),
                    _ => None,
                })
                .collect();
        assert_eq!(pods_latest, api, "round {round}: pods_latest is the API server's pods");
        let nodes_latest: BTreeSet<String> =
            query_rows(&run_dir, "SELECT uid FROM nodes_latest")?.into_iter().flatten().collect();
        assert_eq!(
            nodes_latest,
            api_node_uids(&client).await?,
            "round {round}: nodes_latest is the API server's nodes"
        );
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json"))?)?;
        let gaps = manifest["gaps"].as_array().cloned().unwrap_or_default();
        let tombstones_of = |kind: &str| {
            gaps.iter()
                .filter(|gap| gap["kind"] == kind && gap["epoch"].as_u64() == Some(u64::from(last_epoch)))
                .map(|gap| gap["tombstones"].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        assert_eq!(
            (tombstones_of("Pod"), tombstones_of("Node")),
            (2, 1),
            "round {round}: the gaps count them: {gaps:?}"
        );
    }
    delete_namespaces(&client, &[namespace], Duration::from_secs(120)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_across_an_api_server_restart() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    let namespace = "evident-restart";
    fresh_namespace(&client, namespace).await?;
    let out = tempfile::tempdir()?;
    let run_dir = out.path().join("restart");
    let mut recorder = start_recorder(out.path(), "restart", namespace, &[])?;
    create_pods(&client, namespace, "before", 5).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster_script(&["restart-apiserver", "5"])?;
    let client = evident_e2e::client().await?;
    create_pods(&client, namespace, "after", 5).await?;
    wait_for("pods created after the restart to run", Duration::from_secs(60), || async {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let running = pods
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|p| evident_e2e::phase(p) == "Running")
            .count();
        Ok(if running == 10 { Ok(()) } else { Err(format!("{running} Running")) })
    })
    .await?;
    // The watch is back within a few seconds of the API server (retries are capped at 4 s):
    // wait until the recording has caught up with the server, then stop it.
    let expected = api_pods(&client, namespace).await?;
    wait_for("the recording to catch up after the restart", Duration::from_secs(30), || async {
        let recorded = recorded_pods(&run_dir).await?;
        Ok(if recorded == expected {
            Ok(())
        } else {
            Err(format!("{} of {} pods recorded", recorded.len(), expected.len()))
        })
    })
    .await?;
    signal(&recorder, "TERM")?;
    let status = wait_exit(&mut recorder, Duration::from_secs(30))?;
    ensure!(status.success(), "SIGTERM must stop cleanly: {status}: {}", stderr_of(&mut recorder));

    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json"))?)?;
    assert_eq!(manifest["stop_reason"], "signal");
    let all = rows(&run_dir).await?;
    assert_log_is_clean(&all)?;
    assert_eq!(
        recorded_pods(&run_dir).await?,
        api_pods(&client, namespace).await?,
        "the recorder resumed after the restart"
    );
    // Either the watch resumed from its resourceVersion (no gap) or it relisted, and then
    // the manifest says so and the new epoch's rows are there.
    for gap in manifest["gaps"].as_array().cloned().unwrap_or_default() {
        let epoch = gap["epoch"].as_u64().context("gap epoch")? as u32;
        ensure!(epoch >= 2, "a gap opens a later epoch: {gap}");
        ensure!(all.iter().any(|r| r.3 == epoch && r.2 == "SYNC"), "gap {gap} has its SYNC rows");
    }
    delete_namespaces(&client, &[namespace], Duration::from_secs(120)).await?;
    Ok(())
}

/// After the API server comes back, a watch that resumes from its resourceVersion (no
/// relist, and in a quiet namespace no event either) must stop showing "retrying", or
/// `--until-quiet` never fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_quiet_fires_after_an_api_server_restart() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    let namespace = "evident-restart";
    fresh_namespace(&client, namespace).await?;
    let out = tempfile::tempdir()?;
    let run_dir = out.path().join("quiet-restart");
    let mut recorder = start_recorder(out.path(), "quiet-restart", namespace, &["--until-quiet", "10s"])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster_script(&["restart-apiserver", "3"])?;
    let back = std::time::Instant::now();
    // Quiet for 10 s after the watches are healthy again: retries are capped at 4 s, so the
    // recording stops well within a minute of the server's return.
    let status = wait_exit(&mut recorder, Duration::from_secs(60)).with_context(|| {
        format!("--until-quiet did not fire after the restart; stderr: {}", stderr_of(&mut recorder))
    })?;
    ensure!(status.success(), "record failed: {}", stderr_of(&mut recorder));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json"))?)?;
    assert_eq!(manifest["stop_reason"], "until-quiet", "stopped {:?} after the server was back", back.elapsed());
    // A relist, if there was one, names the error that caused it.
    for gap in manifest["gaps"].as_array().cloned().unwrap_or_default() {
        ensure!(gap["reason"].as_str().is_some_and(|r| !r.is_empty() && r != "relist"), "gap without its cause: {gap}");
    }
    delete_namespaces(&client, &[namespace], Duration::from_secs(120)).await?;
    Ok(())
}

/// Every byte of every file under the run directory (the WAL, were one left, holds its JSON
/// uncompressed), plus every value of every column of every Parquet file, decoded (pages are
/// compressed, so a raw byte scan alone could miss a string).
async fn run_text(run_dir: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    let mut stack = vec![run_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path)?));
            if path.extension().is_some_and(|e| e == "parquet") {
                for batch in read_file(&path).await? {
                    for column in batch.columns() {
                        let column = cast(column, &DataType::Utf8)?;
                        for value in column.as_string::<i32>().iter().flatten() {
                            text.push_str(value);
                            text.push('\n');
                        }
                    }
                }
            }
        }
    }
    Ok(text)
}

/// Every recorded object of `table` named `name`, in seq order.
async fn recorded_objects(run_dir: &Path, table: &str, name: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut objects = Vec::new();
    for file in parquet_files(run_dir).into_iter().filter(|file| file.parent().is_some_and(|p| p.ends_with(table))) {
        for batch in read_file(&file).await? {
            let column = |name: &str| batch.column_by_name(name).cloned().context(name.to_string());
            let seq = column("seq")?;
            let seq = seq.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
            let object = cast(&column("object")?, &DataType::Utf8)?;
            for (i, text) in object.as_string::<i32>().iter().enumerate() {
                let object: serde_json::Value = serde_json::from_str(text.context("object is never null")?)?;
                if object["metadata"]["name"] == name {
                    objects.push((seq.value(i), object));
                }
            }
        }
    }
    objects.sort_by_key(|(seq, _)| *seq);
    Ok(objects.into_iter().map(|(_, object)| object).collect())
}

/// True when `value` is a redact-v2 hash under one of `keys`: `hmac:<key id>:<16 hex digits>`.
fn is_redacted(value: Option<&serde_json::Value>, keys: &[String]) -> bool {
    let Some(text) = value.and_then(serde_json::Value::as_str) else { return false };
    let mut parts = text.split(':');
    let (Some("hmac"), Some(key), Some(digest), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    keys.iter().any(|known| known == key)
        && digest.len() == 16
        && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One canary per field redaction covers, each where the API server keeps it in the canary
/// pod (or, for the last, the worker node): (what, value, JSON pointer of the field).
const CANARIES: &[(&str, &str, &str)] = &[
    ("env value", "evident-canary-env-b27e05", "/spec/containers/0/env/0/value"),
    ("args", "--token=evident-canary-args-61d0a4", "/spec/containers/0/args/0"),
    ("command", "--password=evident-canary-command-93c2f1", "/spec/containers/0/command/1"),
    ("pod annotation", "evident-canary-annotation-4ae7b3", "/metadata/annotations/tool.example~1manifest"),
    ("terminated.message", "evident-canary-terminated-0d5e92", "/status/containerStatuses/0/state/terminated/message"),
    (
        "lastState terminated.message",
        "evident-canary-last-terminated-7b1c44",
        "/status/containerStatuses/0/lastState/terminated/message",
    ),
    ("CSI volumeAttributes", "evident-canary-csi-e8f350", "/spec/volumes/0/csi/volumeAttributes/secretKey"),
    ("flexVolume options", "evident-canary-flex-2c96d8", "/spec/volumes/1/flexVolume/options/password"),
    ("node annotation", "evident-canary-node-annotation-5f3a07", "/metadata/annotations/secret.example~1token"),
];
const NODE_ANNOTATION: &str = "secret.example/token";
const CANARY_NODE: &str = "evident-worker";

fn canary(what: &str) -> &'static str {
    CANARIES.iter().find(|(name, _, _)| *name == what).map_or("", |(_, value, _)| value)
}

/// The canary pod: every pod canary in its field, Pending (no node matches its selector), so
/// the report writes a `describe-pod-canary.txt` for it.
fn canary_pod() -> anyhow::Result<Pod> {
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "canary", "labels": {"app": "evident-e2e"},
                     "annotations": {"tool.example/manifest": canary("pod annotation")}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "evident-nowhere"},
            "restartPolicy": "Never",
            "containers": [{
                "name": "main", "image": "registry.k8s.io/pause:3.10",
                "command": ["/pause", canary("command")],
                "args": [canary("args")],
                "env": [{"name": "PAYLOAD", "value": canary("env value")}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
            }],
            "volumes": [
                {"name": "secrets-store", "csi": {"driver": "secrets-store.csi.k8s.io",
                                                  "volumeAttributes": {"secretKey": canary("CSI volumeAttributes")}}},
                {"name": "flex", "flexVolume": {"driver": "example.com/flex", "options": {"password": canary("flexVolume options")}}}
            ]
        }
    }))?;
    // kubectl apply's copy of the manifest: every canary above, dropped whole by redaction.
    let applied = serde_json::to_string(&pod)?;
    pod.metadata
        .annotations
        .get_or_insert_default()
        .insert("kubectl.kubernetes.io/last-applied-configuration".into(), applied);
    Ok(pod)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_env_values_never_reach_the_run_directory() -> anyhow::Result<()> {
    const SECRET_CANARY: &str = "evident-canary-secret-4f1d9c";
    let _guard = exclusive().await;
    let client = client().await?;
    let namespace = "evident-canary";
    fresh_namespace(&client, namespace).await?;
    let out = tempfile::tempdir()?;
    let run_dir = out.path().join("canary");
    let mut recorder = start_recorder(out.path(), "canary", namespace, &["--until-quiet", "4s"])?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let nodes: Api<Node> = Api::all(client.clone());
    let annotate = |value: serde_json::Value| json!({"metadata": {"annotations": {NODE_ANNOTATION: value}}});
    nodes
        .patch(CANARY_NODE, &PatchParams::default(), &Patch::Merge(annotate(json!(canary("node annotation")))))
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret =
        serde_json::from_value(json!({"metadata": {"name": "canary"}, "stringData": {"token": SECRET_CANARY}}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(&PostParams::default(), &canary_pod()?).await?;
    // What a kubelet reports when the container wrote these to its termination log.
    let terminated = |message: &str| json!({"terminated": {"exitCode": 1, "reason": "Error", "message": message}});
    let status = json!({"status": {"containerStatuses": [{
        "name": "main", "image": "registry.k8s.io/pause:3.10", "imageID": "", "ready": false, "restartCount": 0,
        "state": terminated(canary("terminated.message")),
        "lastState": terminated(canary("lastState terminated.message")),
    }]}});
    pods.patch_status("canary", &PatchParams::default(), &Patch::Merge(&status)).await?;

    let status = wait_exit(&mut recorder, Duration::from_secs(90));
    nodes.patch(CANARY_NODE, &PatchParams::default(), &Patch::Merge(annotate(serde_json::Value::Null))).await?;
    let status = status?;
    ensure!(status.success(), "record failed: {}", stderr_of(&mut recorder));

    // The positive control: the canary pod (and the node) were recorded, each covered field
    // in its redacted form under the recording's key.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json"))?)?;
    ensure!(manifest["redaction_policy"] == "redact-v2", "run.json: {manifest}");
    let keys: Vec<String> = serde_json::from_value(manifest["redaction_keys"].clone())?;
    ensure!(keys.len() == 1, "one key id for one recording session: {keys:?}");
    let pod_rows = recorded_objects(&run_dir, "pods", "canary").await?;
    let node_rows = recorded_objects(&run_dir, "nodes", CANARY_NODE).await?;
    ensure!(!pod_rows.is_empty(), "the canary pod was recorded");
    for (what, _, pointer) in CANARIES {
        let rows = if *what == "node annotation" { &node_rows } else { &pod_rows };
        ensure!(
            rows.iter().any(|object| is_redacted(object.pointer(pointer), &keys)),
            "no recorded object has the {what} at {pointer} in its redacted form"
        );
    }
    ensure!(
        pod_rows.iter().all(|pod| pod
            .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
            .is_none()),
        "last-applied is dropped"
    );
    let env_hash = pod_rows[0].pointer("/spec/containers/0/env/0/value").and_then(|v| v.as_str()).unwrap_or_default();

    // The report's describe-pod shows the same redacted form, and nothing else of the value.
    let scenario = out.path().join("canary-scenario.yaml");
    std::fs::write(
        &scenario,
        "name: canary\ntitle: canary\nscenarios:\n  - number: 1\n    name: canary\n    title: canary\n    expected: Pending\n    \
         expectations:\n      - phase_counts: {namespace: evident-canary, workload: canary, counts: {Pending: 1}}\n",
    )?;
    let report = evident().arg("report").arg(&run_dir).arg("--scenario").arg(&scenario).output()?;
    ensure!(report.status.code() == Some(0), "evident report: {}", String::from_utf8_lossy(&report.stderr));
    let describe = std::fs::read_to_string(run_dir.join("describe-pod-evident-canary_canary.txt"))?;
    ensure!(describe.contains(&format!("PAYLOAD:  {env_hash} (redacted by the recorder)")), "{describe}");

    let text = run_text(&run_dir).await?;
    for (what, value, _) in CANARIES.iter().chain([&("Secret data", SECRET_CANARY, "")]) {
        ensure!(!text.contains(value), "the {what} canary `{value}` leaked into {}", run_dir.display());
    }
    ensure!(!text.contains(&base64(SECRET_CANARY)), "the base64 of the secret leaked");
    delete_namespaces(&client, &[namespace], Duration::from_secs(120)).await?;
    Ok(())
}

/// Base64 (the form the API server stores Secret data in), without a dependency.
fn base64(text: &str) -> String {
    {
        const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
