//! SQL over recorded runs, with DataFusion.
//!
//! A run directory (layout in [`evident_core::layout`]) or a folder of runs opens as a
//! [`RunSet`]; [`Session::new`] turns it into a DataFusion session where these are registered:
//!
//! | name | what it is |
//! |---|---|
//! | `nodes`, `pods`, `events` | the change log of each kind: every row of every closed Parquet segment |
//! | `nodes_latest`, `pods_latest`, `events_latest` | the last row per `uid` (by `seq`), minus objects whose last op is `DELETED` or `DELETED_IN_GAP` |
//! | `run` | one row per run, from `run.json` |
//! | `metrics` | GPU metrics scraped while recording (`--metrics`): one row per sample per scrape, empty when none were |
//! | `state_at('<kind>', '<time>')` | each object as it was at a moment: an RFC 3339 timestamp, or an offset from the run's start such as `'+30s'`, `'1500ms'`, `'2m'` |
//! | `scheduling_reasons(message)` | a FailedScheduling message split into a list of `{reason, nodes}`; use with `unnest` |
//! | `node_admits(pod_object, node_object)` | whether the pod's node selector, required node affinity and tolerations admit the node (taints, cordon); resources not judged |
//!
//! Every table and view starts with a `run_id` column (the run directory's name), also over a
//! single run, so one query works over one run or many and runs compare in one `GROUP BY`.
//!
//! Named queries (`queries/*.sql`, one metric each) are embedded in the binary
//! ([`named_query`]); only a folder passed explicitly replaces them ([`QuerySet::with_dir`]),
//! never one found from the working directory.
//!
//! ```no_run
//! # async fn demo() -> evident_query::Result<()> {
//! use evident_query::{named_query, RunSet, Session};
//! let runs = RunSet::open_run("evidence/k8s-20260614-153951".as_ref())?;
//! let session = Session::new(&runs).await?;
//! let fleet = session.sql(&named_query("fleet")?.sql).await?;
//! let pending = session.sql("SELECT name FROM pods_latest WHERE phase = 'Pending'").await?;
//! # let _ = (fleet, pending); Ok(()) }
//! ```
//!
//! Invariants:
//! - Only closed segments (`*/part-*.parquet`) are read; `*.inprogress` files never are.
//! - Every segment's footer is checked when a run opens, so a truncated or corrupt file is
//!   reported by name before any query runs.
//! - Nothing here prints or writes outside the paths it is given.

pub mod failed_scheduling;
pub mod format;
pub mod named_query;
pub mod node_admits;
pub mod run;
pub mod run_set;
pub mod session;
pub mod state_at;

pub use format::OutputFormat;
pub use named_query::{NamedQuery, QuerySet, named_query};
pub use run::Run;
pub use run_set::RunSet;
pub use session::Session;

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a run or a folder of runs failed.
    #[error(transparent)]
    Run(#[from] run::RunError),
    /// Building the session or running a query failed.
    #[error(transparent)]
    Session(#[from] session::SessionError),
    /// Loading a named query failed.
    #[error(transparent)]
    NamedQuery(#[from] named_query::NamedQueryError),
    /// Rendering or writing query results failed.
    #[error(transparent)]
    Format(#[from] format::FormatError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
