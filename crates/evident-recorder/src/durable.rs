//! The file-system steps that make a write durable on POSIX systems, in one place so every
//! caller takes them in the same order.
//!
//! Invariants:
//! - A file's data is durable once the file is fsynced; its *name* is durable only once the
//!   directory holding it is fsynced too. Creating, renaming and deleting a file are not
//!   durable until [`sync_dir`] runs on its parent.
//! - [`write_atomically`] leaves either the old content or the new content under the target
//!   name after a crash, never a mix: the data goes to `<name>.tmp`, is fsynced, renamed over
//!   the target, and the directory is fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An IO failure, with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct DurableError {
    /// What was being done (`fsync directory`, `rename`, ...).
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub type Result<T, E = DurableError> = std::result::Result<T, E>;

/// Attaches the action and path to an IO error.
pub(crate) fn at(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DurableError + use<> {
    let path = path.to_path_buf();
    move |source| DurableError { action, path, source }
}

/// Makes the directory entries of `dir` (creations, renames, deletions) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|handle| handle.sync_all()).map_err(at("fsync directory", dir))
}

/// Creates `dir` (and missing parents) and makes its entry durable in its parent.
pub fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(at("create directory", dir))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(at("create", &tmp))?;
    file.write_all(bytes).map_err(at("write", &tmp))?;
    file.sync_all().map_err(at("fsync", &tmp))?;
    drop(file);
    rename(&tmp, path)
}

/// Renames `from` to `to` and makes the rename durable (both live in the same directory).
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(at("rename", from))?;
    sync_dir(parent_of(to))
}

/// Deletes `path` (a missing file is fine) without syncing the directory: callers delete
/// several files and sync the directory once.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(at("delete", path)(error)),
        _ => Ok(()),
    }
}

pub(crate) fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomically_replaces_content_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.json");
        write_atomically(&target, b"old").unwrap();
        write_atomically(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("run.json")]);
    }

    #[test]
    fn removing_a_missing_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        remove_file(&dir.path().join("absent")).unwrap();
        assert!(sync_dir(&dir.path().join("absent-dir")).is_err());
    }
}
