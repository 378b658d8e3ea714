//! Parquet segments: one file per table per roll, the durable, query-ready form of the log.
//!
//! On-disk layout (`<run>/<table>/`, table = `nodes`, `pods`, `events` or `metrics`):
//!
//! ```text
//! part-<first seq, 20 digits>.parquet.inprogress   being written; never read by anyone
//! part-<first seq, 20 digits>.parquet              complete, durable, immutable
//! ```
//!
//! A file is written as `.inprogress` in row groups of at most [`ROW_GROUP_MAX_ROWS`] rows
//! (or [`ROW_GROUP_MAX_BYTES`] buffered), so memory holds one row group per table, not a
//! whole segment. Every table's writer ([`ChangeSegmentWriter`], [`MetricSegmentWriter`],
//! both [`SegmentWriter`]s) writes through one [`ParquetPart`], whose
//! [`finish`](ParquetPart::finish) writes the footer, fsyncs the file, renames it to
//! `.parquet` and fsyncs the directory, in that order.
//!
//! Invariants:
//! - A `.parquet` file is complete: it is only ever created by a rename after its fsync.
//!   Readers (DataFusion, DuckDB, pyarrow) never see a partial file.
//! - Within a table, segments hold contiguous runs of that table's rows in seq order: a
//!   table's rows with seq up to its newest segment's last seq are all in its segments.
//! - Every file carries key/value metadata: the `evident.*` metadata of its table's schema
//!   (schema version; for the change log also redaction policy and kind), plus its first and
//!   last seq and last receipt time
//!   ([`FIRST_SEQ_KEY`], [`LAST_SEQ_KEY`], [`LAST_OBSERVED_KEY`]), so the directory alone
//!   tells which seqs are durable.
//!
//! What a crash can lose: an `.inprogress` file, always; its rows are still in the WAL
//! (segments are only deleted from the WAL once durable here), so recovery rewrites them.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use evident_core::exposition::Exposition;
use evident_core::layout;
use evident_core::metric::{self, MetricBatchBuilder};
use evident_core::run_manifest::Segment;
use evident_core::schema;
use evident_core::{Change, ChangeBatchBuilder, Facts, Kind};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

use crate::record::Scrape;

use crate::durable;

/// Key/value metadata key: seq of the first row of the file.
pub const FIRST_SEQ_KEY: &str = "evident.first_seq";
/// Key/value metadata key: seq of the last row of the file.
pub const LAST_SEQ_KEY: &str = "evident.last_seq";
/// Key/value metadata key: the latest `observed_at` (ns) in the file.
pub const LAST_OBSERVED_KEY: &str = "evident.last_observed_at_ns";
/// Rows per row group. Large enough for good compression and few footer entries, small
/// enough that a row group of realistic pods (a few KiB of JSON each) stays in tens of MiB.
pub const ROW_GROUP_MAX_ROWS: usize = 8192;
/// Bytes a row group may buffer before it is closed, the other bound (for unusually
/// large objects).
pub const ROW_GROUP_MAX_BYTES: usize = 32 << 20;
/// Rows handed to the Parquet encoder at a time. Row groups are still
/// [`ROW_GROUP_MAX_ROWS`] long; small batches keep the Arrow builders a few MiB, so their
/// buffers are reused from the heap instead of growing (and faulting in) 30 MiB each time.
pub const BATCH_MAX_ROWS: usize = 1024;
/// JSON bytes handed to the encoder at a time, the other bound of a batch.
const BATCH_MAX_BYTES: usize = 4 << 20;

/// Errors of Parquet segments.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Creating, writing, syncing or renaming a segment file failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// Arrow could not assemble a record batch (a schema/builder mismatch: a bug).
    #[error("building a record batch for {table}: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: ArrowError,
    },
    /// The Parquet writer or reader failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    /// A `.parquet` file in a table directory lacks evident's seq metadata.
    #[error("{} is not an evident segment (no {key} metadata); move it out of the run directory", path.display())]
    NotASegment { path: PathBuf, key: &'static str },
}

pub type Result<T, E = SegmentError> = std::result::Result<T, E>;

/// File name of a segment whose first row has `first_seq`.
pub fn file_name(first_seq: u64) -> String {
    layout::segment_file_name(first_seq)
}

/// The first seq of a complete segment's file name (`.inprogress` names give `None`).
pub fn parse_file_name(name: &str) -> Option<u64> {
    layout::parse_segment_file_name(name)
}

/// Parquet settings every evident file shares: Snappy, row groups of at most
/// [`ROW_GROUP_MAX_ROWS`], and the schema's `evident.*` metadata as key/value metadata.
pub fn base_writer_properties(schema: &Schema) -> WriterPropertiesBuilder {
    let metadata = schema
        .metadata()
        .iter()
        .filter(|(key, _)| key.starts_with("evident."))
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect();
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_MAX_ROWS))
        .set_key_value_metadata(Some(metadata))
}

/// Parquet settings of a change-log segment: the shared ones, plus no dictionary and no
/// statistics for the `object` column (unique multi-KiB strings gain nothing from either
/// and would cost most of the encoding time).
pub fn writer_properties(kind: Kind) -> WriterProperties {
    let object = ColumnPath::from(schema::OBJECT_COLUMN.name);
    let mut properties = base_writer_properties(&schema::schema(kind))
        .set_column_dictionary_enabled(object.clone(), false)
        .set_column_statistics_enabled(object, EnabledStatistics::None);
    for unique in UNIQUE_PER_ROW {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(unique), false);
    }
    properties.build()
}

/// Columns whose value differs on every row: a dictionary would only be built to be
/// dropped when it outgrows its page.
const UNIQUE_PER_ROW: [&str; 3] = ["seq", "observed_at", "resource_version"];

/// A complete segment, as listed in the manifest, plus what recovery needs from its footer.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableSegment {
    pub segment: Segment,
    /// Latest receipt time in the file (ns); `None` for files without rows.
    pub last_observed_at_ns: Option<i64>,
}

/// What every table's segment writer does once its rows are in: the store rolls a segment
/// on its row count and its age, then finishes it.
pub trait SegmentWriter {
    /// Rows added so far.
    fn rows(&self) -> u64;
    /// Time since the writer was created (the age of its oldest row).
    fn age(&self) -> Duration;
    /// Writes the last rows, then makes the file durable ([`ParquetPart::finish`]).
    fn finish(self) -> Result<DurableSegment>;
}

/// One Parquet file of a table being written: `<run>/<table>/part-<first seq>.parquet.inprogress`
/// until [`ParquetPart::finish`] makes it a durable `.parquet`. Every [`SegmentWriter`]
/// writes through it; each owns the builder that turns its rows into batches.
pub struct ParquetPart {
    table: &'static str,
    inprogress_path: PathBuf,
    final_path: PathBuf,
    relative_path: String,
    writer: ArrowWriter<File>,
    first_seq: u64,
    last_seq: u64,
    rows: u64,
    last_observed_at_ns: i64,
    opened_at: Instant,
}

impl std::fmt::Debug for ParquetPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetPart")
            .field("path", &self.inprogress_path)
            .field("first_seq", &self.first_seq)
            .field("last_seq", &self.last_seq)
            .field("rows", &self.rows)
            .finish()
    }
}

impl ParquetPart {
    /// Starts `<run>/<table>/part-<first_seq>.parquet.inprogress`. An existing `.inprogress`
    /// of the same name is a leftover of a crash and is replaced.
    pub fn create(
        run_dir: &Path,
        table: &'static str,
        first_seq: u64,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> Result<ParquetPart> {
        let table_dir = layout::table_dir(run_dir, table);
        durable::create_dir(&table_dir)?;
        let name = file_name(first_seq);
        let inprogress_path = table_dir.join(layout::inprogress_file_name(first_seq));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&inprogress_path)
            .map_err(durable::at("create", &inprogress_path))?;
        let writer = ArrowWriter::try_new(file, schema, Some(properties))
            .map_err(|source| SegmentError::Parquet { path: inprogress_path.clone(), source })?;
        Ok(ParquetPart {
            table,
            final_path: table_dir.join(&name),
            inprogress_path,
            relative_path: format!("{table}/{name}"),
            writer,
            first_seq,
            last_seq: first_seq,
            rows: 0,
            last_observed_at_ns: i64::MIN,
            opened_at: Instant::now(),
        })
    }

    /// Counts `rows` rows the caller added to its builder, the last with `last_seq`,
    /// received at `observed_at_ns`.
    pub fn note_rows(&mut self, rows: u64, last_seq: u64, observed_at_ns: i64) {
        self.rows += rows;
        self.last_seq = last_seq;
        self.last_observed_at_ns = self.last_observed_at_ns.max(observed_at_ns);
    }

    /// Writes one row group.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let parquet_error = |source| SegmentError::Parquet { path: self.inprogress_path.clone(), source };
        self.writer.write(batch).map_err(parquet_error)?;
        self.writer.flush().map_err(parquet_error)
    }

    /// Adds `batch` to the open row group. The row group is closed when it reaches
    /// [`ROW_GROUP_MAX_ROWS`] rows (the writer's setting) or buffers [`ROW_GROUP_MAX_BYTES`].
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let parquet_error = |source| SegmentError::Parquet { path: self.inprogress_path.clone(), source };
        self.writer.write(batch).map_err(parquet_error)?;
        if self.writer.in_progress_size() >= ROW_GROUP_MAX_BYTES {
            self.writer.flush().map_err(parquet_error)?;
        }
        Ok(())
    }

    pub fn table(&self) -> &'static str {
        self.table
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Time since the file was created (the age of its oldest row).
    pub fn age(&self) -> Duration {
        self.opened_at.elapsed()
    }

    /// Writes the footer (with the seq and receipt-time keys), fsyncs, renames to `.parquet`
    /// and fsyncs the directory. When this returns, the file survives any crash.
    pub fn finish(mut self) -> Result<DurableSegment> {
        for (key, value) in [
            (FIRST_SEQ_KEY, self.first_seq.to_string()),
            (LAST_SEQ_KEY, self.last_seq.to_string()),
            (LAST_OBSERVED_KEY, self.last_observed_at_ns.to_string()),
        ] {
            self.writer.append_key_value_metadata(KeyValue::new(key.to_string(), value));
        }
        self.writer.finish().map_err(|source| SegmentError::Parquet { path: self.inprogress_path.clone(), source })?;
        let file = self.writer.inner();
        file.sync_all().map_err(durable::at("fsync", &self.inprogress_path))?;
        let bytes = file.metadata().map_err(durable::at("stat", &self.inprogress_path))?.len();
        durable::rename(&self.inprogress_path, &self.final_path)?;
        let segment = Segment {
            table: self.table.to_string(),
            path: self.relative_path,
            rows: self.rows,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            bytes,
        };
        Ok(DurableSegment { segment, last_observed_at_ns: (self.rows > 0).then_some(self.last_observed_at_ns) })
    }
}

/// Writes one change-log segment of one table (`nodes`, `pods` or `events`).
#[derive(Debug)]
pub struct ChangeSegmentWriter {
    kind: Kind,
    part: ParquetPart,
    builder: ChangeBatchBuilder,
    buffered_json_bytes: usize,
}

impl ChangeSegmentWriter {
    /// Starts `<run>/<table>/part-<first_seq>.parquet.inprogress` (see [`ParquetPart::create`]).
    pub fn create(run_dir: &Path, kind: Kind, first_seq: u64) -> Result<ChangeSegmentWriter> {
        let part =
            ParquetPart::create(run_dir, kind.table(), first_seq, schema::schema(kind), writer_properties(kind))?;
        Ok(ChangeSegmentWriter { kind, part, builder: ChangeBatchBuilder::new(kind), buffered_json_bytes: 0 })
    }

    /// Adds one change (of this writer's kind, with a seq above the previous one).
    /// `facts` are `change.facts()`, parsed once by the caller; the size of the object's
    /// JSON bounds row-group memory.
    pub fn append(&mut self, change: &Change, facts: &Facts<'_>) -> Result<()> {
        debug_assert_eq!(change.kind, self.kind);
        debug_assert!(self.part.rows() == 0 || change.seq > self.part.last_seq());
        self.builder.append_with_facts(change, facts);
        self.buffered_json_bytes += change.json.len();
        self.part.note_rows(1, change.seq, change.observed_at_ns);
        if self.builder.len() >= BATCH_MAX_ROWS || self.buffered_json_bytes >= BATCH_MAX_BYTES {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish().map_err(|source| SegmentError::Arrow { table: self.kind.table(), source })?;
        self.buffered_json_bytes = 0;
        self.part.append(&batch)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn first_seq(&self) -> u64 {
        self.part.first_seq()
    }

    pub fn last_seq(&self) -> u64 {
        self.part.last_seq()
    }
}

impl SegmentWriter for ChangeSegmentWriter {
    fn rows(&self) -> u64 {
        self.part.rows()
    }

    fn age(&self) -> Duration {
        self.part.age()
    }

    fn finish(mut self) -> Result<DurableSegment> {
        self.write_batch()?;
        self.part.finish()
    }
}

/// Writes one segment of the `metrics` table: whole scrapes, one row per sample.
#[derive(Debug)]
pub struct MetricSegmentWriter {
    part: ParquetPart,
    builder: MetricBatchBuilder,
}

impl MetricSegmentWriter {
    /// Starts `<run>/metrics/part-<first_seq>.parquet.inprogress` (see [`ParquetPart::create`]).
    pub fn create(run_dir: &Path, first_seq: u64) -> Result<MetricSegmentWriter> {
        let schema = metric::schema();
        let properties = base_writer_properties(&schema).build();
        let part = ParquetPart::create(run_dir, metric::TABLE, first_seq, schema, properties)?;
        Ok(MetricSegmentWriter { part, builder: MetricBatchBuilder::new() })
    }

    /// Adds every sample of one scrape, whose seq is above the previous one's.
    pub fn append(&mut self, scrape_seq: u64, scrape: &Scrape, exposition: &Exposition) -> Result<()> {
        for sample in &exposition.samples {
            self.builder.append(scrape_seq, scrape.scraped_at_ns, &scrape.endpoint, sample);
            if self.builder.len() >= ROW_GROUP_MAX_ROWS {
                self.write_row_group()?;
            }
        }
        self.part.note_rows(exposition.samples.len() as u64, scrape_seq, scrape.scraped_at_ns);
        Ok(())
    }

    fn write_row_group(&mut self) -> Result<()> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish().map_err(|source| SegmentError::Arrow { table: metric::TABLE, source })?;
        self.part.write(&batch)
    }
}

impl SegmentWriter for MetricSegmentWriter {
    fn rows(&self) -> u64 {
        self.part.rows()
    }

    fn age(&self) -> Duration {
        self.part.age()
    }

    fn finish(mut self) -> Result<DurableSegment> {
        self.write_row_group()?;
        self.part.finish()
    }
}

/// Every complete segment of `table` under `run_dir`, read from the files' footers, by
/// first seq. The directory, not the manifest, is the truth: a crash between a rename and
/// the manifest update leaves a durable file the manifest does not list yet.
pub fn scan_table(run_dir: &Path, table: &str) -> Result<Vec<DurableSegment>> {
    let mut found = Vec::new();
    for (name, path) in list_table_dir(&layout::table_dir(run_dir, table), |name| parse_file_name(name).is_some())? {
        found.push(read_part_footer(&path, table, format!("{table}/{name}"))?);
    }
    found.sort_by_key(|durable| durable.segment.first_seq);
    Ok(found)
}

/// The segment a complete file of `table` holds, from its footer, and its latest receipt
/// time (`None` without rows).
pub fn read_part_footer(path: &Path, table: &str, relative_path: String) -> Result<DurableSegment> {
    let file = File::open(path).map_err(durable::at("open", path))?;
    let bytes = file.metadata().map_err(durable::at("stat", path))?.len();
    let reader =
        SerializedFileReader::new(file).map_err(|source| SegmentError::Parquet { path: path.to_path_buf(), source })?;
    let metadata = reader.metadata().file_metadata();
    let lookup = |key: &'static str| -> Result<i64> {
        metadata
            .key_value_metadata()
            .and_then(|entries| entries.iter().find(|entry| entry.key == key))
            .and_then(|entry| entry.value.as_deref())
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| SegmentError::NotASegment { path: path.to_path_buf(), key })
    };
    let rows = metadata.num_rows().max(0) as u64;
    let segment = Segment {
        table: table.to_string(),
        path: relative_path,
        rows,
        first_seq: lookup(FIRST_SEQ_KEY)? as u64,
        last_seq: lookup(LAST_SEQ_KEY)? as u64,
        bytes,
    };
    Ok(DurableSegment { segment, last_observed_at_ns: (rows > 0).then(|| lookup(LAST_OBSERVED_KEY)).transpose()? })
}

/// Deletes every `.inprogress` segment of `table` under `run_dir` (by definition not
/// durable; their rows are still in the WAL) and returns their paths.
pub fn remove_inprogress(run_dir: &Path, table: &str) -> Result<Vec<PathBuf>> {
    let table_dir = layout::table_dir(run_dir, table);
    let leftovers = list_table_dir(&table_dir, layout::is_inprogress_file_name)?;
    for (_, path) in &leftovers {
        durable::remove_file(path)?;
    }
    if !leftovers.is_empty() {
        durable::sync_dir(&table_dir)?;
    }
    Ok(leftovers.into_iter().map(|(_, path)| path).collect())
}

/// Files of `table_dir` whose names pass `wanted`, as (name, path), sorted by name (and so by
/// first seq). A missing directory has none.
pub fn list_table_dir(table_dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(table_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(durable::at("list", table_dir)(error).into()),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(durable::at("list", table_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if wanted(name) {
            files.push((name.to_string(), entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::Op;
    use evident_core::redact::{KEY_BYTES, Redactor};
    use evident_core::schema::{META_KIND, META_REDACTION, META_SCHEMA_VERSION};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::from_key([0; KEY_BYTES])
    }

    fn change(seq: u64) -> Change {
        let object = json!({"metadata": {"name": format!("n{seq}"), "uid": format!("u{seq}"), "resourceVersion": seq.to_string()}});
        Change::new(seq, 1_000 + seq as i64, 1, Op::Added, Kind::Node, object, &redactor())
    }

    #[test]
    fn finish_renames_and_records_seq_range_in_the_footer() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ChangeSegmentWriter::create(dir.path(), Kind::Node, 3).unwrap();
        let inprogress = dir.path().join("nodes").join("part-00000000000000000003.parquet.inprogress");
        assert!(inprogress.exists());
        for seq in [3, 5, 9] {
            let row = change(seq);
            writer.append(&row, &row.facts().unwrap()).unwrap();
        }
        let durable = writer.finish().unwrap();
        assert!(!inprogress.exists());
        assert_eq!(durable.segment.path, "nodes/part-00000000000000000003.parquet");
        assert_eq!((durable.segment.first_seq, durable.segment.last_seq, durable.segment.rows), (3, 9, 3));
        assert_eq!(durable.last_observed_at_ns, Some(1_009));

        let scanned = scan_table(dir.path(), "nodes").unwrap();
        assert_eq!(scanned, vec![durable]);

        let file = File::open(dir.path().join("nodes/part-00000000000000000003.parquet")).unwrap();
        let reader = SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
        let kv = reader.metadata().file_metadata().key_value_metadata().unwrap().clone();
        let get = |key: &str| kv.iter().find(|e| e.key == key).and_then(|e| e.value.clone());
        assert_eq!(get(META_KIND).as_deref(), Some("Node"));
        assert_eq!(get(META_SCHEMA_VERSION).as_deref(), Some(evident_core::SCHEMA_VERSION));
        assert_eq!(get(META_REDACTION).as_deref(), Some(evident_core::redact::POLICY_VERSION));
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|batch| batch.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 3);
    }

    #[test]
    fn writes_row_groups_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ChangeSegmentWriter::create(dir.path(), Kind::Node, 0).unwrap();
        let total = ROW_GROUP_MAX_ROWS as u64 * 2 + 5;
        for seq in 0..total {
            let row = change(seq);
            writer.append(&row, &row.facts().unwrap()).unwrap();
        }
        writer.finish().unwrap();
        let file = File::open(dir.path().join("nodes").join(file_name(0))).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, vec![ROW_GROUP_MAX_ROWS as i64, ROW_GROUP_MAX_ROWS as i64, 5]);
    }

    #[test]
    fn removes_inprogress_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut done = ChangeSegmentWriter::create(dir.path(), Kind::Pod, 0).unwrap();
        let row = Change::new(0, 1, 1, Op::Added, Kind::Pod, json!({"metadata": {"name": "p"}}), &redactor());
        done.append(&row, &row.facts().unwrap()).unwrap();
        done.finish().unwrap();
        let leftover = ChangeSegmentWriter::create(dir.path(), Kind::Pod, 7).unwrap();
        drop(leftover);
        assert_eq!(remove_inprogress(dir.path(), "nodes").unwrap(), Vec::<PathBuf>::new());
        let removed = remove_inprogress(dir.path(), "pods").unwrap();
        assert_eq!(removed, vec![dir.path().join("pods/part-00000000000000000007.parquet.inprogress")]);
        assert_eq!(scan_table(dir.path(), "pods").unwrap().len(), 1);
        assert_eq!(parse_file_name("part-00000000000000000007.parquet.inprogress"), None);
    }
}
