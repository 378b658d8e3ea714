//! The change store: the change log of one run (`Change -> WAL -> Parquet segments`, through
//! a [`TableStore`] of the [`ChangeLog`]), plus what the run has once: its lock and its
//! manifest.
//!
//! The watcher half of the recorder calls it from one dedicated thread:
//! [`ChangeStore::open`] once, [`ChangeStore::append`] per observed change,
//! [`ChangeStore::tick`] at least every 100 ms, and [`ChangeStore::close`] at the end.
//!
//! On-disk layout of the run directory (see also `evident_core::layout`):
//!
//! ```text
//! <run>/run.json                                  manifest, replaced atomically
//! <run>/.lock                                     held while recording (see crate::lock)
//! <run>/wal/wal-<first seq>.log                   WAL files (crate::wal); gone after close
//! <run>/{nodes,pods,events}/part-<first seq>.parquet[.inprogress]   segments (crate::segment)
//! ```
//!
//! How a change travels: `append` redacts the object's JSON text and reads its typed facts
//! in the same pass ([`evident_core::redact::Redactor::redact_read`], with a key drawn from
//! the operating system's random number generator at `open` and kept in memory only), then
//! hands the change to the
//! table store (see [`crate::table_store`] for seqs, rolls, fsyncs and what a crash can
//! lose). The manifest is rewritten after every roll.
//!
//! Invariants: those of [`crate::table_store`]; in addition `run.json` lists every segment
//! the store finished, and opening a run first recovers every table's WAL
//! ([`crate::recover`]), so seqs continue after the run's last one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use evident_core::redact::{self, KEY_BYTES, Redactor};
use evident_core::run_manifest::{RunManifest, Segment};
use evident_core::time::format_ns;
use evident_core::{Change, Facts, Kind, Op};
use serde::de::IgnoredAny;

use crate::clock::now_ns;
use crate::config::{InvalidConfig, StoreConfig};
use crate::durable;
use crate::lock::{LockError, RunLock};
use crate::recover::{RecoverError, RecoveryReport, recover_in_place};
use crate::run_manifest::{self, ManifestError};
use crate::table::{ChangeLog, ChangeRecord};
use crate::table_store::{DurablePosition, TableStore, TableStoreError};

/// Errors of the change store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is unusable.
    #[error(transparent)]
    InvalidConfig(#[from] InvalidConfig),
    /// Another process is recording or recovering this run.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Recovering the run's WAL at open failed.
    #[error("recovering the run before recording: {0}")]
    Recover(#[from] RecoverError),
    /// Writing the change log (WAL or Parquet) failed, or an earlier error stopped the store
    /// ([`TableStoreError::Poisoned`]: open the run again to recover it).
    #[error(transparent)]
    Table(#[from] TableStoreError),
    /// Writing `run.json` failed.
    #[error("writing the run manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// A file-system step (directory creation) failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// The operating system's random number generator gave no redaction key; nothing was
    /// written.
    #[error(
        "cannot draw the recording's redaction key from the operating system's random number generator, nothing was written: {0}"
    )]
    RedactionKey(#[source] getrandom::Error),
    /// The run was recorded under another redaction policy; nothing was written.
    #[error(
        "{} was recorded under redaction policy {found} and this evident records {}: one run holds one policy, so record into a new run (another --run-id)",
        run.display(), redact::POLICY_VERSION
    )]
    RedactionPolicy { run: PathBuf, found: String },
    /// The object's text is not valid JSON; nothing was written.
    #[error("the object is not valid JSON, nothing was written: {0}")]
    Json(#[source] serde_json::Error),
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

/// The change log of one run, its lock and its manifest. See the module documentation.
#[derive(Debug)]
pub struct ChangeStore {
    run_dir: PathBuf,
    manifest: RunManifest,
    lock: Option<RunLock>,
    changes: TableStore<ChangeLog>,
    redactor: Redactor,
}

impl ChangeStore {
    /// Creates the run directory, or reopens an existing run: any WAL a crash left (of every
    /// table) is first folded into Parquet (never duplicating rows already there), and seqs
    /// continue after the run's last one. Returns what that recovery did.
    ///
    /// Objects are redacted with a key drawn here from the operating system's random number
    /// generator and never written: equal values hash equally within this recording
    /// session; after a reopen (a new key) they do not, and `run.json`'s `redaction_keys`
    /// lists one key id per session. A run recorded under another redaction policy is
    /// refused ([`StoreError::RedactionPolicy`]).
    pub fn open(run_dir: &Path, config: StoreConfig) -> Result<(ChangeStore, RecoveryReport)> {
        let mut key = [0; KEY_BYTES];
        getrandom::fill(&mut key).map_err(StoreError::RedactionKey)?;
        ChangeStore::open_with_redactor(run_dir, config, Redactor::from_key(key))
    }

    /// [`ChangeStore::open`] with a given redactor: for generated sample runs, which use a
    /// fixed key so that regenerating them gives the same bytes. A recording of a cluster
    /// goes through [`ChangeStore::open`].
    pub fn open_with_redactor(
        run_dir: &Path,
        config: StoreConfig,
        redactor: Redactor,
    ) -> Result<(ChangeStore, RecoveryReport)> {
        config.validate()?;
        durable::create_dir(run_dir)?;
        let lock = RunLock::acquire(run_dir)?;
        let mut manifest =
            run_manifest::read(run_dir)?.unwrap_or_else(|| run_manifest::new_run(run_dir, format_ns(now_ns())));
        if manifest.redaction_policy.is_empty() {
            manifest.redaction_policy = redact::POLICY_VERSION.to_string();
        }
        if manifest.redaction_policy != redact::POLICY_VERSION {
            return Err(StoreError::RedactionPolicy {
                run: run_dir.to_path_buf(),
                found: manifest.redaction_policy.clone(),
            });
        }
        if !manifest.redaction_keys.iter().any(|id| id == redactor.key_id()) {
            manifest.redaction_keys.push(redactor.key_id().to_string());
        }
        let report = recover_in_place(run_dir, &mut manifest, config.segment_max_rows, false)?;

        if manifest.started_at.is_empty() {
            manifest.started_at = format_ns(now_ns());
        }
        manifest.stopped_at.clear();
        manifest.stop_reason = evident_core::StopReason::NotStopped;
        manifest.settings.segment_max_rows = config.segment_max_rows as u64;
        manifest.settings.segment_max_secs = config.segment_max_age.as_secs();
        manifest.settings.wal_fsync_ms = config.wal_fsync_interval.as_millis() as u64;
        run_manifest::write(run_dir, &manifest)?;

        let position = DurablePosition::of::<ChangeLog>(&manifest.segments);
        debug_assert_eq!(position.next_seq, report.changes.next_seq);
        let changes = TableStore::open(run_dir, &config, position)?;
        let store = ChangeStore { run_dir: run_dir.to_path_buf(), manifest, lock: Some(lock), changes, redactor };
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
        if self.changes.is_poisoned() {
            return Err(TableStoreError::Poisoned.into());
        }
        let seq = self.changes.next_seq();
        // One pass redacts and reads the typed columns; text it cannot walk takes both slow paths.
        if let Some((json, facts)) = self.redactor.redact_read(object) {
            let change = Change::from_redacted(seq, observed_at_ns, epoch, op, kind, json);
            return self.append_change(&change, &facts);
        }
        let json = self.redactor.redact_parsed(object).map_err(StoreError::Json)?;
        let change = Change::from_redacted(seq, observed_at_ns, epoch, op, kind, json);
        let facts = Facts::parse(&change.json).map_err(StoreError::Json)?;
        self.append_change(&change, &facts)
    }

    fn append_change(&mut self, change: &Change, facts: &Facts<'_>) -> Result<u64> {
        let (seq, rolled) = self.changes.append(&ChangeRecord { change, facts })?;
        if let Some(segment) = rolled {
            self.list_segments([segment])?;
        }
        Ok(seq)
    }

    /// Housekeeping, to be called at least every 100 ms even when no change arrives:
    /// starts a background fsync of the WAL once [`StoreConfig::wal_fsync_interval`] has
    /// passed since the last one started (fails if an earlier one failed), and rolls
    /// segments older than [`StoreConfig::segment_max_age`].
    pub fn tick(&mut self) -> Result<()> {
        let rolled = self.changes.tick()?;
        if !rolled.is_empty() {
            self.list_segments(rolled)?;
        }
        Ok(())
    }

    /// Fsyncs the WAL now: every change appended so far survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        Ok(self.changes.sync()?)
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
        if self.changes.is_poisoned() {
            return Err(TableStoreError::Poisoned.into());
        }
        self.write_manifest_or_poison()
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn stats(&self) -> StoreStats {
        let mut rows = self.manifest.row_counts.clone();
        let mut pending_rows = 0;
        for (table, pending) in self.changes.pending_rows() {
            *rows.entry(table.to_string()).or_insert(0) += pending;
            pending_rows += pending;
        }
        StoreStats {
            next_seq: self.changes.next_seq(),
            rows,
            pending_rows,
            wal_bytes: self.changes.wal_bytes(),
            wal_segments: self.changes.wal_files(),
            segments: self.manifest.segments.len(),
            segment_bytes: self.manifest.segments.iter().map(|segment| segment.bytes).sum(),
            last_fsync: self.changes.last_fsync(),
            last_fsynced_seq: self.changes.last_fsynced_seq(),
        }
    }

    /// Rolls every open segment, deletes the WAL (all its rows are now durable) and writes
    /// `run.json` with the stop time, the reason, the segments and the row counts.
    pub fn close(mut self, stop_reason: impl Into<evident_core::StopReason>) -> Result<RunManifest> {
        for segment in self.changes.finish()? {
            run_manifest::add_segment(&mut self.manifest, segment);
        }
        self.manifest.stopped_at = format_ns(now_ns());
        self.manifest.stop_reason = stop_reason.into();
        run_manifest::write(&self.run_dir, &self.manifest)?;
        self.changes.remove_wal()?;
        if let Some(lock) = self.lock.take() {
            lock.release()?;
        }
        Ok(self.manifest)
    }

    /// Lists newly durable segments in the manifest and writes it.
    fn list_segments(&mut self, segments: impl IntoIterator<Item = Segment>) -> Result<()> {
        for segment in segments {
            run_manifest::add_segment(&mut self.manifest, segment);
        }
        self.write_manifest_or_poison()
    }

    /// Writes `run.json`; a failure stops the store, as a failed roll does.
    fn write_manifest_or_poison(&mut self) -> Result<()> {
        let written = run_manifest::write(&self.run_dir, &self.manifest);
        if written.is_err() {
            self.changes.poison();
        }
        Ok(written?)
    }
}
