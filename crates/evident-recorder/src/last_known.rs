//! The last known state of a run, read back from its own change log.
//!
//! A resumed recording (`evident record --run-id <an existing run>`) starts new watches, and
//! their first list opens a new epoch. For that list to tombstone (`DELETED_IN_GAP`) what was
//! deleted while the recorder was down, each watch must start out knowing what the run last
//! saw alive: per kind, every object whose last row (by `seq`) is not `DELETED` or
//! `DELETED_IN_GAP`, as the `*_latest` views define it, with that row's `object` text (the
//! tombstone carries it).
//!
//! It is read after [`ChangeStore::open`](crate::change_store::ChangeStore::open), which
//! first folds any WAL tail a crash left into Parquet: the segments then hold every change of
//! the run. Each kind's segments are read twice: the identity columns (`seq`, `op`,
//! `namespace`, `uid`) of every row to find each object's last row, then the `object` text
//! of only those rows (a Parquet row selection). Memory holds the live objects and the uids
//! of the dead ones, never the whole run.
//!
//! Rows are cluster data: a row without a uid cannot be matched by any watch and is left out
//! (counted in [`KindState::skipped_rows`]); an `op` this version does not know counts as
//! alive, so it can be tombstoned rather than linger. A segment that cannot be read fails
//! the read with the file named; nothing is written.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, UInt64Type};
use arrow::error::ArrowError;
use evident_core::{Kind, Op};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use parquet::errors::ParquetError;

use crate::durable::{self, DurableError};
use crate::segment::{self, SegmentError};

/// Errors reading a run's last known state.
#[derive(Debug, thiserror::Error)]
pub enum LastKnownError {
    /// Listing the segments or reading a footer failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A segment could not be opened.
    #[error(transparent)]
    Io(#[from] DurableError),
    /// A segment is not readable Parquet.
    #[error("reading {} for the run's last known state: {source}; move the damaged file out of the run directory", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    /// A segment's rows do not decode.
    #[error("decoding {} for the run's last known state: {source}; move the damaged file out of the run directory", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: ArrowError,
    },
    /// A segment lacks a column of the change log, or has it with another type.
    #[error("{} has no {column} column of type {expected}; it is not a change-log segment of this version", path.display())]
    Column { path: PathBuf, column: &'static str, expected: &'static str },
}

pub type Result<T, E = LastKnownError> = std::result::Result<T, E>;

/// An object the run last saw alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownObject {
    /// `metadata.namespace` (`None` for nodes).
    pub namespace: Option<String>,
    /// Its last recorded JSON text (redacted).
    pub json: String,
}

/// The last known state of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindState {
    /// Live objects by uid.
    pub live: HashMap<String, KnownObject>,
    /// The latest receipt time of any row of the kind (ns), if it has rows.
    pub last_observed_at_ns: Option<i64>,
    /// Rows left out because they have no uid.
    pub skipped_rows: u64,
}

impl KindState {
    /// The live objects a watch of `namespace` (`None`: all namespaces) is responsible for,
    /// by uid, as JSON text. Objects of other namespaces are not its to tombstone.
    pub fn seed_for(&self, namespace: Option<&str>) -> HashMap<String, String> {
        self.live
            .iter()
            .filter(|(_, object)| namespace.is_none() || object.namespace.as_deref() == namespace)
            .map(|(uid, object)| (uid.clone(), object.json.clone()))
            .collect()
    }
}

/// The last known state of a run, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastKnown {
    kinds: HashMap<Kind, KindState>,
}

impl LastKnown {
    /// Reads the last known state of `kinds` from the run's segments.
    pub fn read(run_dir: &Path, kinds: &[Kind]) -> Result<LastKnown> {
        let mut last_known = LastKnown::default();
        for kind in kinds {
            last_known.kinds.insert(*kind, read_kind(run_dir, *kind)?);
        }
        Ok(last_known)
    }

    /// The state of `kind` (empty if it was not read or has no rows).
    pub fn kind(&self, kind: Kind) -> KindState {
        self.kinds.get(&kind).cloned().unwrap_or_default()
    }

    /// True if no kind has a live object.
    pub fn is_empty(&self) -> bool {
        self.kinds.values().all(|state| state.live.is_empty())
    }
}

/// The last row of one object, found by the first pass.
#[derive(Debug)]
struct LastRow {
    seq: u64,
    alive: bool,
    namespace: Option<String>,
    /// Index of the segment in the kind's list and of the row in that segment.
    segment: usize,
    row: usize,
}

fn read_kind(run_dir: &Path, kind: Kind) -> Result<KindState> {
    let segments = segment::scan_table(run_dir, kind.table())?;
    let paths: Vec<PathBuf> = segments.iter().map(|found| run_dir.join(&found.segment.path)).collect();
    let mut state = KindState {
        last_observed_at_ns: segments.iter().filter_map(|found| found.last_observed_at_ns).max(),
        ..KindState::default()
    };

    // Pass 1: each object's last row.
    let mut last_rows: HashMap<String, LastRow> = HashMap::new();
    for (index, path) in paths.iter().enumerate() {
        let mut row_in_file = 0usize;
        for batch in read_columns(path, &["seq", "op", "namespace", "uid"], None)? {
            let seq = column(path, &batch, "seq", &DataType::UInt64, "UInt64")?;
            let seq = seq.as_primitive::<UInt64Type>();
            let (op, namespace, uid) =
                (text(path, &batch, "op")?, text(path, &batch, "namespace")?, text(path, &batch, "uid")?);
            let (op, namespace, uid) = (op.as_string::<i32>(), namespace.as_string::<i32>(), uid.as_string::<i32>());
            for i in 0..batch.num_rows() {
                let row = row_in_file;
                row_in_file += 1;
                if uid.is_null(i) || uid.value(i).is_empty() {
                    state.skipped_rows += 1;
                    continue;
                }
                let seq = seq.value(i);
                if last_rows.get(uid.value(i)).is_some_and(|last| last.seq > seq) {
                    continue;
                }
                let alive =
                    op.is_null(i) || (op.value(i) != Op::Deleted.as_str() && op.value(i) != Op::DeletedInGap.as_str());
                let namespace = (!namespace.is_null(i)).then(|| namespace.value(i).to_string());
                last_rows.insert(uid.value(i).to_string(), LastRow { seq, alive, namespace, segment: index, row });
            }
        }
    }

    // Pass 2: the object text of the live objects' last rows, segment by segment.
    let mut wanted: Vec<Vec<(usize, String, Option<String>)>> = vec![Vec::new(); paths.len()];
    for (uid, last) in last_rows {
        if last.alive
            && let Some(rows) = wanted.get_mut(last.segment)
        {
            rows.push((last.row, uid, last.namespace));
        }
    }
    for ((path, found), mut rows) in paths.iter().zip(&segments).zip(wanted) {
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|(row, _, _)| *row);
        let ranges = rows.iter().map(|(row, _, _)| *row..row.saturating_add(1));
        let total = usize::try_from(found.segment.rows).unwrap_or(usize::MAX);
        let selection = RowSelection::from_consecutive_ranges(ranges, total);
        let mut objects = Vec::with_capacity(rows.len());
        for batch in read_columns(path, &["object"], Some(selection))? {
            let object = text(path, &batch, "object")?;
            let object = object.as_string::<i32>();
            objects.extend((0..batch.num_rows()).map(|i| (!object.is_null(i)).then(|| object.value(i).to_string())));
        }
        if objects.len() != rows.len() {
            return Err(LastKnownError::Column { path: path.clone(), column: "object", expected: "Utf8" });
        }
        for ((_, uid, namespace), json) in rows.into_iter().zip(objects) {
            match json {
                Some(json) => {
                    state.live.insert(uid, KnownObject { namespace, json });
                }
                None => state.skipped_rows += 1,
            }
        }
    }
    Ok(state)
}

/// The named columns of a segment, optionally only the selected rows.
fn read_columns(path: &Path, columns: &[&str], selection: Option<RowSelection>) -> Result<Vec<RecordBatch>> {
    let failed = |source| LastKnownError::Read { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(durable::at("open", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(failed)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let mut builder = builder.with_projection(mask);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let reader = builder.build().map_err(failed)?;
    reader.map(|batch| batch.map_err(|source| LastKnownError::Decode { path: path.to_path_buf(), source })).collect()
}

fn column(
    path: &Path,
    batch: &RecordBatch,
    name: &'static str,
    data_type: &DataType,
    expected: &'static str,
) -> Result<arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .filter(|array| array.data_type() == data_type)
        .cloned()
        .ok_or_else(|| LastKnownError::Column { path: path.to_path_buf(), column: name, expected })
}

fn text(path: &Path, batch: &RecordBatch, name: &'static str) -> Result<arrow::array::ArrayRef> {
    column(path, batch, name, &DataType::Utf8, "Utf8")
}
