//! A recording that is stopped exactly once, whichever way the code that drives it ends.
//!
//! Invariants:
//! - [`RecordingGuard::stop`] consumes the guard: the recording is stopped with the caller's
//!   reason and the error of stopping, if any, is returned.
//! - A guard dropped without `stop` (a panic, a cancelled future) stops the recording with
//!   [`StopReason::Error`] before the drop returns, so `run.json` is closed and the WAL folded
//!   even then; a failure of that stop can only be logged (`warn!`).

use evident_core::{RunManifest, StopReason};
use evident_recorder::recording::{Recording, Result as RecordingResult};
use tracing::warn;

/// Owns a running recording until it is stopped; see the module doc.
#[derive(Debug)]
pub struct RecordingGuard {
    /// `Some` until [`RecordingGuard::stop`] or the drop takes it.
    recording: Option<Recording>,
}

impl RecordingGuard {
    pub fn new(recording: Recording) -> RecordingGuard {
        RecordingGuard { recording: Some(recording) }
    }

    /// The recording, to read its live figures.
    pub fn recording(&self) -> &Recording {
        self.recording.as_ref().expect("a guard holds its recording until it is stopped")
    }

    /// Stops the recording with `reason`.
    pub async fn stop(mut self, reason: StopReason) -> RecordingResult<RunManifest> {
        let recording = self.recording.take().expect("a guard holds its recording until it is stopped");
        recording.stop(reason).await
    }
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        let Some(recording) = self.recording.take() else { return };
        let stop = move || recording.stop_blocking(StopReason::Error);
        // Closing the store waits for its thread; on a worker of the multi-threaded runtime
        // that wait must not hold up the tasks scheduled on it.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let stopped = if multi_thread { tokio::task::block_in_place(stop) } else { stop() };
        if let Err(error) = stopped {
            warn!(%error, "the recording dropped on the way out did not close cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use evident_core::run_manifest::ClusterInfo;
    use evident_recorder::recording::RecordingConfig;

    use super::*;

    /// A recording of an API server that never answers: the watches retry, the store runs.
    fn start(run_dir: &std::path::Path) -> Recording {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        Recording::start(client, ClusterInfo::default(), RecordingConfig::new(run_dir)).unwrap()
    }

    fn stop_reason_on_disk(run_dir: &std::path::Path) -> String {
        let manifest = evident_recorder::run_manifest::read(run_dir).unwrap().unwrap();
        assert!(!manifest.stopped_at.is_empty(), "stopped");
        manifest.stop_reason.to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_records_the_callers_reason() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        let guard = RecordingGuard::new(start(&run_dir));
        let manifest = guard.stop(StopReason::Signal).await.unwrap();
        assert_eq!(manifest.stop_reason, StopReason::Signal);
        assert_eq!(stop_reason_on_disk(&run_dir), "signal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_guard_stops_the_recording_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        drop(RecordingGuard::new(start(&run_dir)));
        assert_eq!(stop_reason_on_disk(&run_dir), "error");
        assert!(!run_dir.join(evident_core::layout::WAL_DIR).exists(), "the WAL is folded and removed");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_guard_stops_on_a_single_threaded_runtime_too() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        drop(RecordingGuard::new(start(&run_dir)));
        assert_eq!(stop_reason_on_disk(&run_dir), "error");
    }
}
