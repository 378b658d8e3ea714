//! One writer per run: an exclusive advisory lock on `<run>/.lock`, held by a recording and
//! by recovery, so `evident recover` cannot fold the WAL of a run that is still recording.
//!
//! Invariants:
//! - The operating system releases the lock when its holder dies, so a crash never leaves a
//!   run locked; the empty `.lock` file left behind by a crash means nothing on its own.
//! - The holder deletes the file when it is done with the run, so a finished run directory
//!   holds only the manifest and the segments. It deletes it *before* unlocking, and a taker
//!   holds the lock only once the file it locked is still the one named `.lock`: a process
//!   that opened the file just before it was deleted finds, after locking, that its file is
//!   gone, and starts again. (Unlocking first would let such a process lock the deleted file
//!   while a third one creates and locks a new `.lock`: two holders.)

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::durable;

/// Name of the lock file inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Errors taking the run lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (a recording or a recovery) holds the run.
    #[error("{} is in use by another evident process (recording or recovering); wait for it to finish", run_dir.display())]
    Busy { run_dir: PathBuf },
    /// The lock file could not be created or locked.
    #[error(transparent)]
    Io(#[from] durable::DurableError),
}

pub type Result<T, E = LockError> = std::result::Result<T, E>;

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    file: File,
}

impl RunLock {
    /// Takes the lock of `run_dir` without waiting.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        Self::acquire_with(run_dir, || {})
    }

    /// [`RunLock::acquire`], running `between` after opening the file and before locking it
    /// (where a concurrent release can happen; tests make it happen there).
    fn acquire_with(run_dir: &Path, mut between: impl FnMut()) -> Result<RunLock> {
        let path = run_dir.join(LOCK_FILE);
        // Each retry means a holder released the run in between; a few are plenty.
        for _ in 0..100 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(durable::at("create", &path))?;
            between();
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(LockError::Busy { run_dir: run_dir.to_path_buf() }),
                Err(TryLockError::Error(error)) => return Err(durable::at("lock", &path)(error).into()),
            }
            if is_still_named(&file, &path)? {
                return Ok(RunLock { path, file });
            }
        }
        Err(LockError::Busy { run_dir: run_dir.to_path_buf() })
    }

    /// Deletes the lock file and releases the lock: the run is finished.
    pub fn release(self) -> Result<()> {
        durable::remove_file(&self.path)?;
        drop(self.file);
        Ok(())
    }
}

/// True if `file` is the file named `path` now (not one deleted, or replaced, since it was
/// opened).
#[cfg(unix)]
fn is_still_named(file: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let opened = file.metadata().map_err(durable::at("stat", path))?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.dev() == opened.dev() && named.ino() == opened.ino()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(durable::at("stat", path)(error).into()),
    }
}

/// Elsewhere a lock file cannot be deleted while open, so the race above cannot happen.
#[cfg(not(unix))]
fn is_still_named(_: &File, _: &Path) -> Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert!(matches!(RunLock::acquire(dir.path()), Err(LockError::Busy { .. })));
        lock.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE).exists());
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_release_between_open_and_lock_never_makes_two_holders() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Some(RunLock::acquire(dir.path()).unwrap());
        // The second taker opens `.lock` while the first holds it; the first releases the run
        // before the second locks: the second must not end up holding the deleted file.
        let second = RunLock::acquire_with(dir.path(), || {
            if let Some(first) = first.take() {
                first.release().unwrap();
            }
        })
        .unwrap();
        assert!(first.is_none(), "the release happened in between");
        assert!(dir.path().join(LOCK_FILE).exists(), "the second holds a lock file that has a name");
        assert!(
            matches!(RunLock::acquire(dir.path()), Err(LockError::Busy { .. })),
            "a third taker must find the run busy while the second holds it"
        );
        second.release().unwrap();
        RunLock::acquire(dir.path()).unwrap();
    }
}
