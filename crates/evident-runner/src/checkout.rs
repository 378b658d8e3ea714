//! An evident checkout and its local cluster: the control plane `hack/cluster.sh` brings up and
//! down. Used only when asked (`evident run --local`, the Makefile): a scenario's manifests are
//! found relative to its spec file, and any other run goes to the cluster its kubeconfig names.
//!
//! The script's own progress goes to the inherited stderr (its stdout is discarded where it
//! is not the answer), so a person sees what a slow `up` is doing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Errors of finding the checkout and running its cluster script.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// No ancestor of the starting folder holds `hack/cluster.sh`.
    #[error(
        "--local needs an evident checkout, and {} is not in one (no hack/cluster.sh in it or above it); \
         without --local, evident uses the cluster of --kubeconfig, KUBECONFIG or ~/.kube/config",
        start.display()
    )]
    NotACheckout { start: PathBuf },
    /// `bash hack/cluster.sh <action>` could not be started.
    #[error("cannot run hack/cluster.sh {action}")]
    Script {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// `hack/cluster.sh up` failed.
    #[error("hack/cluster.sh up failed ({status}); see its output above")]
    UpFailed { status: ExitStatus },
    /// `hack/cluster.sh down` failed.
    #[error("hack/cluster.sh down failed ({status})")]
    DownFailed { status: ExitStatus },
    /// `hack/cluster.sh kubeconfig` failed or printed nothing.
    #[error("hack/cluster.sh kubeconfig printed no path")]
    NoKubeconfig,
}

pub type Result<T, E = CheckoutError> = std::result::Result<T, E>;

/// The local cluster's script, relative to the checkout's root.
const CLUSTER_SCRIPT: &str = "hack/cluster.sh";

/// An evident checkout: a directory holding `hack/cluster.sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    root: PathBuf,
}

impl Checkout {
    /// The checkout `start` (a folder, e.g. the working directory) is in: its nearest ancestor
    /// holding `hack/cluster.sh`.
    pub fn find(start: &Path) -> Result<Checkout> {
        let absolute = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
        absolute
            .ancestors()
            .find(|dir| dir.join(CLUSTER_SCRIPT).is_file())
            .map(|root| Checkout { root: root.to_path_buf() })
            .ok_or_else(|| CheckoutError::NotACheckout { start: start.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the local control plane answers (`hack/cluster.sh status control-plane`): the
    /// GPU layer beside it is left out, so a crashed operator process does not make a running
    /// cluster look like one to create (and, at the end, to delete).
    pub fn control_plane_is_up(&self) -> Result<bool> {
        let status = self.script("status").arg("control-plane").stderr(Stdio::null()).status();
        Ok(status.map_err(|source| CheckoutError::Script { action: "status", source })?.success())
    }

    /// Brings the local cluster up, building what is missing (`hack/cluster.sh up`). On a
    /// running cluster it only restarts what of the GPU layer is not running (about a second).
    pub fn cluster_up(&self) -> Result<()> {
        let status = self.script("up").stdout(Stdio::null()).status();
        let status = status.map_err(|source| CheckoutError::Script { action: "up", source })?;
        if !status.success() {
            return Err(CheckoutError::UpFailed { status });
        }
        Ok(())
    }

    /// The local cluster's kubeconfig file (`hack/cluster.sh kubeconfig`).
    pub fn cluster_kubeconfig(&self) -> Result<PathBuf> {
        let output = self.script("kubeconfig").output();
        let output = output.map_err(|source| CheckoutError::Script { action: "kubeconfig", source })?;
        let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !output.status.success() || path.is_empty() {
            return Err(CheckoutError::NoKubeconfig);
        }
        Ok(PathBuf::from(path))
    }

    /// Stops the local cluster (`hack/cluster.sh down`).
    pub fn cluster_down(&self) -> Result<()> {
        let status = self.script("down").status();
        let status = status.map_err(|source| CheckoutError::Script { action: "down", source })?;
        if !status.success() {
            return Err(CheckoutError::DownFailed { status });
        }
        Ok(())
    }

    fn script(&self, action: &str) -> Command {
        let mut command = Command::new("bash");
        command.arg(self.root.join(CLUSTER_SCRIPT)).arg(action);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_the_nearest_ancestor_with_the_cluster_script() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("hack")).unwrap();
        std::fs::write(root.join(CLUSTER_SCRIPT), "").unwrap();
        std::fs::create_dir_all(root.join("manifests/scenarios")).unwrap();
        assert_eq!(Checkout::find(&root.join("manifests/scenarios")).unwrap().root(), root);
        assert_eq!(Checkout::find(&root).unwrap().root(), root);

        std::fs::remove_file(root.join(CLUSTER_SCRIPT)).unwrap();
        let error = Checkout::find(&root.join("manifests")).unwrap_err();
        assert!(matches!(error, CheckoutError::NotACheckout { .. }), "{error}");
        assert!(error.to_string().contains("without --local, evident uses the cluster of --kubeconfig"), "{error}");
    }
}
