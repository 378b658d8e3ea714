//! Which runs a session reads: one run directory, every run in a folder, or the newest run
//! under `evidence/`.

use std::path::{Path, PathBuf};

use crate::run::{Result, Run, RunError, read_manifest, run_id_of};

/// Name of the folder runs are recorded into, looked up from the working directory upward.
pub const EVIDENCE_DIR: &str = "evidence";

/// The runs one session reads, in a stable order (by run id).
#[derive(Debug, Clone)]
pub struct RunSet {
    runs: Vec<Run>,
}

impl RunSet {
    /// One run directory. Every error (missing, no manifest, no segments, a corrupt segment)
    /// is returned.
    pub fn open_run(dir: &Path) -> Result<RunSet> {
        Ok(RunSet { runs: vec![Run::open(dir)?] })
    }

    /// Every run directory directly inside `folder`. A run with no segments yet is skipped
    /// with a warning (a CI job that recorded nothing must not hide the others); any other
    /// error of a run is returned.
    pub fn open_runs(folder: &Path) -> Result<RunSet> {
        let mut runs = Vec::new();
        for dir in run_dirs(folder)? {
            match Run::open(&dir) {
                Ok(run) => runs.push(run),
                Err(RunError::Empty { path }) => {
                    tracing::warn!(run = %path.display(), "skipping a run with no Parquet segments");
                }
                Err(error) => return Err(error),
            }
        }
        if runs.is_empty() {
            return Err(RunError::NoRuns { path: folder.to_path_buf() });
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(RunSet { runs })
    }

    /// The newest run under the first `evidence/` found from `start` upward: the greatest
    /// (`started_at` from run.json, directory name).
    pub fn open_newest(start: &Path) -> Result<RunSet> {
        let evidence =
            find_upward(start, EVIDENCE_DIR).ok_or_else(|| RunError::NoEvidence { start: start.to_path_buf() })?;
        let newest = newest_run_dir(&evidence)?;
        RunSet::open_run(&newest)
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }
}

/// The newest run directory in `folder` (see [`RunSet::open_newest`]).
pub fn newest_run_dir(folder: &Path) -> Result<PathBuf> {
    let mut best: Option<(String, String, PathBuf)> = None;
    for dir in run_dirs(folder)? {
        let started_at = read_manifest(&dir).map(|manifest| manifest.started_at).unwrap_or_default();
        let key = (started_at, run_id_of(&dir));
        if best.as_ref().is_none_or(|(s, n, _)| (s, n) < (&key.0, &key.1)) {
            best = Some((key.0, key.1, dir));
        }
    }
    best.map(|(_, _, dir)| dir).ok_or_else(|| RunError::NoRuns { path: folder.to_path_buf() })
}

/// Subdirectories of `folder` that hold a run.json, sorted by name.
fn run_dirs(folder: &Path) -> Result<Vec<PathBuf>> {
    if !folder.is_dir() {
        return Err(RunError::NotFound { path: folder.to_path_buf() });
    }
    let entries = std::fs::read_dir(folder).map_err(|source| RunError::Io { path: folder.to_path_buf(), source })?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| RunError::Io { path: folder.to_path_buf(), source })?.path();
        if evident_core::layout::run_manifest_path(&path).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// `start/name`, else `parent/name`, and so on up to the root.
pub fn find_upward(start: &Path, name: &str) -> Option<PathBuf> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    start.ancestors().map(|dir| dir.join(name)).find(|candidate| candidate.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_run(folder: &Path, name: &str, started_at: &str) {
        let dir = folder.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("run.json"), format!(r#"{{"started_at": "{started_at}"}}"#)).unwrap();
    }

    #[test]
    fn newest_run_is_by_start_time_then_name() {
        let folder = tempfile::tempdir().unwrap();
        make_run(folder.path(), "k8s-20260614-153951", "2026-06-14T15:39:51Z");
        make_run(folder.path(), "a-later-run", "2026-06-15T09:00:00Z");
        make_run(folder.path(), "zz-no-start", "");
        std::fs::create_dir(folder.path().join("not-a-run")).unwrap();
        assert_eq!(newest_run_dir(folder.path()).unwrap(), folder.path().join("a-later-run"));
    }

    #[test]
    fn a_folder_of_empty_runs_has_no_runs() {
        let folder = tempfile::tempdir().unwrap();
        make_run(folder.path(), "empty", "2026-06-14T15:39:51Z");
        assert!(matches!(RunSet::open_runs(folder.path()), Err(RunError::NoRuns { .. })));
    }
}
