//! Hostile text through the real cluster: an Event created through the API with a hostile
//! message (the API server takes any text there) about a pod with the most hostile label value
//! the API server accepts, recorded by `evident record`, then reported and queried by the real
//! binary. Every sink shows the text as text: one verdict line, the right cells per table row,
//! no raw HTML, JUnit that parses, no terminal control on stdout.

use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, ensure_fleet, exclusive, kubeconfig, wait_for};
use evident_testkit::hostile::HOSTILE;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const NAMESPACE: &str = "evident-hostile";
/// Label values may only hold `[-A-Za-z0-9_.]`: Markdown emphasis is what gets through.
const HOSTILE_LABEL: &str = "x__Result_PASS__.-_y";

fn evident(args: &[&std::ffi::OsStr]) -> anyhow::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(args)
        .env_remove("EVIDENT_QUERIES")
        .env("EVIDENT_LOG", "error")
        .output()
        .context("running evident")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Cells of a Markdown table row, split at `|` not escaped by a backslash.
fn cells(row: &str) -> usize {
    let (mut pipes, mut escaped) = (0usize, false);
    for c in row.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => pipes += 1,
            _ => {}
        }
    }
    pipes.saturating_sub(1)
}

fn assert_terminal_safe(what: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let stdout = text(bytes);
    for c in ['\u{1b}', '\u{9b}', '\u{7}', '\r'] {
        ensure!(!stdout.contains(c), "{what} printed {c:?}: {stdout:?}");
    }
    ensure!(stdout.contains("^[[2J"), "{what} shows the escape sequence as text: {stdout}");
    Ok(())
}

async fn create_hostile_objects(client: &kube::Client) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?)
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    // No scheduler takes it: it stays Pending, and the only FailedScheduling Event is ours.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "hostile-pod", "labels": {"app": HOSTILE_LABEL}},
        "spec": {"schedulerName": "evident-no-such-scheduler",
                 "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}
    }))?;
    let pod = pods.create(&PostParams::default(), &pod).await?;
    let events: Api<Event> = Api::namespaced(client.clone(), NAMESPACE);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "hostile-pod.hostile"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": NAMESPACE, "name": "hostile-pod",
                           "uid": pod.metadata.uid},
        "reason": "FailedScheduling", "message": HOSTILE, "type": "Warning",
        "source": {"component": "default-scheduler"}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }))?;
    let created = events.create(&PostParams::default(), &event).await?;
    ensure!(created.message.as_deref() == Some(HOSTILE), "the API server kept the message as sent");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_event_message_and_label_through_the_cluster_reach_every_sink_as_text() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    ensure_fleet(&client).await?;
    let out = tempfile::tempdir()?;
    let run = out.path().join("hostile");
    let recorder = Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["record", "--quiet", "--run-id", "hostile", "-n", NAMESPACE, "--duration", "8s"])
        .arg("--kubeconfig")
        .arg(kubeconfig()?)
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting evident record")?;
    wait_for("the recording to start", Duration::from_secs(30), || async {
        Ok(if run.join("run.json").is_file() { Ok(()) } else { Err("no run.json yet".to_string()) })
    })
    .await?;
    create_hostile_objects(&client).await?;
    let recorded = recorder.wait_with_output()?;
    ensure!(recorded.status.success(), "evident record: {}", text(&recorded.stderr));
    delete_namespaces(&client, &[NAMESPACE], Duration::from_secs(120)).await?;

    std::fs::write(
        run.join("scenario.yaml"),
        format!(
            "name: hostile\ntitle: Hostile input\nscenarios:\n  - number: 1\n    name: hostile\n    title: hostile pod\n    \
             expected: \"Pending: Insufficient nvidia.com/gpu\"\n    expectations:\n      - pod_pending_with_cause: \
             {{namespace: {NAMESPACE}, pod: hostile-pod, cause: Insufficient nvidia.com/gpu}}\n"
        ),
    )?;
    let report = evident(&["report".as_ref(), run.as_os_str()])?;
    ensure!(report.status.code() == Some(1), "the row fails: {}\n{}", text(&report.stdout), text(&report.stderr));
    assert_terminal_safe("evident report", &report.stdout)?;

    let markdown = std::fs::read_to_string(run.join("report.md"))?;
    let verdicts: Vec<&str> = markdown.lines().filter(|line| line.contains("**Result:")).collect();
    ensure!(verdicts == ["**Result: FAIL** — 0 of 1 expectations passed."], "one verdict line: {verdicts:?}");
    ensure!(!markdown.contains("<img") && markdown.contains("&lt;img src=x"), "no raw HTML:\n{markdown}");
    let lines: Vec<&str> = markdown.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with('|') && (index == 0 || !lines[index - 1].starts_with('|')) {
            for row in lines[index..].iter().take_while(|row| row.starts_with('|')) {
                ensure!(cells(row) == cells(line), "row of the table headed {line}:\n{row}");
            }
        }
    }
    ensure!(!lines.iter().any(|line| line.starts_with("| forged")), "no forged row:\n{markdown}");
    let html = std::fs::read_to_string(run.join("report.html"))?;
    ensure!(!html.contains("<img") && html.contains("&lt;img src=x"), "no raw HTML in report.html");
    let junit = std::fs::read_to_string(run.join("junit.xml"))?;
    let document = roxmltree::Document::parse(&junit).context("junit.xml parses")?;
    let failure = document.descendants().find(|node| node.has_tag_name("failure")).context("a failure")?;
    ensure!(failure.text().is_some_and(|message| message.contains("<img src=x")), "{junit}");
    let describe = std::fs::read_to_string(run.join("describe-pod-evident-hostile_hostile-pod.txt"))?;
    ensure!(describe.contains(HOSTILE_LABEL), "the label is recorded and shown: {describe}");
    ensure!(!describe.contains('\u{1b}') && describe.contains("^[[2J"), "{describe}");

    let sql = format!(
        "SELECT p.name, e.message, p.object FROM events_latest e JOIN pods_latest p ON e.involved_name = p.name WHERE p.namespace = '{NAMESPACE}'"
    );
    let query = evident(&["query".as_ref(), "--run".as_ref(), run.as_os_str(), sql.as_ref()])?;
    ensure!(query.status.success(), "evident query: {}", text(&query.stderr));
    assert_terminal_safe("evident query", &query.stdout)?;
    let table = text(&query.stdout);
    ensure!(table.contains(HOSTILE_LABEL) && table.ends_with("\n1 row\n"), "{table}");
    Ok(())
}
