//! The metrics store: the `metrics` table of one run (samples scraped from `--metrics`
//! endpoints, see `evident_core::metric`), written through a [`TableStore`] of [`Metrics`],
//! so with the same write path, durability and recovery as the change log.
//!
//! It runs on the change store's thread (see `crate::recording`), which also owns the run
//! manifest: every segment this store finishes is handed back to the caller, which lists it
//! in `run.json`.
//!
//! On-disk layout of the run directory:
//!
//! ```text
//! <run>/wal-metrics/wal-<first scrape seq>.log        WAL files (crate::wal); gone after close
//! <run>/metrics/part-<first scrape seq>.parquet[.inprogress]   segments (crate::segment)
//! ```
//!
//! One WAL record per answered scrape ([`crate::record::ScrapeCodec`]): its seq is the
//! scrape's `scrape_seq` (from 0, without holes, continuing when a run is reopened). The
//! response text is the source of truth: rows are parsed from it both while recording and
//! when recovering, by the same parser, so both give the same rows.
//!
//! Invariants: those of [`crate::table_store`]; a segment holds whole scrapes, contiguous in
//! `scrape_seq`, and its footer carries its first and last scrape seq.
//!
//! What a crash can lose: the scrapes appended after the last WAL fsync (at most
//! [`StoreConfig::wal_fsync_interval`] plus one tick, ~600 ms with the defaults). Recovery
//! (`crate::recover`) folds the rest of the WAL into Parquet, skipping every scrape a segment
//! already holds, so no sample is ever written twice.

use std::path::Path;

use evident_core::exposition;
use evident_core::metric;
use evident_core::run_manifest::Segment;

use crate::config::StoreConfig;
pub use crate::record::{MAX_BODY_BYTES, Scrape};
use crate::segment::{self, SegmentError};
use crate::table::{Metrics, ScrapeRecord};
use crate::table_store::{DurablePosition, TableStore, TableStoreError};

/// Errors of the metrics store.
#[derive(Debug, thiserror::Error)]
pub enum MetricStoreError {
    /// Writing the metrics table (WAL or Parquet) failed, or an earlier error stopped it.
    #[error("metrics table: {0}")]
    Table(#[from] TableStoreError),
    /// Reading the footers of the finished metrics segments failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A scrape body is larger than [`MAX_BODY_BYTES`] or its URL longer than 64 KiB.
    #[error("a scrape of {endpoint} is too large to record ({bytes} bytes)")]
    TooLarge { endpoint: String, bytes: usize },
}

pub type Result<T, E = MetricStoreError> = std::result::Result<T, E>;

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

/// The write path of the `metrics` table of one run. See the module documentation.
#[derive(Debug)]
pub struct MetricStore {
    scrapes: TableStore<Metrics>,
}

impl MetricStore {
    /// Opens the metrics table of a run whose WAL was already recovered (by
    /// `ChangeStore::open`, which holds the run's lock): scrape seqs continue after the last
    /// durable one. Segment size, age, fsync interval and WAL file size follow `config`.
    pub fn open(run_dir: &Path, config: &StoreConfig) -> Result<MetricStore> {
        let durable = segment::scan_table(run_dir, metric::TABLE)?;
        let position = DurablePosition::of::<Metrics>(durable.iter().map(|found| &found.segment));
        Ok(MetricStore { scrapes: TableStore::open(run_dir, config, position)? })
    }

    /// Appends one scrape to the WAL (buffered until the next fsync) and its samples to the
    /// open segment, which is rolled once it holds `segment_max_rows` samples.
    pub fn append(&mut self, scrape: &Scrape) -> Result<Appended> {
        if !scrape.fits() {
            return Err(MetricStoreError::TooLarge { endpoint: scrape.endpoint.clone(), bytes: scrape.text.len() });
        }
        let exposition = exposition::parse(&scrape.text);
        let (scrape_seq, rolled) = self.scrapes.append(&ScrapeRecord { scrape, exposition: &exposition })?;
        Ok(Appended {
            scrape_seq,
            samples: exposition.samples.len() as u64,
            bad_lines: exposition.bad_lines,
            first_problem: exposition.problems.into_iter().next(),
            rolled,
        })
    }

    /// Housekeeping, at least every 100 ms: starts a background fsync of the WAL once the
    /// fsync interval has passed and rolls a segment older than the maximum age. Returns the
    /// segment it finished.
    pub fn tick(&mut self) -> Result<Option<Segment>> {
        Ok(self.scrapes.tick()?.pop())
    }

    /// Fsyncs the WAL now: every scrape appended so far survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        Ok(self.scrapes.sync()?)
    }

    /// The scrape seq the next scrape gets (= scrapes recorded in the run so far).
    pub fn next_seq(&self) -> u64 {
        self.scrapes.next_seq()
    }

    /// Finishes the open segment, if any; the WAL files it made durable are deleted.
    pub fn roll(&mut self) -> Result<Option<Segment>> {
        Ok(self.scrapes.roll_all()?.pop())
    }

    /// Finishes the last segment and removes the (now redundant) WAL and its directory.
    pub fn close(mut self) -> Result<Option<Segment>> {
        let finished = self.scrapes.finish()?.pop();
        self.scrapes.remove_wal()?;
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use evident_core::layout::METRICS_WAL_DIR;

    use super::*;
    use crate::wal;

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
    fn refuses_a_scrape_too_large_to_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MetricStore::open(dir.path(), &StoreConfig::default()).unwrap();
        let huge = Scrape { endpoint: "u".repeat(70_000), ..scrape(1, 1) };
        assert!(matches!(store.append(&huge), Err(MetricStoreError::TooLarge { .. })));
        assert_eq!(store.append(&scrape(2, 2)).unwrap().scrape_seq, 0, "a refused scrape takes no seq");
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
