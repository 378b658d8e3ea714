//! Recording: kube-runtime watches of Nodes, Pods and Events feeding a crash-safe change
//! store (write-ahead log, then rolling Parquet segments) under `evidence/<run-id>/`.
//!
//! Secrets are never watched: the recorded kinds are exactly [`evident_core::Kind::ALL`].
//!
//! The storage engine, bottom up: [`durable`] (fsync/rename steps), [`wal`] (checksummed
//! write-ahead log of typed frames), [`record`] (the frame types' codecs), [`segment`]
//! (Parquet files), [`table`] (the [`Table`](table::Table) trait: what a table's records,
//! frames and segments are), [`table_store`] (the one write path every table uses),
//! [`recover`](mod@recover) (the one replay loop: WAL tails to Parquet after a crash),
//! [`run_manifest`] (`run.json`) and [`lock`] (one writer per run). [`config`] and [`clock`] hold
//! the store settings and the wall clock. [`last_known`] reads a run's last known state back
//! from its segments, so a resumed recording's watches can tombstone what vanished meanwhile. On top: [`change_store`] (the change log, the run's
//! lock and manifest; what the watcher calls) and [`metric_store`] (the `metrics` table).
//! Test data (realistic objects, whole generated runs) lives in the dev-only crate
//! `evident-testkit`, never here.
//!
//! GPU metrics: [`scrape`] fetches Prometheus text endpoints (`--metrics`) over plain HTTP, and
//! [`metric_store`] writes the scrapes into the `metrics` table, on the change store's thread
//! so the manifest lists its segments.

pub mod apply;
pub mod change_store;
pub mod clock;
pub mod config;
pub mod durable;
pub mod last_known;
pub mod lock;
pub mod metric_store;
pub mod raw;
pub mod record;
pub mod recording;
pub mod recover;
pub mod run_manifest;
pub mod scrape;
pub mod segment;
pub mod table;
pub mod table_store;
pub mod wal;
pub mod watch;
pub mod writer_queue;

pub use change_store::{ChangeStore, StoreError, StoreStats};
pub use config::StoreConfig;
pub use recover::{RecoveryReport, TableRecovery, recover};
