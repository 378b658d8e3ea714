//! How every table store of a run rolls its Parquet segments and syncs its write-ahead log.
//!
//! One configuration serves the change log and the metrics table alike
//! ([`crate::table_store::TableStore`]); it is validated once, when a store opens.

use std::time::Duration;

/// A setting that cannot work (a zero size or age).
#[derive(Debug, thiserror::Error)]
#[error("invalid store configuration: {0}")]
pub struct InvalidConfig(pub String);

/// How the stores roll segments and sync the WAL. `Default` gives the documented defaults;
/// the `with_*` methods change one setting each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Rows after which a table's Parquet segment is rolled. Default: 50 000.
    pub segment_max_rows: usize,
    /// Age of a segment's oldest row after which it is rolled, so readers see recent rows
    /// within this delay. Default: 10 s.
    pub segment_max_age: Duration,
    /// Longest time appended records stay un-fsynced in the WAL (checked by each `tick`).
    /// Default: 500 ms.
    pub wal_fsync_interval: Duration,
    /// Size after which the WAL starts a new file, so durable WAL bytes can be deleted while
    /// recording. Default: 64 MiB.
    pub wal_segment_max_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_max_rows: 50_000,
            segment_max_age: Duration::from_secs(10),
            wal_fsync_interval: Duration::from_millis(500),
            wal_segment_max_bytes: 64 << 20,
        }
    }
}

impl StoreConfig {
    pub fn with_segment_max_rows(mut self, rows: usize) -> Self {
        self.segment_max_rows = rows;
        self
    }

    pub fn with_segment_max_age(mut self, age: Duration) -> Self {
        self.segment_max_age = age;
        self
    }

    pub fn with_wal_fsync_interval(mut self, interval: Duration) -> Self {
        self.wal_fsync_interval = interval;
        self
    }

    pub fn with_wal_segment_max_bytes(mut self, bytes: u64) -> Self {
        self.wal_segment_max_bytes = bytes;
        self
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.segment_max_rows == 0 {
            return Err(InvalidConfig("segment_max_rows must be at least 1".into()));
        }
        if self.segment_max_age.is_zero() {
            return Err(InvalidConfig("segment_max_age must be longer than 0".into()));
        }
        if self.wal_segment_max_bytes < 4096 {
            return Err(InvalidConfig("wal_segment_max_bytes must be at least 4096".into()));
        }
        Ok(())
    }
}
