//! Integration tests of evident-report.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod gpu_metrics_report;
mod hostile_input;
mod html_browser;
mod lesson1_report;
mod verdict;
