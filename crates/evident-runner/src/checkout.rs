//! The evident checkout a scenario belongs to: the root its fleet and workload paths are
//! relative to, and the local cluster its `hack/cluster.sh` brings up and down.
//!
//! The script's own progress goes to the inherited stderr (its stdout is discarded where it
//! is not the answer), so a person sees what a slow `up` is doing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Errors of finding the checkout and running its cluster script.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The scenario spec does not exist.
    #[error("scenario {} not found", path.display())]
    ScenarioNotFound {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No ancestor of the spec holds `manifests/` and `hack/`.
    #[error("{} is not inside an evident checkout (no manifests/ and hack/ above it)", scenario.display())]
    NotACheckout { scenario: PathBuf },
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

/// An evident checkout: a directory holding `manifests/` and `hack/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    root: PathBuf,
}

impl Checkout {
    /// The checkout a scenario spec lives in: the nearest ancestor of the (absolute) spec
    /// path holding `manifests/` and `hack/`.
    pub fn of_scenario(scenario: &Path) -> Result<Checkout> {
        let absolute = scenario
            .canonicalize()
            .map_err(|source| CheckoutError::ScenarioNotFound { path: scenario.to_path_buf(), source })?;
        absolute
            .ancestors()
            .find(|dir| dir.join("manifests").is_dir() && dir.join("hack").is_dir())
            .map(|root| Checkout { root: root.to_path_buf() })
            .ok_or_else(|| CheckoutError::NotACheckout { scenario: scenario.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Paths relative to the root (a scenario's `fleet` and `workloads`), made absolute.
    pub fn paths(&self, relative: &[String]) -> Vec<PathBuf> {
        relative.iter().map(|path| self.root.join(path)).collect()
    }

    /// Whether the local cluster answers (`hack/cluster.sh status`).
    pub fn cluster_is_up(&self) -> Result<bool> {
        let status = self.script("status").stderr(Stdio::null()).status();
        Ok(status.map_err(|source| CheckoutError::Script { action: "status", source })?.success())
    }

    /// Brings the local cluster up, building what is missing (`hack/cluster.sh up`).
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
        command.arg(self.root.join("hack/cluster.sh")).arg(action);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_the_nearest_ancestor_with_manifests_and_hack() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("hack")).unwrap();
        std::fs::create_dir_all(root.join("manifests/scenarios")).unwrap();
        let spec = root.join("manifests/scenarios/lesson1.yaml");
        std::fs::write(&spec, "name: lesson1\n").unwrap();
        let checkout = Checkout::of_scenario(&spec).unwrap();
        assert_eq!(checkout.root(), root);
        assert_eq!(checkout.paths(&["manifests/fleet".into()]), [root.join("manifests/fleet")]);

        std::fs::remove_dir(root.join("hack")).unwrap();
        let error = Checkout::of_scenario(&spec).unwrap_err();
        assert!(matches!(error, CheckoutError::NotACheckout { .. }), "{error}");
        let error = Checkout::of_scenario(&root.join("absent.yaml")).unwrap_err();
        assert!(matches!(error, CheckoutError::ScenarioNotFound { .. }), "{error}");
    }
}
