//! The change store: the write path `Change -> WAL -> Parquet segments` of one run.
//!
//! The watcher half of the recorder calls it from one dedicated thread:
//! [`ChangeStore::open`] once, [`ChangeStore::append`] per observed change,
//! [`ChangeStore::tick`] at least every 100 ms, and [`ChangeStore::close`] at the end.
//!
//! On-disk layout of the run directory (see also `evident_core::manifest`):
//!
//! ```text
//! <run>/run.json                                  manifest, replaced atomically
//! <run>/.lock                                     held while recording (see crate::lock)
//! <run>/wal/wal-<first seq>.log                   WAL segments (crate::wal); gone after close
//! <run>/{nodes,pods,events}/part-<first seq>.parquet[.inprogress]   segments (crate::segment)
//! ```
//!
//! How a change travels: `append` redacts the object's JSON text and reads its typed facts
//! in the same pass ([`evident_core::redact::redact_read`]), gives it the next seq, appends
//! the redacted text to the WAL (buffered) and the row to its table's open segment, which
//! writes a Parquet row group every [`crate::segment::ROW_GROUP_MAX_ROWS`] rows. A segment
//! is rolled (footer, fsync, rename, directory fsync) when it reaches
//! [`StoreConfig::segment_max_rows`] rows or [`StoreConfig::segment_max_age`]; the manifest
//! is rewritten after every roll.
//!
//! Invariants:
//! - seqs start at 0 and have no holes, across tables, across reopenings of the run.
//! - The WAL is fsynced before every roll, so every row in a Parquet file is also in the
//!   fsynced WAL (or in a WAL segment deleted because its rows were all durable).
//! - A WAL segment is deleted only when every row in it is in a durable Parquet file, and
//!   only oldest first, so the remaining WAL is always a contiguous run of seqs.
//! - Memory holds the rows of one unwritten row group per table, plus Parquet's encoded
//!   buffers: it grows with the row-group size and the size of objects, never with the
//!   number of changes recorded.
//!
//! What a crash (process kill, power loss) can lose: only the changes appended after the
//! last finished WAL fsync, i.e. at most [`StoreConfig::wal_fsync_interval`] plus one tick
//! period plus the time an fsync takes (~600 ms with the defaults on a healthy disk). The
//! periodic fsyncs, and the fsync of a WAL segment that was just closed, run on their own
//! thread, so appends do not wait for the disk; a roll and `close` wait for them. Never a
//! Parquet file (they appear whole or not at all), and never a duplicate: recovery skips
//! every WAL record already durable in Parquet. After any error the store refuses further
//! work ([`StoreError::Poisoned`]); drop it and open the run again, which recovers the WAL.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use evident_core::manifest::{RunManifest, WAL_DIR};
use evident_core::time::format_ns;
use evident_core::{Change, Facts, Kind, Op, redact};
use serde::de::IgnoredAny;

use crate::durable;
use crate::lock::{LockError, RunLock};
use crate::manifest::{self, ManifestError};
pub use crate::recover::{RecoverError, RecoveryReport, WalDamage, recover};
use crate::recover::{now_ns, recover_in_place, slot};
use crate::segment::{SegmentError, SegmentWriter};
use crate::wal::{BackgroundSync, WalError, WalWriter};

/// How the store rolls segments and syncs the WAL. `Default` gives the documented defaults;
/// the `with_*` methods change one setting each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Rows after which a table's Parquet segment is rolled. Default: 50 000.
    pub segment_max_rows: usize,
    /// Age of a segment's oldest row after which it is rolled, so readers see recent rows
    /// within this delay. Default: 10 s.
    pub segment_max_age: Duration,
    /// Longest time appended changes stay un-fsynced in the WAL (checked by each
    /// [`ChangeStore::tick`]). Default: 500 ms.
    pub wal_fsync_interval: Duration,
    /// Size after which the WAL starts a new segment file, so durable WAL bytes can be
    /// deleted while recording. Default: 64 MiB.
    pub wal_segment_max_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_max_rows: 50_000,
            segment_max_age: Duration::from_secs(10),
            wal_fsync_interval: Duration::from_millis(500),
            wal_segment_max_bytes: 64 << 20,
        }
    }
}

impl StoreConfig {
    pub fn with_segment_max_rows(mut self, rows: usize) -> Self {
        self.segment_max_rows = rows;
        self
    }

    pub fn with_segment_max_age(mut self, age: Duration) -> Self {
        self.segment_max_age = age;
        self
    }

    pub fn with_wal_fsync_interval(mut self, interval: Duration) -> Self {
        self.wal_fsync_interval = interval;
        self
    }

    pub fn with_wal_segment_max_bytes(mut self, bytes: u64) -> Self {
        self.wal_segment_max_bytes = bytes;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.segment_max_rows == 0 {
            return Err(StoreError::InvalidConfig("segment_max_rows must be at least 1".into()));
        }
        if self.segment_max_age.is_zero() {
            return Err(StoreError::InvalidConfig("segment_max_age must be longer than 0".into()));
        }
        if self.wal_segment_max_bytes < 4096 {
            return Err(StoreError::InvalidConfig("wal_segment_max_bytes must be at least 4096".into()));
        }
        Ok(())
    }
}

/// Errors of the change store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is unusable.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// Another process is recording or recovering this run.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Recovering the run's WAL at open failed.
    #[error("recovering the run before recording: {0}")]
    Recover(#[from] RecoverError),
    /// Writing or syncing the WAL failed.
    #[error("writing the write-ahead log: {0}")]
    Wal(#[from] WalError),
    /// Writing a Parquet segment failed.
    #[error("writing a Parquet segment: {0}")]
    Segment(#[from] SegmentError),
    /// Writing `run.json` failed.
    #[error("writing the run manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// A file-system step (directory creation, WAL deletion) failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// The object's text is not valid JSON; nothing was written.
    #[error("the object is not valid JSON, nothing was written: {0}")]
    Json(#[source] serde_json::Error),
    /// An earlier error left the store in an unknown state; open the run again to recover.
    #[error("the change store stopped after an earlier error; open the run again to recover it")]
    Poisoned,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Live figures of a store, for a status line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// The seq the next change gets (= changes in the run so far).
    pub next_seq: u64,
    /// Rows per table in the run: durable plus pending.
    pub rows: BTreeMap<String, u64>,
    /// Rows not yet in a durable Parquet file (they are in the WAL).
    pub pending_rows: u64,
    /// Bytes of WAL on disk, including bytes still buffered.
    pub wal_bytes: u64,
    pub wal_segments: usize,
    /// Durable Parquet segments and their total size.
    pub segments: usize,
    pub segment_bytes: u64,
    /// When the WAL was last fsynced, and the last seq that fsync made durable.
    pub last_fsync: Option<SystemTime>,
    pub last_fsynced_seq: Option<u64>,
}

/// A WAL segment file no longer written to, waiting for its rows to be durable in Parquet.
#[derive(Debug)]
struct ClosedWalSegment {
    path: PathBuf,
    bytes: u64,
    /// Highest seq of each table in the file.
    last_seq_by_table: [Option<u64>; 3],
}

/// The write path of one run. See the module documentation.
#[derive(Debug)]
pub struct ChangeStore {
    run_dir: PathBuf,
    config: StoreConfig,
    manifest: RunManifest,
    lock: Option<RunLock>,
    wal: WalWriter,
    wal_last_seq_by_table: [Option<u64>; 3],
    closed_wal: VecDeque<ClosedWalSegment>,
    open_segments: [Option<SegmentWriter>; 3],
    durable_last_seq: [Option<u64>; 3],
    next_seq: u64,
    last_sync_at: Instant,
    last_fsync: Option<SystemTime>,
    last_fsynced_seq: Option<u64>,
    /// Fsyncs running in the background, oldest first, with the last seq each makes durable.
    syncs: VecDeque<(BackgroundSync, Option<u64>)>,
    poisoned: bool,
}

impl ChangeStore {
    /// Creates the run directory, or reopens an existing run: any WAL a crash left is first
    /// folded into Parquet (never duplicating rows already there), and seqs continue after
    /// the run's last one. Returns what that recovery did.
    pub fn open(run_dir: &Path, config: StoreConfig) -> Result<(ChangeStore, RecoveryReport)> {
        config.validate()?;
        durable::create_dir(run_dir)?;
        let lock = RunLock::acquire(run_dir)?;
        let mut manifest = manifest::read(run_dir)?.unwrap_or_else(|| manifest::new_run(run_dir, format_ns(now_ns())));
        let report = recover_in_place(run_dir, &mut manifest, config.segment_max_rows, false)?;

        let mut durable_last_seq = [None; 3];
        for segment in &manifest.segments {
            if let Some(kind) = Kind::from_table(&segment.table) {
                let last = &mut durable_last_seq[slot(kind)];
                *last = (*last).max(Some(segment.last_seq));
            }
        }
        if manifest.started_at.is_empty() {
            manifest.started_at = format_ns(now_ns());
        }
        manifest.stopped_at.clear();
        manifest.stop_reason = evident_core::StopReason::NotStopped;
        manifest.settings.segment_max_rows = config.segment_max_rows as u64;
        manifest.settings.segment_max_secs = config.segment_max_age.as_secs();
        manifest.settings.wal_fsync_ms = config.wal_fsync_interval.as_millis() as u64;
        manifest::write(run_dir, &manifest)?;

        let wal = WalWriter::create(&run_dir.join(WAL_DIR), report.next_seq)?;
        let store = ChangeStore {
            run_dir: run_dir.to_path_buf(),
            config,
            manifest,
            lock: Some(lock),
            wal,
            wal_last_seq_by_table: [None; 3],
            closed_wal: VecDeque::new(),
            open_segments: [None, None, None],
            durable_last_seq,
            next_seq: report.next_seq,
            last_sync_at: Instant::now(),
            last_fsync: None,
            last_fsynced_seq: report.next_seq.checked_sub(1),
            syncs: VecDeque::new(),
            poisoned: false,
        };
        Ok((store, report))
    }

    /// Redacts the object's JSON text (see the module doc), gives it the next seq,
    /// appends it to the WAL (buffered until the next fsync) and to its table's open
    /// segment. Rolls the segment if it is full. Returns the seq.
    ///
    /// Text that is not valid JSON is refused with [`StoreError::Json`] before anything is
    /// written; the store stays usable.
    pub fn append(&mut self, kind: Kind, op: Op, epoch: u32, observed_at_ns: i64, object: &str) -> Result<u64> {
        serde_json::from_str::<IgnoredAny>(object).map_err(StoreError::Json)?;
        self.append_decoded(kind, op, epoch, observed_at_ns, object)
    }

    /// [`ChangeStore::append`] for text serde_json has already decoded, and so checked, as
    /// the watch's [`crate::raw::RawObject`]: it is not checked again (that would cost as
    /// much as reading the typed columns). Text that is not JSON must not come here: parts
    /// of it could be written as they are.
    pub fn append_decoded(&mut self, kind: Kind, op: Op, epoch: u32, observed_at_ns: i64, object: &str) -> Result<u64> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let seq = self.next_seq;
        // One pass redacts and reads the typed columns; text it cannot walk takes both slow paths.
        if let Some((json, facts)) = redact::redact_read(object) {
            let change = Change::from_redacted(seq, observed_at_ns, epoch, op, kind, json);
            return self.guard(|store| store.append_change(&change, &facts));
        }
        let json = redact::redact_parsed(object).map_err(StoreError::Json)?;
        let change = Change::from_redacted(seq, observed_at_ns, epoch, op, kind, json);
        let facts = Facts::parse(&change.json).map_err(StoreError::Json)?;
        self.guard(|store| store.append_change(&change, &facts))
    }

    fn append_change(&mut self, change: &Change, facts: &Facts<'_>) -> Result<u64> {
        let (seq, kind) = (change.seq, change.kind);
        self.wal.append(seq, change.observed_at_ns, change.epoch, kind, change.op, change.json.as_bytes())?;
        self.next_seq += 1;
        let table = slot(kind);
        self.wal_last_seq_by_table[table] = Some(seq);

        let segment = match &mut self.open_segments[table] {
            Some(segment) => segment,
            empty => empty.insert(SegmentWriter::create(&self.run_dir, kind, seq)?),
        };
        segment.append(change, facts)?;
        if segment.rows() >= self.config.segment_max_rows as u64 {
            self.roll(table)?;
        }
        if self.wal.bytes() >= self.config.wal_segment_max_bytes {
            self.rotate_wal()?;
        }
        Ok(seq)
    }

    /// Housekeeping, to be called at least every 100 ms even when no change arrives:
    /// starts a background fsync of the WAL once [`StoreConfig::wal_fsync_interval`] has
    /// passed since the last one started (fails if an earlier one failed), and rolls
    /// segments older than [`StoreConfig::segment_max_age`].
    pub fn tick(&mut self) -> Result<()> {
        self.guard(|store| {
            if store.last_sync_at.elapsed() >= store.config.wal_fsync_interval {
                store.start_wal_sync()?;
            } else {
                store.reap_syncs(false)?;
            }
            for table in 0..store.open_segments.len() {
                if store.open_segments[table].as_ref().is_some_and(|s| s.age() >= store.config.segment_max_age) {
                    store.roll(table)?;
                }
            }
            Ok(())
        })
    }

    /// Fsyncs the WAL now: every change appended so far survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        self.guard(Self::sync_wal)
    }

    /// The manifest being recorded; the caller fills cluster info, settings and gaps. It is
    /// written at every roll and at close.
    pub fn manifest_mut(&mut self) -> &mut RunManifest {
        &mut self.manifest
    }

    pub fn manifest(&self) -> &RunManifest {
        &self.manifest
    }

    /// Writes `run.json` now, for changes made through [`ChangeStore::manifest_mut`] that
    /// must not wait for the next roll (a metrics segment listed by the metrics store).
    pub fn write_manifest(&mut self) -> Result<()> {
        self.guard(|store| Ok(manifest::write(&store.run_dir, &store.manifest)?))
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn stats(&self) -> StoreStats {
        let mut rows = self.manifest.row_counts.clone();
        let mut pending_rows = 0;
        for segment in self.open_segments.iter().flatten() {
            *rows.entry(segment.kind().table().to_string()).or_insert(0) += segment.rows();
            pending_rows += segment.rows();
        }
        StoreStats {
            next_seq: self.next_seq,
            rows,
            pending_rows,
            wal_bytes: self.wal.bytes() + self.closed_wal.iter().map(|closed| closed.bytes).sum::<u64>(),
            wal_segments: 1 + self.closed_wal.len(),
            segments: self.manifest.segments.len(),
            segment_bytes: self.manifest.segments.iter().map(|segment| segment.bytes).sum(),
            last_fsync: self.last_fsync,
            last_fsynced_seq: self.last_fsynced_seq,
        }
    }

    /// Rolls every open segment, deletes the WAL (all its rows are now durable) and writes
    /// `run.json` with the stop time, the reason, the segments and the row counts.
    pub fn close(mut self, stop_reason: impl Into<evident_core::StopReason>) -> Result<RunManifest> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        for table in 0..self.open_segments.len() {
            self.finish_segment(table)?;
        }
        self.sync_wal()?;
        self.manifest.stopped_at = format_ns(now_ns());
        self.manifest.stop_reason = stop_reason.into();
        manifest::write(&self.run_dir, &self.manifest)?;

        let wal_dir = self.run_dir.join(WAL_DIR);
        for closed in self.closed_wal.drain(..) {
            durable::remove_file(&closed.path)?;
        }
        durable::remove_file(self.wal.path())?;
        durable::sync_dir(&wal_dir)?;
        if std::fs::remove_dir(&wal_dir).is_ok() {
            durable::sync_dir(&self.run_dir)?;
        }
        if let Some(lock) = self.lock.take() {
            lock.release()?;
        }
        Ok(self.manifest)
    }

    /// Runs `work`; if it fails, the store is marked unusable (its files are consistent
    /// only up to what recovery can prove).
    fn guard<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let outcome = work(self);
        self.poisoned = outcome.is_err();
        outcome
    }

    /// Fsyncs the WAL and waits: afterwards every change appended so far is durable.
    fn sync_wal(&mut self) -> Result<()> {
        self.reap_syncs(true)?;
        if self.wal.has_unsynced() {
            self.wal.sync()?;
            self.synced_up_to(self.next_seq.checked_sub(1));
        }
        self.last_sync_at = Instant::now();
        Ok(())
    }

    /// Starts an fsync of the WAL in the background, unless one is still running (a slow
    /// disk then gets one fsync at a time, not a pile of them).
    fn start_wal_sync(&mut self) -> Result<()> {
        self.reap_syncs(false)?;
        if self.syncs.is_empty() && self.wal.has_unsynced() {
            let sync = self.wal.start_sync()?;
            self.syncs.push_back((sync, self.next_seq.checked_sub(1)));
            self.last_sync_at = Instant::now();
        }
        Ok(())
    }

    /// Takes the outcome of background fsyncs, oldest first: all of them when `wait`, else
    /// those already finished. A failed fsync fails the store.
    fn reap_syncs(&mut self, wait: bool) -> Result<()> {
        while self.syncs.front().is_some_and(|(sync, _)| wait || sync.is_finished()) {
            if let Some((sync, seq)) = self.syncs.pop_front() {
                sync.wait()?;
                self.synced_up_to(seq);
            }
        }
        Ok(())
    }

    fn synced_up_to(&mut self, seq: Option<u64>) {
        self.last_fsync = Some(SystemTime::now());
        self.last_fsynced_seq = self.last_fsynced_seq.max(seq);
    }

    /// Makes a table's open segment durable and records it in the manifest.
    fn roll(&mut self, table: usize) -> Result<()> {
        if self.finish_segment(table)? {
            manifest::write(&self.run_dir, &self.manifest)?;
            self.delete_durable_wal()?;
        }
        Ok(())
    }

    /// Finishes a table's open segment, if any, without writing the manifest.
    fn finish_segment(&mut self, table: usize) -> Result<bool> {
        let Some(segment) = self.open_segments[table].take() else {
            return Ok(false);
        };
        // Parquet must never hold a row the WAL could lose: the WAL is recovery's only
        // way to know the seqs before a durable row were all observed.
        self.sync_wal()?;
        let durable = segment.finish()?;
        self.durable_last_seq[table] = Some(durable.segment.last_seq);
        manifest::add_segment(&mut self.manifest, durable.segment);
        Ok(true)
    }

    /// Starts a new WAL segment; the closed one is fsynced in the background (a roll waits
    /// for that fsync before any of its rows can be durable in Parquet).
    fn rotate_wal(&mut self) -> Result<()> {
        let next = WalWriter::create(&self.run_dir.join(WAL_DIR), self.next_seq)?;
        let mut closed = std::mem::replace(&mut self.wal, next);
        if closed.has_unsynced() {
            let sync = closed.start_sync()?;
            self.syncs.push_back((sync, self.next_seq.checked_sub(1)));
        }
        self.closed_wal.push_back(ClosedWalSegment {
            path: closed.path().to_path_buf(),
            bytes: closed.bytes(),
            last_seq_by_table: std::mem::take(&mut self.wal_last_seq_by_table),
        });
        self.delete_durable_wal()
    }

    /// Deletes closed WAL segments, oldest first, while every row in them is durable.
    fn delete_durable_wal(&mut self) -> Result<()> {
        let mut deleted = false;
        while let Some(oldest) = self.closed_wal.front() {
            let durable = oldest
                .last_seq_by_table
                .iter()
                .zip(&self.durable_last_seq)
                .all(|(in_wal, durable)| in_wal.is_none_or(|seq| durable.is_some_and(|d| d >= seq)));
            if !durable {
                break;
            }
            durable::remove_file(&oldest.path)?;
            self.closed_wal.pop_front();
            deleted = true;
        }
        if deleted {
            durable::sync_dir(&self.run_dir.join(WAL_DIR))?;
        }
        Ok(())
    }
}
