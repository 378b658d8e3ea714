//! The write path of one table of a run, the same for every [`Table`]: `record -> WAL ->
//! Parquet segments`, with segment rolling, WAL rotation, background fsyncs and poisoning.
//! [`ChangeStore`](crate::change_store::ChangeStore) and
//! [`MetricStore`](crate::metric_store::MetricStore) are this store with a table plugged in.
//!
//! It is driven from one thread: [`TableStore::append`] per record, [`TableStore::tick`] at
//! least every 100 ms, [`TableStore::finish`] then [`TableStore::remove_wal`] at the end.
//! Every segment it finishes is handed back to the caller, which lists it in `run.json`.
//!
//! How a record travels: `append` gives it the next seq, appends its frame to the WAL
//! (buffered) and its rows to its partition's open segment. A segment is rolled (footer,
//! fsync, rename, directory fsync) when it reaches [`StoreConfig::segment_max_rows`] rows or
//! [`StoreConfig::segment_max_age`]. The WAL starts a new file past
//! [`StoreConfig::wal_segment_max_bytes`], and after a roll that left no row pending.
//!
//! Invariants:
//! - seqs start at 0 and have no holes, across partitions, across reopenings of the run.
//! - The WAL is fsynced before every roll, so every row in a Parquet file is also in the
//!   fsynced WAL (or in a WAL file deleted because its rows were all durable).
//! - A WAL file is deleted only when every record in it is in a durable Parquet file, and
//!   only oldest first, so the remaining WAL is always a contiguous run of seqs.
//! - Memory holds the rows of one unwritten row group per partition, plus Parquet's encoded
//!   buffers: it grows with the row-group size and the size of records, never with the
//!   number of records.
//!
//! What a crash can lose: only the records appended after the last finished WAL fsync, i.e.
//! at most [`StoreConfig::wal_fsync_interval`] plus one tick period plus the time an fsync
//! takes (~600 ms with the defaults on a healthy disk). The periodic fsyncs, and the fsync
//! of a WAL file that was just closed, run on their own thread, so appends do not wait for
//! the disk; a roll and `finish` wait for them. Never a Parquet file (they appear whole or
//! not at all), and never a duplicate: recovery (`crate::recover`) skips every WAL record
//! already durable in Parquet. After any error the store refuses further work
//! ([`TableStoreError::Poisoned`]); drop it and open the run again, which recovers the WAL.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use evident_core::run_manifest::Segment;

use crate::config::{InvalidConfig, StoreConfig};
use crate::durable;
use crate::segment::{SegmentError, SegmentWriter};
use crate::table::Table;
use crate::wal::{BackgroundSync, WalError, WalWriter};

/// Errors of a table's write path.
#[derive(Debug, thiserror::Error)]
pub enum TableStoreError {
    /// The configuration is unusable.
    #[error(transparent)]
    InvalidConfig(#[from] InvalidConfig),
    /// Writing or syncing the WAL failed.
    #[error("writing the write-ahead log: {0}")]
    Wal(#[from] WalError),
    /// Writing a Parquet segment failed.
    #[error("writing a Parquet segment: {0}")]
    Segment(#[from] SegmentError),
    /// A file-system step (WAL deletion) failed.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// An earlier error left the store in an unknown state; open the run again to recover.
    #[error("the store stopped after an earlier error; open the run again to recover it")]
    Poisoned,
}

pub type Result<T, E = TableStoreError> = std::result::Result<T, E>;

/// A WAL file no longer written to, waiting for its records to be durable in Parquet.
#[derive(Debug)]
struct ClosedWalFile {
    path: PathBuf,
    bytes: u64,
    /// Highest seq of each partition in the file.
    last_seq: Vec<Option<u64>>,
}

/// Where a table's durable rows end, from its segments: the last durable seq of each
/// partition and the seq the next record gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurablePosition {
    pub last_seq: Vec<Option<u64>>,
    pub next_seq: u64,
}

impl DurablePosition {
    /// The position `segments` (of any tables; only `T`'s count) leave table `T` at.
    pub fn of<'s, T: Table>(segments: impl IntoIterator<Item = &'s Segment>) -> DurablePosition {
        let mut last_seq = vec![None; T::PARTITIONS.len()];
        for segment in segments {
            if let Some(partition) = T::PARTITIONS.iter().position(|table| *table == segment.table) {
                last_seq[partition] = last_seq[partition].max(Some(segment.last_seq));
            }
        }
        let next_seq = last_seq.iter().flatten().map(|last| last + 1).max().unwrap_or(0);
        DurablePosition { last_seq, next_seq }
    }
}

/// The write path of one table of one run. See the module documentation.
#[derive(Debug)]
pub struct TableStore<T: Table> {
    run_dir: PathBuf,
    wal_dir: PathBuf,
    config: StoreConfig,
    wal: WalWriter,
    /// Highest seq of each partition in the open WAL file.
    wal_last_seq: Vec<Option<u64>>,
    closed_wal: VecDeque<ClosedWalFile>,
    open_segments: Vec<Option<T::Writer>>,
    durable_last_seq: Vec<Option<u64>>,
    next_seq: u64,
    last_sync_at: Instant,
    last_fsync: Option<SystemTime>,
    last_fsynced_seq: Option<u64>,
    /// Fsyncs running in the background, oldest first, with the last seq each makes durable.
    syncs: VecDeque<(BackgroundSync, Option<u64>)>,
    poisoned: bool,
    table: PhantomData<T>,
}

impl<T: Table> TableStore<T> {
    /// Starts writing table `T` of a run whose WAL was recovered (no WAL file of the table
    /// is left): records continue at `position.next_seq`, in a new WAL file.
    pub fn open(run_dir: &Path, config: &StoreConfig, position: DurablePosition) -> Result<TableStore<T>> {
        config.validate()?;
        let wal_dir = run_dir.join(T::WAL_DIR);
        let wal = WalWriter::create(&wal_dir, position.next_seq)?;
        Ok(TableStore {
            run_dir: run_dir.to_path_buf(),
            wal_dir,
            config: config.clone(),
            wal,
            wal_last_seq: vec![None; T::PARTITIONS.len()],
            closed_wal: VecDeque::new(),
            open_segments: T::PARTITIONS.iter().map(|_| None).collect(),
            durable_last_seq: position.last_seq,
            next_seq: position.next_seq,
            last_sync_at: Instant::now(),
            last_fsync: None,
            last_fsynced_seq: position.next_seq.checked_sub(1),
            syncs: VecDeque::new(),
            poisoned: false,
            table: PhantomData,
        })
    }

    /// Gives `record` the next seq, appends it to the WAL (buffered until the next fsync)
    /// and to its partition's open segment, and rolls that segment if it is full. Returns
    /// the seq and the segment the roll finished.
    pub fn append(&mut self, record: &T::Record<'_>) -> Result<(u64, Option<Segment>)> {
        self.guard(|store| store.append_unguarded(record))
    }

    fn append_unguarded(&mut self, record: &T::Record<'_>) -> Result<(u64, Option<Segment>)> {
        let seq = self.next_seq;
        T::encode(record, |body| self.wal.append(seq, T::FRAME_TYPE, body))?;
        self.next_seq += 1;
        let partition = T::partition(record);
        self.wal_last_seq[partition] = Some(seq);

        let segment = match &mut self.open_segments[partition] {
            Some(segment) => segment,
            empty => empty.insert(T::create_writer(&self.run_dir, partition, seq)?),
        };
        T::write(segment, seq, record)?;
        let rolled = if segment.rows() >= self.config.segment_max_rows as u64 { self.roll(partition)? } else { None };
        if self.wal.bytes() >= self.config.wal_segment_max_bytes {
            self.rotate_wal()?;
        }
        Ok((seq, rolled))
    }

    /// Housekeeping, to be called at least every 100 ms even when no record arrives: starts
    /// a background fsync of the WAL once [`StoreConfig::wal_fsync_interval`] has passed
    /// since the last one started (fails if an earlier one failed), and rolls segments older
    /// than [`StoreConfig::segment_max_age`]. Returns the segments it finished.
    pub fn tick(&mut self) -> Result<Vec<Segment>> {
        self.guard(|store| {
            if store.last_sync_at.elapsed() >= store.config.wal_fsync_interval {
                store.start_wal_sync()?;
            } else {
                store.reap_syncs(false)?;
            }
            let mut rolled = Vec::new();
            for partition in 0..store.open_segments.len() {
                if store.open_segments[partition].as_ref().is_some_and(|s| s.age() >= store.config.segment_max_age) {
                    rolled.extend(store.roll(partition)?);
                }
            }
            Ok(rolled)
        })
    }

    /// Fsyncs the WAL now: every record appended so far survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        self.guard(Self::sync_wal)
    }

    /// Rolls every open segment now. Returns the segments it finished.
    pub fn roll_all(&mut self) -> Result<Vec<Segment>> {
        self.guard(|store| {
            let mut rolled = Vec::new();
            for partition in 0..store.open_segments.len() {
                rolled.extend(store.roll(partition)?);
            }
            Ok(rolled)
        })
    }

    /// Finishes every open segment and fsyncs the WAL: every record is durable in Parquet.
    /// Returns the segments it finished; [`TableStore::remove_wal`] comes next.
    pub fn finish(&mut self) -> Result<Vec<Segment>> {
        self.guard(|store| {
            let mut finished = Vec::new();
            for partition in 0..store.open_segments.len() {
                finished.extend(store.finish_segment(partition)?);
            }
            store.sync_wal()?;
            Ok(finished)
        })
    }

    /// Deletes the WAL once [`TableStore::finish`] made every record durable, and its
    /// directory if nothing else is in it.
    pub fn remove_wal(self) -> Result<()> {
        if self.poisoned || self.open_segments.iter().any(Option::is_some) {
            return Err(TableStoreError::Poisoned);
        }
        for closed in &self.closed_wal {
            durable::remove_file(&closed.path)?;
        }
        durable::remove_file(self.wal.path())?;
        durable::sync_dir(&self.wal_dir)?;
        if std::fs::remove_dir(&self.wal_dir).is_ok() {
            durable::sync_dir(durable::parent_of(&self.wal_dir))?;
        }
        Ok(())
    }

    /// The seq the next record gets (= records in the table so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Rows not yet in a durable Parquet file (they are in the WAL), per partition.
    pub fn pending_rows(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        T::PARTITIONS
            .iter()
            .zip(&self.open_segments)
            .filter_map(|(table, segment)| segment.as_ref().map(|segment| (*table, segment.rows())))
    }

    /// Bytes of WAL on disk, including bytes still buffered.
    pub fn wal_bytes(&self) -> u64 {
        self.wal.bytes() + self.closed_wal.iter().map(|closed| closed.bytes).sum::<u64>()
    }

    /// WAL files on disk.
    pub fn wal_files(&self) -> usize {
        1 + self.closed_wal.len()
    }

    /// When the WAL was last fsynced, if it was since the store opened.
    pub fn last_fsync(&self) -> Option<SystemTime> {
        self.last_fsync
    }

    /// The last seq a finished fsync made durable.
    pub fn last_fsynced_seq(&self) -> Option<u64> {
        self.last_fsynced_seq
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Marks the store unusable after its owner failed half-way through a step (writing
    /// the manifest after a roll, say).
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Runs `work`; if it fails, the store is marked unusable (its files are consistent
    /// only up to what recovery can prove).
    fn guard<R>(&mut self, work: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if self.poisoned {
            return Err(TableStoreError::Poisoned);
        }
        let outcome = work(self);
        self.poisoned = outcome.is_err();
        outcome
    }

    /// Fsyncs the WAL and waits: afterwards every record appended so far is durable.
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

    /// Makes a partition's open segment durable, then deletes the WAL files it made
    /// redundant. A roll that leaves no row pending closes the open WAL file too, so it can
    /// be deleted at once.
    fn roll(&mut self, partition: usize) -> Result<Option<Segment>> {
        let Some(finished) = self.finish_segment(partition)? else { return Ok(None) };
        if self.open_segments.iter().all(Option::is_none) && self.wal.records() > 0 {
            self.rotate_wal()?;
        } else {
            self.delete_durable_wal()?;
        }
        Ok(Some(finished))
    }

    /// Finishes a partition's open segment, if any.
    fn finish_segment(&mut self, partition: usize) -> Result<Option<Segment>> {
        let Some(segment) = self.open_segments[partition].take() else {
            return Ok(None);
        };
        // Parquet must never hold a row the WAL could lose: the WAL is recovery's only
        // way to know the seqs before a durable row were all observed.
        self.sync_wal()?;
        let durable = segment.finish()?;
        self.durable_last_seq[partition] = Some(durable.segment.last_seq);
        Ok(Some(durable.segment))
    }

    /// Starts a new WAL file; the closed one is fsynced in the background (a roll waits
    /// for that fsync before any of its rows can be durable in Parquet).
    fn rotate_wal(&mut self) -> Result<()> {
        let next = WalWriter::create(&self.wal_dir, self.next_seq)?;
        let mut closed = std::mem::replace(&mut self.wal, next);
        if closed.has_unsynced() {
            let sync = closed.start_sync()?;
            self.syncs.push_back((sync, self.next_seq.checked_sub(1)));
        }
        let last_seq = std::mem::replace(&mut self.wal_last_seq, vec![None; T::PARTITIONS.len()]);
        self.closed_wal.push_back(ClosedWalFile { path: closed.path().to_path_buf(), bytes: closed.bytes(), last_seq });
        self.delete_durable_wal()
    }

    /// Deletes closed WAL files, oldest first, while every record in them is durable.
    fn delete_durable_wal(&mut self) -> Result<()> {
        let mut deleted = false;
        while let Some(oldest) = self.closed_wal.front() {
            let durable = oldest
                .last_seq
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
            durable::sync_dir(&self.wal_dir)?;
        }
        Ok(())
    }
}
