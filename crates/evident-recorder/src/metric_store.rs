//! The metrics store: the write path `scrape -> WAL -> Parquet segments` of the `metrics`
//! table (samples scraped from `--metrics` endpoints, see `evident_core::metric`), with the
//! same durability as the change log.
//!
//! It runs on the change store's thread (see `crate::session`), which also owns the run
//! manifest: every segment this store finishes is handed back to the caller, which lists it
//! in `run.json`.
//!
//! On-disk layout of the run directory:
//!
//! ```text
//! <run>/wal-metrics/wal-<first scrape seq>.log        WAL segments (crate::wal framing); gone after close
//! <run>/metrics/part-<first scrape seq>.parquet[.inprogress]   segments
//! ```
//!
//! One WAL record per answered scrape: `seq` is the scrape's `scrape_seq` (from 0, without
//! holes, continuing when a run is reopened), `observed_at_ns` the scrape's start time, the
//! code bytes [`RECORD_CODES`], and the body the endpoint URL (u16 LE length + UTF-8) followed
//! by the response body exactly as served. The response text is the source of truth: rows are
//! parsed from it both while recording and when recovering, by the same parser, so both give
//! the same rows.
//!
//! Invariants:
//! - A segment holds whole scrapes, contiguous in `scrape_seq`; its footer carries its first
//!   and last scrape seq (`crate::segment::FIRST_SEQ_KEY`, `LAST_SEQ_KEY`).
//! - The WAL is fsynced before a segment is finished, and a WAL file is deleted only after
//!   every scrape in it is in a finished segment: at every roll the WAL file is closed and
//!   deleted, and the next scrape starts a new one.
//!
//! What a crash can lose: the scrapes appended after the last WAL fsync (at most
//! [`StoreConfig::wal_fsync_interval`] plus one tick, ~600 ms with the defaults). Recovery
//! ([`recover`]) folds the rest of the WAL into Parquet, skipping every scrape a segment
//! already holds, so no sample is ever written twice.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::error::ArrowError;
use evident_core::exposition::{self, Exposition};
use evident_core::manifest::{METRICS_WAL_DIR, Segment};
use evident_core::metric::{self, MetricBatchBuilder};
use tracing::warn;

use crate::durable;
use crate::segment::{self, ParquetPart, ROW_GROUP_MAX_ROWS, SegmentError};
use crate::store::StoreConfig;
use crate::wal::{self, Damage, WalError, WalReader, WalWriter};

/// Code bytes of a metrics WAL record (`M`, body format 1). Kind codes of the change log are
/// small numbers, so neither log's reader accepts the other's records.
pub const RECORD_CODES: [u8; 2] = [b'M', 1];
/// Largest response body recorded; a larger one is a failed scrape.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// Errors of the metrics store.
#[derive(Debug, thiserror::Error)]
pub enum MetricStoreError {
    /// Writing, syncing or reading the metrics WAL failed.
    #[error("metrics write-ahead log: {0}")]
    Wal(#[from] WalError),
    /// A file-system step failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// Arrow could not assemble a record batch (a schema/builder mismatch: a bug).
    #[error("building a batch of the metrics table: {0}")]
    Arrow(#[source] ArrowError),
    /// Writing or reading a metrics segment failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A record passed its checksum but its body is malformed: a writer bug, not a crash.
    #[error("metrics WAL record {seq} in {} is malformed: {why}", path.display())]
    InvalidRecord { seq: u64, path: PathBuf, why: &'static str },
    /// A scrape body is larger than [`MAX_BODY_BYTES`] or its URL longer than 64 KiB.
    #[error("a scrape of {endpoint} is too large to record ({bytes} bytes)")]
    TooLarge { endpoint: String, bytes: usize },
}

pub type Result<T, E = MetricStoreError> = std::result::Result<T, E>;

/// One answered scrape of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    pub endpoint: String,
    /// When the request was sent, ns since the Unix epoch (UTC).
    pub scraped_at_ns: i64,
    /// The response body: Prometheus text exposition.
    pub text: String,
}

/// What appending one scrape recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub scrape_seq: u64,
    pub samples: u64,
    pub bad_lines: u64,
    /// The first bad line, described.
    pub first_problem: Option<String>,
    /// The segment finished because this scrape filled it.
    pub rolled: Option<Segment>,
}

/// The WAL body of a scrape: URL length (u16 LE), URL, response text.
fn encode(scrape: &Scrape) -> Result<Vec<u8>> {
    let url = scrape.endpoint.as_bytes();
    let too_large = || MetricStoreError::TooLarge { endpoint: scrape.endpoint.clone(), bytes: scrape.text.len() };
    let url_len = u16::try_from(url.len()).map_err(|_| too_large())?;
    if scrape.text.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(2 + url.len() + scrape.text.len());
    body.extend_from_slice(&url_len.to_le_bytes());
    body.extend_from_slice(url);
    body.extend_from_slice(scrape.text.as_bytes());
    Ok(body)
}

fn decode(frame: &wal::WalFrame, path: &Path) -> Result<Scrape> {
    let invalid = |why| MetricStoreError::InvalidRecord { seq: frame.seq, path: path.to_path_buf(), why };
    let body = &frame.body;
    let url_len = body.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or_else(|| invalid("no URL"))?;
    let url = body.get(2..2 + url_len).ok_or_else(|| invalid("URL cut"))?;
    let endpoint = std::str::from_utf8(url).map_err(|_| invalid("URL is not UTF-8"))?.to_string();
    let text = String::from_utf8(body[2 + url_len..].to_vec()).map_err(|_| invalid("text is not UTF-8"))?;
    Ok(Scrape { endpoint, scraped_at_ns: frame.observed_at_ns, text })
}

/// Writes one segment of the metrics table: whole scrapes, through a [`ParquetPart`].
#[derive(Debug)]
struct MetricSegmentWriter {
    part: ParquetPart,
    builder: MetricBatchBuilder,
}

impl MetricSegmentWriter {
    /// Starts `<run>/metrics/part-<first_seq>.parquet.inprogress`, replacing a leftover.
    fn create(run_dir: &Path, first_seq: u64) -> Result<MetricSegmentWriter> {
        let schema = metric::schema();
        let properties = segment::base_writer_properties(&schema).build();
        let part = ParquetPart::create(run_dir, metric::TABLE, first_seq, schema, properties)?;
        Ok(MetricSegmentWriter { part, builder: MetricBatchBuilder::new() })
    }

    /// Adds every sample of one scrape.
    fn append(&mut self, scrape_seq: u64, scrape: &Scrape, exposition: &Exposition) -> Result<()> {
        for sample in &exposition.samples {
            self.builder.append(scrape_seq, scrape.scraped_at_ns, &scrape.endpoint, sample);
            if self.builder.len() >= ROW_GROUP_MAX_ROWS {
                self.write_row_group()?;
            }
        }
        self.part.note_rows(exposition.samples.len() as u64, scrape_seq, scrape.scraped_at_ns);
        Ok(())
    }

    fn rows(&self) -> u64 {
        self.part.rows()
    }

    fn write_row_group(&mut self) -> Result<()> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish().map_err(MetricStoreError::Arrow)?;
        Ok(self.part.write(&batch)?)
    }

    /// Writes the last row group, then makes the file durable ([`ParquetPart::finish`]).
    fn finish(mut self) -> Result<Segment> {
        self.write_row_group()?;
        Ok(self.part.finish()?.0)
    }
}

/// The write path of the `metrics` table of one run. See the module documentation.
#[derive(Debug)]
pub struct MetricStore {
    run_dir: PathBuf,
    segment_max_rows: u64,
    segment_max_age: Duration,
    wal_fsync_interval: Duration,
    wal: Option<WalWriter>,
    segment: Option<MetricSegmentWriter>,
    next_seq: u64,
    last_sync_at: Instant,
}

impl MetricStore {
    /// Opens the metrics table of a run whose WAL was already recovered (by
    /// `ChangeStore::open`, which holds the run's lock): scrape seqs continue after the last
    /// durable one. Segment size, age and fsync interval follow `config`.
    pub fn open(run_dir: &Path, config: &StoreConfig) -> Result<MetricStore> {
        let next_seq = durable_segments(run_dir)?.iter().map(|segment| segment.last_seq + 1).max().unwrap_or(0);
        Ok(MetricStore {
            run_dir: run_dir.to_path_buf(),
            segment_max_rows: config.segment_max_rows as u64,
            segment_max_age: config.segment_max_age,
            wal_fsync_interval: config.wal_fsync_interval,
            wal: None,
            segment: None,
            next_seq,
            last_sync_at: Instant::now(),
        })
    }

    /// Appends one scrape to the WAL (buffered until the next fsync) and its samples to the
    /// open segment, which is rolled once it holds `segment_max_rows` samples.
    pub fn append(&mut self, scrape: &Scrape) -> Result<Appended> {
        let seq = self.next_seq;
        let body = encode(scrape)?;
        let wal = match &mut self.wal {
            Some(wal) => wal,
            empty => empty.insert(WalWriter::create(&self.run_dir.join(METRICS_WAL_DIR), seq)?),
        };
        wal.append_frame(seq, scrape.scraped_at_ns, 0, RECORD_CODES, &body)?;
        self.next_seq += 1;
        let exposition = exposition::parse(&scrape.text);
        let segment = match &mut self.segment {
            Some(segment) => segment,
            empty => empty.insert(MetricSegmentWriter::create(&self.run_dir, seq)?),
        };
        segment.append(seq, scrape, &exposition)?;
        let rolled = if segment.rows() >= self.segment_max_rows { self.roll()? } else { None };
        Ok(Appended {
            scrape_seq: seq,
            samples: exposition.samples.len() as u64,
            bad_lines: exposition.bad_lines,
            first_problem: exposition.problems.into_iter().next(),
            rolled,
        })
    }

    /// Housekeeping, at least every 100 ms: fsyncs the WAL once the fsync interval has passed
    /// and rolls a segment older than the maximum age. Returns the segment it finished.
    pub fn tick(&mut self) -> Result<Option<Segment>> {
        if self.wal.as_ref().is_some_and(WalWriter::has_unsynced)
            && self.last_sync_at.elapsed() >= self.wal_fsync_interval
        {
            self.sync()?;
        }
        if self.segment.as_ref().is_some_and(|segment| segment.part.age() >= self.segment_max_age) {
            return self.roll();
        }
        Ok(None)
    }

    /// Fsyncs the WAL now: every scrape appended so far survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(wal) = self.wal.as_mut().filter(|wal| wal.has_unsynced()) {
            wal.sync()?;
        }
        self.last_sync_at = Instant::now();
        Ok(())
    }

    /// The scrape seq the next scrape gets (= scrapes recorded in the run so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Finishes the open segment, if any, then deletes the WAL: all its scrapes are durable.
    pub fn roll(&mut self) -> Result<Option<Segment>> {
        let Some(segment) = self.segment.take() else { return Ok(None) };
        // Parquet must never hold a scrape the WAL could lose (see the change store).
        self.sync()?;
        let finished = segment.finish()?;
        if let Some(wal) = self.wal.take() {
            let path = wal.path().to_path_buf();
            drop(wal);
            durable::remove_file(&path)?;
            durable::sync_dir(durable::parent_of(&path))?;
        }
        Ok(Some(finished))
    }

    /// Finishes the last segment and removes the (now empty) WAL directory.
    pub fn close(mut self) -> Result<Option<Segment>> {
        let finished = self.roll()?;
        let wal_dir = self.run_dir.join(METRICS_WAL_DIR);
        if std::fs::remove_dir(&wal_dir).is_ok() {
            durable::sync_dir(&self.run_dir)?;
        }
        Ok(finished)
    }
}

/// Every finished metrics segment of the run, from the files' footers, by first scrape seq.
pub fn durable_segments(run_dir: &Path) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for (name, path) in table_files(run_dir, |name| segment::parse_file_name(name).is_some())? {
        segments.push(segment::read_part_footer(&path, metric::TABLE, format!("{}/{name}", metric::TABLE))?.0);
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

/// Files of `<run>/metrics/` whose names pass `wanted`, as (name, path), sorted by name.
fn table_files(run_dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>> {
    Ok(segment::list_table_dir(&run_dir.join(metric::TABLE), wanted)?)
}

/// What recovering the metrics WAL found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricRecovery {
    /// Valid scrape records in the WAL.
    pub scrapes_read: u64,
    /// Scrapes written to new segments.
    pub scrapes_recovered: u64,
    /// Scrapes skipped because a segment already held them.
    pub scrapes_already_durable: u64,
    /// Record frames and bytes after the valid prefix.
    pub records_dropped: u64,
    pub bytes_dropped: u64,
    /// `metrics/*.inprogress` files deleted.
    pub inprogress_removed: usize,
    pub segments_written: Vec<Segment>,
    /// WAL files kept as `*.damaged` because they were damaged before their end.
    pub quarantined: Vec<PathBuf>,
}

impl MetricRecovery {
    pub fn is_noop(&self) -> bool {
        self.scrapes_read == 0 && self.bytes_dropped == 0 && self.inprogress_removed == 0
    }

    /// One sentence for the manifest's recovery entry.
    pub fn detail(&self) -> String {
        format!(
            "metrics: {} scrape(s) in the WAL, {} already in Parquet, {} written to {} segment(s), {} record(s) dropped, {} .inprogress file(s) removed",
            self.scrapes_read,
            self.scrapes_already_durable,
            self.scrapes_recovered,
            self.segments_written.len(),
            self.records_dropped,
            self.inprogress_removed
        )
    }
}

/// Folds the metrics WAL a crash left into Parquet, on a locked run: deletes
/// `metrics/*.inprogress`, skips every scrape a finished segment holds, writes the rest into
/// new segments, then deletes the WAL (a file damaged before its end, and those after it, are
/// kept as `*.damaged`). Idempotent.
pub fn recover(run_dir: &Path, segment_max_rows: usize) -> Result<MetricRecovery> {
    let mut report = MetricRecovery::default();
    let leftovers = table_files(run_dir, |name| name.ends_with(".parquet.inprogress"))?;
    for (_, path) in &leftovers {
        durable::remove_file(path)?;
    }
    if !leftovers.is_empty() {
        durable::sync_dir(&run_dir.join(metric::TABLE))?;
    }
    report.inprogress_removed = leftovers.len();

    let durable_last = durable_segments(run_dir)?.iter().map(|segment| segment.last_seq).max();
    let wal_dir = run_dir.join(METRICS_WAL_DIR);
    let files = wal::list_segments(&wal_dir)?;
    let mut writer: Option<MetricSegmentWriter> = None;
    let mut damaged_from = None;
    let mut expected_seq = None;
    for (index, (first_seq, path)) in files.iter().enumerate() {
        let mut reader = WalReader::open(path, Some(expected_seq.unwrap_or(*first_seq)))?;
        while let Some(frame) = reader.next_frame(|codes| codes == RECORD_CODES)? {
            report.scrapes_read += 1;
            expected_seq = Some(frame.seq + 1);
            if durable_last.is_some_and(|last| frame.seq <= last) {
                report.scrapes_already_durable += 1;
                continue;
            }
            let scrape = decode(&frame, path)?;
            let segment = match &mut writer {
                Some(segment) => segment,
                empty => empty.insert(MetricSegmentWriter::create(run_dir, frame.seq)?),
            };
            segment.append(frame.seq, &scrape, &exposition::parse(&scrape.text))?;
            report.scrapes_recovered += 1;
            if segment.rows() >= segment_max_rows as u64 {
                report.segments_written.push(writer.take().expect("writer present").finish()?);
            }
        }
        if let Some(tail) = reader.tail() {
            report.records_dropped += tail.frames_dropped;
            report.bytes_dropped += tail.bytes_dropped;
            let is_tail_of_newest = index + 1 == files.len();
            if !is_tail_of_newest || tail.damage == Damage::SeqOutOfOrder {
                warn!(file = %path.display(), damage = tail.damage.as_str(), "metrics WAL damaged before its end: later scrapes are dropped and the files kept as .damaged");
                damaged_from = Some(index);
                break;
            }
        }
    }
    if let Some(segment) = writer {
        report.segments_written.push(segment.finish()?);
    }
    remove_wal(&wal_dir, &files, damaged_from, &mut report)?;
    Ok(report)
}

/// Deletes the recovered WAL files; keeps those from the first damaged one on as `*.damaged`.
fn remove_wal(
    wal_dir: &Path,
    files: &[(u64, PathBuf)],
    damaged_from: Option<usize>,
    report: &mut MetricRecovery,
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    for (index, (_, path)) in files.iter().enumerate() {
        if damaged_from.is_some_and(|first| index >= first) {
            let mut kept = path.as_os_str().to_owned();
            kept.push(".damaged");
            std::fs::rename(path, &kept).map_err(durable::at("rename", path))?;
            report.quarantined.push(PathBuf::from(kept));
        } else {
            durable::remove_file(path)?;
        }
    }
    durable::sync_dir(wal_dir)?;
    if std::fs::remove_dir(wal_dir).is_ok() {
        durable::sync_dir(durable::parent_of(wal_dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(at: i64, util: u32) -> Scrape {
        Scrape {
            endpoint: "http://127.0.0.1:9400/metrics".into(),
            scraped_at_ns: at,
            text: format!(
                "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{{gpu=\"0\",Hostname=\"n\"}} {util}\nDCGM_FI_DEV_GPU_UTIL{{gpu=\"1\",Hostname=\"n\"}} 1\nnot a sample\n"
            ),
        }
    }

    #[test]
    fn wal_body_round_trips() {
        let original = scrape(5, 9);
        let frame = wal::WalFrame {
            seq: 3,
            observed_at_ns: 5,
            epoch: 0,
            codes: RECORD_CODES,
            body: encode(&original).unwrap(),
        };
        assert_eq!(decode(&frame, Path::new("x")).unwrap(), original);
        let cut = wal::WalFrame { body: vec![9, 0, b'h'], ..frame };
        assert!(matches!(decode(&cut, Path::new("x")), Err(MetricStoreError::InvalidRecord { .. })));
    }

    #[test]
    fn rolls_whole_scrapes_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::default().with_segment_max_rows(4);
        let mut store = MetricStore::open(dir.path(), &config).unwrap();
        let first = store.append(&scrape(1, 50)).unwrap();
        assert_eq!((first.scrape_seq, first.samples, first.bad_lines, first.rolled), (0, 2, 1, None));
        assert!(first.first_problem.unwrap().starts_with("line 4: "));
        let second = store.append(&scrape(2, 60)).unwrap();
        let rolled = second.rolled.expect("4 rows fill the segment");
        assert_eq!((rolled.first_seq, rolled.last_seq, rolled.rows), (0, 1, 4));
        assert!(!dir.path().join(METRICS_WAL_DIR).join(wal::segment_file_name(0)).exists());
        store.append(&scrape(3, 70)).unwrap();
        let last = store.close().unwrap().unwrap();
        assert_eq!(
            (last.first_seq, last.last_seq, last.path.as_str()),
            (2, 2, "metrics/part-00000000000000000002.parquet")
        );
        assert!(!dir.path().join(METRICS_WAL_DIR).exists());
        let reopened = MetricStore::open(dir.path(), &config).unwrap();
        assert_eq!(reopened.next_seq(), 3);
    }
}
