//! Crash safety of the metrics table without a cluster: scrapes are appended to a
//! `MetricStore`, the process "dies" (the stores are dropped without closing, as a kill
//! leaves them) between the WAL and Parquet, and recovery must bring back every fsynced
//! scrape exactly once, whether through `evident recover` or by reopening the run.

use crate::common;

use std::path::Path;

use common::{metric_rows, scrape_seqs};
use evident_core::layout::METRICS_WAL_DIR;
use evident_recorder::metric_store::{MetricStore, Scrape};
use evident_recorder::{ChangeStore, StoreConfig, recover, run_manifest, wal};

const BASE_NS: i64 = 1_781_451_591_000_000_000;
/// Samples in every scrape of [`scrape`]: utilisation and framebuffer of two GPUs.
const SAMPLES_PER_SCRAPE: u64 = 4;

fn scrape(index: u64) -> Scrape {
    let mut text = String::from("# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n# TYPE DCGM_FI_DEV_FB_USED gauge\n");
    for gpu in 0..2 {
        let labels = format!("gpu=\"{gpu}\",UUID=\"GPU-{gpu}\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-0\"");
        text.push_str(&format!("DCGM_FI_DEV_GPU_UTIL{{{labels}}} {}\n", 10 * gpu + index));
        text.push_str(&format!("DCGM_FI_DEV_FB_USED{{{labels}}} 1024\n"));
    }
    Scrape {
        endpoint: "http://127.0.0.1:9400/metrics".into(),
        scraped_at_ns: BASE_NS + index as i64 * 1_000_000_000,
        text,
    }
}

fn config() -> StoreConfig {
    StoreConfig::default().with_segment_max_rows(1_000)
}

/// Opens the run the way a recording does: the change store (lock, manifest, recovery),
/// then the metrics store.
fn open(run: &Path) -> (ChangeStore, MetricStore) {
    let (store, _) = ChangeStore::open(run, config()).unwrap();
    let metrics = MetricStore::open(run, &config()).unwrap();
    (store, metrics)
}

fn append(metrics: &mut MetricStore, scrapes: std::ops::Range<u64>) {
    for index in scrapes {
        let appended = metrics.append(&scrape(index)).unwrap();
        assert_eq!((appended.scrape_seq, appended.samples, appended.bad_lines), (index, SAMPLES_PER_SCRAPE, 0));
    }
}

#[test]
fn killed_between_wal_and_parquet_recover_restores_every_synced_scrape_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("metrics-crash");
    let (store, mut metrics) = open(&run);
    append(&mut metrics, 0..3);
    metrics.sync().unwrap();
    drop((metrics, store));
    assert!(run.join("metrics/part-00000000000000000000.parquet.inprogress").exists());

    let report = recover(&run).unwrap();
    assert_eq!(
        (report.metrics.records_read, report.metrics.records_recovered, report.metrics.inprogress_removed.len()),
        (3, 3, 1)
    );
    assert_eq!(scrape_seqs(&run), vec![0, 1, 2]);
    assert_eq!(metric_rows(&run).len() as u64, 3 * SAMPLES_PER_SCRAPE);
    assert!(!run.join(METRICS_WAL_DIR).exists(), "the metrics WAL is gone once folded");
    let manifest = run_manifest::read(&run).unwrap().unwrap();
    let listed: Vec<_> = manifest.segments.iter().filter(|segment| segment.table == "metrics").collect();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].first_seq, listed[0].last_seq, listed[0].rows), (0, 2, 3 * SAMPLES_PER_SCRAPE));
    assert_eq!(manifest.row_counts["metrics"], 3 * SAMPLES_PER_SCRAPE);
    assert!(manifest.recoveries.last().unwrap().detail.contains("metrics: 3 scrape(s)"));

    let again = recover(&run).unwrap();
    assert!(again.metrics.is_noop(), "{:?}", again.metrics);
    assert_eq!(metric_rows(&run).len() as u64, 3 * SAMPLES_PER_SCRAPE);
}

#[test]
fn killed_after_a_roll_before_its_wal_was_deleted_writes_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("metrics-roll-crash");
    let (store, mut metrics) = open(&run);
    append(&mut metrics, 0..2);
    metrics.sync().unwrap();
    let first_wal = run.join(METRICS_WAL_DIR).join(wal::segment_file_name(0));
    let saved = std::fs::read(&first_wal).unwrap();
    let rolled = metrics.roll().unwrap().expect("a segment");
    assert_eq!((rolled.first_seq, rolled.last_seq), (0, 1));
    assert!(!first_wal.exists(), "a roll deletes the WAL it made durable");
    append(&mut metrics, 2..3);
    metrics.sync().unwrap();
    drop((metrics, store));
    // The crash came between the segment's rename and the WAL's deletion.
    std::fs::write(&first_wal, saved).unwrap();

    let report = recover(&run).unwrap();
    assert_eq!(
        (report.metrics.records_read, report.metrics.records_already_durable, report.metrics.records_recovered),
        (3, 2, 1)
    );
    assert_eq!(scrape_seqs(&run), vec![0, 1, 2]);
    assert_eq!(metric_rows(&run).len() as u64, 3 * SAMPLES_PER_SCRAPE);
}

#[test]
fn a_torn_last_record_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("metrics-torn");
    let (store, mut metrics) = open(&run);
    append(&mut metrics, 0..3);
    metrics.sync().unwrap();
    drop((metrics, store));
    let wal_file = run.join(METRICS_WAL_DIR).join(wal::segment_file_name(0));
    let length = std::fs::metadata(&wal_file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&wal_file).unwrap().set_len(length - 10).unwrap();

    let report = recover(&run).unwrap();
    assert_eq!((report.metrics.records_recovered, report.metrics.records_dropped), (2, 1));
    assert_eq!(report.metrics.quarantined().count(), 0, "a torn tail is what a crash leaves, not damage");
    let damage: Vec<_> = report.metrics.damage.iter().map(|d| (d.damage, d.frames_dropped, d.quarantined)).collect();
    assert_eq!(damage, vec![(evident_recorder::wal::Damage::Truncated, 1, false)]);
    assert_eq!(scrape_seqs(&run), vec![0, 1]);
}

#[test]
fn reopening_the_run_recovers_and_continues_the_scrape_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("metrics-reopen");
    let (store, mut metrics) = open(&run);
    append(&mut metrics, 0..2);
    metrics.sync().unwrap();
    drop((metrics, store));

    let (store, recovery) = ChangeStore::open(&run, config()).unwrap();
    assert_eq!(recovery.metrics.records_recovered, 2);
    let mut metrics = MetricStore::open(&run, &config()).unwrap();
    assert_eq!(metrics.next_seq(), 2);
    append(&mut metrics, 2..4);
    let mut store = store;
    let last = metrics.close().unwrap().expect("a final segment");
    run_manifest::add_segment(store.manifest_mut(), last);
    let manifest = store.close("test").unwrap();
    assert_eq!(scrape_seqs(&run), vec![0, 1, 2, 3]);
    assert_eq!(manifest.row_counts["metrics"], 4 * SAMPLES_PER_SCRAPE);
    assert_eq!(manifest.segments.iter().filter(|segment| segment.table == "metrics").count(), 2);
}
