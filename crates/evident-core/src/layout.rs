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
    fn paths_from_a_run_directory() {
        let run = Path::new("evidence/k8s-20260614-153951");
        assert_eq!(run_manifest_path(run), run.join("run.json"));
        assert_eq!(wal_dir(run), run.join("wal"));
        assert_eq!(metrics_wal_dir(run), run.join("wal-metrics"));
        assert_eq!(table_dir(run, "pods"), run.join("pods"));
    }
}
