//! End-to-end tests against the real local control plane.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

mod cluster_lock;
mod gpu_operator;
mod lesson1_outcome;
mod record_state;
