//! Secrets never reach the disk: an env value carrying a canary appears in no byte of any
//! file of the run, whether the run was closed cleanly or crashed and was recovered.

use std::path::Path;

use evident_core::{Kind, Op};
use evident_recorder::{ChangeStore, StoreConfig, recover};
use evident_testkit::objects::SyntheticPod;

const CANARY: &str = "CANARY-7f3a9c-do-not-write";

fn pod_with_canary(index: u64) -> serde_json::Value {
    let mut pod = SyntheticPod::new(index, 100 + index);
    pod.env.push(("DB_PASSWORD".into(), CANARY.into()));
    let mut object = pod.to_json();
    object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        serde_json::json!(format!("{{\"password\":\"{CANARY}\"}}"));
    assert!(object.to_string().contains(CANARY));
    object
}

fn assert_canary_absent(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "canary found in {}", path.display());
        }
    }
    assert!(files > 0);
}

#[test]
fn a_secret_env_value_is_written_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    for index in 0..20 {
        store.append(Kind::Pod, Op::Added, 1, index as i64, &pod_with_canary(index).to_string()).unwrap();
    }
    store.close("duration").unwrap();
    assert_canary_absent(&run);
}

#[test]
fn a_secret_env_value_is_not_in_the_wal_nor_in_recovered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default()).unwrap();
    for index in 0..20 {
        store.append(Kind::Pod, Op::Modified, 1, index as i64, &pod_with_canary(index).to_string()).unwrap();
    }
    store.sync().unwrap();
    drop(store); // without `close`: the WAL stays, as after a crash
    assert!(run.join("wal").is_dir());
    assert_canary_absent(&run);
    assert_eq!(recover(&run).unwrap().changes.records_recovered, 20);
    assert_canary_absent(&run);
}
