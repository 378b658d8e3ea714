//! Running a scenario against a cluster: the orchestration behind `evident run`, and the
//! decision of when a recording stops, shared with `evident record`.
//!
//! - [`ScenarioRunner`] runs one scenario spec: its namespaces checked (one evident did not
//!   create stops the run unless it is to be replaced), recording started, fleet applied and
//!   ready (KWOK fake nodes re-created), workloads applied in order, recording followed until
//!   the cluster settles, report written, what the run created removed.
//! - [`settle`] decides when a recording stops ([`StopWhen`], [`follow`]).
//! - [`RecordingGuard`] stops a recording exactly once, on every path out.
//! - [`builtin`] holds the scenarios built into evident (the repository's `manifests/` tree),
//!   for `evident run <name>`, `evident scenarios` and `evident init`.
//! - [`Checkout`] is an evident repository and its local cluster script, used only when asked
//!   (`evident run --local`).
//!
//! Invariants:
//! - Nothing here prints: progress is told to an [`Observer`] (`evident run` draws the status
//!   line and its messages from it), outcomes are returned, failures are errors.
//! - No process-wide signal handler is installed here: the caller hands in the interrupt
//!   (Ctrl-C, SIGTERM) as a future.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, info: evident_core::run_manifest::ClusterInfo) -> Result<(), Box<dyn std::error::Error>> {
//! use evident_runner::{Cluster, RunnerConfig, ScenarioRunner};
//! use evident_report::Scenario;
//! let spec = std::path::Path::new("manifests/scenarios/lesson1.yaml");
//! let config = RunnerConfig::new(Scenario::load(spec)?, Scenario::base_dir(spec), "evidence/lesson1");
//! let cluster = Cluster { client, info, started_by_run: None };
//! let outcome = ScenarioRunner::new(config)?
//!     .run(&cluster, &mut |event: evident_runner::Event<'_>| println!("{event:?}"), std::future::pending())
//!     .await?;
//! assert!(outcome.all_passed());
//! # Ok(()) }
//! ```

pub mod builtin;
mod checkout;
mod fleet;
mod guard;
mod runner;
pub mod settle;

pub use checkout::{Checkout, CheckoutError};
pub use fleet::{FleetError, RUN_LABEL, Removal, is_kwok_fake};
pub use guard::RecordingGuard;
pub use runner::{
    Cluster, Event, FLEET_READY_TIMEOUT, Observer, Outcome, RunnerConfig, RunnerError, SYNC_TIMEOUT, ScenarioRunner,
};
pub use settle::{SettleError, StopWhen, follow, follow_until};
