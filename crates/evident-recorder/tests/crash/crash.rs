//! Crash safety without a cluster: a writer process appends synthetic changes with frequent
//! ticks and is killed with SIGKILL at several points; recovery must then restore every
//! change that was fsynced, write no row twice, and leave seqs contiguous from 0.
//!
//! The writer is this test binary itself, re-executed with [`WRITER_ENV`] set and told to run
//! only [`writer_process_entry`]; it prints `fsynced <seq>` each time an fsync made `seq`
//! durable. Change `seq` is always the `seq`-th change of a seeded [`SyntheticCluster`], so
//! the parent can check each recovered row against what was written.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evident_recorder::{ChangeStore, StoreConfig, recover};
use evident_testkit::objects::SyntheticCluster;

const WRITER_ENV: &str = "EVIDENT_CRASH_WRITER_RUN_DIR";
const SEED: u64 = 42;
const LIVE_PODS: usize = 300;
const OBSERVED_BASE_NS: i64 = 1_781_451_591_000_000_000;

/// Small segments, frequent fsyncs and small WAL files, so kills land in every phase of the
/// write path: mid-record, mid-row-group, mid-roll, mid-rotation, mid-manifest-write.
fn crash_config() -> StoreConfig {
    StoreConfig::default()
        .with_segment_max_rows(300)
        .with_segment_max_age(Duration::from_millis(40))
        .with_wal_fsync_interval(Duration::from_millis(3))
        .with_wal_segment_max_bytes(256 << 10)
}

/// The writer process. When run as a normal test (without [`WRITER_ENV`]) it has nothing to
/// do and returns: it is the entry point the crash tests re-execute, not a test itself.
#[test]
fn writer_process_entry() {
    let Ok(run_dir) = std::env::var(WRITER_ENV) else { return };
    let (mut store, _) = ChangeStore::open(Path::new(&run_dir), crash_config()).unwrap();
    let start = store.stats().next_seq;
    let mut cluster = SyntheticCluster::new(LIVE_PODS, SEED);
    for _ in 0..start {
        cluster.next_change();
    }
    let mut reported = store.stats().last_fsynced_seq;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seq = start;
    while Instant::now() < deadline {
        let change = cluster.next_change();
        let appended =
            store.append(change.kind, change.op, 1, OBSERVED_BASE_NS + seq as i64, &change.object.to_string()).unwrap();
        assert_eq!(appended, seq);
        seq += 1;
        if seq % 5 == 0 {
            store.tick().unwrap();
            let fsynced = store.stats().last_fsynced_seq;
            if fsynced != reported
                && let Some(fsynced) = fsynced
            {
                println!("fsynced {fsynced}");
                reported = Some(fsynced);
            }
        }
    }
    panic!("the writer was not killed within 60 s");
}

/// Runs a writer on `run_dir` and kills it once it reports an fsync at or past `kill_at`.
/// Returns the last fsynced seq it reported.
fn run_writer_and_kill(run_dir: &Path, kill_at: u64) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::writer_process_entry", "--nocapture", "--test-threads", "1"])
        .env(WRITER_ENV, run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last_fsynced = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(seq) = line.strip_prefix("fsynced ") {
            let seq: u64 = seq.trim().parse().unwrap();
            last_fsynced = Some(seq);
            if seq >= kill_at {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    if last_fsynced.is_none() {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        panic!("the writer reported no fsync (exit {status}): {stderr}");
    }
    last_fsynced.unwrap()
}

/// Every `.parquet` file opens and decodes; returns how many there are.
fn assert_every_parquet_file_opens(run_dir: &Path) -> usize {
    let files = common::parquet_files(run_dir);
    for file in &files {
        common::read_segment(file);
    }
    files.len()
}

/// The recovered rows are exactly the first changes of the seeded stream.
fn assert_rows_match_the_stream(rows: &[common::Row]) {
    let mut cluster = SyntheticCluster::new(LIVE_PODS, SEED);
    for row in rows {
        let change = cluster.next_change();
        let meta = &change.object["metadata"];
        assert_eq!(row.kind, change.kind, "seq {}", row.seq);
        assert_eq!(row.uid, meta["uid"].as_str().unwrap(), "seq {}", row.seq);
        assert_eq!(row.resource_version, meta["resourceVersion"].as_str().unwrap(), "seq {}", row.seq);
    }
}

#[test]
fn killed_writers_lose_nothing_fsynced_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-crash");
    // Successive writers on one run, each killed. After each kill the WAL tail is folded by
    // `recover` (even rounds) or by reopening the store (odd rounds, the path `record` takes
    // when it resumes a run); the next writer then continues the same stream.
    let kill_points = [40u64, 700, 1_900, 2_600, 4_500, 6_100];
    let mut must_survive = 0;
    for (round, kill_at) in kill_points.into_iter().enumerate() {
        let last_fsynced = run_writer_and_kill(&run, kill_at);
        assert!(last_fsynced >= kill_at);
        must_survive = last_fsynced;
        assert_every_parquet_file_opens(&run);
        if round % 2 == 0 {
            let report = recover(&run).unwrap();
            assert!(
                report.changes.next_seq > last_fsynced,
                "round {round}: fsynced {last_fsynced}, recovered up to {}",
                report.changes.next_seq
            );
            let rows = common::assert_log_is_whole(&run);
            assert_eq!(rows.len() as u64, report.changes.next_seq);
            assert_rows_match_the_stream(&rows);
            let manifest = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
            assert_eq!(manifest.row_counts, common::row_counts(&run));
        } else {
            let (store, _) = ChangeStore::open(&run, crash_config()).unwrap();
            assert!(
                store.stats().next_seq > last_fsynced,
                "round {round}: fsynced {last_fsynced}, reopened at {}",
                store.stats().next_seq
            );
            store.close("test-reopen").unwrap();
            common::assert_log_is_whole(&run);
        }
    }

    let report = recover(&run).unwrap();
    assert!(report.changes.next_seq > must_survive);
    assert_eq!(
        assert_every_parquet_file_opens(&run),
        evident_recorder::run_manifest::read(&run).unwrap().unwrap().segments.len()
    );
    let rows = common::assert_log_is_whole(&run);
    assert_eq!(rows.len() as u64, report.changes.next_seq);
    assert_rows_match_the_stream(&rows);
    let leftovers: Vec<_> = common::snapshot(&run)
        .into_keys()
        .filter(|path| path.to_string_lossy().ends_with(".inprogress") || path.starts_with("wal"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let before = common::snapshot(&run);
    assert!(recover(&run).unwrap().is_noop());
    assert_eq!(common::snapshot(&run), before);
}
