//! The pure heart of evident: what a recorded change is, how Kubernetes objects are redacted
//! before anything is written, which typed columns are extracted from them, and the Arrow
//! schema of every change-log table; plus the Prometheus text format ([`exposition`]) and the
//! table of GPU metrics scraped while recording ([`metric`]). The run directory's names and
//! paths are [`layout`]; `run.json`'s contents are [`run_manifest`].
//!
//! Invariants:
//! - Nothing here does IO; every function is deterministic given its input (redaction's
//!   random key is drawn by the recorder and handed in).
//! - A [`Change`] always holds an object that already went through redaction: its
//!   constructors [`Change::new`] and [`Change::from_json`] redact (with the
//!   [`redact::Redactor`] they are given), and
//!   [`Change::from_redacted`] is only for text read back from evident's own WAL.
//! - The typed columns are a cache of the JSON column: they can always be re-derived from
//!   `object` with [`extract`], so adding a column never needs a new recording.

pub mod change;
pub mod exposition;
pub mod extract;
pub mod gpu;
pub mod json;
pub mod layout;
pub mod metric;
pub mod placement;
pub mod redact;
pub mod run_manifest;
pub mod schema;
pub mod time;

pub use change::{Change, Kind, Op};
pub use extract::Facts;
pub use run_manifest::{RunManifest, StopReason};
pub use schema::{ChangeBatchBuilder, SCHEMA_VERSION};
