//! The cluster lock holds across processes: while another process holds the lock file,
//! `exclusive()` waits (tests of two test binaries, or two people's runs, never change the
//! cluster at once). The other process is `flock(1)`, which takes the same `flock(2)` lock.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evident_e2e::{cluster_lock_path, exclusive};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_waits_for_another_process_holding_the_lock() {
    let path = cluster_lock_path();
    std::fs::create_dir_all(path.parent().expect("the lock has a folder")).unwrap();
    let hold = Duration::from_secs(2);
    let mut holder = Command::new("flock")
        .arg(&path)
        .args(["-c", &format!("echo held; sleep {}", hold.as_secs())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run flock(1) (util-linux) to hold {}: {error}", path.display()));
    // Once the holder says so it has the lock (it may first wait for a test holding it).
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("piped")).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held", "flock(1) took the lock");
    let asked = Instant::now();
    let guard = exclusive().await;
    let waited = asked.elapsed();
    assert!(holder.wait().unwrap().success());
    assert!(
        waited >= hold - Duration::from_millis(500),
        "exclusive() returned after {waited:?} while another process held {} for {hold:?}",
        path.display()
    );
    drop(guard);
}
