//! Cluster data is input: an object, an Event message or an exporter's answer may be anything.
//! Every parser in evident-core that reads it is fed thousands of mutated copies of real
//! inputs here and must return (a value or an error) without panicking.
//!
//! The mutations come from a fixed-seed generator, so a failure names a seed that replays it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use evident_core::{Facts, RunManifest, exposition, time};

/// A pod as the API server writes it, with the fields the columns read.
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cuda-train-16gpu","namespace":"gpu-demo","uid":"5f0c","resourceVersion":"123","creationTimestamp":"2026-06-01T10:00:00Z","labels":{"app":"train","pod-template-hash":"6d6f9fd4bf"},"ownerReferences":[{"kind":"ReplicaSet","name":"queue-pressure-6d6f9fd4bf","uid":"1","controller":true}]},"spec":{"nodeName":"gpu-a100-0","nodeSelector":{"run.ai/simulated-gpu-node-pool":"a100"},"tolerations":[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],"containers":[{"name":"main","image":"busybox","resources":{"requests":{"nvidia.com/gpu":"16","cpu":"1"},"limits":{"nvidia.com/gpu":"16"}},"env":[{"name":"TOKEN","value":"s3cr\"et\u00e9"}]}]},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/8 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 7 Insufficient nvidia.com/gpu.","lastTransitionTime":"2026-06-01T10:00:01Z"}]}}"#;

/// An Event with a timestamp in every field that may carry one.
const EVENT: &str = r#"{"kind":"Event","metadata":{"name":"e.1","namespace":"gpu-demo","uid":"9","resourceVersion":"7"},"involvedObject":{"kind":"Pod","name":"p","namespace":"gpu-demo"},"reason":"FailedScheduling","type":"Warning","message":"0/8 nodes are available","count":3,"firstTimestamp":"2026-06-01T10:00:01Z","lastTimestamp":"2026-06-01T10:00:05Z","eventTime":"2026-06-01T10:00:01.123456Z","series":{"count":2,"lastObservedTime":"2026-06-01T10:00:06.000001Z"},"source":{"component":"default-scheduler"},"reportingComponent":"default-scheduler"}"#;

/// A dcgm-exporter answer: HELP, TYPE, escaped label values, timestamps, special values.
const EXPOSITION: &str = "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-8f1c\",modelName=\"NVIDIA A100\",Hostname=\"node-a\",pod=\"a\\\"b\\\\c\\nd\"} 87 1718379591000\nDCGM_FI_DEV_FB_USED{gpu=\"1\"} NaN\nDCGM_FI_DEV_FB_FREE +Inf\n\r\n";

/// The committed sample's run.json, as the recorder wrote it.
const MANIFEST: &str = include_str!("../../../../evidence/sample/run.json");

/// xorshift64*: enough to spread mutations; fixed seeds make every case replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Characters that matter to the parsers (quotes, escapes, structure, separators, control
/// characters, multi-byte text) and digits that turn into huge numbers.
const PIECES: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\\u",
    "\\ud800",
    "\n",
    "\r",
    "\t",
    " ",
    "\u{0}",
    "\u{1b}[31m",
    "é",
    "\u{10FFFF}",
    "9999999999999999999999",
    "-",
    "e999",
    "null",
    "true",
    "#",
    "=",
    "T",
    "Z",
    "+99:99",
    "0000-00-00",
    "99999-12-31T23:59:59Z",
];

fn mutate(base: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => {
                let piece = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
            1 if at < chars.len() => {
                let end = (at + 1 + rng.below(16)).min(chars.len());
                chars.drain(at..end);
            }
            2 if at < chars.len() => {
                let end = (at + 1 + rng.below(32)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, copy);
            }
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

/// Runs `parse` on `cases` mutations of `base`; fails naming the first seed that panicked.
fn never_panics(name: &str, base: &str, cases: u64, parse: impl Fn(&str)) {
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let text = mutate(base, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&text)));
        assert!(outcome.is_ok(), "{name} panicked on mutation seed {seed}: {text:?}");
    }
}

#[test]
fn the_mutator_changes_its_input() {
    // The property below is only as good as its inputs: most mutations must differ from the base.
    let changed =
        (1..=200u64).filter(|seed| mutate(POD, &mut Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)) != POD).count();
    assert!(changed > 190, "only {changed} of 200 mutations changed the pod");
}

#[test]
fn object_facts_never_panic_on_hostile_objects() {
    for base in [POD, EVENT] {
        never_panics("Facts::parse", base, 3000, |text| {
            let _ = Facts::parse(text).map(|facts| (facts.name().len(), facts.namespace().map(str::len)));
        });
        never_panics("Facts::read", base, 3000, |text| {
            let _ = Facts::read(text).map(|facts| (facts.name().len(), facts.label("app").map(str::len)));
        });
    }
}

#[test]
fn the_exposition_parser_never_panics_on_hostile_exporters() {
    never_panics("exposition::parse", EXPOSITION, 5000, |text| {
        let parsed = exposition::parse(text);
        assert!(parsed.problems.len() <= exposition::MAX_PROBLEMS);
    });
}

#[test]
fn timestamps_and_run_json_never_panic() {
    never_panics("parse_rfc3339_ns", "2026-06-01T10:00:01.123456789+02:00", 3000, |text| {
        if let Some(ns) = time::parse_rfc3339_ns(text) {
            let _ = time::format_ns(ns);
        }
    });
    never_panics("RunManifest::from_json", MANIFEST, 3000, |text| {
        if let Ok(manifest) = RunManifest::from_json(text.as_bytes()) {
            let _ = manifest.to_json();
        }
    });
}
