//! One recorded run as the query layer sees it: its manifest and its closed Parquet segments.
//!
//! Layout read (names and parsing in [`evident_core::layout`]): `<run>/run.json`,
//! `<run>/{nodes,pods,events}/part-<first seq>.parquet` and, when GPU metrics were scraped,
//! `<run>/metrics/part-<first scrape seq>.parquet`. The segment list comes from the
//! directory, not from the manifest, because the manifest lags behind while a recording is
//! under way. Only names [`evident_core::layout::parse_segment_file_name`] accepts are
//! segments: `*.inprogress` files and the WAL are never read, and a crashed recording must be
//! recovered (`evident recover`) before its WAL tail is visible here.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use evident_core::Kind;
use evident_core::layout::{self, RUN_MANIFEST_FILE};
use evident_core::run_manifest::RunManifest;

/// Why a run could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The directory does not exist.
    #[error("run directory {path} does not exist")]
    NotFound { path: PathBuf },
    /// The directory has no `run.json`, so it is not a run.
    #[error("{path} is not a run directory: it has no {RUN_MANIFEST_FILE}")]
    NoManifest { path: PathBuf },
    /// `run.json` is not valid JSON of the manifest's shape.
    #[error("cannot parse {path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Reading a file or listing a directory failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The run has no closed Parquet segment of any kind.
    #[error(
        "run {path} has no Parquet segments (nothing recorded yet, or still in its WAL: run `evident recover {path}`)"
    )]
    Empty { path: PathBuf },
    /// A segment's footer cannot be read: the file is truncated or corrupt.
    #[error("Parquet segment {path} is truncated or corrupt: {source}")]
    CorruptSegment {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    /// A folder given as a set of runs holds no run with data.
    #[error("no recorded runs (directories with {RUN_MANIFEST_FILE} and Parquet segments) under {path}")]
    NoRuns { path: PathBuf },
    /// No `evidence/` directory was found to pick a default run from.
    #[error("no evidence/ directory in {start} or above it; pass --run <dir> or --runs <folder>")]
    NoEvidence { start: PathBuf },
}

pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// A run directory with a readable manifest and at least one closed segment.
#[derive(Debug, Clone)]
pub struct Run {
    /// The directory's name; the `run_id` column of every table.
    pub id: String,
    pub dir: PathBuf,
    pub manifest: RunManifest,
    /// Closed segments per kind, in seq order (their names sort that way).
    pub segments: BTreeMap<Kind, Vec<PathBuf>>,
    /// Rows per kind over its closed segments, from their footers.
    pub rows: BTreeMap<Kind, u64>,
    /// Closed segments of the `metrics` table (none when no endpoint was scraped).
    pub metric_segments: Vec<PathBuf>,
    /// Samples over the metrics segments, from their footers.
    pub metric_rows: u64,
}

impl Run {
    /// Opens a run directory and checks every segment's footer.
    pub fn open(dir: &Path) -> Result<Run> {
        if !dir.is_dir() {
            return Err(RunError::NotFound { path: dir.to_path_buf() });
        }
        let manifest = read_manifest(dir)?;
        let mut segments = BTreeMap::new();
        let mut rows = BTreeMap::new();
        for kind in Kind::ALL {
            let files = closed_segments(&layout::table_dir(dir, kind.table()))?;
            let mut kind_rows = 0;
            for file in &files {
                kind_rows += footer_rows(file)?;
            }
            segments.insert(kind, files);
            rows.insert(kind, kind_rows);
        }
        if segments.values().all(Vec::is_empty) {
            return Err(RunError::Empty { path: dir.to_path_buf() });
        }
        let metric_segments = closed_segments(&layout::table_dir(dir, evident_core::metric::TABLE))?;
        let mut metric_rows = 0;
        for file in &metric_segments {
            metric_rows += footer_rows(file)?;
        }
        Ok(Run { id: run_id_of(dir), dir: dir.to_path_buf(), manifest, segments, rows, metric_segments, metric_rows })
    }

    /// Closed segments of one kind (possibly none).
    pub fn segments(&self, kind: Kind) -> &[PathBuf] {
        self.segments.get(&kind).map(Vec::as_slice).unwrap_or_default()
    }

    /// When the recording started, in ns since the epoch, from `run.json`.
    pub fn started_at_ns(&self) -> Option<i64> {
        evident_core::time::parse_rfc3339_ns(&self.manifest.started_at)
    }
}

/// The run id of a directory: its name (the recorder names runs `k8s-YYYYMMDD-HHMMSS`).
pub fn run_id_of(dir: &Path) -> String {
    // `evidence/run/.` or `.` has no file name of its own; the resolved path does.
    let name =
        dir.file_name().map(ToOwned::to_owned).or_else(|| dir.canonicalize().ok()?.file_name().map(ToOwned::to_owned));
    name.map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string())
}

/// Reads `<dir>/run.json` (parsed by [`RunManifest::from_json`], as the recorder does).
pub fn read_manifest(dir: &Path) -> Result<RunManifest> {
    let path = layout::run_manifest_path(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunError::NoManifest { path: dir.to_path_buf() });
        }
        Err(source) => return Err(RunError::Io { path, source }),
    };
    RunManifest::from_json(&bytes).map_err(|source| RunError::Manifest { path, source })
}

/// Complete segments (`part-<first seq>.parquet`) of a table's directory, sorted by name and
/// so by first seq; a missing directory has none.
fn closed_segments(kind_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(kind_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RunError::Io { path: kind_dir.to_path_buf(), source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RunError::Io { path: kind_dir.to_path_buf(), source })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if layout::parse_segment_file_name(&name).is_some() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the footer (which fails for a truncated file or a damaged footer) and returns the
/// file's row count.
fn footer_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(|source| RunError::Io { path: path.to_path_buf(), source })?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|source| RunError::CorruptSegment { path: path.to_path_buf(), source })?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_and_foreign_files_are_not_segments() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "part-00000000000000000002.parquet",
            "part-00000000000000000001.parquet",
            "part-3.parquet.inprogress",
            "part-3.parquet",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = closed_segments(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["part-00000000000000000001.parquet", "part-00000000000000000002.parquet"]);
    }

    #[test]
    fn a_directory_without_manifest_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Run::open(dir.path()), Err(RunError::NoManifest { .. })));
        assert!(matches!(Run::open(&dir.path().join("absent")), Err(RunError::NotFound { .. })));
    }

    #[test]
    fn a_run_without_segments_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RUN_MANIFEST_FILE), r#"{"run_id": "r"}"#).unwrap();
        std::fs::create_dir(dir.path().join("pods")).unwrap();
        std::fs::write(dir.path().join("pods/part-00000000000000000000.parquet.inprogress"), b"PAR1").unwrap();
        assert!(matches!(Run::open(dir.path()), Err(RunError::Empty { .. })));
    }
}
