//! The wall clock, read in one place: receipt times of changes and scrapes, and the times
//! written to `run.json`.
//!
//! Invariant: every time the recorder stamps is nanoseconds since the Unix epoch (UTC), as
//! an `i64`; a clock before 1970 reads as 0 rather than failing.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in nanoseconds since the Unix epoch (UTC).
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or_default()
}
