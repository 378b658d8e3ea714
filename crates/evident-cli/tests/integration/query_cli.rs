//! `evident query` as a user runs it: the real binary over the committed synthetic sample and
//! over damaged copies of it. Errors must be one line on stderr, exit code 2, nothing written.

use crate::evident_at;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo")).join("../..")
}

fn sample() -> PathBuf {
    repo().join("evidence/sample-synthetic")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a failure: exit 2, nothing on stdout, one `error:` line mentioning every `needle`.
fn assert_one_line_error(output: &Output, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout: {}", text(&output.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} missing from: {stderr}");
    }
}

/// A copy of the sample run in a temporary folder, to damage.
fn copy_of_sample() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("sample-copy");
    copy_dir(&sample(), &run);
    (dir, run)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn pods_segment(run: &Path) -> PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(run.join("pods")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.remove(0)
}

#[test]
fn a_named_query_file_prints_its_expected_table() {
    let run = sample();
    let output = evident_at(&["query", "--run", run.to_str().unwrap(), "-f", "queries/fleet.sql"], &repo());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected = std::fs::read_to_string(repo().join("queries/expected/sample-synthetic/fleet.txt")).unwrap();
    assert_eq!(text(&output.stdout), expected);
}

#[test]
fn named_queries_are_built_in_and_found_by_name_anywhere() {
    let elsewhere = tempfile::tempdir().unwrap();
    let run = sample();
    let by_name = evident_at(&["query", "--run", run.to_str().unwrap(), "-f", "queue_pressure"], elsewhere.path());
    assert!(by_name.status.success(), "{}", text(&by_name.stderr));
    let expected =
        std::fs::read_to_string(repo().join("queries/expected/sample-synthetic/queue_pressure.txt")).unwrap();
    assert_eq!(text(&by_name.stdout), expected);

    let list = evident_at(&["query", "--list"], elsewhere.path());
    assert!(list.status.success());
    let listing = text(&list.stdout);
    for file in std::fs::read_dir(repo().join("queries")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "sql") {
            let sql = std::fs::read_to_string(&path).unwrap();
            let description = sql.lines().next().unwrap().trim_start_matches("--").trim();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                listing.lines().any(|line| line.starts_with(&name) && line.contains(description)),
                "--list shows {name} with its description:\n{listing}"
            );
        }
    }
}

#[test]
fn default_run_is_the_newest_under_evidence() {
    let folder = tempfile::tempdir().unwrap();
    let evidence = folder.path().join("evidence");
    copy_dir(&sample(), &evidence.join("older"));
    copy_dir(&sample(), &evidence.join("newer"));
    let manifest = evidence.join("newer/run.json");
    let text_before = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text_before.replace("2026-06-14T15:39:51Z", "2026-06-15T08:00:00Z")).unwrap();
    let nested = folder.path().join("some/sub/dir");
    std::fs::create_dir_all(&nested).unwrap();
    let output = evident_at(&["query", "--format", "csv", "SELECT run_id FROM run"], &nested);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "run_id\nnewer\n");
}

#[test]
fn formats_csv_json_and_parquet() {
    let run = sample();
    let run = run.to_str().unwrap();
    let sql = "SELECT name, gpu_allocatable FROM nodes_latest WHERE pool = 'h100'";
    let csv = evident_at(&["query", "--run", run, "--format", "csv", sql], &repo());
    assert_eq!(text(&csv.stdout), "name,gpu_allocatable\nkwok-gpu-h100-0,8\n");
    let json = evident_at(&["query", "--run", run, "--format", "json", sql], &repo());
    assert_eq!(text(&json.stdout), "[{\"name\":\"kwok-gpu-h100-0\",\"gpu_allocatable\":8}]\n");

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("h100.parquet");
    let parquet =
        evident_at(&["query", "--run", run, "--format", "parquet", "-o", file.to_str().unwrap(), sql], &repo());
    assert!(parquet.status.success(), "{}", text(&parquet.stderr));
    let back = evident_at(
        &["query", "--run", run, "--format", "csv", &format!("SELECT * FROM '{}'", file.display())],
        &repo(),
    );
    assert_eq!(text(&back.stdout), "name,gpu_allocatable\nkwok-gpu-h100-0,8\n", "{}", text(&back.stderr));

    let no_output = evident_at(&["query", "--run", run, "--format", "parquet", sql], &repo());
    assert_one_line_error(&no_output, &["--output"]);
}

#[test]
fn sql_from_stdin() {
    let run = sample();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["query", "--run", run.to_str().unwrap(), "--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"SELECT COUNT(*) AS nodes FROM nodes_latest;\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(text(&output.stdout), "nodes\n7\n");
}

#[test]
fn bad_sql_is_one_line_and_writes_nothing() {
    let run = sample();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("result.csv");
    let output = evident_at(
        &[
            "query",
            "--run",
            run.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            target.to_str().unwrap(),
            "SELEC name FROM pods",
        ],
        &repo(),
    );
    assert_one_line_error(&output, &["SELEC"]);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");

    let unknown = evident_at(&["query", "--run", run.to_str().unwrap(), "SELECT * FROM secrets"], &repo());
    assert_one_line_error(&unknown, &["secrets"]);
}

#[test]
fn a_missing_run_is_one_line() {
    let output = evident_at(&["query", "--run", "/nonexistent/run-dir", "SELECT 1"], &repo());
    assert_one_line_error(&output, &["/nonexistent/run-dir", "does not exist"]);
    let not_a_run = tempfile::tempdir().unwrap();
    let output = evident_at(&["query", "--run", not_a_run.path().to_str().unwrap(), "SELECT 1"], &repo());
    assert_one_line_error(&output, &["run.json"]);
}

#[test]
fn an_empty_run_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-20260614-160000");
    std::fs::create_dir_all(run.join("pods")).unwrap();
    std::fs::write(run.join("run.json"), r#"{"run_id": "k8s-20260614-160000", "started_at": "2026-06-14T16:00:00Z"}"#)
        .unwrap();
    std::fs::write(run.join("pods/part-00000000000000000000.parquet.inprogress"), b"PAR1 half written").unwrap();
    let output = evident_at(&["query", "--run", run.to_str().unwrap(), "SELECT 1"], &repo());
    assert_one_line_error(&output, &["has no Parquet segments", "evident recover"]);
}

#[test]
fn a_truncated_segment_is_named() {
    let (_dir, run) = copy_of_sample();
    let segment = pods_segment(&run);
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let output = evident_at(&["query", "--run", run.to_str().unwrap(), "SELECT 1"], &repo());
    assert_one_line_error(&output, &[segment.to_str().unwrap(), "truncated or corrupt"]);
}

#[test]
fn a_corrupt_page_is_named() {
    let (_dir, run) = copy_of_sample();
    let segment = pods_segment(&run);
    let mut bytes = std::fs::read(&segment).unwrap();
    // Damage the data pages but leave the footer intact: the run opens, the scan fails.
    let start = 4;
    let end = bytes.len() / 2;
    for byte in &mut bytes[start..end] {
        *byte ^= 0x5a;
    }
    std::fs::write(&segment, &bytes).unwrap();
    let output =
        evident_at(&["query", "--run", run.to_str().unwrap(), "SELECT name, phase, object FROM pods"], &repo());
    assert_one_line_error(&output, &[segment.to_str().unwrap(), "corrupt"]);
}

#[test]
fn in_progress_segments_are_never_read() {
    let (_dir, run) = copy_of_sample();
    std::fs::write(run.join("pods/part-99999999999999999999.parquet.inprogress"), b"not parquet at all").unwrap();
    let output = evident_at(
        &["query", "--run", run.to_str().unwrap(), "--format", "csv", "SELECT COUNT(*) AS n FROM pods"],
        &repo(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let baseline = evident_at(
        &["query", "--run", sample().to_str().unwrap(), "--format", "csv", "SELECT COUNT(*) AS n FROM pods"],
        &repo(),
    );
    assert_eq!(text(&output.stdout), text(&baseline.stdout));
}

#[test]
fn named_queries_come_from_the_binary_unless_a_folder_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    std::fs::write(queries.join("fleet.sql"), "-- a stray fleet\nSELECT 'stray' AS node").unwrap();
    let run = sample();
    let run = run.to_str().unwrap();

    let built_in = evident_at(&["query", "--run", run, "-f", "fleet"], dir.path());
    assert_eq!(built_in.status.code(), Some(0), "{}", text(&built_in.stderr));
    assert!(!text(&built_in.stdout).contains("stray"), "a queries/ folder in the working directory is not used");
    let listed = text(&evident_at(&["query", "--list"], dir.path()).stdout);
    assert!(listed.lines().any(|line| line.starts_with("fleet ") && line.ends_with("(built in)")), "{listed}");

    let flag = evident_at(&["query", "--run", run, "--queries", queries.to_str().unwrap(), "-f", "fleet"], dir.path());
    assert_eq!(flag.status.code(), Some(0), "{}", text(&flag.stderr));
    assert!(text(&flag.stdout).contains("| stray |"), "{}", text(&flag.stdout));

    // A path to a file is that file, flag or not.
    let file = evident_at(&["query", "--run", run, "-f", "queries/fleet.sql"], dir.path());
    assert_eq!(file.status.code(), Some(0), "{}", text(&file.stderr));
    assert!(text(&file.stdout).contains("| stray |"), "{}", text(&file.stdout));
}
