//! Recovery: folding the WAL tails a crash left behind into Parquet, the same way for every
//! table ([`crate::table::Table`]).
//!
//! Used by [`ChangeStore::open`](crate::change_store::ChangeStore::open) before it records
//! again, and by `evident recover <run>` ([`recover`]).
//!
//! Steps, each safe to interrupt and repeat; steps 1 to 3 run once per table (the change
//! log, then the metrics table), by one replay loop:
//! 1. delete the table's `*.inprogress` segments: never durable, and their rows are still in
//!    the WAL;
//! 2. read the footers of its `.parquet` segments: for each partition, every record with a
//!    seq up to its newest segment's last seq is durable (see [`crate::segment`]);
//! 3. read its WAL files in order up to the first damaged frame and write every record that
//!    is not durable yet into new segments (fsynced and renamed);
//! 4. rebuild the manifest's segment list from the files, record a [`Recovery`] entry and
//!    write `run.json` atomically;
//! 5. delete the WAL files (every valid record is now durable). A WAL file damaged anywhere
//!    but at the tail of the newest one means disk damage, not a crash: it and the files
//!    after it are kept as `*.log.damaged` for inspection instead, and every frame they hold
//!    is counted as dropped.
//!
//! Invariants: no row is ever written twice (step 2 skips what is durable, whether or not
//! the manifest lists it); running recovery twice changes nothing the second time; after
//! recovery, each table's seqs continue at its [`TableRecovery::next_seq`].

use std::path::{Path, PathBuf};

use evident_core::layout::RUN_MANIFEST_FILE;
use evident_core::run_manifest::{Recovery, RunManifest, Segment};
use evident_core::time::format_ns;
use tracing::{info, warn};

use crate::clock::now_ns;
use crate::config::StoreConfig;
use crate::durable;
use crate::lock::{self, RunLock};
use crate::record::RecordError;
use crate::run_manifest::{self, ManifestError};
use crate::segment::{self, SegmentError, SegmentWriter};
use crate::table::{ChangeLog, Metrics, Table};
use crate::wal::{self, Damage, WalError, WalReader};

/// Errors of recovery.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The path is not a run directory.
    #[error("{} is not an evident run directory (no run.json, no wal/); pass a directory under evidence/", path.display())]
    NotARun { path: PathBuf },
    /// Another process holds the run.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// Reading the WAL failed (IO, or a format this version cannot read).
    #[error(transparent)]
    Wal(#[from] WalError),
    /// Reading or writing Parquet segments failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Reading or writing `run.json` failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Deleting or renaming WAL files failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// A frame passed its checksum but its body does not decode: a writer bug, not a crash.
    #[error("WAL record {seq} in {} is invalid: {source}", path.display())]
    InvalidRecord {
        seq: u64,
        path: PathBuf,
        #[source]
        source: RecordError,
    },
}

pub type Result<T, E = RecoverError> = std::result::Result<T, E>;

/// Damage found in one WAL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDamage {
    pub file: PathBuf,
    pub damage: Damage,
    /// End of the valid prefix in the file (0 for a file dropped whole).
    pub offset: u64,
    pub bytes_dropped: u64,
    pub frames_dropped: u64,
    /// True if the file was kept as `*.damaged` rather than deleted.
    pub quarantined: bool,
}

/// What recovering one table found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRecovery {
    /// WAL files read.
    pub wal_files: usize,
    /// Valid records in the WAL (its longest valid prefix).
    pub records_read: u64,
    /// Records written to new Parquet segments.
    pub records_recovered: u64,
    /// Records skipped because a Parquet segment already held them.
    pub records_already_durable: u64,
    /// Frames after the valid prefix, in the damaged file and every file after it (see
    /// [`wal::TornTail::frames_dropped`]).
    pub records_dropped: u64,
    /// Bytes after the valid prefix, in the damaged file and every file after it.
    pub bytes_dropped: u64,
    pub damage: Vec<WalDamage>,
    /// `*.inprogress` segments deleted.
    pub inprogress_removed: Vec<PathBuf>,
    /// Segments written from the WAL.
    pub segments_written: Vec<Segment>,
    /// The seq the table's next record gets.
    pub next_seq: u64,
    /// Latest receipt time over the table's durable rows, if it has any.
    pub last_observed_at_ns: Option<i64>,
}

impl TableRecovery {
    /// True if there was nothing to recover: no WAL records, no damage, no leftovers.
    pub fn is_noop(&self) -> bool {
        self.records_read == 0 && self.bytes_dropped == 0 && self.inprogress_removed.is_empty()
    }

    /// The WAL files kept as `*.damaged`, by their names before the rename.
    pub fn quarantined(&self) -> impl Iterator<Item = &Path> {
        self.damage.iter().filter(|damage| damage.quarantined).map(|damage| damage.file.as_path())
    }

    /// One sentence for the manifest's recovery entry, naming the table.
    fn detail(&self, table: &str, noun: &str) -> String {
        let mut parts = vec![format!(
            "{table}: {} {noun}(s) in {} WAL file(s), {} already in Parquet, {} written to {} segment(s), {} record(s) dropped, {} .inprogress file(s) removed",
            self.records_read,
            self.wal_files,
            self.records_already_durable,
            self.records_recovered,
            self.segments_written.len(),
            self.records_dropped,
            self.inprogress_removed.len()
        )];
        for damage in &self.damage {
            let name = damage.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            parts.push(format!(
                "{name}: {} at byte {}, dropped {} byte(s) holding {} record frame(s){}",
                damage.damage.as_str(),
                damage.offset,
                damage.bytes_dropped,
                damage.frames_dropped,
                if damage.quarantined { ", kept as .damaged" } else { "" }
            ));
        }
        parts.join("; ")
    }
}

/// What a recovery found and did, per table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    /// The change log (`wal/`, `nodes/`, `pods/`, `events/`).
    pub changes: TableRecovery,
    /// The metrics table (`wal-metrics/`, `metrics/`).
    pub metrics: TableRecovery,
}

impl RecoveryReport {
    /// True if there was nothing to recover in any table.
    pub fn is_noop(&self) -> bool {
        self.changes.is_noop() && self.metrics.is_noop()
    }

    /// Each table's recovery, with the table's name.
    pub fn tables(&self) -> [(&'static str, &TableRecovery); 2] {
        [(ChangeLog::NAME, &self.changes), (Metrics::NAME, &self.metrics)]
    }

    /// What was done, table by table (tables with nothing to recover are left out).
    pub fn detail(&self) -> String {
        let mut parts = Vec::new();
        if !self.changes.is_noop() {
            parts.push(self.changes.detail(ChangeLog::NAME, ChangeLog::RECORD_NOUN));
        }
        if !self.metrics.is_noop() {
            parts.push(self.metrics.detail(Metrics::NAME, Metrics::RECORD_NOUN));
        }
        parts.join("; ")
    }
}

/// Recovers the run in `run_dir` after a crash (`evident recover`): folds the WAL into
/// Parquet, removes leftovers and marks the run stopped. Idempotent.
pub fn recover(run_dir: &Path) -> Result<RecoveryReport> {
    let looks_like_run = run_dir.join(RUN_MANIFEST_FILE).is_file()
        || run_dir.join(ChangeLog::WAL_DIR).is_dir()
        || run_dir.join(Metrics::WAL_DIR).is_dir();
    if !run_dir.is_dir() || !looks_like_run {
        return Err(RecoverError::NotARun { path: run_dir.to_path_buf() });
    }
    let lock = RunLock::acquire(run_dir)?;
    let mut manifest = run_manifest::read(run_dir)?.unwrap_or_else(|| run_manifest::new_run(run_dir, String::new()));
    let segment_max_rows = match manifest.settings.segment_max_rows {
        0 => StoreConfig::default().segment_max_rows,
        rows => rows as usize,
    };
    let report = recover_in_place(run_dir, &mut manifest, segment_max_rows, true)?;
    // A recorder that crashed left the space it set aside for run.json: give it back.
    durable::remove_file(&run_dir.join(run_manifest::RESERVE_FILE))?;
    lock.release()?;
    Ok(report)
}

/// The recovery steps on a locked run. With `mark_stopped`, a run without a stop time gets
/// one (its latest receipt time) and the stop reason `recovered`. Writes `run.json` only if
/// something changed.
pub(crate) fn recover_in_place(
    run_dir: &Path,
    manifest: &mut RunManifest,
    segment_max_rows: usize,
    mark_stopped: bool,
) -> Result<RecoveryReport> {
    let (changes, changes_wal) = replay::<ChangeLog>(run_dir, segment_max_rows)?;
    let (metrics, metrics_wal) = replay::<Metrics>(run_dir, segment_max_rows)?;
    let report = RecoveryReport { changes, metrics };
    update_manifest(run_dir, manifest, &report, mark_stopped)?;
    changes_wal.remove()?;
    metrics_wal.remove()?;
    if !report.is_noop() {
        info!(
            run = %run_dir.display(),
            recovered = report.changes.records_recovered,
            dropped = report.changes.records_dropped,
            scrapes_recovered = report.metrics.records_recovered,
            scrapes_dropped = report.metrics.records_dropped,
            "recovered the WAL tail"
        );
    }
    Ok(report)
}

/// Step 4: the manifest lists exactly the segment files of every table; a recovery that
/// did something is recorded, and `mark_stopped` stops a run that has no stop time.
fn update_manifest(
    run_dir: &Path,
    manifest: &mut RunManifest,
    report: &RecoveryReport,
    mark_stopped: bool,
) -> Result<()> {
    let mut segments = Vec::new();
    for table in ChangeLog::PARTITIONS.iter().chain(Metrics::PARTITIONS) {
        segments.extend(segment::scan_table(run_dir, table)?.into_iter().map(|found| found.segment));
    }
    let mut changed = run_manifest::sync_segments(manifest, segments);
    if !report.is_noop() {
        manifest.recoveries.push(Recovery {
            at: format_ns(now_ns()),
            records_recovered: report.changes.records_recovered,
            records_dropped: report.changes.records_dropped,
            detail: report.detail(),
        });
        changed = true;
    }
    if mark_stopped && manifest.stopped_at.is_empty() {
        let last_observed = report.changes.last_observed_at_ns.max(report.metrics.last_observed_at_ns);
        manifest.stopped_at = format_ns(last_observed.unwrap_or_else(now_ns));
        manifest.stop_reason = evident_core::StopReason::Recovered;
        changed = true;
    }
    if changed {
        run_manifest::write(run_dir, manifest)?;
    }
    Ok(())
}

/// Steps 1 to 3 for table `T`: the one replay loop. Returns what it did and the WAL files
/// to delete (step 5) once the manifest is written.
fn replay<T: Table>(run_dir: &Path, segment_max_rows: usize) -> Result<(TableRecovery, WalCleanup)> {
    let mut report = TableRecovery::default();
    for table in T::PARTITIONS {
        report.inprogress_removed.extend(segment::remove_inprogress(run_dir, table)?);
    }
    let mut replay = Replay::<T>::new(run_dir, segment_max_rows, &mut report)?;
    let wal_dir = run_dir.join(T::WAL_DIR);
    let files = wal::list_segments(&wal_dir)?;
    report.wal_files = files.len();
    let mut damaged_from: Option<usize> = None;
    for (index, (first_seq, path)) in files.iter().enumerate() {
        if damaged_from.is_some() {
            count_unread_file::<T>(path, &mut report)?;
            continue;
        }
        let is_newest = index + 1 == files.len();
        if replay.file(path, *first_seq, is_newest, &mut report)? {
            damaged_from = Some(index);
        }
    }
    report.segments_written.extend(replay.finish()?);
    Ok((report, WalCleanup { wal_dir, files, damaged_from }))
}

/// The state of one table's replay: where its durable rows end and the segments being
/// written.
struct Replay<T: Table> {
    run_dir: PathBuf,
    segment_max_rows: u64,
    durable_last_seq: Vec<Option<u64>>,
    writers: Vec<Option<T::Writer>>,
    /// The seq the next frame must have (from the previous file's last frame).
    expected_seq: Option<u64>,
}

impl<T: Table> Replay<T> {
    /// Step 2: reads the footers of the table's segments into `report` (next seq, latest
    /// receipt time) and keeps each partition's last durable seq.
    fn new(run_dir: &Path, segment_max_rows: usize, report: &mut TableRecovery) -> Result<Replay<T>> {
        let mut durable_last_seq = vec![None; T::PARTITIONS.len()];
        for (partition, table) in T::PARTITIONS.iter().enumerate() {
            for found in segment::scan_table(run_dir, table)? {
                durable_last_seq[partition] = durable_last_seq[partition].max(Some(found.segment.last_seq));
                report.next_seq = report.next_seq.max(found.segment.last_seq.saturating_add(1));
                report.last_observed_at_ns = report.last_observed_at_ns.max(found.last_observed_at_ns);
            }
        }
        Ok(Replay {
            run_dir: run_dir.to_path_buf(),
            segment_max_rows: segment_max_rows as u64,
            durable_last_seq,
            writers: T::PARTITIONS.iter().map(|_| None).collect(),
            expected_seq: None,
        })
    }

    /// Step 3 for one WAL file: writes its valid records that are not durable yet and
    /// accounts for its damaged tail. Returns true if the damage means disk damage rather
    /// than a crash (the file and every later one are then quarantined).
    fn file(&mut self, path: &Path, first_seq: u64, is_newest: bool, report: &mut TableRecovery) -> Result<bool> {
        let mut reader = WalReader::open(path, Some(self.expected_seq.unwrap_or(first_seq)))?;
        while let Some(frame) = reader.next_frame(T::FRAME_TYPE)? {
            report.records_read += 1;
            // Seqs come from the file; a damaged or hand-made one must not overflow.
            self.expected_seq = Some(frame.seq.saturating_add(1));
            report.next_seq = report.next_seq.max(frame.seq.saturating_add(1));
            let seq = frame.seq;
            let invalid = |source| RecoverError::InvalidRecord { seq, path: path.to_path_buf(), source };
            T::decode(seq, frame.body, |record| self.record(seq, record, report))
                .map_err(invalid)
                .and_then(|written| written)?;
        }
        let Some(tail) = reader.tail() else { return Ok(false) };
        // A torn tail of the newest file is what a crash leaves: nothing follows it.
        let quarantined = !is_newest || tail.damage == Damage::SeqOutOfOrder;
        report.records_dropped += tail.frames_dropped;
        report.bytes_dropped += tail.bytes_dropped;
        report.damage.push(WalDamage {
            file: path.to_path_buf(),
            damage: tail.damage,
            offset: tail.offset,
            bytes_dropped: tail.bytes_dropped,
            frames_dropped: tail.frames_dropped,
            quarantined,
        });
        if quarantined {
            warn!(table = T::NAME, file = %path.display(), damage = tail.damage.as_str(), offset = tail.offset, "WAL damaged before its end: later records are dropped and the files kept as .damaged");
        }
        Ok(quarantined)
    }

    /// One valid record: skipped if durable, else written to its partition's segment.
    fn record(&mut self, seq: u64, record: &T::Record<'_>, report: &mut TableRecovery) -> Result<()> {
        report.last_observed_at_ns = report.last_observed_at_ns.max(Some(T::observed_at_ns(record)));
        let partition = T::partition(record);
        if self.durable_last_seq[partition].is_some_and(|last| seq <= last) {
            report.records_already_durable += 1;
            return Ok(());
        }
        let slot = &mut self.writers[partition];
        let mut writer = match slot.take() {
            Some(writer) => writer,
            None => T::create_writer(&self.run_dir, partition, seq)?,
        };
        T::write(&mut writer, seq, record)?;
        report.records_recovered += 1;
        if writer.rows() >= self.segment_max_rows {
            report.segments_written.push(writer.finish()?.segment);
        } else {
            *slot = Some(writer);
        }
        Ok(())
    }

    /// Finishes the segments still open.
    fn finish(self) -> Result<Vec<Segment>> {
        let mut finished = Vec::new();
        for writer in self.writers.into_iter().flatten() {
            finished.push(writer.finish()?.segment);
        }
        Ok(finished)
    }
}

/// A WAL file after the first damage: all its frames are dropped, counted exactly.
fn count_unread_file<T: Table>(path: &Path, report: &mut TableRecovery) -> Result<()> {
    let mut reader = WalReader::open(path, None)?;
    while reader.next_frame(T::FRAME_TYPE)?.is_some() {}
    let tail_frames = reader.tail().map_or(0, |tail| tail.frames_dropped);
    let frames = reader.records() + tail_frames;
    report.records_dropped += frames;
    report.bytes_dropped += reader.file_len();
    report.damage.push(WalDamage {
        file: path.to_path_buf(),
        damage: reader.tail().map_or(Damage::SeqOutOfOrder, |tail| tail.damage),
        offset: 0,
        bytes_dropped: reader.file_len(),
        frames_dropped: frames,
        quarantined: true,
    });
    Ok(())
}

/// Step 5 for one table: its WAL files, and the first one damaged before its end.
#[derive(Debug)]
struct WalCleanup {
    wal_dir: PathBuf,
    files: Vec<(u64, PathBuf)>,
    damaged_from: Option<usize>,
}

impl WalCleanup {
    /// Deletes the WAL files now folded into Parquet; keeps damaged ones as `*.damaged`.
    fn remove(self) -> Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        for (index, (_, path)) in self.files.iter().enumerate() {
            if self.damaged_from.is_some_and(|first| index >= first) {
                let mut kept = path.as_os_str().to_owned();
                kept.push(".damaged");
                std::fs::rename(path, &kept).map_err(durable::at("rename", path))?;
            } else {
                durable::remove_file(path)?;
            }
        }
        durable::sync_dir(&self.wal_dir)?;
        // An empty WAL directory is left by a clean finish only if removing it fails, which
        // is harmless.
        if std::fs::remove_dir(&self.wal_dir).is_ok() {
            durable::sync_dir(durable::parent_of(&self.wal_dir))?;
        }
        Ok(())
    }
}
