//! Reading and writing `<run>/run.json`, the run manifest (its types are
//! `evident_core::run_manifest`, its place in the run directory `evident_core::layout`). This
//! is the only code that reads or writes the file.
//!
//! Invariants:
//! - `run.json` is replaced atomically (tmp + fsync + rename + directory fsync): after a
//!   crash it holds either the previous or the new manifest, never a torn one.
//! - The manifest is an index, not the source of truth: its segment list and row counts are
//!   rebuilt from the segment files' footers whenever a run is opened or recovered
//!   ([`sync_segments`]), so a crash between a segment's rename and the manifest update
//!   loses nothing.
//! - While a run records, `<run>/.reserve` ([`Reserve`]) holds [`RESERVE_BYTES`] of written
//!   zeros: on a full disk the recorder deletes it and so has room to write why it stopped.
//!   It is deleted when the recording stops; one left by a crash is replaced at the next open.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use evident_core::layout;
use evident_core::redact::POLICY_VERSION;
use evident_core::run_manifest::{RunManifest, Segment};
use evident_core::{Kind, SCHEMA_VERSION};

use crate::durable;

/// Errors reading or writing the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
    /// The file exists but is not a valid manifest.
    #[error("{} is not a valid run manifest: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = ManifestError> = std::result::Result<T, E>;

/// Path of the manifest of `run_dir`.
pub fn path(run_dir: &Path) -> PathBuf {
    layout::run_manifest_path(run_dir)
}

/// Reads the manifest of `run_dir`; `None` if the run has none yet.
pub fn read(run_dir: &Path) -> Result<Option<RunManifest>> {
    let path = path(run_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(durable::at("read", &path)(error).into()),
    };
    RunManifest::from_json(&bytes).map(Some).map_err(|source| ManifestError::Invalid { path, source })
}

/// Writes the manifest of `run_dir` atomically.
pub fn write(run_dir: &Path, manifest: &RunManifest) -> Result<()> {
    let path = path(run_dir);
    let bytes = manifest.to_json().map_err(|source| ManifestError::Invalid { path: path.clone(), source })?;
    durable::write_atomically(&path, &bytes)?;
    Ok(())
}

/// Name of the space reserve inside a run directory.
pub const RESERVE_FILE: &str = ".reserve";

/// Bytes the reserve holds: room for a `run.json` of a few hundred segments.
pub const RESERVE_BYTES: usize = 64 << 10;

/// Disk space set aside while a run records, so that when a write fails for want of space
/// (`ENOSPC`), `run.json` can still be rewritten with the stop reason: deleting the reserve
/// frees the room the atomic rewrite needs.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
}

impl Reserve {
    /// Writes [`RESERVE_BYTES`] of zeros (really allocated, not a sparse file) to
    /// `<run>/.reserve` and fsyncs them.
    pub fn create(run_dir: &Path) -> Result<Reserve> {
        let path = run_dir.join(RESERVE_FILE);
        let written = std::fs::File::create(&path).map_err(durable::at("create", &path)).and_then(|mut file| {
            file.write_all(&vec![0u8; RESERVE_BYTES]).map_err(durable::at("write", &path))?;
            file.sync_all().map_err(durable::at("fsync", &path))
        });
        if let Err(error) = written {
            // A part-written reserve only takes space.
            let _ = std::fs::remove_file(&path);
            return Err(error.into());
        }
        Ok(Reserve { path })
    }

    /// Deletes the reserve, giving its space back.
    pub fn release(self) -> Result<()> {
        durable::remove_file(&self.path)?;
        Ok(())
    }
}

/// A manifest for a new run in `run_dir`: its id is the directory's name.
pub fn new_run(run_dir: &Path, started_at: String) -> RunManifest {
    RunManifest {
        run_id: run_dir.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: SCHEMA_VERSION.to_string(),
        redaction_policy: POLICY_VERSION.to_string(),
        started_at,
        ..RunManifest::default()
    }
}

/// Replaces the manifest's segment list and row counts with `segments` (sorted by table,
/// then first seq). Returns whether anything changed.
pub fn sync_segments(manifest: &mut RunManifest, mut segments: Vec<Segment>) -> bool {
    segments.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let mut row_counts = std::collections::BTreeMap::new();
    for kind in Kind::ALL {
        row_counts.insert(kind.table().to_string(), 0);
    }
    for segment in &segments {
        *row_counts.entry(segment.table.clone()).or_insert(0) += segment.rows;
    }
    let changed = manifest.segments != segments || manifest.row_counts != row_counts;
    manifest.segments = segments;
    manifest.row_counts = row_counts;
    changed
}

/// Adds one newly durable segment (rolled while recording), keeping the order of
/// [`sync_segments`] so a later rescan of the same files changes nothing.
pub fn add_segment(manifest: &mut RunManifest, segment: Segment) {
    *manifest.row_counts.entry(segment.table.clone()).or_insert(0) += segment.rows;
    let at = manifest.segments.partition_point(|existing| order_key(existing) < order_key(&segment));
    manifest.segments.insert(at, segment);
}

/// Segments are listed by table (nodes, pods, events, in `Kind` order), then by first seq.
fn order_key(segment: &Segment) -> (Option<Kind>, &str, u64) {
    (Kind::from_table(&segment.table), &segment.table, segment.first_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("k8s-20260614-153951");
        std::fs::create_dir(&run).unwrap();
        assert_eq!(read(&run).unwrap(), None);
        let mut manifest = new_run(&run, "2026-06-14T15:39:51.000Z".into());
        assert_eq!(manifest.run_id, "k8s-20260614-153951");
        let segment =
            Segment { table: "pods".into(), path: "pods/x".into(), rows: 4, first_seq: 1, last_seq: 9, bytes: 10 };
        assert!(sync_segments(&mut manifest, vec![segment.clone()]));
        assert!(!sync_segments(&mut manifest, vec![segment]));
        assert_eq!(manifest.row_counts["pods"], 4);
        assert_eq!(manifest.row_counts["nodes"], 0);
        write(&run, &manifest).unwrap();
        assert_eq!(read(&run).unwrap(), Some(manifest));
    }

    #[test]
    fn the_reserve_holds_its_bytes_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::create(dir.path()).unwrap();
        let file = dir.path().join(RESERVE_FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), RESERVE_BYTES as u64);
        reserve.release().unwrap();
        assert!(!file.exists());
    }

    #[test]
    fn a_corrupt_manifest_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{ not json").unwrap();
        let error = read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("run.json is not a valid run manifest"), "{error}");
    }
}
