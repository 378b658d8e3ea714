//! Integration tests of the evident binary, run as a user runs it.
//!
//! One test binary for the whole crate (one module per area), so the dependency graph links
//! once per crate instead of once per file.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

mod faults;
mod hostile_e2e;
mod install_e2e;
mod metrics_e2e;
mod query_cli;
mod record_e2e;
mod report_cli;
mod run_e2e;
mod standalone_cli;

/// Runs the evident binary with `args` in `cwd` as a user would, with the queries built into
/// it (the caller's `EVIDENT_QUERIES` is removed) and only errors in its log.
fn evident_at<S: AsRef<OsStr>>(args: &[S], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(args)
        .current_dir(cwd)
        .env_remove("EVIDENT_QUERIES")
        .env("EVIDENT_LOG", "error")
        .output()
        .expect("the evident binary runs")
}
