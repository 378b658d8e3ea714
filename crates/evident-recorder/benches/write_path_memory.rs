//! Peak memory of the write path: records the same number of changes over a small and a
//! large set of live pods, and twice the changes over the small set, each in a fresh
//! process, and prints each process's peak RSS (`VmHWM` of /proc/self/status).
//!
//! Memory should follow the live objects (the watcher's cache of the last object of each
//! live pod, modelled here by a map) and the row-group size, not the number of changes.
//!
//! Run: `cargo bench --workspace --bench write_path_memory`

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

use evident_recorder::{ChangeStore, StoreConfig};
use evident_testkit::objects::SyntheticCluster;

const CHILD_ENV: &str = "EVIDENT_BENCH_MEMORY_CASE";

fn main() {
    if let Ok(case) = std::env::var(CHILD_ENV) {
        let (live, changes) = case.split_once(':').expect("live:changes");
        run_case(live.parse().unwrap(), changes.parse().unwrap());
        return;
    }
    println!("{:>10} {:>10} {:>14} {:>12}", "live pods", "changes", "peak RSS MiB", "changes/s");
    for (live, changes) in [(2_000, 200_000), (20_000, 200_000), (2_000, 400_000)] {
        let output = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, format!("{live}:{changes}"))
            .output()
            .expect("run a measurement process");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

fn run_case(live: usize, changes: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = ChangeStore::open(&dir.path().join("run"), StoreConfig::default()).unwrap();
    let mut cluster = SyntheticCluster::new(live, 3).pods_only();
    // What the watcher keeps: the last object of each live pod.
    let mut cache: HashMap<String, String> = HashMap::with_capacity(live);
    let start = Instant::now();
    for seq in 0..changes {
        let change = cluster.next_change();
        let json = change.text();
        let uid = change.object["metadata"]["uid"].as_str().unwrap().to_string();
        if change.op == evident_core::Op::Deleted {
            cache.remove(&uid);
        } else {
            cache.insert(uid, json.clone());
        }
        store.append(change.kind, change.op, 1, seq as i64, &json).unwrap();
        if seq.is_multiple_of(100) {
            store.tick().unwrap();
        }
    }
    store.close("bench").unwrap();
    let rate = changes as f64 / start.elapsed().as_secs_f64();
    println!("{live:>10} {changes:>10} {:>14.1} {rate:>12.0}", peak_rss_kib() as f64 / 1024.0);
    drop(cache);
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
