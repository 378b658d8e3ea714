//! Throughput of the recorder's write path on realistic pod objects: from the event line a
//! watch receives, decode the object's text (`evident_recorder::raw`), redact it (text
//! splicing, see `evident_core::json`) while reading the typed columns
//! (`evident_core::redact::Redactor::redact_read`), append to the WAL, encode Parquet segments
//! (rolled at the default 50 000 rows), with a `tick` every 100 changes as the recorder's
//! store thread does.
//!
//! `to_durable_parquet` runs it on one thread, timed by the wall clock, so it includes
//! waiting for the disk; `to_durable_parquet_cpu` times the same work by this thread's CPU
//! time (what one core sustains). `two_threads` splits it as the recorder does, decoding on
//! one thread and storing on another, timed by the wall clock (what two cores sustain).
//! The other stages time parts of it: `watch_decode` (event line to object text),
//! `redact_read` (redaction and the typed columns' facts, in one pass over the text),
//! `redact_read_arrow` (the same, then the row into Arrow builders). `value_decode` is what
//! parsing each pod into a `serde_json::Value` alone would cost, for comparison.
//!
//! Run: `cargo bench --workspace --bench write_path -- --warm-up-time 1 --measurement-time 5`
//! Criterion prints `thrpt` in changes per second (one element = one pod change).
//! `hack/bench-instructions.sh` counts the instructions per change of
//! `to_durable_parquet_cpu` instead (valgrind), a figure the machine's load does not move.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evident_core::{Change, ChangeBatchBuilder, Kind, Op, redact};
use evident_recorder::raw::RawObject;
use evident_recorder::{ChangeStore, StoreConfig};
use evident_testkit::objects::SyntheticCluster;
use kube::api::WatchEvent;
use serde_json::Value;

/// Distinct pod changes replayed in a loop: enough to defeat caches, as JSON text.
fn pod_changes(count: usize) -> Vec<(Op, String)> {
    let mut cluster = SyntheticCluster::new(2_000, 7).pods_only();
    (0..count)
        .map(|_| {
            let change = cluster.next_change();
            (change.op, change.text())
        })
        .collect()
}

fn write_path(c: &mut Criterion) {
    let changes = pod_changes(20_000);
    let mean_bytes = changes.iter().map(|(_, bytes)| bytes.len()).sum::<usize>() / changes.len();
    eprintln!("pod changes: {} distinct, {mean_bytes} bytes of JSON each on average", changes.len());

    let mut group = c.benchmark_group("pod_changes");
    group.throughput(Throughput::Elements(1));

    group.bench_function("value_decode", |b| {
        let mut next = 0;
        b.iter(|| {
            let (_, text) = &changes[next % changes.len()];
            next += 1;
            black_box(serde_json::from_str::<Value>(text).unwrap())
        })
    });

    // What the recorder's watch does with each event line: decode it into the object's text.
    let events: Vec<String> =
        changes.iter().map(|(_, text)| format!(r#"{{"type":"MODIFIED","object":{text}}}"#)).collect();
    group.bench_function("watch_decode", |b| {
        let mut next = 0;
        b.iter(|| {
            let event = &events[next % events.len()];
            next += 1;
            black_box(decode(event).json)
        })
    });

    let redactor = redact::Redactor::from_key([0; redact::KEY_BYTES]);
    group.bench_function("redact_read", |b| {
        let mut next = 0;
        b.iter(|| {
            let (_, text) = &changes[next % changes.len()];
            next += 1;
            black_box(redactor.redact_read(text).unwrap())
        })
    });

    group.bench_function("redact_read_arrow", |b| {
        let mut builder = ChangeBatchBuilder::new(Kind::Pod);
        let mut next = 0u64;
        b.iter(|| {
            let (op, text) = &changes[next as usize % changes.len()];
            let (json, facts) = redactor.redact_read(text).unwrap();
            builder.append_with_facts(&Change::from_redacted(next, 0, 1, *op, Kind::Pod, json), &facts);
            next += 1;
            if builder.len() >= evident_recorder::segment::BATCH_MAX_ROWS {
                black_box(builder.finish().unwrap());
            }
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = ChangeStore::open(&dir.path().join("bench-run"), StoreConfig::default()).unwrap();
    let mut next = 0usize;
    // Decodes `iterations` event lines as the watch does and stores their objects.
    let mut record = |store: &mut ChangeStore, iterations: u64| {
        for _ in 0..iterations {
            store_change(store, changes[next % changes.len()].0, next, &decode(&events[next % events.len()]));
            next += 1;
        }
    };
    group.bench_function("to_durable_parquet", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            record(&mut store, iterations);
            start.elapsed()
        })
    });
    // The same work timed by the CPU time of this thread, not the wall clock: what one core
    // sustains when the disk keeps up (fsyncs run on their own thread and mostly wait).
    if thread_cpu_ns().is_some() {
        group.bench_function("to_durable_parquet_cpu", |b| {
            b.iter_custom(|iterations| {
                let start = thread_cpu_ns().unwrap_or_default();
                record(&mut store, iterations);
                Duration::from_nanos(thread_cpu_ns().unwrap_or_default().saturating_sub(start))
            })
        });
    } else {
        eprintln!("to_durable_parquet_cpu skipped: /proc/thread-self/schedstat is not readable here");
    }

    // The recorder's own split: its watches decode event lines on the async runtime while
    // its store thread writes, so with two cores the slower side sets the pace (wall clock).
    let split_dir = tempfile::tempdir().unwrap();
    let (mut split_store, _) = ChangeStore::open(&split_dir.path().join("bench-run"), StoreConfig::default()).unwrap();
    let mut split_next = 0usize;
    group.bench_function("two_threads", |b| {
        b.iter_custom(|iterations| {
            let first = split_next;
            let start = Instant::now();
            std::thread::scope(|scope| {
                let (sender, receiver) = std::sync::mpsc::channel();
                let events = &events;
                scope.spawn(move || {
                    for n in first..first + iterations as usize {
                        sender.send((n, decode(&events[n % events.len()]))).unwrap();
                    }
                });
                for (n, object) in receiver {
                    store_change(&mut split_store, changes[n % changes.len()].0, n, &object);
                }
            });
            split_next = first + iterations as usize;
            start.elapsed()
        })
    });
    group.finish();
    split_store.close("bench").unwrap();
    let stats = store.stats();
    let manifest = store.close("bench").unwrap();
    let parquet_bytes: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
    eprintln!(
        "wrote {} changes into {} Parquet segments, {:.0} bytes per change on disk",
        stats.next_seq,
        manifest.segments.len(),
        parquet_bytes as f64 / stats.next_seq.max(1) as f64
    );
}

/// Appends change number `n` as the recorder's store thread does, with a `tick` after
/// every 100th change.
fn store_change(store: &mut ChangeStore, op: Op, n: usize, object: &RawObject) {
    store.append_decoded(Kind::Pod, op, 1, n as i64, &object.json).unwrap();
    if (n + 1).is_multiple_of(100) {
        store.tick().unwrap();
    }
}

/// The object of a watch event line, as the recorder's watch decodes it.
fn decode(event: &str) -> RawObject {
    match serde_json::from_str::<WatchEvent<RawObject>>(event).unwrap() {
        WatchEvent::Modified(object) => object,
        _ => unreachable!("every event is MODIFIED"),
    }
}

/// Nanoseconds this thread has run on a CPU (Linux: first field of its schedstat).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1));
    targets = write_path
}
criterion_main!(benches);
