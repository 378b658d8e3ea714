//! `evident report` as a user runs it: the real binary over a synthetic lesson-1 run
//! (evident-query's replay of the notebook in the recorder's on-disk layout).

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
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
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
    assert!(stdout.contains("3 passed, 1 failed"), "{stdout}");
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
