//! The run manifest, `<run>/run.json`: what was recorded, from where, with which settings,
//! into which files, where the record has gaps, and why the recording stopped. Types only;
//! the recorder writes it (`evident_recorder::run_manifest`) and the query layer reads it
//! (`evident_query::run`), both through these types, so the file has one shape. Where the
//! file sits among the run's other files is [`crate::layout`].
//!
//! Named `run_manifest`, never plain `manifest`: "manifest" alone means a Kubernetes YAML
//! document (the fleet and workload manifests `evident run` applies).
//!
//! Invariants:
//! - [`RunManifest::from_json`] is the one parser of the file and [`RunManifest::to_json`] its
//!   one writer format; the crates that read or write it do only the file IO.
//! - Every field has a default (`#[serde(default)]`), so a run.json written by an older
//!   evident, or one with fields missing, still reads.
//! - [`StopReason`] is written as the same strings evident always wrote (`duration`,
//!   `until-quiet`, ...), and any other string reads as [`StopReason::Other`], so no run.json
//!   is ever refused for its stop reason.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The contents of `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunManifest {
    pub run_id: String,
    /// evident's version that recorded the run.
    pub tool_version: String,
    pub schema_version: String,
    pub redaction_policy: String,
    /// Ids of the keys the run's redacted values were hashed with, one per recording
    /// session (a reopened run adds one): hashes of different keys never compare equal.
    /// The keys themselves are never written. Empty for runs before `redact-v2`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redaction_keys: Vec<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC; empty while recording (or after a crash, until recovery).
    pub stopped_at: String,
    /// Why the recording stopped; [`StopReason::NotStopped`] (written as `""`) while
    /// recording, and after a crash until recovery.
    pub stop_reason: StopReason,
    /// Why writing failed, with the path and the operating system's words, when
    /// `stop_reason` is [`StopReason::WriteFailed`]; absent otherwise.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_error: String,
    pub cluster: ClusterInfo,
    pub settings: RecorderSettings,
    pub segments: Vec<Segment>,
    pub gaps: Vec<Gap>,
    /// Rows per table over all segments.
    pub row_counts: std::collections::BTreeMap<String, u64>,
    /// What recovery found and did, if it ever ran on this run.
    pub recoveries: Vec<Recovery>,
    /// Metrics endpoints scraped while recording; absent when none was.
    #[serde(skip_serializing_if = "MetricsInfo::is_empty")]
    pub metrics: MetricsInfo,
    /// How the queue from the watches to the writer fared (written by a live recording;
    /// absent from runs written otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_queue: Option<WriterQueue>,
}

impl RunManifest {
    /// Parses the text of a `run.json`: the one parser of the file, used by the recorder and
    /// the query layer alike (each does its own file IO).
    pub fn from_json(bytes: &[u8]) -> Result<RunManifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The `YYYY-MM-DD` date `started_at` begins with, if it begins with one (the file may
    /// come from anywhere: a hand-edited or foreign `started_at` gives `None`, never a panic).
    pub fn started_date(&self) -> Option<&str> {
        let date = self.started_at.get(..10)?;
        let dashes_and_digits = date
            .bytes()
            .enumerate()
            .all(|(at, byte)| if at == 4 || at == 7 { byte == b'-' } else { byte.is_ascii_digit() });
        dashes_and_digits.then_some(date)
    }

    /// The text of `run.json`: pretty JSON and a final newline.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Why a recording stopped, as `run.json`'s `stop_reason` records it.
///
/// On disk it is a plain string: each variant's string is given in its doc and by
/// [`StopReason::as_str`]. A string this version does not know (written by a newer evident,
/// or given by a caller as a free-form reason) reads as [`StopReason::Other`] and is written
/// back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// `""`: not stopped yet (recording, or crashed and not yet recovered).
    #[default]
    NotStopped,
    /// `duration`: the time limit (`--duration`, a scenario's settle timeout) ran out.
    Duration,
    /// `until-quiet`: every watch had listed and no change came for the quiet period.
    UntilQuiet,
    /// `settled`: a caller's settle condition held.
    Settled,
    /// `signal`: Ctrl-C or SIGTERM.
    Signal,
    /// `error`: the run that drove the recording failed, and it was stopped on the way out.
    Error,
    /// `recovered`: a crashed recording was closed by recovery.
    Recovered,
    /// `writer-disconnected`: every sender to the recorder's writer went away without a stop.
    WriterDisconnected,
    /// `write-failed`: writing the recording failed (disk full, read-only file system, a
    /// failed fsync); `stop_error` says how. What was fsynced before is kept: `evident
    /// recover` folds it into Parquet.
    WriteFailed,
    /// Any other string, kept as written.
    Other(String),
}

impl StopReason {
    /// The string written to `run.json`.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::NotStopped => "",
            StopReason::Duration => "duration",
            StopReason::UntilQuiet => "until-quiet",
            StopReason::Settled => "settled",
            StopReason::Signal => "signal",
            StopReason::Error => "error",
            StopReason::Recovered => "recovered",
            StopReason::WriterDisconnected => "writer-disconnected",
            StopReason::WriteFailed => "write-failed",
            StopReason::Other(text) => text,
        }
    }

    /// The reason a `run.json` string names; never fails (see [`StopReason::Other`]).
    pub fn parse(text: &str) -> StopReason {
        match text {
            "" => StopReason::NotStopped,
            "duration" => StopReason::Duration,
            "until-quiet" => StopReason::UntilQuiet,
            "settled" => StopReason::Settled,
            "signal" => StopReason::Signal,
            "error" => StopReason::Error,
            "recovered" => StopReason::Recovered,
            "writer-disconnected" => StopReason::WriterDisconnected,
            "write-failed" => StopReason::WriteFailed,
            other => StopReason::Other(other.to_string()),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for StopReason {
    fn from(text: &str) -> StopReason {
        StopReason::parse(text)
    }
}

impl From<String> for StopReason {
    fn from(text: String) -> StopReason {
        StopReason::parse(&text)
    }
}

/// Compares with the on-disk string, so `reason == "duration"` reads as the file does.
impl PartialEq<str> for StopReason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StopReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for StopReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StopReason, D::Error> {
        String::deserialize(deserializer).map(StopReason::from)
    }
}

/// The scraping of `--metrics` endpoints: settings and per-endpoint counts. The counts are
/// written with the manifest (at every metrics segment roll and at the end), so after a
/// crash they may lag behind the rows recovered from the write-ahead log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsInfo {
    /// Time between two scrapes of one endpoint.
    pub interval_ms: u64,
    pub endpoints: Vec<EndpointStats>,
}

impl MetricsInfo {
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The counts of `url`, added if it is new.
    pub fn endpoint_mut(&mut self, url: &str) -> &mut EndpointStats {
        match self.endpoints.iter().position(|endpoint| endpoint.url == url) {
            Some(index) => &mut self.endpoints[index],
            None => {
                self.endpoints.push(EndpointStats { url: url.to_string(), ..EndpointStats::default() });
                self.endpoints.last_mut().expect("just pushed")
            }
        }
    }
}

/// The bounded queue between a recording's watches and its writer: when the writer falls
/// behind (a slow disk, a stalled fsync) the queue fills and the watches wait (the API server
/// keeps the changes meanwhile), so memory and what a crash can lose stay bounded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterQueue {
    /// Observations and scrapes the queue holds at most.
    pub capacity: u64,
    /// Times a watch or scraper found the queue full and waited.
    pub waits: u64,
    /// Their total wait, and the longest one, in ms.
    pub waited_ms: u64,
    pub longest_wait_ms: u64,
}

/// What scraping one endpoint gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointStats {
    pub url: String,
    /// Scrapes answered and recorded.
    pub scrapes: u64,
    /// Scrapes that failed (connection refused, timeout, HTTP error): nothing was recorded.
    pub failures: u64,
    /// Samples recorded.
    pub samples: u64,
    /// Lines of answered scrapes that were not valid exposition text (skipped, counted).
    pub bad_lines: u64,
    /// The last failure or bad line, empty if none.
    pub last_problem: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    /// Name of the kube context used; never any credential.
    pub context: String,
    /// API server URL host (no userinfo, no query).
    pub server: String,
    /// `gitVersion` from `/version`.
    pub server_version: String,
    pub platform: String,
    /// KWOK version detected from node `kubeletVersion` stamps (`kwok-v0.7.0`), if any.
    pub kwok_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecorderSettings {
    /// Namespaces watched; empty means all.
    pub namespaces: Vec<String>,
    pub kinds: Vec<String>,
    pub segment_max_rows: u64,
    pub segment_max_secs: u64,
    pub wal_fsync_ms: u64,
    pub duration_secs: Option<u64>,
    pub until_quiet_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Segment {
    /// Table name (`pods`, `nodes`, `events`, ...).
    pub table: String,
    /// Path relative to the run directory.
    pub path: String,
    pub rows: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
}

/// A relist: the watch restarted and state between `from` and `to` was not observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Gap {
    pub kind: String,
    /// Epoch opened by the relist.
    pub epoch: u32,
    /// Last change seen before the gap (RFC 3339), empty if none.
    pub from: String,
    /// When the relist completed (RFC 3339).
    pub to: String,
    pub reason: String,
    pub tombstones: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recovery {
    pub at: String,
    pub records_recovered: u64,
    pub records_dropped: u64,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_are_written_as_the_strings_evident_always_wrote() {
        let known = [
            (StopReason::NotStopped, ""),
            (StopReason::Duration, "duration"),
            (StopReason::UntilQuiet, "until-quiet"),
            (StopReason::Settled, "settled"),
            (StopReason::Signal, "signal"),
            (StopReason::Error, "error"),
            (StopReason::Recovered, "recovered"),
            (StopReason::WriterDisconnected, "writer-disconnected"),
            (StopReason::WriteFailed, "write-failed"),
        ];
        for (reason, text) in known {
            assert_eq!(serde_json::to_string(&reason).unwrap(), format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<StopReason>(&format!("\"{text}\"")).unwrap(), reason);
            assert_eq!(reason, text);
        }
    }

    #[test]
    fn an_unknown_stop_reason_reads_and_is_written_back_unchanged() {
        let reason: StopReason = serde_json::from_str("\"operator-asked\"").unwrap();
        assert_eq!(reason, StopReason::Other("operator-asked".into()));
        assert_eq!(serde_json::to_string(&reason).unwrap(), "\"operator-asked\"");
    }

    #[test]
    fn the_committed_sample_runs_read() {
        for (text, reason) in [
            (include_str!("../../../evidence/sample/run.json"), StopReason::Settled),
            (include_str!("../../../evidence/sample-synthetic/run.json"), StopReason::Duration),
        ] {
            let manifest: RunManifest = serde_json::from_str(text).unwrap();
            assert_eq!(manifest.stop_reason, reason);
            let again: RunManifest = serde_json::from_str(&serde_json::to_string(&manifest).unwrap()).unwrap();
            assert_eq!(again, manifest);
        }
    }

    #[test]
    fn a_manifest_without_stop_reason_is_not_stopped() {
        let manifest: RunManifest = serde_json::from_str(r#"{"run_id": "r"}"#).unwrap();
        assert_eq!(manifest.stop_reason, StopReason::NotStopped);
        let manifest: RunManifest = serde_json::from_str(r#"{"stop_reason": "until-quiet"}"#).unwrap();
        assert_eq!(manifest.stop_reason, StopReason::UntilQuiet);
    }

    #[test]
    fn the_start_date_of_a_foreign_started_at_is_none_not_a_panic() {
        let date_of = |started_at: &str| {
            RunManifest { started_at: started_at.into(), ..RunManifest::default() }.started_date().map(str::to_string)
        };
        assert_eq!(date_of("2026-06-14T15:39:51.000Z").as_deref(), Some("2026-06-14"));
        // A multi-byte character across byte 10: slicing `[..10]` panicked here.
        assert_eq!(date_of("2026-06-1é…T15:39"), None);
        assert_eq!(date_of("ééééééééé"), None);
        assert_eq!(date_of("yesterday at noon"), None);
        assert_eq!(date_of("2026-06"), None);
    }

    #[test]
    fn a_failed_write_and_the_queue_are_written_only_when_there() {
        let quiet = RunManifest::default().to_json().unwrap();
        let quiet = String::from_utf8(quiet).unwrap();
        assert!(!quiet.contains("stop_error") && !quiet.contains("writer_queue"), "{quiet}");
        let failed = RunManifest {
            stop_reason: StopReason::WriteFailed,
            stop_error: "write /r/wal/wal-0.log: No space left on device (os error 28)".into(),
            writer_queue: Some(WriterQueue { capacity: 1024, waits: 2, waited_ms: 30, longest_wait_ms: 20 }),
            ..RunManifest::default()
        };
        let again = RunManifest::from_json(&failed.to_json().unwrap()).unwrap();
        assert_eq!(again, failed);
    }
}
