//! Integration tests of evident-recorder: the store, its WAL and recovery, without a cluster.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod common;
mod crash;
mod metrics_recovery;
mod parquet_readers;
mod reopen;
mod secrets;
mod wal_damage;
