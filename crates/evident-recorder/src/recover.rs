//! Recovery: folding the WAL tail a crash left behind into Parquet.
//!
//! Used by [`ChangeStore::open`](crate::store::ChangeStore::open) before it records again,
//! and by `evident recover <run>` ([`recover`]).
//!
//! Steps, each safe to interrupt and repeat:
//! 1. delete `*.inprogress` segments: never durable, and their rows are still in the WAL;
//! 2. read the footers of the `.parquet` segments: for each table, every row with a seq up
//!    to its newest segment's last seq is durable (see [`crate::segment`]);
//! 3. read the WAL segments in order up to the first damaged record and write every record
//!    that is not durable yet into new segments (fsynced and renamed);
//! 4. rebuild the manifest's segment list from the files, record a [`Recovery`] entry and
//!    write `run.json` atomically;
//! 5. delete the WAL segments (every valid record is now durable). A WAL segment damaged
//!    anywhere but at the tail of the newest one means disk damage, not a crash: it and the
//!    segments after it are kept as `*.log.damaged` for inspection instead.
//!
//! The metrics WAL (`wal-metrics/`) is folded the same way by [`crate::metric_store::recover`]
//! before step 4, so the rebuilt segment list holds the `metrics` segments too.
//!
//! Invariants: no row is ever written twice (step 2 skips what is durable, whether or not
//! the manifest lists it); running recovery twice changes nothing the second time; after
//! recovery, seqs continue at [`RecoveryReport::next_seq`].

use std::path::{Path, PathBuf};

use evident_core::Kind;
use evident_core::manifest::{METRICS_WAL_DIR, Recovery, RunManifest, Segment, WAL_DIR};
use evident_core::time::format_ns;
use tracing::{info, warn};

use crate::durable;
use crate::lock::{self, RunLock};
use crate::manifest::{self, ManifestError};
use crate::metric_store::{self, MetricRecovery, MetricStoreError};
use crate::segment::{self, SegmentError, SegmentWriter};
use crate::store::StoreConfig;
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
    /// Folding the metrics WAL into Parquet failed.
    #[error(transparent)]
    Metrics(#[from] MetricStoreError),
    /// A record passed its checksum but its JSON does not parse: a writer bug, not a crash.
    #[error("WAL record {seq} in {} holds invalid JSON: {source}", path.display())]
    InvalidRecord {
        seq: u64,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = RecoverError> = std::result::Result<T, E>;

/// Damage found in one WAL segment file.
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

/// What a recovery found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    /// WAL segment files read.
    pub wal_segments: usize,
    /// Valid records in the WAL (its longest valid prefix).
    pub records_read: u64,
    /// Records written to new Parquet segments.
    pub records_recovered: u64,
    /// Records skipped because a Parquet segment already held them.
    pub records_already_durable: u64,
    /// Record frames after the valid prefix (see [`wal::TornTail::frames_dropped`]).
    pub records_dropped: u64,
    /// Bytes after the valid prefix.
    pub bytes_dropped: u64,
    pub damage: Vec<WalDamage>,
    /// `*.inprogress` segments deleted.
    pub inprogress_removed: Vec<PathBuf>,
    /// Segments written from the WAL.
    pub segments_written: Vec<Segment>,
    /// The seq the next change of this run gets.
    pub next_seq: u64,
    /// Latest receipt time over the run's durable rows, if it has any.
    pub last_observed_at_ns: Option<i64>,
    /// What was done to the metrics WAL (`wal-metrics/`).
    pub metrics: MetricRecovery,
}

impl RecoveryReport {
    /// True if there was nothing to recover: no WAL records, no damage, no leftovers.
    pub fn is_noop(&self) -> bool {
        self.records_read == 0
            && self.bytes_dropped == 0
            && self.inprogress_removed.is_empty()
            && self.metrics.is_noop()
    }

    fn detail(&self) -> String {
        let mut parts = vec![format!(
            "{} WAL segment(s): {} valid record(s), {} already in Parquet, {} written to {} segment(s); {} .inprogress file(s) removed",
            self.wal_segments,
            self.records_read,
            self.records_already_durable,
            self.records_recovered,
            self.segments_written.len(),
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
        if !self.metrics.is_noop() {
            parts.push(self.metrics.detail());
        }
        parts.join("; ")
    }
}

/// Recovers the run in `run_dir` after a crash (`evident recover`): folds the WAL into
/// Parquet, removes leftovers and marks the run stopped. Idempotent.
pub fn recover(run_dir: &Path) -> Result<RecoveryReport> {
    let looks_like_run = run_dir.join(evident_core::manifest::MANIFEST_FILE).is_file()
        || run_dir.join(WAL_DIR).is_dir()
        || run_dir.join(METRICS_WAL_DIR).is_dir();
    if !run_dir.is_dir() || !looks_like_run {
        return Err(RecoverError::NotARun { path: run_dir.to_path_buf() });
    }
    let lock = RunLock::acquire(run_dir)?;
    let mut manifest = manifest::read(run_dir)?.unwrap_or_else(|| manifest::new_run(run_dir, String::new()));
    let segment_max_rows = match manifest.settings.segment_max_rows {
        0 => StoreConfig::default().segment_max_rows,
        rows => rows as usize,
    };
    let report = recover_in_place(run_dir, &mut manifest, segment_max_rows, true)?;
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
    let mut report = RecoveryReport {
        inprogress_removed: segment::remove_inprogress(run_dir)?,
        metrics: metric_store::recover(run_dir, segment_max_rows)?,
        ..Default::default()
    };

    let durable = segment::scan_durable(run_dir)?;
    let mut durable_last_seq: [Option<u64>; 3] = [None; 3];
    for found in &durable {
        let last = &mut durable_last_seq[slot(found.kind)];
        *last = (*last).max(Some(found.segment.last_seq));
        report.last_observed_at_ns = report.last_observed_at_ns.max(found.last_observed_at_ns);
    }
    let mut next_seq = durable.iter().map(|found| found.segment.last_seq + 1).max().unwrap_or(0);

    let wal_dir = run_dir.join(WAL_DIR);
    let wal_segments = wal::list_segments(&wal_dir)?;
    report.wal_segments = wal_segments.len();
    let mut writers: [Option<SegmentWriter>; 3] = [None, None, None];
    let mut damaged_from: Option<usize> = None;
    let mut expected_seq: Option<u64> = None;
    for (index, (first_seq, path)) in wal_segments.iter().enumerate() {
        if damaged_from.is_some() {
            count_unread_segment(path, &mut report)?;
            continue;
        }
        let mut reader = WalReader::open(path, Some(expected_seq.unwrap_or(*first_seq)))?;
        while let Some(record) = reader.next_record()? {
            report.records_read += 1;
            expected_seq = Some(record.seq + 1);
            next_seq = next_seq.max(record.seq + 1);
            report.last_observed_at_ns = report.last_observed_at_ns.max(Some(record.observed_at_ns));
            let table = slot(record.kind);
            if durable_last_seq[table].is_some_and(|last| record.seq <= last) {
                report.records_already_durable += 1;
                continue;
            }
            let change = record.to_change().map_err(|source| RecoverError::InvalidRecord {
                seq: record.seq,
                path: path.clone(),
                source,
            })?;
            let writer = match &mut writers[table] {
                Some(writer) => writer,
                empty => empty.insert(SegmentWriter::create(run_dir, record.kind, record.seq)?),
            };
            let facts = change.facts().map_err(|source| RecoverError::InvalidRecord {
                seq: record.seq,
                path: path.clone(),
                source,
            })?;
            writer.append(&change, &facts)?;
            report.records_recovered += 1;
            if writer.rows() >= segment_max_rows as u64 {
                let finished = writers[table].take().expect("writer present").finish()?;
                report.segments_written.push(finished.segment);
            }
        }
        if let Some(tail) = reader.tail() {
            let is_tail_of_newest = index + 1 == wal_segments.len();
            if !is_tail_of_newest || tail.damage == Damage::SeqOutOfOrder {
                damaged_from = Some(index);
            }
            report.records_dropped += tail.frames_dropped;
            report.bytes_dropped += tail.bytes_dropped;
            report.damage.push(WalDamage {
                file: path.clone(),
                damage: tail.damage,
                offset: tail.offset,
                bytes_dropped: tail.bytes_dropped,
                frames_dropped: tail.frames_dropped,
                quarantined: damaged_from.is_some(),
            });
            if damaged_from.is_none() {
                // A torn tail of the newest segment is what a crash leaves: nothing follows it.
                continue;
            }
            warn!(file = %path.display(), damage = tail.damage.as_str(), offset = tail.offset, "WAL damaged before its end: later records are dropped and the files kept as .damaged");
        }
    }
    for writer in writers.into_iter().flatten() {
        report.segments_written.push(writer.finish()?.segment);
    }
    report.next_seq = next_seq;

    let mut segments: Vec<Segment> = segment::scan_durable(run_dir)?.into_iter().map(|found| found.segment).collect();
    segments.extend(metric_store::durable_segments(run_dir)?);
    let mut changed = manifest::sync_segments(manifest, segments);
    if !report.is_noop() {
        manifest.recoveries.push(Recovery {
            at: format_ns(now_ns()),
            records_recovered: report.records_recovered,
            records_dropped: report.records_dropped,
            detail: report.detail(),
        });
        changed = true;
    }
    if mark_stopped && manifest.stopped_at.is_empty() {
        manifest.stopped_at = format_ns(report.last_observed_at_ns.unwrap_or_else(now_ns));
        manifest.stop_reason = evident_core::StopReason::Recovered;
        changed = true;
    }
    if changed {
        manifest::write(run_dir, manifest)?;
    }

    remove_wal(&wal_dir, &wal_segments, damaged_from)?;
    if !report.is_noop() {
        info!(run = %run_dir.display(), recovered = report.records_recovered, dropped = report.records_dropped, "recovered the WAL tail");
    }
    Ok(report)
}

/// A segment after the first damage: all its records are dropped, counted exactly.
fn count_unread_segment(path: &Path, report: &mut RecoveryReport) -> Result<()> {
    let mut reader = WalReader::open(path, None)?;
    while reader.next_record()?.is_some() {}
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

/// Deletes the WAL segments now folded into Parquet; keeps damaged ones as `*.damaged`.
fn remove_wal(wal_dir: &Path, segments: &[(u64, PathBuf)], damaged_from: Option<usize>) -> Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    for (index, (_, path)) in segments.iter().enumerate() {
        if damaged_from.is_some_and(|first| index >= first) {
            let mut kept = path.as_os_str().to_owned();
            kept.push(".damaged");
            std::fs::rename(path, &kept).map_err(durable::at("rename", path))?;
        } else {
            durable::remove_file(path)?;
        }
    }
    durable::sync_dir(wal_dir)?;
    // An empty wal/ is left by a clean finish only if removing it fails, which is harmless.
    if std::fs::remove_dir(wal_dir).is_ok() {
        durable::sync_dir(durable::parent_of(wal_dir))?;
    }
    Ok(())
}

pub(crate) fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

/// Which table a WAL record goes to; kept here so recovery and the store agree.
pub(crate) fn slot(kind: Kind) -> usize {
    kind.code() as usize
}
