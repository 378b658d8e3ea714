//! Recording: kube-runtime watches of Nodes, Pods and Events feeding a crash-safe change
//! store (write-ahead log, then rolling Parquet segments) under `evidence/<run-id>/`.
//!
//! Secrets are never watched: the recorded kinds are exactly [`evident_core::Kind::ALL`].
//!
//! The storage half, bottom up: [`durable`] (fsync/rename steps), [`wal`] (checksummed
//! write-ahead log), [`segment`] (Parquet files), [`run_manifest`] (`run.json`), [`lock`] (one
//! writer per run), [`recover`](mod@recover) (WAL tail to Parquet after a crash) and
//! [`store`] (the write path the watcher calls). Test data (realistic objects, whole
//! generated runs) lives in the dev-only crate `evident-testkit`, never here.
//!
//! GPU metrics: [`scrape`] fetches Prometheus text endpoints (`--metrics`) over plain HTTP, and
//! [`metric_store`] writes the scrapes through their own WAL into the `metrics` table, on the
//! store's thread so the manifest lists its segments.

pub mod apply;
pub mod durable;
pub mod lock;
pub mod metric_store;
pub mod raw;
pub mod recover;
pub mod run_manifest;
pub mod scrape;
pub mod segment;
pub mod session;
pub mod store;
pub mod wal;
pub mod watch;

pub use recover::{RecoveryReport, recover};
pub use store::{ChangeStore, StoreConfig, StoreError, StoreStats};

/// Transitional: the old name of [`run_manifest`], so code on branches that still say
/// `manifest::` keeps compiling. Remove once every user names [`run_manifest`].
#[doc(hidden)]
pub use run_manifest as manifest;
