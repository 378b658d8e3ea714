//! Integration tests of evident-query over committed and synthetic runs.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod duckdb_parity;
mod gpu_classes;
mod named_queries;
mod oracles;
mod session;

use std::path::{Path, PathBuf};

use evident_query::named_query::NamedQuery;

/// The repository root: the queries and the committed samples are read from there.
fn repo() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo")).join("../..")
}

/// The repository's named queries (`queries/*.sql`).
fn queries() -> Vec<NamedQuery> {
    NamedQuery::load_dir(&repo().join("queries")).expect("queries/ loads")
}

/// The SQL of the named query `name`.
fn named_sql(name: &str) -> String {
    queries().into_iter().find(|query| query.name == name).unwrap_or_else(|| panic!("no queries/{name}.sql")).sql
}
