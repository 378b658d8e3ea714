//! Integration tests of evident-query over committed and synthetic runs.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod duckdb_parity;
mod gpu_classes;
mod named_queries;
mod oracles;
mod session;
