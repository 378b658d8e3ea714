//! One writer per run: an exclusive advisory lock on `<run>/.lock`, held by a recording and
//! by recovery, so `evident recover` cannot fold the WAL of a run that is still recording.
//!
//! Invariants:
//! - The operating system releases the lock when its holder dies, so a crash never leaves a
//!   run locked; the empty `.lock` file left behind by a crash means nothing on its own.
//! - The holder deletes the file when it is done with the run, so a finished run directory
//!   holds only the manifest and the segments.

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
        let path = run_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(durable::at("create", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { path, file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Busy { run_dir: run_dir.to_path_buf() }),
            Err(TryLockError::Error(error)) => Err(durable::at("lock", &path)(error).into()),
        }
    }

    /// Deletes the lock file and releases the lock: the run is finished.
    pub fn release(self) -> Result<()> {
        durable::remove_file(&self.path)?;
        drop(self.file);
        Ok(())
    }
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
}
