//! The cluster lock holds across processes: while a test holds `exclusive()`, another process
//! cannot take the lock (so tests of two test binaries, or two people's runs, never change the
//! cluster at once). The other process is `flock(1) -n`, which tries the same `flock(2)` lock
//! without waiting.

use std::process::Command;

use evident_e2e::{cluster_lock_path, exclusive};

/// flock(1)'s exit code when the lock is held elsewhere (`-E`).
const CONFLICT: i32 = 75;

fn another_process_can_lock() -> bool {
    let path = cluster_lock_path();
    let status = Command::new("flock")
        .args(["-n", "-E", &CONFLICT.to_string()])
        .arg(&path)
        .arg("true")
        .status()
        .unwrap_or_else(|error| panic!("cannot run flock(1) (util-linux) on {}: {error}", path.display()));
    match status.code() {
        Some(0) => true,
        Some(CONFLICT) => false,
        _ => panic!("flock(1) on {} failed: {status}", path.display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_cannot_take_the_cluster_while_a_test_holds_it() {
    let guard = exclusive().await;
    assert!(
        !another_process_can_lock(),
        "another process took {} while this test held exclusive()",
        cluster_lock_path().display()
    );
    drop(guard);
}
