//! `evident report` as a user runs it: the real binary over a synthetic lesson-1 run
//! (evident-query's replay of the notebook in the recorder's on-disk layout).

use crate::evident_at;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spec_text() -> String {
    let spec = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo"))
        .join("../../manifests/scenarios/lesson1.yaml");
    std::fs::read_to_string(spec).unwrap()
}

fn synthetic_run(root: &Path) -> PathBuf {
    let run = root.join("k8s-synthetic-lesson1");
    evident_testkit::runs::write_lesson1(&run).unwrap();
    run
}

fn evident(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evident")).args(args).env("EVIDENT_LOG", "error").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn report_uses_the_scenario_stored_in_the_run_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    std::fs::write(run.join("scenario.yaml"), spec_text()).unwrap();
    let output = evident(&["report".as_ref(), run.as_os_str()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", text(&output.stderr));
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
    assert_eq!(stdout.lines().filter(|line| line.starts_with("PASS ")).count(), 4);
    for file in
        ["report.md", "report.html", "junit.xml", "pods-gpu-demo.txt", "pending-pods.txt", "gpu-allocatable.txt"]
    {
        assert!(run.join(file).is_file(), "{file} written");
    }
}

#[test]
fn a_failing_expectation_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let failing = dir.path().join("failing.yaml");
    let spec = spec_text();
    assert!(spec.contains("counts: {Running: 32, Pending: 8}"));
    std::fs::write(&failing, spec.replace("counts: {Running: 32, Pending: 8}", "counts: {Running: 40, Pending: 0}"))
        .unwrap();
    let output = evident(&["report".as_ref(), run.as_os_str(), "--scenario".as_ref(), failing.as_os_str()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", text(&output.stderr));
    assert!(stdout.contains("5 passed, 1 failed"), "{stdout}");
    assert!(stdout.lines().any(|line| line.starts_with("FAIL  4. queue-pressure")), "{stdout}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure").count(), 1);
}

#[test]
fn a_run_without_scenario_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let output = evident(&["report".as_ref(), run.as_os_str()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: run ")
            && stderr.contains("has no scenario.yaml: pass the scenario spec with --scenario"),
        "{stderr}"
    );
    assert!(!run.join("report.md").exists());
}

#[test]
fn an_invalid_spec_names_each_problem_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    let bad = dir.path().join("bad.yaml");
    let spec =
        spec_text().replacen("settle:\n", "colour: red\nsettle:\n", 1).replace("pod_running_in_pool:", "pod_flying:");
    std::fs::write(&bad, spec).unwrap();
    let output = evident(&["report".as_ref(), run.as_os_str(), "--scenario".as_ref(), bad.as_os_str()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines.iter().all(|line| line.starts_with("error: ") && line.contains("bad.yaml: ")), "{stderr}");
    assert!(lines[0].contains("unknown field `colour`"));
    assert!(lines[1].contains("unknown expectation kind \"pod_flying\""));
}

/// A `queries/fleet.sql` that claims a fleet of 99 GPUs on one node.
fn stray_queries(root: &Path) -> PathBuf {
    let queries = root.join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    std::fs::write(
        queries.join("fleet.sql"),
        "-- a stray fleet: one node of 99 GPUs\nSELECT run_id, name AS node, pool, CAST(99 AS BIGINT) AS gpus, \
         CAST(99 AS BIGINT) AS fleet_gpus, taints FROM nodes_latest WHERE name = 'kwok-gpu-a100-0' ORDER BY node",
    )
    .unwrap();
    queries
}

#[test]
fn a_stray_queries_folder_does_not_change_the_report_and_the_flag_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run(dir.path());
    std::fs::write(run.join("scenario.yaml"), spec_text()).unwrap();
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    let stray = dir.path().join("stray");
    let queries = stray_queries(&stray);

    let output = evident_at(&["report".as_ref(), run.as_os_str()], &clean);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    let built_in = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(built_in.contains("Total: 32 GPUs."), "{built_in}");

    let output = evident_at(&["report".as_ref(), run.as_os_str()], &stray);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    let from_stray_dir = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert_eq!(from_stray_dir, built_in, "the working directory's queries/ plays no part");

    let output = evident_at(&["report".as_ref(), run.as_os_str(), "--queries".as_ref(), queries.as_os_str()], &clean);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    let overridden = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(overridden.contains("Total: 99 GPUs."), "{overridden}");
    let row = overridden.lines().find(|line| line.starts_with("| Named queries |")).expect("an Environment row");
    assert!(row.contains("overridden by --queries") && row.contains(": fleet (the others built in)"), "{row}");
    assert!(overridden.contains("This report ran named queries from"), "{overridden}");
    assert!(text(&output.stderr).contains("replaced the built-in ones"), "{}", text(&output.stderr));

    let missing = dir.path().join("absent");
    let output = evident_at(&["report".as_ref(), run.as_os_str(), "--queries".as_ref(), missing.as_os_str()], &clean);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

/// The lesson-1 spec with a fifth row about the hostile pod, so its Event message is observed.
fn hostile_spec_text() -> String {
    spec_text()
        + "\n  - number: 5\n    name: hostile\n    title: hostile pod\n    expected: \"Pending: Insufficient nvidia.com/gpu\"\n    \
           expectations:\n      - pod_pending_with_cause: {namespace: gpu-demo, pod: ../hostile-pod, cause: Insufficient nvidia.com/gpu}\n"
}

/// What a terminal must not receive: ESC, C1 CSI, BEL, CR.
fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let stdout = text(bytes);
    for c in ['\u{1b}', '\u{9b}', '\u{7}', '\r'] {
        assert!(!stdout.contains(c), "{what} printed {c:?}: {stdout:?}");
    }
    assert!(stdout.contains("^[[2J"), "{what} shows the escape sequence as text: {stdout}");
}

#[test]
fn hostile_text_is_shown_on_the_terminal_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-synthetic-hostile");
    evident_testkit::hostile::write_lesson1_hostile(&run).unwrap();
    std::fs::write(run.join("scenario.yaml"), hostile_spec_text()).unwrap();

    let output = evident(&["report".as_ref(), run.as_os_str()]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", text(&output.stderr));
    assert_terminal_safe("evident report", &output.stdout);
    let stdout = text(&output.stdout);
    let rows: Vec<&str> =
        stdout.lines().filter(|line| line.starts_with("PASS ") || line.starts_with("FAIL ")).collect();
    assert_eq!(rows.len(), 5, "one line per row, whatever the message holds: {stdout}");
    assert!(rows[4].starts_with("FAIL  5. hostile pod"), "{stdout}");

    let sql = "SELECT involved_name, message FROM events WHERE involved_name = '../hostile-pod'";
    let output = evident(&["query".as_ref(), "--run".as_ref(), run.as_os_str(), sql.as_ref()]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert_terminal_safe("evident query", &output.stdout);
    let table = text(&output.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "borders, header, one row, count: {table}");
    assert!(lines.iter().take(5).all(|line| line.chars().count() == lines[0].chars().count()), "aligned: {table}");
}
