//! Integration tests of evident-core.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod hostile_bytes;
mod schema_doc;
