//! Integration tests of evident-recorder: the store, its WAL and recovery, without a cluster.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file. The crash tests, which spawn writer processes, have
//! their own binary (`tests/crash/main.rs` says why).

mod common;
mod metrics_recovery;
mod parquet_readers;
mod reopen;
mod secrets;
mod wal_damage;
