//! The run directory: every name in it, how those names are formatted and parsed, and the
//! paths they make. This is the one contract between the recorder (which writes a run), the
//! query layer and the report (which read it); nothing here does IO.
//!
//! ```text
//! <run-id>/
//!   run.json                                  the run manifest (crate::run_manifest); replaced atomically
//!   .lock                                     held by the one recorder writing the run
//!   wal/wal-<first seq>.log                   write-ahead log segments not yet folded into Parquet
//!   nodes/part-<first seq>.parquet            change-log segments of each table: complete, immutable
//!   pods/part-<first seq>.parquet
//!   events/part-<first seq>.parquet
//!   <table>/part-<first seq>.parquet.inprogress   a segment being written; never read
//!   wal-metrics/wal-<first scrape seq>.log    scrapes of `--metrics` endpoints not yet in Parquet
//!   metrics/part-<first scrape seq>.parquet   scraped samples (crate::metric)
//!   scenario.yaml, report.md, report.html, junit.xml, *.txt
//!                                             written by `evident run` and `evident report`
//! ```
//!
//! Invariants:
//! - `<first seq>` is written as exactly 20 decimal digits, so names sort in seq order and
//!   `u64::MAX` fits; the parsers accept exactly that form and nothing else (`part-7.parquet`,
//!   `wal-00000000000000000007.log.damaged` and `*.inprogress` are not segments).
//! - A table's folder is named after the table (`Kind::table`, `metric::TABLE`).
//! - Readers list only names for which [`parse_segment_file_name`] succeeds: an
//!   `.inprogress` file is never read, whoever is looking.
//! - A run directory made by `evident record` or `evident run` is `<out>/<run-id>` with a run
//!   id [`validate_run_id`] accepts: one path component that is neither `.` nor `..` nor
//!   hidden, so a run never lands in `<out>` itself or outside it. The same id labels the
//!   namespaces `evident run` creates, so it is also a valid Kubernetes label value.

use std::path::{Path, PathBuf};

/// File name of the run manifest inside a run directory.
pub const RUN_MANIFEST_FILE: &str = "run.json";
/// Directory of the change log's write-ahead log segments inside a run directory.
pub const WAL_DIR: &str = "wal";
/// Directory of the write-ahead log of scraped metrics inside a run directory.
pub const METRICS_WAL_DIR: &str = "wal-metrics";
/// Prefix of a Parquet segment's file name.
pub const SEGMENT_PREFIX: &str = "part-";
/// Suffix of a complete Parquet segment's file name.
pub const SEGMENT_SUFFIX: &str = ".parquet";
/// Suffix of a Parquet segment still being written.
pub const INPROGRESS_SUFFIX: &str = ".parquet.inprogress";
/// Prefix of a write-ahead log segment's file name.
pub const WAL_PREFIX: &str = "wal-";
/// Suffix of a write-ahead log segment's file name.
pub const WAL_SUFFIX: &str = ".log";

/// The longest run id: a Kubernetes label value (the mark on the namespaces `evident run`
/// creates) has at most 63 characters.
pub const RUN_ID_MAX_LEN: usize = 63;

/// A run id that cannot name a run directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "run id {id:?} {problem}; a run id is letters, digits, '-', '_' and '.', starts and ends with a letter or digit, at most 63 characters (e.g. lesson1-try2)"
)]
pub struct InvalidRunId {
    /// The id as given.
    pub id: String,
    /// What is wrong with it, e.g. `is empty`.
    pub problem: &'static str,
}

/// Checks that `id` can name a run directory under the output folder (see the module
/// invariants): `""`, `.`, `..`, `a/b`, `.hidden` and `x.` are refused.
pub fn validate_run_id(id: &str) -> Result<(), InvalidRunId> {
    let problem = if id.is_empty() {
        Some("is empty")
    } else if id.len() > RUN_ID_MAX_LEN {
        Some("is longer than 63 characters")
    } else if id.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Some("contains a character other than a letter, a digit, '-', '_' or '.'")
    } else if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) || !id.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("does not start and end with a letter or digit")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(InvalidRunId { id: id.to_string(), problem }),
        None => Ok(()),
    }
}

/// `<out>/<id>`, the directory of run `id`, once [`validate_run_id`] accepts `id`.
pub fn run_dir(out: &Path, id: &str) -> Result<PathBuf, InvalidRunId> {
    validate_run_id(id)?;
    Ok(out.join(id))
}

/// Digits of a seq in a file name.
const SEQ_DIGITS: usize = 20;

/// `part-<first_seq, 20 digits>.parquet`: a complete segment whose first row has `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_seq:020}{SEGMENT_SUFFIX}")
}

/// `part-<first_seq, 20 digits>.parquet.inprogress`: the segment while it is written.
pub fn inprogress_file_name(first_seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_seq:020}{INPROGRESS_SUFFIX}")
}

/// The first seq of a complete segment's file name; `None` for anything else, including
/// `.inprogress` names.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    parse_seq(name.strip_prefix(SEGMENT_PREFIX)?.strip_suffix(SEGMENT_SUFFIX)?)
}

/// Whether `name` is a segment still being written (or left behind by a crash).
pub fn is_inprogress_file_name(name: &str) -> bool {
    name.ends_with(INPROGRESS_SUFFIX)
}

/// `wal-<first_seq, 20 digits>.log`: the WAL segment whose first record has `first_seq`.
pub fn wal_file_name(first_seq: u64) -> String {
    format!("{WAL_PREFIX}{first_seq:020}{WAL_SUFFIX}")
}

/// The first seq of a WAL segment's file name; `None` for anything else.
pub fn parse_wal_file_name(name: &str) -> Option<u64> {
    parse_seq(name.strip_prefix(WAL_PREFIX)?.strip_suffix(WAL_SUFFIX)?)
}

fn parse_seq(digits: &str) -> Option<u64> {
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `<run_dir>/run.json`.
pub fn run_manifest_path(run_dir: &Path) -> PathBuf {
    run_dir.join(RUN_MANIFEST_FILE)
}

/// `<run_dir>/wal`.
pub fn wal_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(WAL_DIR)
}

/// `<run_dir>/wal-metrics`.
pub fn metrics_wal_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(METRICS_WAL_DIR)
}

/// `<run_dir>/<table>`: the folder of a table's Parquet segments.
pub fn table_dir(run_dir: &Path, table: &str) -> PathBuf {
    run_dir.join(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_in_seq_order() {
        assert_eq!(segment_file_name(7), "part-00000000000000000007.parquet");
        assert_eq!(inprogress_file_name(7), "part-00000000000000000007.parquet.inprogress");
        for seq in [0, 7, 1 << 40, u64::MAX] {
            assert_eq!(parse_segment_file_name(&segment_file_name(seq)), Some(seq));
        }
        assert!(segment_file_name(9) < segment_file_name(10));
        assert!(segment_file_name(u64::MAX - 1) < segment_file_name(u64::MAX));
    }

    #[test]
    fn only_complete_segment_names_parse() {
        for name in [
            "part-00000000000000000007.parquet.inprogress",
            "part-7.parquet",
            "part-0000000000000000000x.parquet",
            "part-000000000000000000007.parquet",
            "part-99999999999999999999.parquet",
            "wal-00000000000000000007.log",
            "notes.txt",
        ] {
            assert_eq!(parse_segment_file_name(name), None, "{name}");
        }
        assert!(is_inprogress_file_name("part-3.parquet.inprogress"));
        assert!(!is_inprogress_file_name("part-00000000000000000003.parquet"));
    }

    #[test]
    fn wal_names_round_trip_and_reject_the_rest() {
        assert_eq!(wal_file_name(7), "wal-00000000000000000007.log");
        assert_eq!(parse_wal_file_name("wal-00000000000000000007.log"), Some(7));
        assert_eq!(parse_wal_file_name(&wal_file_name(u64::MAX)), Some(u64::MAX));
        for name in ["wal-7.log", "wal-0000000000000000000x.log", "wal-00000000000000000007.log.damaged"] {
            assert_eq!(parse_wal_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn run_ids_that_would_not_name_a_directory_of_their_own_are_refused() {
        for (id, problem) in [
            ("", "is empty"),
            (".", "does not start and end"),
            ("..", "does not start and end"),
            ("../elsewhere", "path separator"),
            ("a/b", "path separator"),
            ("/abs", "path separator"),
            ("a\\b", "path separator"),
            (".hidden", "does not start and end"),
            ("trailing-", "does not start and end"),
            ("spa ce", "a character other than"),
            ("new\nline", "a character other than"),
            ("été", "a character other than"),
        ] {
            let error = validate_run_id(id).expect_err(id);
            assert_eq!(error.id, id);
            assert!(error.to_string().contains(problem), "{id:?}: {error}");
            assert!(run_dir(Path::new("evidence"), id).is_err(), "{id:?}");
        }
        let too_long = "a".repeat(RUN_ID_MAX_LEN + 1);
        assert!(validate_run_id(&too_long).expect_err("64 characters").to_string().contains("longer than 63"));
    }

    #[test]
    fn usable_run_ids_name_one_directory_under_the_output_folder() {
        for id in ["k8s-20260614-153951", "lesson1", "a", "v1.2_try-3", &"a".repeat(RUN_ID_MAX_LEN)] {
            assert_eq!(validate_run_id(id), Ok(()), "{id}");
            let dir = run_dir(Path::new("evidence"), id).unwrap();
            assert_eq!(dir.parent(), Some(Path::new("evidence")), "{id}");
            assert_eq!(dir.file_name().and_then(|name| name.to_str()), Some(id));
        }
    }

    #[test]
    fn paths_from_a_run_directory() {
        let run = Path::new("evidence/k8s-20260614-153951");
        assert_eq!(run_manifest_path(run), run.join("run.json"));
        assert_eq!(wal_dir(run), run.join("wal"));
        assert_eq!(metrics_wal_dir(run), run.join("wal-metrics"));
        assert_eq!(table_dir(run, "pods"), run.join("pods"));
    }
}
