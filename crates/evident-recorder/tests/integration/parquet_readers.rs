//! The segments are plain Parquet: DataFusion reads them back, through its low-level
//! reader and through SQL, with row counts equal to the manifest's and the schema of
//! `evident_core::schema`; and three readers (DataFusion, which evident's queries use, pyarrow
//! and DuckDB, through `tests/duckdb/read_segments.py`) see the same value in every column of
//! every row, whose typed columns say what the row's JSON object says.
//!
//! The pyarrow/DuckDB comparison needs a Python with both: `$EVIDENT_PYTHON` (`make test` sets
//! it from `hack/python-env.sh`), else `python3`; without them it fails, saying so, unless
//! `EVIDENT_SKIP_DUCKDB=1` (a visible skip, see `evident_testkit::skip`).

use crate::common;

use std::path::Path;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use evident_core::Kind;
use evident_recorder::{ChangeStore, StoreConfig};
use evident_testkit::objects::SyntheticCluster;
use serde_json::{Map, Value};

/// Receipt times with sub-microsecond parts, so a reader that kept only µs would differ.
const FIRST_OBSERVED_NS: i64 = 1_781_451_591_000_000_000;

fn recorded_run(dir: &std::path::Path) -> (std::path::PathBuf, evident_core::run_manifest::RunManifest) {
    let run = dir.join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default().with_segment_max_rows(700)).unwrap();
    let mut cluster = SyntheticCluster::new(150, 11);
    for seq in 0..3_000i64 {
        let change = cluster.next_change();
        let observed_at = FIRST_OBSERVED_NS + seq * 1_234_567;
        store.append(change.kind, change.op, 1, observed_at, &change.object.to_string()).unwrap();
    }
    let manifest = store.close("duration").unwrap();
    (run, manifest)
}

#[test]
fn the_low_level_reader_sees_the_manifest_row_counts_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = recorded_run(dir.path());
    assert_eq!(common::row_counts(&run), manifest.row_counts);
    assert_eq!(manifest.row_counts.values().sum::<u64>(), 3_000);
    assert!(manifest.row_counts.values().all(|rows| *rows > 0), "{:?}", manifest.row_counts);
    for segment in &manifest.segments {
        let batches = common::read_segment(&run.join(&segment.path));
        let kind = Kind::from_table(&segment.table).unwrap();
        let expected = evident_core::schema::schema(kind);
        for batch in &batches {
            assert_eq!(batch.schema().fields(), expected.fields(), "{}", segment.path);
        }
        let file = std::fs::File::open(run.join(&segment.path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for (key, value) in expected.metadata() {
            assert_eq!(reader.schema().metadata().get(key), Some(value), "{key} in {}", segment.path);
        }
        let footer = reader.metadata().file_metadata().key_value_metadata().unwrap();
        let first_seq = footer.iter().find(|kv| kv.key == "evident.first_seq").and_then(|kv| kv.value.clone());
        assert_eq!(first_seq, Some(segment.first_seq.to_string()));
        assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), segment.rows);
        assert_eq!(std::fs::metadata(run.join(&segment.path)).unwrap().len(), segment.bytes);
    }
}

#[tokio::test]
async fn datafusion_sql_counts_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = recorded_run(dir.path());
    let ctx = SessionContext::new();
    for kind in Kind::ALL {
        let path = run.join(kind.table());
        ctx.register_parquet(kind.table(), path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
        let batches =
            ctx.sql(&format!("SELECT count(*) AS n FROM {}", kind.table())).await.unwrap().collect().await.unwrap();
        let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        assert_eq!(count as u64, manifest.row_counts[kind.table()], "{}", kind.table());
    }
}

/// Every row of `table` as DataFusion's SQL reads it, in seq order, with the values
/// `read_segments.py` prints: timestamps as ns, integers, booleans, strings, null.
async fn datafusion_rows(run: &Path, table: &str) -> Vec<Map<String, Value>> {
    let ctx = SessionContext::new();
    let path = run.join(table);
    ctx.register_parquet(table, path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let batches = ctx.sql(&format!("SELECT * FROM {table} ORDER BY seq")).await.unwrap().collect().await.unwrap();
    batches.iter().flat_map(json_rows).collect()
}

fn json_rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    let columns: Vec<(String, Vec<Value>)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| (field.name().clone(), json_values(column.as_ref())))
        .collect();
    (0..batch.num_rows())
        .map(|row| columns.iter().map(|(name, values)| (name.clone(), values[row].clone())).collect())
        .collect()
}

fn json_values(column: &dyn Array) -> Vec<Value> {
    let values: Vec<Value> = match column.data_type() {
        DataType::Boolean => column.as_boolean().iter().map(|value| value.map_or(Value::Null, Value::from)).collect(),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let strings = cast(column, &DataType::Utf8).unwrap();
            strings.as_string::<i32>().iter().map(|value| value.map_or(Value::Null, Value::from)).collect()
        }
        DataType::UInt64 | DataType::UInt32 | DataType::Int64 | DataType::Int32 | DataType::Timestamp(..) => {
            let numbers = cast(column, &DataType::Int64).unwrap();
            numbers.as_primitive::<Int64Type>().iter().map(|value| value.map_or(Value::Null, Value::from)).collect()
        }
        other => panic!("no JSON form for a {other} column"),
    };
    values
}

/// Rows of `table` as `reader` (pyarrow or duckdb) reads the run's segments.
fn python_rows(python: &std::ffi::OsStr, run: &Path, table: &str, reader: &str) -> Vec<Map<String, Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/duckdb/read_segments.py");
    let output = Command::new(python)
        .arg(&script)
        .args(["--table", table, "--reader", reader, "--run"])
        .arg(run)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(output.status.success(), "{reader} cannot read {table}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{reader} printed {line:?}: {error}")))
        .collect()
}

/// A Python with duckdb and pyarrow, or None when `EVIDENT_SKIP_DUCKDB=1` skips (visibly).
fn python_readers(test: &str) -> Option<std::ffi::OsString> {
    if std::env::var_os("EVIDENT_SKIP_DUCKDB").is_some_and(|value| value == "1") {
        evident_testkit::skip::skip(test, "EVIDENT_SKIP_DUCKDB=1");
        return None;
    }
    let python = std::env::var_os("EVIDENT_PYTHON").unwrap_or_else(|| "python3".into());
    let probe = Command::new(&python).args(["-c", "import duckdb, pyarrow"]).output();
    match probe {
        Ok(output) if output.status.success() => Some(python),
        _ => panic!(
            "{} lacks duckdb or pyarrow: set EVIDENT_PYTHON=\"$(hack/python-env.sh)\" (or EVIDENT_SKIP_DUCKDB=1)",
            python.to_string_lossy()
        ),
    }
}

/// The first row and column where two readers disagree, for a readable failure.
fn first_difference(a: &[Map<String, Value>], b: &[Map<String, Value>]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} rows against {}", a.len(), b.len()));
    }
    for (row, (a, b)) in a.iter().zip(b).enumerate() {
        let columns: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for column in columns {
            if a.get(column) != b.get(column) {
                return Some(format!(
                    "row {row} (seq {}) column {column}: {:?} against {:?}",
                    a["seq"],
                    a.get(column),
                    b.get(column)
                ));
            }
        }
    }
    None
}

/// What a row's typed columns must say, read from its JSON object instead.
fn from_object(kind: Kind, object: &Value) -> Vec<(&'static str, Value)> {
    let metadata = &object["metadata"];
    let mut expected = vec![
        ("name", metadata["name"].clone()),
        ("uid", metadata["uid"].clone()),
        ("resource_version", metadata["resourceVersion"].clone()),
        ("namespace", metadata["namespace"].clone()),
    ];
    match kind {
        Kind::Pod => {
            expected.push(("phase", object["status"]["phase"].clone()));
            expected.push(("node_name", object["spec"]["nodeName"].clone()));
        }
        Kind::Event => {
            expected.push(("reason", object["reason"].clone()));
            expected.push(("message", object["message"].clone()));
            expected.push(("involved_uid", object["involvedObject"]["uid"].clone()));
        }
        Kind::Node => expected.push(("unschedulable", object["spec"]["unschedulable"].clone())),
    }
    expected
}

#[tokio::test]
async fn three_readers_see_the_same_value_in_every_row_and_column() {
    let test = "parquet_readers::three_readers_see_the_same_value_in_every_row_and_column";
    let Some(python) = python_readers(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = recorded_run(dir.path());
    for kind in Kind::ALL {
        let table = kind.table();
        let evident = datafusion_rows(&run, table).await;
        assert_eq!(evident.len() as u64, manifest.row_counts[table], "{table}");
        assert!(!evident.is_empty(), "{table} has rows to compare");
        for reader in ["pyarrow", "duckdb"] {
            let theirs = python_rows(&python, &run, table, reader);
            if let Some(difference) = first_difference(&evident, &theirs) {
                panic!("{table}: DataFusion and {reader} disagree: {difference}");
            }
        }
        for row in &evident {
            let object: Value = serde_json::from_str(row["object"].as_str().unwrap()).unwrap();
            for (column, expected) in from_object(kind, &object) {
                assert_eq!(row[column], expected, "{table} seq {}: {column} against the JSON object", row["seq"]);
            }
        }
    }
}
