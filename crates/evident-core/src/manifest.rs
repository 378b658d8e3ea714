//! The run manifest (`run.json`): what was recorded, from where, with which settings, into
//! which files, and where the record has gaps. Types only; the recorder writes it and the
//! query layer reads it.
//!
//! On-disk layout of a run directory (the contract between recorder, query and report):
//!
//! ```text
//! <run-id>/
//!   run.json                      this manifest (written atomically: tmp + fsync + rename)
//!   wal/wal-<first seq>.log       write-ahead log segments not yet folded into Parquet
//!   nodes/part-<first seq>.parquet
//!   pods/part-<first seq>.parquet
//!   events/part-<first seq>.parquet
//!   */part-*.parquet.inprogress   a segment being written; never read
//!   wal-metrics/wal-<first scrape>.log   scrapes of `--metrics` endpoints not yet in Parquet
//!   metrics/part-<first scrape>.parquet  scraped samples (see `crate::metric`)
//! ```
//!
//! `<first seq>` is zero-padded to 20 digits so names sort in seq order.

use serde::{Deserialize, Serialize};

/// File name of the manifest inside a run directory.
pub const MANIFEST_FILE: &str = "run.json";
/// Directory of write-ahead log segments inside a run directory.
pub const WAL_DIR: &str = "wal";
/// Directory of the write-ahead log of scraped metrics inside a run directory.
pub const METRICS_WAL_DIR: &str = "wal-metrics";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunManifest {
    pub run_id: String,
    /// evident's version that recorded the run.
    pub tool_version: String,
    pub schema_version: String,
    pub redaction_policy: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC; empty while recording (or after a crash, until recovery).
    pub stopped_at: String,
    /// Why the recording stopped: `duration`, `until-quiet`, `signal`, `recovered`, ...
    pub stop_reason: String,
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
