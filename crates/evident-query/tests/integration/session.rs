//! The session's tables, views and functions over a synthetic lesson-1 run, checked against
//! what the scenario did (not against a stored output).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use evident_query::run::RunError;
use evident_query::{Error, RunSet, Session, named_query};
use evident_testkit::runs;

fn lesson1() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    runs::write_lesson1(&dir.path().join("lesson1")).unwrap();
    dir
}

async fn session_over(run: &Path) -> Session {
    Session::new(&RunSet::open_run(run).unwrap()).await.unwrap()
}

/// The rows of a one-column or two-column result as strings, for readable assertions.
fn strings(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<_> = batch.columns().iter().map(|c| cast(c, &DataType::Utf8).unwrap()).collect();
        for row in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .map(
                        |c| {
                            if c.is_null(row) {
                                "NULL".to_string()
                            } else {
                                c.as_string::<i32>().value(row).to_string()
                            }
                        },
                    )
                    .collect(),
            );
        }
    }
    rows
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    let column = cast(batches[0].column(0), &DataType::Int64).unwrap();
    column.as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn latest_views_follow_the_scenario() {
    let dir = lesson1();
    let session = session_over(&dir.path().join("lesson1")).await;
    let phases = session
        .sql("SELECT phase, CAST(COUNT(*) AS VARCHAR) FROM pods_latest WHERE namespace = 'gpu-demo' GROUP BY phase ORDER BY phase")
        .await
        .unwrap();
    assert_eq!(strings(&phases), [["Pending", "11"], ["Running", "32"]]);
    let deleted = session.sql("SELECT COUNT(*) FROM pods_latest WHERE name = 'smoke-test'").await.unwrap();
    assert_eq!(single_i64(&deleted), 0, "a deleted pod is not in the latest state");
    let logged = session.sql("SELECT COUNT(*) FROM pods WHERE name = 'smoke-test'").await.unwrap();
    assert_eq!(single_i64(&logged), 4, "the change log keeps every row of it (ADDED, bound, Running, DELETED)");
    let placed = session.sql("SELECT node_name FROM pods_latest WHERE name = 'cuda-batch-small'").await.unwrap();
    assert_eq!(strings(&placed), [["kwok-gpu-a100-1"]]);
    let runs = session.sql("SELECT run_id, server_version, kwok_version FROM run").await.unwrap();
    assert_eq!(strings(&runs), [["lesson1", "v1.36.1", "kwok-v0.7.0"]]);
}

#[tokio::test]
async fn state_at_replays_the_log() {
    let dir = lesson1();
    let session = session_over(&dir.path().join("lesson1")).await;
    let count = |sql: &'static str| {
        let session = session.clone();
        async move { single_i64(&session.sql(sql).await.unwrap()) }
    };
    assert_eq!(count("SELECT COUNT(*) FROM state_at('pods', '+0s')").await, 0, "no pod exists at the start");
    assert_eq!(count("SELECT COUNT(*) FROM state_at('pods', '+14s')").await, 3, "the three cuda pods exist at 14 s");
    assert_eq!(
        count("SELECT COUNT(*) FROM state_at('Pod', '2026-06-14T15:40:05Z')").await,
        3,
        "a timestamp is the same moment"
    );
    assert_eq!(count("SELECT COUNT(*) FROM state_at('pods', '37s') WHERE name = 'smoke-test'").await, 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM state_at('pods', '41000ms') WHERE name = 'smoke-test'").await,
        0,
        "deleted by then"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM state_at('nodes', '+1s') WHERE kubelet_version IS NOT NULL").await,
        0,
        "no node is stamped after 1 s"
    );
    assert_eq!(count("SELECT COUNT(*) FROM state_at('nodes', '+10s') WHERE kubelet_version IS NOT NULL").await, 7);
    let latest = count("SELECT COUNT(*) FROM pods_latest").await;
    assert_eq!(
        count("SELECT COUNT(*) FROM state_at('pods', '+1h')").await,
        latest,
        "after the end it is the latest state"
    );
    let error = session.sql("SELECT * FROM state_at('pods', 'yesterday')").await.unwrap_err().to_string();
    assert!(error.contains("'yesterday' is neither an RFC 3339 timestamp"), "{error}");
    let error = session.sql("SELECT * FROM state_at('secrets', '+1s')").await.unwrap_err().to_string();
    assert!(error.contains("unknown kind 'secrets'"), "{error}");
}

/// An offset that takes the run's start past what a timestamp holds is refused by name; it
/// used to wrap around into a moment before the run, which holds no rows.
#[tokio::test]
async fn state_at_refuses_moments_past_what_a_timestamp_holds() {
    let dir = lesson1();
    let session = session_over(&dir.path().join("lesson1")).await;
    // 2 500 000 h is 9.0e18 ns: an i64 alone, but not added to the start (1.78e18 ns).
    let error = session.sql("SELECT * FROM state_at('pods', '+2500000h')").await.unwrap_err().to_string();
    assert!(error.contains("after the start of run lesson1 is past 2262-04-11"), "{error}");
    let error = session.sql("SELECT * FROM state_at('pods', '1600-01-01T00:00:00Z')").await.unwrap_err().to_string();
    assert!(error.contains("outside the times a recording can hold"), "{error}");
}

#[tokio::test]
async fn scheduling_reasons_splits_pending_messages() {
    let dir = lesson1();
    let session = session_over(&dir.path().join("lesson1")).await;
    let sql = &named_query("pending_causes").unwrap().sql;
    let rows = strings(&session.sql(sql).await.unwrap());
    let of = |pod: &str| -> Vec<(String, String)> {
        rows.iter().filter(|row| row[2] == pod).map(|row| (row[3].clone(), row[4].clone())).collect()
    };
    let pair = |reason: &str, nodes: &str| (reason.to_string(), nodes.to_string());
    assert_eq!(
        of("cuda-train-16gpu"),
        [pair("Insufficient nvidia.com/gpu", "6"), pair("node(s) had untolerated taint(s)", "1")]
    );
    assert_eq!(
        of("cuda-needs-b200"),
        [pair("node(s) didn't match Pod's node affinity/selector", "6"), pair("node(s) had untolerated taint(s)", "1")]
    );
    assert_eq!(rows.len(), 2 * 11, "two reasons for each of the 11 Pending pods");
    assert!(rows.iter().all(|row| row[5] == "7"), "every message names 0/7 nodes");
}

#[tokio::test]
async fn a_folder_of_runs_gains_run_ids() {
    let folder = tempfile::tempdir().unwrap();
    runs::write_lesson1(&folder.path().join("run-a")).unwrap();
    runs::write_lesson1(&folder.path().join("run-b")).unwrap();
    std::fs::create_dir_all(folder.path().join("run-empty")).unwrap();
    std::fs::write(folder.path().join("run-empty/run.json"), "{}").unwrap();
    let session = Session::new(&RunSet::open_runs(folder.path()).unwrap()).await.unwrap();
    let fleet = session.sql(&named_query("fleet").unwrap().sql).await.unwrap();
    let rows = strings(&fleet);
    assert_eq!(rows.len(), 14, "7 nodes per run, two runs (the empty one skipped)");
    assert!(rows.iter().all(|row| row[4] == "32"), "each run's fleet is 32 GPUs on its own");
    let offsets = session
        .sql("SELECT run_id, COUNT(*) FROM state_at('pods', '+14s') GROUP BY run_id ORDER BY run_id")
        .await
        .unwrap();
    assert_eq!(strings(&offsets), [["run-a", "3"], ["run-b", "3"]], "an offset counts from each run's own start");
}

#[test]
fn a_truncated_segment_is_named() {
    let dir = lesson1();
    let run = dir.path().join("lesson1");
    let segment = first_segment(&run, "pods");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() / 2]).unwrap();
    match RunSet::open_run(&run) {
        Err(RunError::CorruptSegment { path, .. }) => assert_eq!(path, segment),
        other => panic!("expected a corrupt segment error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_sql_is_one_error() {
    let dir = lesson1();
    let session = session_over(&dir.path().join("lesson1")).await;
    let error = Error::from(session.sql("SELEC nonsense").await.unwrap_err()).to_string();
    assert!(!error.contains('\n') && !error.is_empty(), "{error}");
    let error = session.sql("SELECT * FROM no_such_table").await.unwrap_err().to_string();
    assert!(error.contains("no_such_table"), "{error}");
    let error = session.sql("COPY (SELECT 1) TO '/tmp/x.parquet'").await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("dml"), "writing statements are refused: {error}");
}

fn first_segment(run: &Path, table: &str) -> PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(run.join(table)).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.remove(0)
}

fn read_all(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(Result::unwrap).collect()
}

/// Every file of a run directory, relative to it, sorted.
fn files_of(run: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    walk(run, run, &mut files);
    files.sort();
    files
}

/// A Parquet file's key/value footer metadata as a map (the writer lists it in the arbitrary
/// order of the Arrow schema's `HashMap`, so its bytes vary between two identical writes).
fn footer_metadata(path: &Path) -> std::collections::BTreeMap<String, Option<String>> {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let pairs = builder.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    // ARROW:schema is the same schema serialised with that order; the batches compare it.
    pairs.into_iter().filter(|pair| pair.key != "ARROW:schema").map(|pair| (pair.key, pair.value)).collect()
}

/// The committed sample is what the generator writes today, so regenerating it is a no-op
/// unless the generator, the recorder's store or the schema changed (then: `gen_run
/// --sample` and re-bless). The generator writes through the store with fixed times and ids:
/// `run.json` must match byte for byte (it lists every segment's size, so a change of any
/// encoding shows there), and each segment must hold the same rows, schema and footer
/// metadata.
#[test]
fn committed_synthetic_sample_is_reproducible() {
    const REGENERATE: &str =
        "regenerate with `cargo run -p evident-testkit --example gen_run -- --sample --out evidence/sample-synthetic`";
    let committed = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo"))
        .join("../../evidence/sample-synthetic");
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("sample-synthetic");
    runs::write_lesson1(&fresh).unwrap();
    let files = files_of(&fresh);
    assert_eq!(files_of(&committed), files, "the files of the run; {REGENERATE}");
    assert_eq!(files.len(), 4, "run.json and 3 segments: {files:?}");
    for file in &files {
        let (old, new) = (committed.join(file), fresh.join(file));
        if file.extension().is_some_and(|extension| extension == "parquet") {
            assert_eq!(
                read_all(&old),
                read_all(&new),
                "{} differs from the generator's output; {REGENERATE}",
                file.display()
            );
            assert_eq!(footer_metadata(&old), footer_metadata(&new), "{} footer; {REGENERATE}", file.display());
        } else {
            assert_eq!(
                std::fs::read_to_string(&old).unwrap(),
                std::fs::read_to_string(&new).unwrap(),
                "{} differs from the generator's output; {REGENERATE}",
                file.display()
            );
        }
    }
}
