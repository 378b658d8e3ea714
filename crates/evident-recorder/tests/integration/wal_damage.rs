//! A damaged WAL keeps its valid prefix and reports exactly what it dropped: at the level of
//! one segment, through `recover` on a whole run, and with the same damage in the change
//! log's and the metrics table's WAL, which go through the one replay loop and must report
//! the same exact counts.

use crate::common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use evident_core::redact::{KEY_BYTES, Redactor};
use evident_core::{Change, Kind, Op};
use evident_recorder::metric_store::{MetricStore, Scrape};
use evident_recorder::record::ChangeCodec;
use evident_recorder::recover::{TableRecovery, WalDamage};
use evident_recorder::wal::{self, Damage, FrameType, TornTail, WalReader, WalWriter};
use evident_recorder::{ChangeStore, RecoveryReport, StoreConfig, recover};
use evident_testkit::objects::SyntheticCluster;

const RECORDS: u64 = 10;

/// Writes a segment of [`RECORDS`] realistic records and returns its path and the offset
/// at which each record ends.
fn segment(dir: &Path) -> (PathBuf, Vec<u64>) {
    let mut writer = WalWriter::create(dir, 0).unwrap();
    let mut cluster = SyntheticCluster::new(20, 1);
    let mut ends = Vec::new();
    for seq in 0..RECORDS {
        let synthetic = cluster.next_change();
        let redactor = Redactor::from_key([0; KEY_BYTES]);
        let change = Change::new(seq, seq as i64, 1, synthetic.op, synthetic.kind, synthetic.object, &redactor);
        writer.append(seq, FrameType::Change, &[&ChangeCodec::head(&change)[..], change.json.as_bytes()]).unwrap();
        ends.push(writer.bytes());
    }
    writer.sync().unwrap();
    (writer.path().to_path_buf(), ends)
}

fn read(path: &Path) -> (Vec<u64>, Option<TornTail>) {
    let mut reader = WalReader::open(path, Some(0)).unwrap();
    let mut seqs = Vec::new();
    while let Some(frame) = reader.next_frame(FrameType::Change).unwrap() {
        seqs.push(frame.seq);
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
        reader.next_frame(FrameType::Change).unwrap().unwrap();
    }
    let record_30_at = reader.valid_len();
    let file_len = reader.file_len();
    let mut bytes = std::fs::read(&wal_path).unwrap();
    bytes[record_30_at as usize + 40] ^= 0x80;
    std::fs::write(&wal_path, &bytes).unwrap();

    let report = recover(&run).unwrap().changes;
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

    let manifest = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
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
        reader.next_frame(FrameType::Change).unwrap().unwrap();
    }
    let last_record_at = reader.valid_len();
    drop(reader);
    let torn_len = len(&wal_path) - 7;
    OpenOptions::new().write(true).open(&wal_path).unwrap().set_len(torn_len).unwrap();

    let first = recover(&run).unwrap().changes;
    assert_eq!((first.records_read, first.records_dropped, first.bytes_dropped), (24, 1, torn_len - last_record_at));
    let before = common::snapshot(&run);
    let second = recover(&run).unwrap();
    assert!(second.is_noop(), "{second:?}");
    assert_eq!(second.changes.next_seq, 24);
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

// The same damage in either table's WAL, through the one replay loop.

/// The table whose WAL a test damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Changes,
    Metrics,
}

const BOTH: [Table; 2] = [Table::Changes, Table::Metrics];
/// Records written to the damaged table's WAL: enough for several WAL files of each table.
const TABLE_RECORDS: u64 = 26;
const BASE_NS: i64 = 1_781_451_591_000_000_000;

impl Table {
    fn wal_dir(self, run: &Path) -> PathBuf {
        run.join(match self {
            Table::Changes => "wal",
            Table::Metrics => "wal-metrics",
        })
    }

    fn frame_type(self) -> FrameType {
        match self {
            Table::Changes => FrameType::Change,
            Table::Metrics => FrameType::Scrape,
        }
    }

    /// This table's part of a recovery report, and the other table's.
    fn of(self, report: &RecoveryReport) -> (&TableRecovery, &TableRecovery) {
        match self {
            Table::Changes => (&report.changes, &report.metrics),
            Table::Metrics => (&report.metrics, &report.changes),
        }
    }

    /// The seqs of this table's rows in Parquet, each once.
    fn durable_seqs(self, run: &Path) -> Vec<u64> {
        match self {
            Table::Changes => common::assert_log_is_whole(run).iter().map(|row| row.seq).collect(),
            Table::Metrics => common::scrape_seqs(run),
        }
    }
}

/// A scrape of two GPUs: four samples, ~600 bytes.
fn scrape(index: u64) -> Scrape {
    let mut text = String::from("# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n");
    for gpu in 0..4 {
        text.push_str(&format!(
            "DCGM_FI_DEV_GPU_UTIL{{gpu=\"{gpu}\",UUID=\"GPU-{gpu}-{index}\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-0\"}} {index}\n"
        ));
    }
    Scrape { endpoint: "http://127.0.0.1:9400/metrics".into(), scraped_at_ns: BASE_NS + index as i64, text }
}

/// A run whose stores were "killed" after [`TABLE_RECORDS`] records of `table` were fsynced:
/// nothing is in Parquet, the records are spread over several small WAL files.
fn crashed_table_run(dir: &Path, table: Table) -> PathBuf {
    let run = dir.join(format!("{table:?}"));
    let wal_bytes = match table {
        Table::Changes => 16 << 10,
        Table::Metrics => 4 << 10,
    };
    let config = StoreConfig::default().with_segment_max_rows(1_000_000).with_wal_segment_max_bytes(wal_bytes);
    let (mut store, _) = ChangeStore::open(&run, config.clone()).unwrap();
    match table {
        Table::Changes => {
            let mut cluster = SyntheticCluster::new(30, 3);
            for seq in 0..TABLE_RECORDS {
                let change = cluster.next_change();
                store.append(change.kind, change.op, 1, BASE_NS + seq as i64, &change.object.to_string()).unwrap();
            }
            store.sync().unwrap();
        }
        Table::Metrics => {
            let mut metrics = MetricStore::open(&run, &config).unwrap();
            for index in 0..TABLE_RECORDS {
                assert_eq!(metrics.append(&scrape(index)).unwrap().scrape_seq, index);
            }
            metrics.sync().unwrap();
        }
    }
    run
}

/// One WAL file of an intact WAL: its path and the offset at which each of its frames ends.
#[derive(Debug, Clone)]
struct WalFile {
    path: PathBuf,
    ends: Vec<u64>,
}

impl WalFile {
    fn frames(&self) -> u64 {
        self.ends.len() as u64
    }

    /// Offset at which frame `index` of the file starts.
    fn start(&self, index: usize) -> u64 {
        if index == 0 { wal::HEADER_LEN } else { self.ends[index - 1] }
    }

    fn len(&self) -> u64 {
        len(&self.path)
    }
}

/// The WAL files of `table`, oldest first, with their frame boundaries; asserts they hold
/// [`TABLE_RECORDS`] frames without damage.
fn wal_files(run: &Path, table: Table) -> Vec<WalFile> {
    let mut files = Vec::new();
    for (first_seq, path) in wal::list_segments(&table.wal_dir(run)).unwrap() {
        let mut reader = WalReader::open(&path, Some(first_seq)).unwrap();
        let mut ends = Vec::new();
        while reader.next_frame(table.frame_type()).unwrap().is_some() {
            ends.push(reader.valid_len());
        }
        assert_eq!(reader.tail(), None);
        assert_eq!(ends.last().copied().unwrap_or(wal::HEADER_LEN), reader.file_len());
        files.push(WalFile { path, ends });
    }
    assert_eq!(files.iter().map(WalFile::frames).sum::<u64>(), TABLE_RECORDS);
    files
}

/// Flips one bit inside frame `index` of `file`.
fn flip_a_bit(file: &WalFile, index: usize) {
    let mut bytes = std::fs::read(&file.path).unwrap();
    bytes[(file.start(index) + wal::FRAME_HEADER_LEN + 12) as usize] ^= 0x10;
    std::fs::write(&file.path, bytes).unwrap();
}

/// Parquet partitions the first `records` records of `table` go to (one open segment each).
fn partitions_of_first(table: Table, records: u64) -> usize {
    match table {
        Table::Metrics => usize::from(records > 0),
        Table::Changes => {
            let mut cluster = SyntheticCluster::new(30, 3);
            let mut kinds: Vec<Kind> = (0..records).map(|_| cluster.next_change().kind).collect();
            kinds.sort();
            kinds.dedup();
            kinds.len()
        }
    }
}

/// What recovering a run whose `table` WAL (`files`, before the damage) was damaged must
/// report: `read` valid records, all written to Parquet, and exactly `damage`; the other
/// table had nothing to recover.
fn assert_recovered(run: &Path, table: Table, files: &[WalFile], read: u64, damage: Vec<WalDamage>) {
    let report = recover(run).unwrap();
    let (recovered, other) = table.of(&report);
    assert!(other.is_noop(), "{table:?}: {other:?}");
    assert!(other.damage.is_empty(), "{table:?}: {other:?}");
    assert_eq!(recovered.inprogress_removed.len(), partitions_of_first(table, TABLE_RECORDS), "{table:?}");
    assert_eq!(recovered.segments_written.len(), partitions_of_first(table, read), "{table:?}");
    let expected = TableRecovery {
        wal_files: files.len(),
        records_read: read,
        records_recovered: read,
        records_already_durable: 0,
        records_dropped: damage.iter().map(|d| d.frames_dropped).sum(),
        bytes_dropped: damage.iter().map(|d| d.bytes_dropped).sum(),
        damage,
        inprogress_removed: recovered.inprogress_removed.clone(),
        segments_written: recovered.segments_written.clone(),
        next_seq: read,
        last_observed_at_ns: (read > 0).then(|| BASE_NS + read as i64 - 1),
    };
    assert_eq!(*recovered, expected, "{table:?}");
    assert_eq!(table.durable_seqs(run), (0..read).collect::<Vec<_>>(), "{table:?}");
    for file in files {
        assert!(!file.path.exists(), "{table:?}: {} was folded or kept as .damaged", file.path.display());
    }
    let detail = &evident_recorder::run_manifest::read(run).unwrap().unwrap().recoveries[0].detail;
    let noun = if table == Table::Changes { "change" } else { "scrape" };
    assert!(detail.contains(&format!("{read} {noun}(s) in {} WAL file(s)", files.len())), "{table:?}: {detail}");
}

#[test]
fn a_torn_last_record_is_dropped_alike_in_both_tables() {
    for table in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let run = crashed_table_run(dir.path(), table);
        let files = wal_files(&run, table);
        assert!(files.len() >= 3, "{table:?}: {} WAL files", files.len());
        let newest = files.last().unwrap();
        let last = newest.ends.len() - 1;
        let cut = newest.start(last) + (newest.ends[last] - newest.start(last)) / 2;
        OpenOptions::new().write(true).open(&newest.path).unwrap().set_len(cut).unwrap();
        let damage = WalDamage {
            file: newest.path.clone(),
            damage: Damage::Truncated,
            offset: newest.start(last),
            bytes_dropped: cut - newest.start(last),
            frames_dropped: 1,
            quarantined: false,
        };
        assert_recovered(&run, table, &files, TABLE_RECORDS - 1, vec![damage]);
    }
}

#[test]
fn a_flipped_bit_in_the_newest_file_drops_alike_in_both_tables() {
    for table in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let run = crashed_table_run(dir.path(), table);
        let files = wal_files(&run, table);
        let newest = files.last().unwrap();
        assert!(newest.frames() >= 2, "{table:?}");
        flip_a_bit(newest, 1);
        let damage = WalDamage {
            file: newest.path.clone(),
            damage: Damage::ChecksumMismatch,
            offset: newest.start(1),
            bytes_dropped: newest.len() - newest.start(1),
            frames_dropped: newest.frames() - 1,
            quarantined: false,
        };
        assert_recovered(&run, table, &files, TABLE_RECORDS - (newest.frames() - 1), vec![damage]);
    }
}

#[test]
fn a_zero_filled_tail_drops_no_record_in_either_table() {
    for table in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let run = crashed_table_run(dir.path(), table);
        let files = wal_files(&run, table);
        let newest = files.last().unwrap();
        overwrite(&newest.path, newest.len(), &[0u8; 4096]);
        let damage = WalDamage {
            file: newest.path.clone(),
            damage: Damage::ZeroFilled,
            offset: *newest.ends.last().unwrap(),
            bytes_dropped: 4096,
            frames_dropped: 0,
            quarantined: false,
        };
        assert_recovered(&run, table, &files, TABLE_RECORDS, vec![damage]);
    }
}

#[test]
fn a_damaged_file_followed_by_more_files_counts_every_later_frame_in_both_tables() {
    for table in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let run = crashed_table_run(dir.path(), table);
        let files = wal_files(&run, table);
        assert!(files.len() >= 3 && files[0].frames() >= 2, "{table:?}: {files:?}");
        flip_a_bit(&files[0], 1);
        let mut damage = vec![WalDamage {
            file: files[0].path.clone(),
            damage: Damage::ChecksumMismatch,
            offset: files[0].start(1),
            bytes_dropped: files[0].len() - files[0].start(1),
            frames_dropped: files[0].frames() - 1,
            quarantined: true,
        }];
        for later in &files[1..] {
            // Read on its own, a later file is intact: it is dropped whole, every frame counted.
            damage.push(WalDamage {
                file: later.path.clone(),
                damage: Damage::SeqOutOfOrder,
                offset: 0,
                bytes_dropped: later.len(),
                frames_dropped: later.frames(),
                quarantined: true,
            });
        }
        assert_eq!(damage.iter().map(|d| d.frames_dropped).sum::<u64>(), TABLE_RECORDS - 1);
        assert_recovered(&run, table, &files, 1, damage);
        for file in &files {
            let mut kept = file.path.as_os_str().to_owned();
            kept.push(".damaged");
            assert!(Path::new(&kept).exists(), "{table:?}: {} kept for inspection", file.path.display());
        }
    }
}

// Version 1 of the WAL format, as written before typed frames.

/// A version-1 frame, laid out byte by byte from the format's documentation.
fn v1_frame(seq: u64, observed_at_ns: i64, epoch: u32, codes: [u8; 2], rest: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend_from_slice(&observed_at_ns.to_le_bytes());
    payload.extend_from_slice(&epoch.to_le_bytes());
    payload.extend_from_slice(&codes);
    payload.extend_from_slice(rest);
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    frame
}

#[test]
fn reads_version_1_frames_as_the_version_2_frames_of_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(wal::segment_file_name(7));
    let mut bytes = b"EVDWAL\x01\x00".to_vec();
    bytes.extend(v1_frame(7, 1_000, 3, [1, 2], b"{}"));
    bytes.extend(v1_frame(8, 2_000, 0, [2, 4], b"[1]"));
    std::fs::write(&path, &bytes).unwrap();
    let mut reader = WalReader::open(&path, Some(7)).unwrap();
    assert_eq!(reader.version(), 1);
    let first = reader.next_frame(FrameType::Change).unwrap().unwrap();
    let mut expected = 1_000i64.to_le_bytes().to_vec();
    expected.extend_from_slice(&3u32.to_le_bytes());
    expected.extend_from_slice(&[1, 2]);
    expected.extend_from_slice(b"{}");
    assert_eq!(first, wal::Frame { seq: 7, frame_type: FrameType::Change, body: expected });
    assert_eq!(reader.next_frame(FrameType::Change).unwrap().unwrap().seq, 8);
    assert_eq!(reader.next_frame(FrameType::Change).unwrap(), None);
    assert_eq!(reader.tail(), None);

    let scrapes = dir.path().join(wal::segment_file_name(0));
    let mut bytes = b"EVDWAL\x01\x00".to_vec();
    bytes.extend(v1_frame(0, 5_000, 0, wal::V1_SCRAPE_CODES, b"\x01\x00uTEXT"));
    bytes.extend(v1_frame(1, 6_000, 0, [b'M', 2], b"\x01\x00uTEXT"));
    std::fs::write(&scrapes, &bytes).unwrap();
    let mut reader = WalReader::open(&scrapes, Some(0)).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame(FrameType::Scrape).unwrap() {
        frames.push(frame);
    }
    let tail = reader.tail().cloned();
    let mut expected = 5_000i64.to_le_bytes().to_vec();
    expected.extend_from_slice(b"\x01\x00uTEXT");
    assert_eq!(frames, vec![wal::Frame { seq: 0, frame_type: FrameType::Scrape, body: expected }]);
    assert_eq!(tail.map(|t| (t.damage, t.frames_dropped)), Some((Damage::UnknownType, 1)));
}

#[test]
fn a_run_crashed_with_a_version_1_wal_recovers_both_tables() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("v1");
    std::fs::create_dir_all(run.join("wal")).unwrap();
    std::fs::create_dir_all(run.join("wal-metrics")).unwrap();
    // Changes 0..3 (node, pod, event), with kind and op codes of version 1.
    let objects = [
        (0u8, 0u8, r#"{"kind":"Node","metadata":{"name":"n1","uid":"u-n1","resourceVersion":"1"}}"#),
        (1, 1, r#"{"kind":"Pod","metadata":{"name":"p1","namespace":"d","uid":"u-p1","resourceVersion":"2"}}"#),
        (2, 0, r#"{"kind":"Event","metadata":{"name":"e1","namespace":"d","uid":"u-e1","resourceVersion":"3"}}"#),
    ];
    let mut changes = b"EVDWAL\x01\x00".to_vec();
    for (seq, (kind, op, json)) in objects.iter().enumerate() {
        changes.extend(v1_frame(seq as u64, BASE_NS + seq as i64, 1, [*kind, *op], json.as_bytes()));
    }
    std::fs::write(run.join("wal").join(wal::segment_file_name(0)), changes).unwrap();
    // Scrapes 0..2: URL length, URL, text after the `M`, 1 codes.
    let mut scrapes = b"EVDWAL\x01\x00".to_vec();
    for index in 0..2u64 {
        let scrape = scrape(index);
        let mut rest = (scrape.endpoint.len() as u16).to_le_bytes().to_vec();
        rest.extend_from_slice(scrape.endpoint.as_bytes());
        rest.extend_from_slice(scrape.text.as_bytes());
        scrapes.extend(v1_frame(index, scrape.scraped_at_ns, 0, [b'M', 1], &rest));
    }
    std::fs::write(run.join("wal-metrics").join(wal::segment_file_name(0)), scrapes).unwrap();

    let report = recover(&run).unwrap();
    assert_eq!((report.changes.records_read, report.changes.records_recovered, report.changes.next_seq), (3, 3, 3));
    assert_eq!((report.metrics.records_read, report.metrics.records_recovered, report.metrics.next_seq), (2, 2, 2));
    assert!(report.changes.damage.is_empty() && report.metrics.damage.is_empty(), "{report:?}");
    let rows = common::assert_log_is_whole(&run);
    let names: Vec<_> = rows.iter().map(|row| (row.kind, row.name.as_str())).collect();
    assert_eq!(names, vec![(Kind::Node, "n1"), (Kind::Pod, "p1"), (Kind::Event, "e1")]);
    assert_eq!(common::scrape_seqs(&run), vec![0, 1]);
    let manifest = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
    assert_eq!(manifest.row_counts["metrics"], 8);
    assert!(!run.join("wal").exists() && !run.join("wal-metrics").exists());

    // The run records on in version 2 after its version-1 tail.
    let (mut store, reopened) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    assert!(reopened.is_noop(), "{reopened:?}");
    let node = r#"{"kind":"Node","metadata":{"name":"n1","uid":"u-n1","resourceVersion":"4"}}"#;
    let seq = store.append(Kind::Node, Op::Modified, 2, BASE_NS + 10, node).unwrap();
    assert_eq!(seq, 3);
    store.close("test").unwrap();
    assert_eq!(common::assert_log_is_whole(&run).len(), 4);
}
