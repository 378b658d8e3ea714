//! Visible skips. A test that cannot run here (no browser, no DuckDB) calls [`skip`] and
//! returns: the reason goes to stderr (which the test harness hides for a passing test) and is
//! appended to the skip log, which `make test` prints at the end, so a skip is never silent.
//!
//! - The skip log is `$EVIDENT_SKIP_LOG` (`make test` sets it and empties it first), else
//!   `evident-skips.log` in the target folder holding the test binary. One line per skip:
//!   `SKIPPED <test>: <reason>`.
//! - With `EVIDENT_NO_SKIP=1` (set by `.ci/run`) a skip is a failure, except for the tests in
//!   [`ALLOWED_UNDER_NO_SKIP`]: CI runs everything or says why not.
//! - A skip that cannot be written to the log fails the test: it would be invisible otherwise.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Tests allowed to skip even under `EVIDENT_NO_SKIP=1`, each with why. Empty: CI has a
/// browser and the Python readers, so every test runs there.
pub const ALLOWED_UNDER_NO_SKIP: &[(&str, &str)] = &[];

/// Where skips go and whether they are allowed, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipPolicy {
    /// The skip log.
    pub log: PathBuf,
    /// `EVIDENT_NO_SKIP=1`: a skip fails unless the test is in `allowed`.
    pub no_skip: bool,
    pub allowed: Vec<String>,
}

impl SkipPolicy {
    /// `EVIDENT_SKIP_LOG`, `EVIDENT_NO_SKIP` and [`ALLOWED_UNDER_NO_SKIP`].
    pub fn from_env() -> SkipPolicy {
        let log = std::env::var_os("EVIDENT_SKIP_LOG")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_log);
        SkipPolicy {
            log,
            no_skip: std::env::var_os("EVIDENT_NO_SKIP").is_some_and(|value| value == "1"),
            allowed: ALLOWED_UNDER_NO_SKIP.iter().map(|(test, _)| test.to_string()).collect(),
        }
    }

    /// Records that `test` skips because of `reason`, or says why it may not.
    pub fn record(&self, test: &str, reason: &str) -> Result<(), String> {
        let reason = reason.replace('\n', " ");
        if self.no_skip && !self.allowed.iter().any(|allowed| allowed == test) {
            return Err(format!(
                "{test} would be skipped ({reason}), but EVIDENT_NO_SKIP=1 forbids skips: provide what it needs, \
                 or add it to evident_testkit::skip::ALLOWED_UNDER_NO_SKIP with the reason"
            ));
        }
        let line = format!("SKIPPED {test}: {reason}\n");
        append(&self.log, &line).map_err(|error| {
            format!("{test} skips ({reason}), but the skip log {} cannot be written: {error}", self.log.display())
        })?;
        eprint!("{line}");
        Ok(())
    }
}

/// Records that `test` (its path, e.g. `duckdb_parity::named_queries_agree_with_duckdb`) is
/// skipped because of `reason`; the caller returns next. Panics (failing the test) when skips
/// are forbidden here or the skip cannot be logged. See the module documentation.
pub fn skip(test: &str, reason: &str) {
    if let Err(message) = SkipPolicy::from_env().record(test, reason) {
        panic!("{message}");
    }
}

/// `evident-skips.log` in the target folder: the test binary is `<target>/<profile>/deps/<name>`.
fn default_log() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    target.join("evident-skips.log")
}

/// Appends one line in a single write (`O_APPEND`), so test threads and processes writing at
/// once do not interleave lines.
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: &Path, no_skip: bool, allowed: &[&str]) -> SkipPolicy {
        SkipPolicy {
            log: dir.join("nested/evident-skips.log"),
            no_skip,
            allowed: allowed.iter().map(|test| test.to_string()).collect(),
        }
    }

    #[test]
    fn a_skip_is_logged_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let policy = policy(dir.path(), false, &[]);
        policy.record("area::first", "no browser\nat /usr/bin/chromium").unwrap();
        policy.record("area::second", "EVIDENT_SKIP_DUCKDB=1").unwrap();
        let log = std::fs::read_to_string(&policy.log).unwrap();
        assert_eq!(
            log,
            "SKIPPED area::first: no browser at /usr/bin/chromium\nSKIPPED area::second: EVIDENT_SKIP_DUCKDB=1\n"
        );
    }

    #[test]
    fn no_skip_turns_a_skip_into_a_failure_except_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let policy = policy(dir.path(), true, &["area::allowed"]);
        let error = policy.record("area::forbidden", "no browser").unwrap_err();
        assert!(error.contains("area::forbidden would be skipped (no browser)"), "{error}");
        assert!(error.contains("EVIDENT_NO_SKIP=1"), "{error}");
        policy.record("area::allowed", "no browser").unwrap();
        assert_eq!(std::fs::read_to_string(&policy.log).unwrap(), "SKIPPED area::allowed: no browser\n");
    }

    #[test]
    fn a_skip_that_cannot_be_logged_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nested"), "a file where the log's folder should be").unwrap();
        let error = policy(dir.path(), false, &[]).record("area::test", "no browser").unwrap_err();
        assert!(error.contains("cannot be written"), "{error}");
    }
}
