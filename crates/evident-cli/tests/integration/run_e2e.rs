//! `evident run` end to end on the real local control plane: the lesson-1 scenario is
//! recorded and reported, and the report matches the notebook. Then one expectation is
//! changed so that it must fail, and `evident report` on the same recording exits 1 with a
//! FAIL row.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, exclusive, kubeconfig, repo_root};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson1_runs_end_to_end_and_a_changed_expectation_fails() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    let kubeconfig = kubeconfig()?;
    let out = tempfile::tempdir()?;
    let spec = repo_root().join("manifests/scenarios/lesson1.yaml");

    let run = evident(&[
        "run".as_ref(),
        spec.as_os_str(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
        "--run-id".as_ref(),
        "lesson1".as_ref(),
        "--quiet".as_ref(),
    ])?;
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    ensure!(run.status.code() == Some(0), "evident run exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", run.status);
    let pass_rows = stdout.lines().filter(|line| line.starts_with("PASS")).count();
    assert_eq!(pass_rows, 4, "four PASS rows:\n{stdout}");
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");

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
    // `run` removed what it created: the scenario namespace is gone.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    assert!(namespaces.get_opt("gpu-demo").await?.is_none(), "evident run without --keep deletes gpu-demo");

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
