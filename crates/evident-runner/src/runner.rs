//! One scenario run, the notebook's `phase1-up / phase1-demo / phase1-evidence` in one call:
//! check the scenario's namespaces, start recording, apply the fleet (re-creating KWOK fake
//! nodes an earlier run left, so every run sees its fleet start) and wait for it to be ready,
//! apply the workloads in order, follow the recording until the cluster settles, stop, store
//! the scenario and write the report from the recording, and remove what the run created
//! unless told to keep it.
//!
//! Invariants:
//! - A namespace is deleted only if an `evident run` created it (label
//!   [`fleet::RUN_LABEL`]) or the caller asked to replace the scenario's namespaces
//!   ([`RunnerConfig::replace_namespaces`]); otherwise a namespace of the scenario that exists
//!   already stops the run before anything is changed ([`FleetError::NotCreatedByEvident`]).
//!   The run creates its namespaces itself, labelled with its run id, and its teardown deletes
//!   only namespaces with that label and id.
//! - The recording starts before the fleet exists, so it sees the nodes appear, their GPUs
//!   advertised and `kubeletVersion` stamped.
//! - Workloads are applied only once every fleet node is Ready and free of the node lifecycle
//!   controller's taints (`apply::wait_nodes_ready`).
//! - With `settle.decidable`, quiet alone does not stop the recording: it goes on until every
//!   expectation is decidable from the recording (or the timeout, told as
//!   [`Event::NotSettled`] with the undecided expectations).
//! - Once started, the recording is stopped exactly once on every path: with the settle
//!   reason when the run gets that far, with [`StopReason::Error`] when a step fails (the
//!   step's error is returned; when stopping fails too, both are), and by the
//!   [`RecordingGuard`] if the run panics or is cancelled. An error of stopping (the store
//!   failed) is returned, never dropped.
//! - What the run created is removed (unless [`RunnerConfig::keep`]) after the report, and
//!   also when a step fails once the namespaces are created.
//! - Nothing here prints: what happens is told to an [`Observer`]. The report is written
//!   before the teardown, so a failing teardown still leaves the report.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use evident_core::layout::{self, InvalidRunId};
use evident_core::run_manifest::ClusterInfo;
use evident_core::{RunManifest, StopReason};
use evident_recorder::apply::{self, ApplyError, Document};
use evident_recorder::recording::{LiveStats, MetricsConfig, Recording, RecordingConfig, RecordingError};
use evident_report::{RUN_SCENARIO_FILE, Scenario, Written};
use kube::Client;

use crate::checkout::{Checkout, CheckoutError};
use crate::fleet::{self, FleetError, NamespacePlan, Removal};
use crate::guard::RecordingGuard;
use crate::settle::{self, SettleError, StopWhen};

/// How long the recorder may take to list the cluster before the fleet is applied.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the fleet's nodes may take to become ready.
pub const FLEET_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Errors of a scenario run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The run directory already holds a run.
    #[error("run {} already exists; pick another --run-id", run_dir.display())]
    RunExists { run_dir: PathBuf },
    /// The run directory's name is not a usable run id.
    #[error(transparent)]
    RunId(#[from] InvalidRunId),
    /// A fleet or workload manifest is unreadable, or the API server refused it.
    #[error(transparent)]
    Manifests(#[from] ApplyError),
    /// Reading, deleting or applying the scenario's objects failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The local cluster's script failed.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// The recording could not be started.
    #[error("cannot record into {}", run_dir.display())]
    Start {
        run_dir: PathBuf,
        #[source]
        source: RecordingError,
    },
    /// The recorder did not list the cluster in time.
    #[error(transparent)]
    Settle(#[from] SettleError),
    /// Stopping the recording failed.
    #[error("recording did not close cleanly")]
    Stop(#[source] RecordingError),
    /// A step failed, and stopping the recording after it failed too.
    #[error("{failed}; then the recording did not close cleanly")]
    StopAfterFailure {
        failed: Box<RunnerError>,
        #[source]
        source: RecordingError,
    },
    /// The scenario spec could not be stored in the run directory.
    #[error("cannot store the scenario in {}", run_dir.display())]
    StoreScenario {
        run_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the report failed, or reading the recording to see whether every
    /// expectation is decidable.
    #[error(transparent)]
    Report(#[from] evident_report::Error),
    /// A step failed, and removing what the run had created failed too.
    #[error("{failed}; then removing what the run created failed: {teardown}")]
    TeardownAfterFailure { failed: Box<RunnerError>, teardown: Box<RunnerError> },
}

pub type Result<T, E = RunnerError> = std::result::Result<T, E>;

/// What to run, and where to record it.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub scenario: Scenario,
    /// The folder the scenario's fleet and workload paths are relative to: the spec file's
    /// ([`Scenario::base_dir`]).
    pub manifests_dir: PathBuf,
    /// The run directory to record into; it must not hold a run yet. Its name is the run
    /// id ([`layout::validate_run_id`]), which labels the namespaces the run creates.
    pub run_dir: PathBuf,
    /// GPU metrics endpoints to scrape while recording. Default: none.
    pub metrics: MetricsConfig,
    /// Keep the applied objects (and a local cluster this run started) afterwards. Default:
    /// false, remove what this run created.
    pub keep: bool,
    /// Delete and re-create namespaces of the scenario that exist and were not created by
    /// `evident run`. Default: false, such a namespace stops the run.
    pub replace_namespaces: bool,
    /// How the report is built: the named queries it runs (default: those built into evident).
    pub report: evident_report::ReportOptions,
}

impl RunnerConfig {
    /// `manifests_dir`: the folder the spec's paths are relative to ([`Scenario::base_dir`] of
    /// the spec file).
    pub fn new(scenario: Scenario, manifests_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> RunnerConfig {
        RunnerConfig {
            scenario,
            manifests_dir: manifests_dir.into(),
            run_dir: run_dir.into(),
            metrics: MetricsConfig::default(),
            keep: false,
            replace_namespaces: false,
            report: evident_report::ReportOptions::default(),
        }
    }
}

/// The cluster a run goes to.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub info: ClusterInfo,
    /// The checkout whose local cluster this run brought up (`evident run --local` found it
    /// down): that cluster is stopped at the end (unless [`RunnerConfig::keep`]) instead of
    /// deleting the run's objects one by one. `None` for any other cluster.
    pub started_by_run: Option<Checkout>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `kube::Client` has no Debug; the cluster info names the server.
        f.debug_struct("Cluster").field("info", &self.info).field("started_by_run", &self.started_by_run).finish()
    }
}

/// What happens during a run, in the order it happens, for a status display.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// What the run will create, and delete at its end unless `keep`: namespaces labelled
    /// `evident.dev/run=<run_id>`, and nodes.
    Plan { run_id: &'a str, namespaces: &'a [String], nodes: &'a [String], keep: bool, stops_cluster: bool },
    /// A namespace of the scenario is being deleted before the run: left by an earlier run,
    /// replaced as asked, or already terminating.
    RemovingNamespace(Removal<'a>),
    /// KWOK fake nodes of the fleet were left by an earlier run and are being re-created.
    RecreatingFakeNodes { count: usize },
    /// The fleet was applied; its nodes are awaited.
    FleetApplied { objects: usize, nodes: usize },
    /// A bare pod was not scheduled in time; the next workload is applied anyway.
    PodNotScheduled { name: &'a str, waited: Duration },
    /// Every workload was applied; the recording is followed until the cluster is quiet.
    WorkloadsApplied { objects: usize, quiet: Duration },
    /// The live figures, every [`settle::TICK`] while the recording is followed.
    Live(&'a LiveStats),
    /// The recording stopped and `run.json` is written.
    Recorded { manifest: &'a RunManifest, run_dir: &'a Path },
    /// The cluster did not settle within the scenario's timeout; the report covers what was
    /// recorded. `undecided` names the expectations the recording could not decide
    /// (`#<row> <expectation>`), when the scenario asked to wait for them.
    NotSettled { timeout: Duration, undecided: Vec<String> },
    /// The report is written into `run_dir`.
    Reported { written: &'a Written, run_dir: &'a Path },
    /// The local cluster this run started is being stopped.
    StoppingLocalCluster,
    /// What this run created was removed.
    RemovedCreated { namespaces: usize, nodes: usize },
    /// A step failed; what the run created is being removed before the error is returned.
    RemovingAfterFailure,
}

/// Told every [`Event`] of a run. Any `FnMut(Event)` is one.
pub trait Observer {
    fn observe(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Observer for F {
    fn observe(&mut self, event: Event<'_>) {
        self(event)
    }
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `run.json` as the recording left it.
    pub manifest: RunManifest,
    /// The report and what it concluded.
    pub written: Written,
}

impl Outcome {
    /// Whether every expectation of the scenario held.
    pub fn all_passed(&self) -> bool {
        self.written.summary.all_passed()
    }
}

/// A checked scenario run, ready to go to a cluster.
#[derive(Debug)]
pub struct ScenarioRunner {
    config: RunnerConfig,
    fleet: Vec<Document>,
    workloads: Vec<Document>,
    run_id: String,
    namespaces: Vec<String>,
}

impl ScenarioRunner {
    /// Checks the run id and that the run directory holds no run yet, and reads the fleet
    /// and workload manifests, before any cluster is touched.
    pub fn new(config: RunnerConfig) -> Result<ScenarioRunner> {
        let run_id = config.run_dir.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string();
        layout::validate_run_id(&run_id)?;
        if layout::run_manifest_path(&config.run_dir).exists() {
            return Err(RunnerError::RunExists { run_dir: config.run_dir });
        }
        let paths = |relative: &[String]| -> Vec<PathBuf> {
            relative.iter().map(|path| config.manifests_dir.join(path)).collect()
        };
        let fleet = apply::load(&paths(&config.scenario.fleet))?;
        let workloads = apply::load(&paths(&config.scenario.workloads))?;
        let namespaces = fleet::scenario_namespaces(config.scenario.namespaces(), fleet.iter().chain(&workloads));
        Ok(ScenarioRunner { config, fleet, workloads, run_id, namespaces })
    }

    /// The namespaces the run creates and deletes: those the expectations look at and the
    /// manifests' Namespace documents.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Runs the scenario on `cluster`; see the module doc. `interrupt` (Ctrl-C, SIGTERM)
    /// ends the recording early with [`StopReason::Signal`], and the run goes on to the
    /// report.
    pub async fn run(
        self,
        cluster: &Cluster,
        observer: &mut dyn Observer,
        interrupt: impl Future<Output = ()>,
    ) -> Result<Outcome> {
        let client = &cluster.client;
        // Nothing is changed before the namespaces are known to be the run's to delete.
        let found = fleet::find_namespaces(client, &self.namespaces).await?;
        let plan = NamespacePlan::new(&found, self.config.replace_namespaces)?;
        // Fake nodes left by an earlier run are re-created, so the recording sees them start.
        // Nodes that are not KWOK fakes are never deleted.
        let existing = fleet::existing_nodes(client, &self.fleet).await?;
        let (recreate, real): (Vec<&Document>, Vec<&Document>) =
            existing.iter().partition(|document| fleet::is_kwok_fake(document));
        let recreated: Vec<String> = recreate.iter().map(|d| d.name().to_string()).collect();
        let created_nodes: Vec<String> = apply::node_names(&self.fleet)
            .into_iter()
            .filter(|name| !real.iter().any(|document| document.name() == name))
            .collect();
        observer.observe(Event::Plan {
            run_id: &self.run_id,
            namespaces: &plan.create,
            nodes: &created_nodes,
            keep: self.config.keep,
            stops_cluster: cluster.started_by_run.is_some(),
        });
        fleet::clear_namespaces(client, &plan, |removal| observer.observe(Event::RemovingNamespace(removal))).await?;
        if !recreated.is_empty() {
            observer.observe(Event::RecreatingFakeNodes { count: recreated.len() });
            fleet::delete_nodes_and_wait(client, &recreated).await?;
        }
        let outcome = match fleet::create_namespaces(client, &plan.create, &self.run_id).await {
            Ok(()) => self.record_and_report(cluster, observer, interrupt).await,
            Err(error) => Err(error.into()),
        };
        match outcome {
            Ok(outcome) => {
                if !self.config.keep {
                    self.tear_down(cluster, &created_nodes, observer).await?;
                }
                Ok(outcome)
            }
            Err(failed) if self.config.keep => Err(failed),
            Err(failed) => {
                observer.observe(Event::RemovingAfterFailure);
                match self.tear_down(cluster, &created_nodes, observer).await {
                    Ok(()) => Err(failed),
                    Err(teardown) => Err(RunnerError::TeardownAfterFailure {
                        failed: Box::new(failed),
                        teardown: Box::new(teardown),
                    }),
                }
            }
        }
    }

    /// From the start of the recording to the written report.
    async fn record_and_report(
        &self,
        cluster: &Cluster,
        observer: &mut dyn Observer,
        interrupt: impl Future<Output = ()>,
    ) -> Result<Outcome> {
        let run_dir = &self.config.run_dir;
        let settle = &self.config.scenario.settle;
        let mut recording_config = RecordingConfig::new(run_dir);
        recording_config.metrics = self.config.metrics.clone();
        if settle.decidable {
            // Decidability is read from the Parquet segments: they must hold every change by
            // the time the cluster is quiet.
            recording_config.store.segment_max_age = segment_age_for(Duration::from_secs(settle.quiet_secs));
        }
        let recording = Recording::start(cluster.client.clone(), cluster.info.clone(), recording_config)
            .map_err(|source| RunnerError::Start { run_dir: run_dir.clone(), source })?;
        let recording = RecordingGuard::new(recording);
        let (manifest, reason) = match self.drive(&cluster.client, recording.recording(), observer, interrupt).await {
            Ok(reason) => (recording.stop(reason.clone()).await.map_err(RunnerError::Stop)?, reason),
            Err(failed) => {
                return Err(match recording.stop(StopReason::Error).await {
                    Ok(_) => failed,
                    Err(source) => RunnerError::StopAfterFailure { failed: Box::new(failed), source },
                });
            }
        };
        observer.observe(Event::Recorded { manifest: &manifest, run_dir });

        std::fs::write(run_dir.join(RUN_SCENARIO_FILE), self.config.scenario.to_yaml())
            .map_err(|source| RunnerError::StoreScenario { run_dir: run_dir.clone(), source })?;
        let written = evident_report::write_report_with(run_dir, &self.config.scenario, &self.config.report).await?;
        if reason == StopReason::Duration {
            let undecided = if settle.decidable { undecided(&written) } else { Vec::new() };
            observer.observe(Event::NotSettled { timeout: Duration::from_secs(settle.timeout_secs), undecided });
        }
        observer.observe(Event::Reported { written: &written, run_dir });
        Ok(Outcome { manifest, written })
    }

    /// The part of a run that needs the recording: fleet, workloads, settling. Returns why
    /// the recording is to stop.
    async fn drive(
        &self,
        client: &Client,
        recording: &Recording,
        observer: &mut dyn Observer,
        interrupt: impl Future<Output = ()>,
    ) -> Result<StopReason> {
        settle::wait_synced(recording, SYNC_TIMEOUT).await?;
        let fleet_nodes = apply::node_names(&self.fleet);
        apply::apply(client, &self.fleet).await?;
        observer.observe(Event::FleetApplied { objects: self.fleet.len(), nodes: fleet_nodes.len() });
        apply::wait_nodes_ready(client, &fleet_nodes, FLEET_READY_TIMEOUT).await?;
        // Nodes that leave nvidia.com/gpu to a device plugin (the fake-gpu-operator) get it
        // seconds after they register: workloads applied before would see fewer GPUs.
        apply::wait_nodes_gpus(client, &apply::device_plugin_gpu_nodes(&self.fleet), FLEET_READY_TIMEOUT).await?;
        for document in &self.workloads {
            if !fleet::apply_in_order(client, document).await? {
                observer.observe(Event::PodNotScheduled { name: document.name(), waited: fleet::POD_DECISION_TIMEOUT });
            }
        }
        let settle = &self.config.scenario.settle;
        let quiet = Duration::from_secs(settle.quiet_secs);
        observer.observe(Event::WorkloadsApplied { objects: self.workloads.len(), quiet });
        let stop = StopWhen { duration: Some(Duration::from_secs(settle.timeout_secs)), until_quiet: Some(quiet) };
        let on_tick = |stats: &LiveStats| observer.observe(Event::Live(stats));
        if !settle.decidable {
            return Ok(settle::follow(recording, &stop, interrupt, on_tick).await);
        }
        let run_dir = &self.config.run_dir;
        let scenario = &self.config.scenario;
        let options = &self.config.report;
        let all_decided = || async move {
            // Nothing recorded yet: nothing decided, and no segment to read.
            if recording.stats().total_changes == 0 {
                return Ok(false);
            }
            let report = evident_report::evaluate_run_with(run_dir, scenario, options).await?;
            Ok::<_, RunnerError>(report.all_decided())
        };
        settle::follow_until(recording, &stop, interrupt, on_tick, all_decided).await
    }

    /// Stops the local cluster this run started, or else deletes the namespaces this run
    /// created (those labelled with its run id) and the nodes it created.
    async fn tear_down(&self, cluster: &Cluster, created_nodes: &[String], observer: &mut dyn Observer) -> Result<()> {
        if let Some(checkout) = &cluster.started_by_run {
            observer.observe(Event::StoppingLocalCluster);
            checkout.cluster_down()?;
            return Ok(());
        }
        let deleted = fleet::delete_run_namespaces(&cluster.client, &self.namespaces, &self.run_id).await?;
        fleet::delete_nodes(&cluster.client, created_nodes).await?;
        observer.observe(Event::RemovedCreated { namespaces: deleted.len(), nodes: created_nodes.len() });
        Ok(())
    }
}

/// The segment age of a recording whose decidability is read while it runs: half the quiet
/// period in whole seconds, between 1 s and the default, so every change is in a closed
/// segment by the time the cluster is quiet.
fn segment_age_for(quiet: Duration) -> Duration {
    let default = evident_recorder::config::StoreConfig::default().segment_max_age;
    // max then min, not clamp: clamp panics should the default ever drop below 1 s.
    Duration::from_secs(quiet.as_secs() / 2).max(Duration::from_secs(1)).min(default)
}

/// The expectations the report could not decide, as `#<row> <expectation>`.
fn undecided(written: &Written) -> Vec<String> {
    written
        .report
        .rows
        .iter()
        .flat_map(|row| row.checks.iter().map(move |check| (row.number, check)))
        .filter(|(_, check)| !check.outcome.decided)
        // One line each, whatever the spec's strings hold.
        .map(|(number, check)| format!("#{number} {}", check.expectation).replace(['\n', '\r'], " "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson1(run_dir: &Path) -> RunnerConfig {
        let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/scenarios/lesson1.yaml");
        let scenario = Scenario::load(&spec).unwrap();
        RunnerConfig::new(scenario, Scenario::base_dir(&spec), run_dir)
    }

    #[test]
    fn a_runner_reads_the_scenarios_manifests_before_touching_a_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let runner = ScenarioRunner::new(lesson1(&dir.path().join("lesson1"))).unwrap();
        assert!(!runner.fleet.is_empty() && runner.fleet.iter().any(|d| d.kind() == "Node"));
        assert!(runner.fleet.iter().filter(|d| d.kind() == "Node").all(fleet::is_kwok_fake));
        assert_eq!(runner.workloads.first().map(Document::kind), Some("Namespace"));
        assert_eq!(runner.namespaces, ["gpu-demo"]);
    }

    #[test]
    fn a_run_directory_that_holds_a_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("lesson1");
        std::fs::create_dir(&run_dir).unwrap();
        std::fs::write(layout::run_manifest_path(&run_dir), "{}").unwrap();
        let error = ScenarioRunner::new(lesson1(&run_dir)).unwrap_err();
        assert!(matches!(error, RunnerError::RunExists { .. }), "{error}");
        assert!(error.to_string().ends_with("already exists; pick another --run-id"), "{error}");
    }

    #[test]
    fn decidability_reads_segments_rolled_within_half_the_quiet_period() {
        assert_eq!(segment_age_for(Duration::from_secs(5)), Duration::from_secs(2));
        assert_eq!(segment_age_for(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(segment_age_for(Duration::from_secs(3600)), Duration::from_secs(10), "the default at most");
    }

    #[test]
    fn a_run_directory_whose_name_is_no_run_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in [".hidden", "spa ce", "-dash"] {
            let error = ScenarioRunner::new(lesson1(&dir.path().join(name))).unwrap_err();
            assert!(matches!(&error, RunnerError::RunId(invalid) if invalid.id == name), "{name}: {error}");
        }
        let error = ScenarioRunner::new(lesson1(&dir.path().join(".."))).unwrap_err();
        assert!(matches!(&error, RunnerError::RunId(invalid) if invalid.id.is_empty()), "..: {error}");
    }
}
