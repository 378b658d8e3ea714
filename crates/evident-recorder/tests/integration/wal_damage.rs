//! A damaged WAL keeps its valid prefix and reports exactly what it dropped, both at the
//! level of one segment and through `recover` on a whole run.

use crate::common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use evident_core::{Kind, Op};
use evident_recorder::wal::{self, Damage, TornTail, WalReader, WalWriter};
use evident_recorder::{ChangeStore, StoreConfig, recover};
use evident_testkit::objects::SyntheticCluster;

const RECORDS: u64 = 10;

/// Writes a segment of [`RECORDS`] realistic records and returns its path and the offset
/// at which each record ends.
fn segment(dir: &Path) -> (PathBuf, Vec<u64>) {
    let mut writer = WalWriter::create(dir, 0).unwrap();
    let mut cluster = SyntheticCluster::new(20, 1);
    let mut ends = Vec::new();
    for seq in 0..RECORDS {
        let change = cluster.next_change();
        let json = serde_json::to_vec(&change.object).unwrap();
        writer.append(seq, seq as i64, 1, change.kind, change.op, &json).unwrap();
        ends.push(writer.bytes());
    }
    writer.sync().unwrap();
    (writer.path().to_path_buf(), ends)
}

fn read(path: &Path) -> (Vec<u64>, Option<TornTail>) {
    let mut reader = WalReader::open(path, Some(0)).unwrap();
    let mut seqs = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        seqs.push(record.seq);
    }
    (seqs, reader.tail().cloned())
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn an_intact_segment_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    assert_eq!(len(&path), ends[9]);
    assert_eq!(read(&path), ((0..RECORDS).collect(), None));
}

#[test]
fn truncated_mid_payload_keeps_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    OpenOptions::new().write(true).open(&path).unwrap().set_len(ends[6] + 100).unwrap();
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, (0..7).collect::<Vec<_>>());
    assert_eq!(
        tail,
        Some(TornTail { damage: Damage::Truncated, offset: ends[6], bytes_dropped: 100, frames_dropped: 1 })
    );
}

#[test]
fn truncated_inside_a_frame_header_keeps_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    OpenOptions::new().write(true).open(&path).unwrap().set_len(ends[2] + 3).unwrap();
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, vec![0, 1, 2]);
    assert_eq!(
        tail,
        Some(TornTail { damage: Damage::Truncated, offset: ends[2], bytes_dropped: 3, frames_dropped: 1 })
    );
}

#[test]
fn a_flipped_bit_drops_that_record_and_every_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    // Record 4 starts at ends[3]; its JSON starts after the frame header and fixed prefix.
    let target = ends[3] + wal::FRAME_HEADER_LEN + wal::PAYLOAD_PREFIX_LEN as u64 + 17;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[target as usize] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, vec![0, 1, 2, 3]);
    assert_eq!(
        tail,
        Some(TornTail {
            damage: Damage::ChecksumMismatch,
            offset: ends[3],
            bytes_dropped: ends[9] - ends[3],
            frames_dropped: 6
        })
    );
}

#[test]
fn a_zero_filled_tail_after_the_last_record_drops_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    overwrite(&path, ends[9], &[0u8; 4096]);
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, (0..RECORDS).collect::<Vec<_>>());
    assert_eq!(
        tail,
        Some(TornTail { damage: Damage::ZeroFilled, offset: ends[9], bytes_dropped: 4096, frames_dropped: 0 })
    );
}

#[test]
fn records_zeroed_in_place_are_dropped_from_the_first_zeroed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    // Zero records 8 and 9 whole: nothing of them is left to count as a frame.
    overwrite(&path, ends[7], &vec![0u8; (ends[9] - ends[7]) as usize]);
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, (0..8).collect::<Vec<_>>());
    assert_eq!(
        tail,
        Some(TornTail {
            damage: Damage::ZeroFilled,
            offset: ends[7],
            bytes_dropped: ends[9] - ends[7],
            frames_dropped: 0
        })
    );

    // Zero from the middle of record 8: its intact header still delimits one frame.
    let second = tempfile::tempdir().unwrap();
    let (path, ends) = segment(second.path());
    let from = ends[7] + 40;
    overwrite(&path, from, &vec![0u8; (ends[9] - from) as usize]);
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, (0..8).collect::<Vec<_>>());
    assert_eq!(
        tail,
        Some(TornTail {
            damage: Damage::ChecksumMismatch,
            offset: ends[7],
            bytes_dropped: ends[9] - ends[7],
            frames_dropped: 1
        })
    );
}

#[test]
fn an_absurd_length_stops_the_reader_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ends) = segment(dir.path());
    overwrite(&path, ends[4], &0xFFFF_FFF0u32.to_le_bytes());
    let (seqs, tail) = read(&path);
    assert_eq!(seqs, (0..5).collect::<Vec<_>>());
    assert_eq!(
        tail,
        Some(TornTail {
            damage: Damage::ImplausibleLength,
            offset: ends[4],
            bytes_dropped: ends[9] - ends[4],
            frames_dropped: 1
        })
    );

    // A plausible length that runs past the end of the file is a torn record.
    overwrite(&path, ends[4], &(1u32 << 20).to_le_bytes());
    let (_, tail) = read(&path);
    assert_eq!(tail.map(|t| (t.damage, t.frames_dropped)), Some((Damage::Truncated, 1)));
}

#[test]
fn a_file_torn_before_its_header_was_written_is_dropped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(wal::segment_file_name(0));
    std::fs::write(&path, b"EVD").unwrap();
    assert_eq!(
        read(&path),
        (vec![], Some(TornTail { damage: Damage::BadHeader, offset: 0, bytes_dropped: 3, frames_dropped: 1 }))
    );
}

/// A run whose store was "killed": the WAL is fsynced but nothing was closed.
fn crashed_run(dir: &Path, changes: u64) -> PathBuf {
    let run = dir.join("run");
    let config = StoreConfig::default().with_segment_max_rows(1_000_000);
    let (mut store, _) = ChangeStore::open(&run, config).unwrap();
    let mut cluster = SyntheticCluster::new(30, 3);
    for seq in 0..changes {
        let change = cluster.next_change();
        store.append(change.kind, change.op, 1, seq as i64, &change.object.to_string()).unwrap();
    }
    store.sync().unwrap();
    // Dropping the store without `close` after a sync leaves what a kill leaves: the WAL,
    // `.inprogress` segments without footers, a stale `.lock` (its lock dies with the holder).
    drop(store);
    run
}

#[test]
fn recover_folds_the_valid_prefix_and_counts_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let run = crashed_run(dir.path(), 40);
    let (_, wal_path) = wal::list_segments(&run.join("wal")).unwrap().remove(0);
    // Find where record 30 starts by reading the intact segment, then flip a bit in it.
    let mut reader = WalReader::open(&wal_path, Some(0)).unwrap();
    for _ in 0..30 {
        reader.next_record().unwrap().unwrap();
    }
    let record_30_at = reader.valid_len();
    let file_len = reader.file_len();
    let mut bytes = std::fs::read(&wal_path).unwrap();
    bytes[record_30_at as usize + 40] ^= 0x80;
    std::fs::write(&wal_path, &bytes).unwrap();

    let report = recover(&run).unwrap();
    assert_eq!(report.records_read, 30);
    assert_eq!(report.records_recovered, 30);
    assert_eq!(report.records_already_durable, 0);
    assert_eq!(report.records_dropped, 10);
    assert_eq!(report.bytes_dropped, file_len - record_30_at);
    assert_eq!(report.next_seq, 30);
    // One open segment per kind among the 40 changes, each left as `.inprogress`.
    let mut cluster = SyntheticCluster::new(30, 3);
    let mut kinds: Vec<Kind> = (0..40).map(|_| cluster.next_change().kind).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(report.inprogress_removed.len(), kinds.len());
    let rows = common::assert_log_is_whole(&run);
    assert_eq!(rows.len(), 30);
    assert!(!run.join("wal").exists(), "the folded WAL is deleted");

    let manifest = evident_recorder::manifest::read(&run).unwrap().unwrap();
    assert_eq!(manifest.row_counts.values().sum::<u64>(), 30);
    assert_eq!(manifest.row_counts, common::row_counts(&run));
    assert_eq!(manifest.recoveries.len(), 1);
    assert_eq!((manifest.recoveries[0].records_recovered, manifest.recoveries[0].records_dropped), (30, 10));
    assert_eq!(manifest.stop_reason, "recovered");
    assert_eq!(manifest.stopped_at, evident_core::time::format_ns(29));
}

#[test]
fn recovering_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = crashed_run(dir.path(), 25);
    let (_, wal_path) = wal::list_segments(&run.join("wal")).unwrap().remove(0);
    let mut reader = WalReader::open(&wal_path, Some(0)).unwrap();
    for _ in 0..24 {
        reader.next_record().unwrap().unwrap();
    }
    let last_record_at = reader.valid_len();
    drop(reader);
    let torn_len = len(&wal_path) - 7;
    OpenOptions::new().write(true).open(&wal_path).unwrap().set_len(torn_len).unwrap();

    let first = recover(&run).unwrap();
    assert_eq!((first.records_read, first.records_dropped, first.bytes_dropped), (24, 1, torn_len - last_record_at));
    let before = common::snapshot(&run);
    let second = recover(&run).unwrap();
    assert!(second.is_noop(), "{second:?}");
    assert_eq!(second.next_seq, 24);
    assert_eq!(common::snapshot(&run), before);
}

#[test]
fn recover_refuses_a_path_that_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let error = recover(&dir.path().join("absent")).unwrap_err().to_string();
    assert!(error.contains("is not an evident run directory"), "{error}");
    let error = recover(dir.path()).unwrap_err().to_string();
    assert!(error.contains("is not an evident run directory"), "{error}");
}

#[test]
fn recover_refuses_a_run_that_is_recording() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("live");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    store
        .append(Kind::Node, Op::Added, 1, 0, &serde_json::json!({"metadata": {"name": "n", "uid": "u"}}).to_string())
        .unwrap();
    let error = recover(&run).unwrap_err().to_string();
    assert!(error.contains("in use by another evident process"), "{error}");
    store.close("test").unwrap();
    assert!(recover(&run).unwrap().is_noop());
}
