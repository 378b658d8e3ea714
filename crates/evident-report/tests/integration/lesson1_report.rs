//! The report over a recorded lesson-1 run. Until a real recording is committed, the run is
//! the testkit's replay of the notebook (`evident_testkit::runs::write_lesson1`), written
//! through the recorder's own change store.

use std::path::{Path, PathBuf};

use evident_report::scenario::Expectation;
use evident_report::{Scenario, write_report};

fn lesson1_spec() -> Scenario {
    let spec = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo"))
        .join("../../manifests/scenarios/lesson1.yaml");
    Scenario::load(&spec).expect("the committed lesson1 spec is valid, its manifest files included")
}

fn synthetic_run(root: &Path) -> PathBuf {
    let run = root.join("k8s-synthetic-lesson1");
    evident_testkit::runs::write_lesson1(&run).expect("synthetic run");
    run
}

fn read(run: &Path, name: &str) -> String {
    std::fs::read_to_string(run.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn lesson1_passes_with_the_notebooks_totals_and_causes() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let written = write_report(&run, &lesson1_spec()).await.unwrap();
    let report = &written.report;

    assert_eq!((written.summary.passed, written.summary.failed), (6, 0), "{:#?}", report.rows);
    let observed: Vec<&str> = report.rows.iter().map(|row| row.observed.as_str()).collect();
    assert_eq!(observed[0], "Running on kwok-gpu-a100-1");
    assert!(
        observed[1].starts_with("Pending - 0/7 nodes available: ... 6 Insufficient nvidia.com/gpu"),
        "{observed:?}"
    );
    assert!(
        observed[2]
            .starts_with("Pending - 0/7 nodes available: ... 6 node(s) didn't match Pod's node affinity/selector")
    );
    assert_eq!(observed[3], "31 Running, 9 Pending (the 32nd GPU is held by cuda-batch-small)");

    assert_eq!(report.namespace_totals.len(), 1);
    assert!(
        report.namespace_totals[0]
            .starts_with("Namespace totals: 32 Running, 11 Pending in gpu-demo (9 queue-pressure + cuda-needs-b200 + cuda-train-16gpu)."),
        "{}",
        report.namespace_totals[0]
    );
    let causes: Vec<&str> = report.pending_causes.iter().map(|cause| cause.reason.as_str()).collect();
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert!(
        causes.contains(&"Insufficient nvidia.com/gpu")
            && causes.contains(&"didn't match Pod's node affinity/selector")
    );
    assert_eq!(
        report.causes_sentence.as_deref(),
        Some(
            "The two Pending root causes are distinct and diagnosable from Events alone: \
             Insufficient nvidia.com/gpu (9 queue-pressure + cuda-train-16gpu) vs \
             didn't match Pod's node affinity/selector (cuda-needs-b200)."
        )
    );
    // Why they wait, by class: one sentence each, at the end of the recording.
    assert_eq!(
        report.pending_gpu.sentences,
        [
            "Shape: cuda-train-16gpu asks for 16 GPUs; the largest node it may use has 8: no placement exists on \
             this fleet.",
            "Constraint: cuda-needs-b200 asks for 1 GPU, but its node selector, affinity and tolerations leave it \
             none of the 5 node(s) with GPUs: no amount of free GPUs helps.",
            "Capacity, 9 pods (queue-pressure-6b9f7d8c5d-46wgz, queue-pressure-6b9f7d8c5d-5kfj2, \
             queue-pressure-6b9f7d8c5d-b8z4z and 6 more): for example, queue-pressure-6b9f7d8c5d-46wgz asks for 1 GPU; \
             0 free on the 5 node(s) it may use (0 in the fleet): it waits for GPUs to be released.",
        ]
    );
    assert_eq!(report.fleet.total_gpus, 32);
    assert_eq!(report.fleet.gpu_nodes.len(), 5);
    let gpu_less: Vec<&str> = report.fleet.gpu_less.iter().map(|node| node.name.as_str()).collect();
    assert_eq!(gpu_less, ["evident-control-plane", "evident-worker"]);

    let markdown = read(&run, "report.md");
    for heading in [
        "## Environment",
        "## Simulated fleet",
        "## Scenario results",
        "## Why pods were Pending",
        "## What this run proves",
        "## What this run does NOT prove",
        "## Notes / surprises",
    ] {
        assert!(markdown.contains(heading), "missing {heading}");
    }
    assert!(markdown.contains("| # | Scenario | Expected | Observed | Evidence file | Result |"));
    assert!(markdown.contains(
        "| 4 | queue-pressure (40 replicas vs 32 GPUs) | \\~32 Running, \\~8 Pending | 31 Running, 9 Pending"
    ));
    assert!(markdown.contains("| kwok-gpu-l40s-1 | l40s | 4 |"));
    assert!(markdown.contains("Total: 32 GPUs."));
    assert!(markdown.contains("| KWOK release | kwok-v0.7.0 |"), "{markdown}");
    assert!(markdown.contains("kubeletVersion (kwok-v0.7.0) was stamped node by node"), "{markdown}");
    assert!(markdown.contains("cuda-batch-small landed on kwok-gpu-a100-1"));
    assert!(!markdown.contains("FAIL |"));
    assert!(!markdown.contains("recording has gaps"));

    let junit = read(&run, "junit.xml");
    assert_eq!(junit.matches("<testcase ").count(), 6);
    assert!(!junit.contains("<failure"));

    let pods = read(&run, "pods-gpu-demo.txt");
    let mut lines = pods.lines();
    assert!(lines.next().unwrap().starts_with("# derived from recording k8s-synthetic-lesson1 at "));
    let header: Vec<&str> = lines.next().unwrap().split("   ").filter(|c| !c.is_empty()).map(str::trim).collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    );
    assert_eq!(lines.clone().count(), 43, "43 pods in gpu-demo");
    assert_eq!(pods.lines().filter(|line| line.contains(" Running ")).count(), 32);

    let allocatable = read(&run, "gpu-allocatable.txt");
    assert!(allocatable.contains("\nNAME                    GPU\n"), "{allocatable}");
    assert!(allocatable.contains("\nevident-worker          <none>\n"));

    let pending = read(&run, "pending-pods.txt");
    assert_eq!(pending.lines().filter(|line| line.starts_with("gpu-demo ")).count(), 11);

    let describe = read(&run, "describe-pod-gpu-demo_cuda-train-16gpu.txt");
    assert!(describe.contains("\nStatus:           Pending\n"), "{describe}");
    assert!(describe.contains("nvidia.com/gpu:  16"), "{describe}");
    let event = describe.lines().find(|line| line.contains("FailedScheduling")).expect("an Events row");
    assert!(event.contains("Warning") && event.contains("default-scheduler"));
    assert!(event.contains("0/7 nodes are available: 1 node(s) had untolerated taint"), "verbatim message: {event}");
    let describe_files = std::fs::read_dir(&run)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().starts_with("describe-pod-"))
        .count();
    assert_eq!(describe_files, 11, "one describe file per Pending pod");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_expectation_fails_its_row_and_the_junit_case() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let mut scenario = lesson1_spec();
    let Expectation::PhaseCounts { counts, .. } = &mut scenario.scenarios[3].expectations[0] else {
        panic!("row 4 checks phase counts")
    };
    counts.insert("Running".into(), 20);
    let written = write_report(&run, &scenario).await.unwrap();
    assert_eq!((written.summary.passed, written.summary.failed), (5, 1));
    assert!(!written.summary.all_passed());
    let failed: Vec<u32> = written.report.rows.iter().filter(|row| !row.passed()).map(|row| row.number).collect();
    assert_eq!(failed, [4]);

    let markdown = read(&run, "report.md");
    let row = markdown.lines().find(|line| line.starts_with("| 4 |")).unwrap();
    assert!(row.ends_with("| FAIL |"), "{row}");
    assert!(markdown.contains("**Result: FAIL** — 5 of 6 expectations passed."));
    let junit = read(&run, "junit.xml");
    assert_eq!(junit.matches("<failure").count(), 1);
    assert!(junit.contains("observed: 31 Running, 9 Pending"), "{junit}");
    assert!(junit.contains("failures=\"1\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_gaps_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let manifest_path = run.join("run.json");
    let mut manifest: evident_core::run_manifest::RunManifest =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest.gaps.push(evident_core::run_manifest::Gap {
        kind: "Pod".into(),
        epoch: 2,
        from: "2026-06-14T15:40:01Z".into(),
        to: "2026-06-14T15:40:03Z".into(),
        reason: "410 Gone".into(),
        tombstones: 1,
    });
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let written = write_report(&run, &lesson1_spec()).await.unwrap();
    assert_eq!(written.report.gaps.len(), 1);
    let markdown = read(&run, "report.md");
    assert!(markdown.contains("**Warning: the recording has gaps.**"));
    assert!(
        markdown
            .contains("Pod watch relisted (epoch 2) between 2026-06-14T15:40:01Z and 2026-06-14T15:40:03Z: 410 Gone")
    );
    assert!(read(&run, "report.html").contains("id=\"gaps\""));
}
