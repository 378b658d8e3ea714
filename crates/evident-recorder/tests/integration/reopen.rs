//! Reopening a run continues it: seqs go on after the last one, nothing is duplicated, and
//! segments roll on rows and on age as configured.

use crate::common;

use std::time::Duration;

use evident_core::{Kind, Op};
use evident_recorder::{ChangeStore, StoreConfig};
use evident_testkit::objects::SyntheticCluster;

fn append(store: &mut ChangeStore, cluster: &mut SyntheticCluster, count: u64) {
    for _ in 0..count {
        let change = cluster.next_change();
        store.append(change.kind, change.op, 1, 0, &change.object.to_string()).unwrap();
    }
}

#[test]
fn reopening_a_closed_run_continues_its_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-20260614-153951");
    let config = StoreConfig::default().with_segment_max_rows(100);
    let mut cluster = SyntheticCluster::new(80, 9);

    let (mut store, report) = ChangeStore::open(&run, config.clone()).unwrap();
    assert!(report.is_noop());
    append(&mut store, &mut cluster, 250);
    let first = store.close("duration").unwrap();
    assert_eq!(first.stop_reason, "duration");
    assert_eq!(first.row_counts.values().sum::<u64>(), 250);
    assert!(!run.join("wal").exists());
    assert!(!run.join(".lock").exists());

    let (mut store, report) = ChangeStore::open(&run, config).unwrap();
    assert!(report.is_noop(), "{report:?}");
    assert_eq!(report.changes.next_seq, 250);
    assert_eq!(store.manifest().stopped_at, "", "a reopened run is recording again");
    let seq = store
        .append(Kind::Node, Op::Modified, 2, 0, &evident_testkit::objects::node(1, 99, "kwok-v0.7.0").to_string())
        .unwrap();
    assert_eq!(seq, 250);
    append(&mut store, &mut cluster, 99);
    let second = store.close("signal").unwrap();

    assert_eq!(second.run_id, "k8s-20260614-153951");
    assert_eq!(second.started_at, first.started_at);
    assert_eq!(second.row_counts.values().sum::<u64>(), 350);
    assert_eq!(second.row_counts, common::row_counts(&run));
    assert_eq!(second.segments.len(), common::parquet_files(&run).len());
    let rows = common::assert_log_is_whole(&run);
    assert_eq!(rows.len(), 350);
    assert_eq!(rows[250].kind, Kind::Node);
}

#[test]
fn reopening_after_a_crash_recovers_then_continues() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = StoreConfig::default().with_segment_max_rows(64);
    let mut cluster = SyntheticCluster::new(40, 5);
    let (mut store, _) = ChangeStore::open(&run, config.clone()).unwrap();
    append(&mut store, &mut cluster, 200);
    store.sync().unwrap();
    let durable_before_crash = store.stats().rows.values().sum::<u64>() - store.stats().pending_rows;
    assert!(durable_before_crash > 0, "some segments rolled before the crash");
    // Dropped without `close`: the WAL and `.inprogress` files stay, as after a kill.
    drop(store);

    let (mut store, report) = ChangeStore::open(&run, config).unwrap();
    assert_eq!(report.changes.records_read, report.changes.records_recovered + report.changes.records_already_durable);
    assert_eq!(report.changes.records_recovered, 200 - durable_before_crash);
    assert!(report.changes.records_already_durable > 0, "{report:?}");
    assert_eq!(report.changes.next_seq, 200);
    assert!(!report.changes.inprogress_removed.is_empty());
    append(&mut store, &mut cluster, 10);
    let manifest = store.close("duration").unwrap();
    assert_eq!(manifest.recoveries.len(), 1);
    assert_eq!(manifest.row_counts.values().sum::<u64>(), 210);
    assert_eq!(common::assert_log_is_whole(&run).len(), 210);
}

#[test]
fn segments_roll_on_rows_and_on_age_and_the_manifest_follows() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = StoreConfig::default().with_segment_max_rows(50).with_segment_max_age(Duration::from_millis(30));
    let (mut store, _) = ChangeStore::open(&run, config).unwrap();
    let mut cluster = SyntheticCluster::new(10, 1).pods_only();
    append(&mut store, &mut cluster, 120);
    // Two full segments rolled on rows; 20 rows wait for their age.
    assert_eq!(store.stats().segments, 2);
    assert_eq!(store.stats().pending_rows, 20);
    let on_disk = evident_recorder::run_manifest::read(&run).unwrap().unwrap();
    assert_eq!(on_disk.segments.len(), 2, "run.json is rewritten after each roll");
    std::thread::sleep(Duration::from_millis(40));
    store.tick().unwrap();
    let stats = store.stats();
    assert_eq!((stats.segments, stats.pending_rows), (3, 0));
    assert_eq!(stats.last_fsynced_seq, Some(119), "a roll fsyncs the WAL first");
    assert!(stats.last_fsync.is_some());
    let manifest = store.close("duration").unwrap();
    let firsts: Vec<u64> = manifest.segments.iter().map(|s| s.first_seq).collect();
    assert_eq!(firsts, vec![0, 50, 100]);
    assert_eq!(manifest.segments[2].path, "pods/part-00000000000000000100.parquet");
}

#[test]
fn wal_segments_are_deleted_once_their_rows_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = StoreConfig::default().with_segment_max_rows(200).with_wal_segment_max_bytes(64 << 10);
    let (mut store, _) = ChangeStore::open(&run, config).unwrap();
    let mut cluster = SyntheticCluster::new(30, 2).pods_only();
    append(&mut store, &mut cluster, 150);
    let wal_files = |run: &std::path::Path| std::fs::read_dir(run.join("wal")).unwrap().count();
    // ~150 pods of a few KiB each span several 64 KiB WAL files, none durable in Parquet yet.
    assert!(wal_files(&run) > 3, "{}", wal_files(&run));
    assert_eq!(store.stats().wal_segments, wal_files(&run));
    append(&mut store, &mut cluster, 50);
    // The roll at 200 rows made every row durable: only the newest WAL file remains.
    assert_eq!(store.stats().segments, 1);
    assert_eq!(wal_files(&run), 1);
    store.close("duration").unwrap();
}

#[test]
fn invalid_json_is_refused_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    let mut cluster = SyntheticCluster::new(20, 4).pods_only();
    append(&mut store, &mut cluster, 10);
    // The second has a type error before its syntax error.
    for text in ["{\"metadata\":", "{\"status\":{\"phase\":42},\"spec\":[tru", "not json", ""] {
        let refused = store.append(Kind::Pod, Op::Modified, 1, 0, text);
        assert!(matches!(refused, Err(evident_recorder::StoreError::Json(_))), "{text:?}: {refused:?}");
    }
    append(&mut store, &mut cluster, 10);
    let manifest = store.close("duration").unwrap();
    assert_eq!(manifest.row_counts.get("pods"), Some(&20));
    assert_eq!(manifest.segments.iter().map(|s| (s.first_seq, s.last_seq)).collect::<Vec<_>>(), vec![(0, 19)]);
}

#[test]
fn objects_of_unexpected_types_are_recorded_redacted_with_their_identity() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    // JSON, but the one pass refuses it (a number for the phase): the slow paths record it.
    let odd = r#"{"kind":"Pod","metadata":{"name":"odd","uid":"u-odd","resourceVersion":"3","managedFields":[{"manager":"CANARY"}]},"spec":{"containers":[{"name":"c","env":[{"name":"T","value":"CANARY"}]}]},"status":{"phase":42}}"#;
    assert_eq!(store.append(Kind::Pod, Op::Added, 1, 0, odd).unwrap(), 0);
    store.close("duration").unwrap();
    let rows = common::read_rows(&run);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.name.as_str(), row.uid.as_str(), row.resource_version.as_str()), ("odd", "u-odd", "3"));
    assert!(!row.object.contains("CANARY") && !row.object.contains("managedFields"), "{}", row.object);
    assert!(row.object.contains(r#""phase":42"#), "{}", row.object);
}

#[test]
fn wal_fsyncs_in_the_background_are_reported_once_done() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = StoreConfig::default().with_wal_fsync_interval(Duration::ZERO);
    let (mut store, _) = ChangeStore::open(&run, config).unwrap();
    let mut cluster = SyntheticCluster::new(20, 5).pods_only();
    append(&mut store, &mut cluster, 5);
    assert_eq!(store.stats().last_fsynced_seq, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.stats().last_fsynced_seq != Some(4) {
        assert!(std::time::Instant::now() < deadline, "no fsync reported: {:?}", store.stats());
        store.tick().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(store.stats().last_fsync.is_some());
    store.close("duration").unwrap();
}
