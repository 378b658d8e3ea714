//! Integration tests of the evident binary, run as a user runs it.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod faults;
mod hostile_e2e;
mod metrics_e2e;
mod query_cli;
mod record_e2e;
mod report_cli;
mod run_e2e;
