//! `evident run` end to end on the real local control plane: the lesson-1 scenario is
//! recorded and reported, and the report matches the notebook; a namespace evident did not
//! create stops a run unless it is to be replaced; the namespace a kept run leaves is taken
//! over by the next run (`make demo` twice); `settle.decidable` keeps an undecidable run
//! recording until its timeout; a run whose workload is refused exits 2 and removes the
//! namespace it created. Then one expectation is changed so that it must fail, and
//! `evident report` on the same recording exits 1 with a FAIL row.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, exclusive, kubeconfig, repo_root};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;

/// The label `evident run` marks its namespaces with (evident_runner::RUN_LABEL, written
/// out: the test checks the documented name).
const RUN_LABEL: &str = "evident.dev/run";

fn evident(args: &[&std::ffi::OsStr]) -> anyhow::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(args)
        .current_dir(repo_root())
        .env("EVIDENT_LOG", "error")
        .output()
        .context("running evident")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `evident run <spec> --kubeconfig <local cluster> --out <out> --run-id <id> --quiet <extra>`.
fn run_scenario(spec: &Path, out: &Path, run_id: &str, extra: &[&str]) -> anyhow::Result<Output> {
    let kubeconfig = kubeconfig()?;
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "run".as_ref(),
        spec.as_os_str(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--run-id".as_ref(),
        run_id.as_ref(),
        "--quiet".as_ref(),
    ];
    args.extend(extra.iter().map(|arg| std::ffi::OsStr::new(*arg)));
    evident(&args)
}

/// The stop reason `run.json` of `run_dir` records.
fn stop_reason(run_dir: &Path) -> anyhow::Result<String> {
    let manifest: serde_json::Value = serde_json::from_str(&read(&run_dir.join("run.json"))?)?;
    Ok(manifest["stop_reason"].as_str().unwrap_or_default().to_string())
}

/// FailedScheduling messages of the recording that blame a node lifecycle taint: a workload
/// applied before the fleet could take pods.
fn refusals_for_not_ready_nodes(run_dir: &Path) -> anyhow::Result<String> {
    let sql = "SELECT message FROM events WHERE reason = 'FailedScheduling' \
               AND (message LIKE '%node.kubernetes.io/not-ready%' OR message LIKE '%node.kubernetes.io/unreachable%')";
    let output = evident(&[
        "query".as_ref(),
        "--run".as_ref(),
        run_dir.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        sql.as_ref(),
    ])?;
    ensure!(output.status.success(), "evident query failed: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let mut lines = stdout.lines();
    ensure!(lines.next() == Some("message"), "a CSV header: {stdout}");
    Ok(lines.collect::<Vec<_>>().join("\n"))
}

/// Creates namespace `name` as a person would (no evident label), holding a ConfigMap
/// whose survival shows the namespace was not deleted.
async fn create_foreign_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.to_string());
    namespaces.create(&PostParams::default(), &namespace).await.with_context(|| format!("creating {name}"))?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), name);
    let mut marker = ConfigMap::default();
    marker.metadata.name = Some("not-evidents".into());
    marker.data = Some(BTreeMap::from([("owner".to_string(), "a person".to_string())]));
    config_maps.create(&PostParams::default(), &marker).await.context("creating the marker ConfigMap")?;
    Ok(())
}

/// The value of the evident label on namespace `name`; `None` when it has none, an error when
/// the namespace does not exist.
async fn run_label_of(client: &kube::Client, name: &str) -> anyhow::Result<Option<String>> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = namespaces.get(name).await.with_context(|| format!("namespace {name}"))?;
    Ok(namespace.metadata.labels.unwrap_or_default().get(RUN_LABEL).cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_evident_did_not_create_stops_the_run_and_survives() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    create_foreign_namespace(&client, "gpu-demo").await?;
    let out = tempfile::tempdir()?;
    let spec = repo_root().join("manifests/scenarios/lesson1.yaml");

    let run = run_scenario(&spec, out.path(), "refused", &[])?;
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(
        errors[0].starts_with("error: namespace gpu-demo already exists and was not created by evident run")
            && errors[0].contains("--replace-namespaces"),
        "{stderr}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "gpu-demo");
    assert!(config_maps.get_opt("not-evidents").await?.is_some(), "gpu-demo and its contents are left alone");
    assert_eq!(run_label_of(&client, "gpu-demo").await?, None, "the namespace is not taken over");
    assert!(!out.path().join("refused/run.json").exists(), "nothing was recorded");
    delete_namespaces(&client, &["gpu-demo"], Duration::from_secs(120)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecidable_expectation_keeps_the_run_recording_until_the_timeout() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    // A scenario folder of its own: no fleet, no workload, and an expectation on a pod nobody
    // creates, which no recording can decide.
    let folder = tempfile::tempdir()?;
    let spec = folder.path().join("undecidable.yaml");
    let undecidable = r#"
name: undecidable
title: An expectation on a pod nobody creates
settle: {quiet_secs: 2, timeout_secs: 12, decidable: true}
scenarios:
  - number: 1
    name: ghost
    title: ghost
    expected: Running
    expectations:
      - pod_running_in_pool: {namespace: evident-undecided, pod: ghost, pool: a100}
"#;
    std::fs::write(&spec, undecidable)?;
    let out = tempfile::tempdir()?;
    let started = Instant::now();
    let run = run_scenario(&spec, out.path(), "undecidable", &[])?;
    let elapsed = started.elapsed();
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "the expectation fails:\n{stdout}\n{stderr}");
    let run_dir = out.path().join("undecidable");
    assert_eq!(stop_reason(&run_dir)?, "duration", "quiet (2s) did not stop it; the timeout did");
    assert!(elapsed >= Duration::from_secs(12), "recorded until the 12s timeout, stopped after {elapsed:?}");
    let warning = stderr
        .lines()
        .find(|line| line.starts_with("warning: settle timeout"))
        .with_context(|| format!("the timeout is reported as such:\n{stderr}"))?;
    assert!(warning.contains("1 expectation(s)") && warning.contains("#1") && warning.contains("ghost"), "{warning}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("evident-undecided").await?.is_none(), "the run's namespace is removed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_workload_is_refused_exits_2_and_removes_its_namespace() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    // A scenario folder of its own whose one workload the API server refuses (a container
    // without an image), after the run created its namespace and started recording.
    let folder = tempfile::tempdir()?;
    std::fs::create_dir_all(folder.path().join("workloads"))?;
    let workload = r#"
apiVersion: v1
kind: Pod
metadata: {name: no-image, namespace: evident-refused}
spec:
  containers: [{name: main}]
"#;
    std::fs::write(folder.path().join("workloads/no-image.yaml"), workload)?;
    let spec = folder.path().join("refused.yaml");
    let scenario = r#"
name: refused
title: A workload the API server refuses
workloads: [workloads/no-image.yaml]
scenarios:
  - number: 1
    name: no-image
    title: no-image
    expected: Running
    expectations:
      - pod_running_in_pool: {namespace: evident-refused, pod: no-image, pool: a100}
"#;
    std::fs::write(&spec, scenario)?;
    let out = tempfile::tempdir()?;
    let run = run_scenario(&spec, out.path(), "refused", &[])?;
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(errors[0].contains("applying Pod no-image"), "{stderr}");
    assert!(stderr.contains("this run creates namespace(s) evident-refused"), "{stderr}");
    assert!(stderr.contains("the run failed; removing what it created"), "{stderr}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("evident-refused").await?.is_none(), "the failed run removed its namespace");
    // The recording was stopped as an error and closed, not lost.
    assert_eq!(stop_reason(&out.path().join("refused"))?, "error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson1_runs_end_to_end_twice_and_a_changed_expectation_fails() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    // A person's gpu-demo, which the first run replaces as asked.
    create_foreign_namespace(&client, "gpu-demo").await?;
    let out = tempfile::tempdir()?;
    let spec = repo_root().join("manifests/scenarios/lesson1.yaml");

    // As `make demo` runs it (--keep), replacing the person's namespace.
    let run = run_scenario(&spec, out.path(), "lesson1", &["--keep", "--replace-namespaces"])?;
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    ensure!(run.status.code() == Some(0), "evident run exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", run.status);
    let pass_rows = stdout.lines().filter(|line| line.starts_with("PASS")).count();
    assert_eq!(pass_rows, 4, "four PASS rows:\n{stdout}");
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
    assert!(stderr.contains("this run creates namespace(s) gpu-demo (label evident.dev/run=lesson1)"), "{stderr}");
    assert!(stderr.contains("deleting namespace gpu-demo and everything in it (--replace-namespaces)"), "{stderr}");

    let run_dir = out.path().join("lesson1");
    let report = read(&run_dir.join("report.md"))?;
    assert!(report.contains("**Result: PASS**"), "{report}");
    assert!(report.contains("Namespace totals: 32 Running, 11 Pending in gpu-demo"), "{report}");
    assert!(report.contains("Insufficient nvidia.com/gpu (9 queue-pressure + cuda-train-16gpu)"), "{report}");
    assert!(report.contains("didn't match Pod's node affinity/selector (cuda-needs-b200)"), "{report}");
    assert!(report.contains("Total: 32 GPUs"), "{report}");
    // The fleet is created while recording, so the note measures the KWOK stamping.
    let stamping = report
        .lines()
        .find(|line| line.contains("kubeletVersion (kwok-v0.7.0) was stamped node by node"))
        .with_context(|| format!("no measured stamping note in:\n{report}"))?;
    assert!(stamping.contains(" ms "), "the note gives measured times: {stamping}");
    let junit = read(&run_dir.join("junit.xml"))?;
    assert!(junit.contains("failures=\"0\""), "{junit}");
    // lesson1.yaml asks `settle.decidable`: the run stopped once every expectation was decidable.
    assert_eq!(stop_reason(&run_dir)?, "settled");
    // Workloads were applied once the nodes could take pods: no refusal blames a node that
    // was still tainted not-ready.
    assert_eq!(refusals_for_not_ready_nodes(&run_dir)?, "", "FailedScheduling blaming a not-ready node");
    // --keep: the namespace stays, the run's now (the person's ConfigMap went with theirs).
    assert_eq!(run_label_of(&client, "gpu-demo").await?.as_deref(), Some("lesson1"));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "gpu-demo");
    assert!(config_maps.get_opt("not-evidents").await?.is_none(), "gpu-demo was replaced");

    // `make demo` again: the namespace the kept run left is evident's, so no flag is needed.
    let again = run_scenario(&spec, out.path(), "lesson1-again", &[])?;
    let (stdout, stderr) = (text(&again.stdout), text(&again.stderr));
    ensure!(
        again.status.code() == Some(0),
        "second run exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        again.status
    );
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
    assert!(stderr.contains("deleting namespace gpu-demo, left by evident run lesson1"), "{stderr}");
    assert_eq!(refusals_for_not_ready_nodes(&out.path().join("lesson1-again"))?, "");
    // Without --keep the run removes what it created: the scenario namespace is gone.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("gpu-demo").await?.is_none(), "evident run without --keep deletes gpu-demo");
    assert!(stderr.contains("removed what this run created (1 namespace(s)"), "{stderr}");

    // The same recording against a spec whose queue-pressure expectation cannot hold.
    let stored = read(&run_dir.join("scenario.yaml"))?;
    let wrong = stored.replacen("Running: 32", "Running: 40", 1);
    ensure!(wrong != stored, "the stored scenario expects `Running: 32`:\n{stored}");
    let wrong_spec = out.path().join("wrong.yaml");
    std::fs::write(&wrong_spec, wrong)?;
    let rerun = evident(&["report".as_ref(), run_dir.as_os_str(), "--scenario".as_ref(), wrong_spec.as_os_str()])?;
    let stdout = text(&rerun.stdout);
    assert_eq!(rerun.status.code(), Some(1), "a failed expectation exits 1:\n{stdout}\n{}", text(&rerun.stderr));
    let fail =
        stdout.lines().find(|line| line.starts_with("FAIL")).with_context(|| format!("a FAIL row:\n{stdout}"))?;
    assert!(fail.contains("queue-pressure"), "{fail}");
    assert!(fail.contains("31 Running"), "the FAIL row shows what was observed: {fail}");
    let junit = read(&run_dir.join("junit.xml"))?;
    assert!(junit.contains("failures=\"1\""), "the JUnit file has the failure: {junit}");
    Ok(())
}

/// `--run-id` names one directory under `--out`: an id that would be `--out` itself (`''`,
/// `.`), its parent (`..`) or a path elsewhere is refused by `record` and `run` alike with one
/// line naming the id, exit 2, before any cluster is contacted and without creating anything.
#[test]
fn run_ids_that_are_not_one_directory_name_are_refused_before_the_cluster() -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let evidence = out.path().join("evidence");
    // No cluster is reached: the kubeconfig does not exist, so a run that got past the run
    // id would fail on it, with another message.
    let kubeconfig = out.path().join("no-such-kubeconfig");
    let spec = repo_root().join("manifests/scenarios/lesson1.yaml");
    for id in ["", ".", "..", "../escaped", "a/b", ".hidden"] {
        for command in ["record", "run"] {
            let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref()];
            if command == "run" {
                args.push(spec.as_os_str());
            }
            args.extend::<[&std::ffi::OsStr; 7]>([
                "--kubeconfig".as_ref(),
                kubeconfig.as_os_str(),
                "--out".as_ref(),
                evidence.as_os_str(),
                "--run-id".as_ref(),
                id.as_ref(),
                "--quiet".as_ref(),
            ]);
            let output = evident(&args)?;
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command} --run-id {id:?}: {stderr}");
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{command} --run-id {id:?}: one line:\n{stderr}");
            assert!(lines[0].starts_with(&format!("error: run id {id:?} ")), "{command} --run-id {id:?}: {stderr}");
            assert!(!evidence.exists(), "{command} --run-id {id:?} created {}", evidence.display());
        }
    }
    Ok(())
}

/// The pid `hack/cluster.sh status` gives for `component` (`  <component>  running (pid N)`).
fn pid_in_status(status: &str, component: &str) -> Option<String> {
    let line = status.lines().find(|line| line.split_whitespace().next() == Some(component))?;
    let pid = line.split("(pid ").nth(1)?.trim_end_matches(')');
    Some(pid.to_string())
}

fn cluster_status() -> anyhow::Result<Output> {
    Command::new("bash")
        .arg(repo_root().join("hack/cluster.sh"))
        .arg("status")
        .output()
        .context("hack/cluster.sh status")
}

/// `--local` on a running cluster whose GPU layer lost a process: the run restarts it (through
/// `hack/cluster.sh up`) and, as it did not create the cluster, leaves it running at its end.
/// (Before, the failed `status` made the run take the cluster for one it brought up, and delete it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_repairs_a_crashed_operator_process_and_leaves_the_running_cluster_up() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    client().await?;
    let before = cluster_status()?;
    let said = text(&before.stderr);
    ensure!(before.status.success(), "the cluster is healthy before the test:\n{said}");
    let apiserver = pid_in_status(&said, "kube-apiserver").context("kube-apiserver's pid in status")?;
    let Some(updater) = pid_in_status(&said, "status-updater") else {
        // GPU_LAYER=manifests: there is no operator process to crash.
        evident_testkit::skip::skip(
            "run_e2e::a_local_run_repairs_a_crashed_operator_process_and_leaves_the_running_cluster_up",
            "the local cluster runs without the fake-gpu-operator (GPU_LAYER=manifests)",
        );
        return Ok(());
    };
    ensure!(Command::new("kill").args(["-KILL", &updater]).status()?.success(), "kill {updater}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{updater}")).exists() {
        ensure!(Instant::now() < deadline, "the status updater {updater} did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }

    let folder = tempfile::tempdir()?;
    std::fs::create_dir_all(folder.path().join("workloads"))?;
    let workload = r#"
apiVersion: v1
kind: Namespace
metadata: {name: evident-local}
---
apiVersion: v1
kind: Pod
metadata: {name: nowhere, namespace: evident-local}
spec:
  nodeSelector: {run.ai/simulated-gpu-node-pool: none-such}
  containers: [{name: main, image: busybox}]
"#;
    std::fs::write(folder.path().join("workloads/nowhere.yaml"), workload)?;
    // One fake node, so the scheduler has a node to refuse (with none it says only "no nodes
    // available").
    let node = r#"
apiVersion: v1
kind: Node
metadata:
  name: evident-local-node
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: evident-local-node}
"#;
    std::fs::write(folder.path().join("node.yaml"), node)?;
    let spec = folder.path().join("local.yaml");
    let scenario = r#"
name: local
title: A pod no node matches
fleet: [node.yaml]
workloads: [workloads/nowhere.yaml]
settle: {quiet_secs: 1, timeout_secs: 60, decidable: true}
scenarios:
  - number: 1
    name: nowhere
    title: nowhere
    expected: "Pending: no matching node"
    expectations:
      - pod_pending_with_cause: {namespace: evident-local, pod: nowhere, cause: "didn't match Pod's node affinity/selector"}
"#;
    std::fs::write(&spec, scenario)?;
    let out = tempfile::tempdir()?;
    let (spec_arg, out_arg) = (spec.as_os_str(), out.path().as_os_str());
    let args: Vec<&std::ffi::OsStr> =
        vec!["run".as_ref(), spec_arg, "--local".as_ref(), "--out".as_ref(), out_arg, "--quiet".as_ref()];
    let run = evident(&args)?;
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "stdout:\n{}\nstderr:\n{stderr}", text(&run.stdout));
    assert!(!stderr.contains("bringing up the local cluster"), "the control plane was running:\n{stderr}");

    let after = cluster_status()?;
    let said = text(&after.stderr);
    assert!(after.status.success(), "the cluster is up and whole after the run:\n{said}");
    assert_eq!(pid_in_status(&said, "kube-apiserver"), Some(apiserver), "the same API server runs on:\n{said}");
    let restarted = pid_in_status(&said, "status-updater");
    assert!(restarted.is_some() && restarted != Some(updater), "the status updater was started again:\n{said}");
    Ok(())
}
