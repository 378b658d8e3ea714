//! Helpers shared by the recorder's integration tests: reading a run back (change log and
//! metrics table) with DataFusion's Parquet reader, and fingerprinting a run directory.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use evident_core::Kind;

/// One row of a change-log table, reduced to what the tests compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub seq: u64,
    pub kind: Kind,
    pub uid: String,
    pub resource_version: String,
    pub name: String,
    pub object: String,
}

/// Every complete `.parquet` file under `run_dir`, sorted.
pub fn parquet_files(run_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in Kind::ALL {
        let Ok(entries) = std::fs::read_dir(run_dir.join(kind.table())) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Reads one segment fully; panics (failing the test) if it does not open or decode.
pub fn read_segment(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{} is not readable Parquet: {e}", path.display()))
        .build()
        .unwrap()
        .map(|batch| batch.unwrap_or_else(|e| panic!("decoding {}: {e}", path.display())))
        .collect()
}

/// All rows of all tables, sorted by seq.
pub fn read_rows(run_dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for path in parquet_files(run_dir) {
        let table = path.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let kind = Kind::from_table(table).unwrap();
        for batch in read_segment(&path) {
            let column = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).clone();
            let seq = column("seq");
            let seq = seq.as_primitive::<UInt64Type>();
            let uid = column("uid");
            let rv = column("resource_version");
            let name = column("name");
            let object = column("object");
            for i in 0..batch.num_rows() {
                assert!(!seq.is_null(i));
                rows.push(Row {
                    seq: seq.value(i),
                    kind,
                    uid: uid.as_string::<i32>().value(i).to_string(),
                    resource_version: rv.as_string::<i32>().value(i).to_string(),
                    name: name.as_string::<i32>().value(i).to_string(),
                    object: object.as_string::<i32>().value(i).to_string(),
                });
            }
        }
    }
    rows.sort();
    rows
}

/// Rows per table as read from the files.
pub fn row_counts(run_dir: &Path) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = Kind::ALL.iter().map(|k| (k.table().to_string(), 0)).collect();
    for path in parquet_files(run_dir) {
        let table = path.parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();
        let rows: usize = read_segment(&path).iter().map(RecordBatch::num_rows).sum();
        *counts.get_mut(&table).unwrap() += rows as u64;
    }
    counts
}

/// Every file under `dir` with its bytes, for "nothing changed" assertions.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// Asserts the invariants of a recovered run: seqs contiguous from 0 without duplicates,
/// and no (kind, uid, resource_version) twice. Returns the rows.
pub fn assert_log_is_whole(run_dir: &Path) -> Vec<Row> {
    let rows = read_rows(run_dir);
    for (expected, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, expected as u64, "seqs must be contiguous from 0 without duplicates");
    }
    let mut identities = std::collections::HashSet::new();
    for row in &rows {
        assert!(
            identities.insert((row.kind, row.uid.clone(), row.resource_version.clone())),
            "({:?}, {}, {}) appears twice",
            row.kind,
            row.uid,
            row.resource_version
        );
    }
    rows
}

/// (scrape_seq, metric, gpu) of every metrics row; asserts none is there twice and that the
/// table directory holds only complete segments.
pub fn metric_rows(run: &Path) -> Vec<(u64, String, String)> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(run.join("metrics")) else { return rows };
    let mut files: Vec<_> = entries.map(|entry| entry.unwrap().path()).collect();
    files.sort();
    for path in files {
        assert!(path.extension().is_some_and(|ext| ext == "parquet"), "leftover {}", path.display());
        for batch in read_segment(&path) {
            let seq = batch.column_by_name("scrape_seq").unwrap().as_primitive::<UInt64Type>().clone();
            let text = |name: &str| cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let (metric, gpu) = (text("metric"), text("gpu"));
            for i in 0..batch.num_rows() {
                rows.push((
                    seq.value(i),
                    metric.as_string::<i32>().value(i).into(),
                    gpu.as_string::<i32>().value(i).into(),
                ));
            }
        }
    }
    let unique: BTreeSet<_> = rows.iter().cloned().collect();
    assert_eq!(unique.len(), rows.len(), "a metrics row was written twice");
    rows.sort();
    rows
}

/// The scrape seqs of the metrics table, each once, sorted.
pub fn scrape_seqs(run: &Path) -> Vec<u64> {
    metric_rows(run).into_iter().map(|row| row.0).collect::<BTreeSet<_>>().into_iter().collect()
}
