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

/// What a resumed recording's watches start from: each object's last row, unless it deleted
/// the object, read from the segments including those recovered from a crash's WAL tail.
#[test]
fn the_last_known_state_of_a_crashed_run_is_read_back_for_resuming() {
    use evident_recorder::last_known::LastKnown;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = StoreConfig::default().with_segment_max_rows(4);
    let object = |kind: &str, namespace: Option<&str>, name: &str, rv: u32| {
        let mut metadata =
            serde_json::json!({"name": name, "uid": format!("uid-{name}"), "resourceVersion": rv.to_string()});
        if let Some(namespace) = namespace {
            metadata["namespace"] = namespace.into();
        }
        serde_json::json!({"kind": kind, "metadata": metadata}).to_string()
    };
    // (kind, op, namespace, name, resourceVersion), in order; the expected state is worked out
    // by hand below.
    let changes = [
        (Kind::Pod, Op::Sync, Some("a"), "p0", 1),
        (Kind::Pod, Op::Sync, Some("a"), "p1", 1),
        (Kind::Pod, Op::Sync, Some("a"), "p2", 1),
        (Kind::Pod, Op::Sync, Some("b"), "p3", 1),
        (Kind::Node, Op::Sync, None, "n0", 1),
        (Kind::Node, Op::Sync, None, "n1", 1),
        (Kind::Pod, Op::Modified, Some("a"), "p1", 2),
        (Kind::Pod, Op::Deleted, Some("a"), "p2", 3),
        (Kind::Node, Op::DeletedInGap, None, "n1", 1),
        (Kind::Event, Op::Added, Some("a"), "e0", 4),
        (Kind::Pod, Op::Added, Some("a"), "p4", 5),
        (Kind::Pod, Op::Modified, Some("a"), "p1", 6),
    ];
    let (mut store, _) = ChangeStore::open(&run, config.clone()).unwrap();
    for (index, (kind, op, namespace, name, rv)) in changes.into_iter().enumerate() {
        store.append(kind, op, 1, 1_000 + index as i64, &object(kind.as_str(), namespace, name, rv)).unwrap();
    }
    // A pod without a uid (hostile or broken data) is recorded, but no watch can match it.
    store
        .append(Kind::Pod, Op::Added, 1, 2_000, r#"{"kind":"Pod","metadata":{"name":"nouid","namespace":"a"}}"#)
        .unwrap();
    store.sync().unwrap();
    drop(store); // a crash: the last rows are only in the WAL

    let (store, report) = ChangeStore::open(&run, config).unwrap();
    assert!(report.changes.records_recovered > 0, "{report:?}");
    let last_known = LastKnown::read(&run, &Kind::ALL).unwrap();
    let rv_by_uid = |known: std::collections::HashMap<String, String>| {
        let mut rvs: Vec<(String, String)> = known
            .into_iter()
            .map(|(uid, json)| {
                let value: serde_json::Value = serde_json::from_str(&json).unwrap();
                (uid, value["metadata"]["resourceVersion"].as_str().unwrap().to_string())
            })
            .collect();
        rvs.sort();
        rvs
    };
    let pods = last_known.kind(Kind::Pod);
    let pair = |uid: &str, rv: &str| (uid.to_string(), rv.to_string());
    assert_eq!(
        rv_by_uid(pods.seed_for(None)),
        [pair("uid-p0", "1"), pair("uid-p1", "6"), pair("uid-p3", "1"), pair("uid-p4", "5")]
    );
    assert_eq!(rv_by_uid(pods.seed_for(Some("a"))), [pair("uid-p0", "1"), pair("uid-p1", "6"), pair("uid-p4", "5")]);
    assert!(pods.seed_for(Some("c")).is_empty());
    assert_eq!(pods.skipped_rows, 1);
    assert_eq!(pods.last_observed_at_ns, Some(2_000));
    assert_eq!(rv_by_uid(last_known.kind(Kind::Node).seed_for(None)), [pair("uid-n0", "1")]);
    assert_eq!(rv_by_uid(last_known.kind(Kind::Event).seed_for(Some("a"))), [pair("uid-e0", "4")]);
    store.close("duration").unwrap();
}

#[test]
fn a_segment_that_is_not_parquet_fails_the_last_known_state_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    let mut cluster = SyntheticCluster::new(5, 3).pods_only();
    append(&mut store, &mut cluster, 5);
    store.close("duration").unwrap();
    let bogus = run.join("pods").join("part-00000000000000000099.parquet");
    std::fs::write(&bogus, b"not parquet").unwrap();
    let error = evident_recorder::last_known::LastKnown::read(&run, &[Kind::Pod]).unwrap_err().to_string();
    assert!(error.contains("part-00000000000000000099.parquet"), "{error}");
}

#[test]
fn recovering_a_crashed_recording_gives_back_its_space_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-crashed");
    let mut cluster = SyntheticCluster::new(20, 3);
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    append(&mut store, &mut cluster, 30);
    // What a recording sets aside at start and a crash leaves behind.
    let _reserve = evident_recorder::run_manifest::Reserve::create(&run).unwrap();
    // A crash: the store is dropped without being closed (the WAL is not folded into Parquet).
    drop(store);
    let reserve_path = run.join(evident_recorder::run_manifest::RESERVE_FILE);
    assert!(reserve_path.is_file());

    let report = evident_recorder::recover(&run).unwrap();
    assert!(!report.is_noop(), "the crashed run had records to fold");
    assert!(!reserve_path.exists(), "recover leaves no .reserve behind");
}
