//! The lab report of a recorded run: a scenario's expectations checked against the
//! recording, rendered as Markdown, a self-contained HTML page with plots, JUnit XML, and the
//! notebook's evidence files.
//!
//! Data flows one way: the run directory is read only through SQL ([`observation`], via
//! evident-query), a [`model::Report`] is computed once, and the renderers turn it into text.
//! Nothing here talks to a cluster, so a report can be rebuilt at any time from the recording
//! alone; rebuilding overwrites the previous outputs.
//!
//! Files written into the run directory:
//!
//! ```text
//! report.md  report.html  junit.xml
//! gpu-allocatable.txt  pods-<namespace>.txt  pending-pods.txt  describe-pod-<namespace>_<pod>.txt
//! ```
//!
//! Each file is written to a temporary name and renamed, so a crash while writing leaves the
//! previous version or the new one, never half a file.
//!
//! ```no_run
//! # async fn demo() -> evident_report::Result<()> {
//! let run = std::path::Path::new("evidence/k8s-20260614-153951");
//! let scenario = evident_report::scenario_of_run(run, None)?;
//! let written = evident_report::write_report(run, &scenario).await?;
//! assert!(written.summary.all_passed());
//! # Ok(()) }
//! ```

pub mod cause;
mod decode;
pub mod evaluate;
pub mod evidence;
pub mod gpu_metrics;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod observation;
pub mod plot;
pub mod scenario;
pub mod timeline;

use std::path::{Path, PathBuf};

pub use evaluate::Outcome;
pub use model::{Report, Summary};
pub use observation::RunObservations;
pub use scenario::{Expectation, RUN_SCENARIO_FILE, Scenario, ScenarioError};

/// Names of the report files in the run directory.
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";
pub const JUNIT_XML: &str = "junit.xml";

/// Any error of building a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario spec is unreadable or invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The run directory does not exist.
    #[error("run directory {run} does not exist")]
    RunNotFound { run: PathBuf },
    /// The run has no recorded scenario and none was given.
    #[error("run {run} has no scenario.yaml: pass the scenario spec with --scenario <file>")]
    NoScenario { run: PathBuf },
    /// Reading the recording failed.
    #[error(transparent)]
    Observation(#[from] observation::ObservationError),
    /// Writing an output file failed.
    #[error(transparent)]
    Write(#[from] evidence::EvidenceError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`write_report`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub summary: Summary,
    /// Every file written, in the run directory.
    pub files: Vec<PathBuf>,
    pub report: Report,
}

/// The scenario to report on: `override_spec` when given, else the copy `evident run` stored
/// in the run directory.
pub fn scenario_of_run(run_dir: &Path, override_spec: Option<&Path>) -> Result<Scenario> {
    if !run_dir.is_dir() {
        return Err(Error::RunNotFound { run: run_dir.to_path_buf() });
    }
    if let Some(spec) = override_spec {
        return Ok(Scenario::load(spec)?);
    }
    let recorded = run_dir.join(RUN_SCENARIO_FILE);
    if !recorded.is_file() {
        return Err(Error::NoScenario { run: run_dir.to_path_buf() });
    }
    Ok(Scenario::load(&recorded)?)
}

/// Checks the scenario against the run without writing anything (what `evident run` polls
/// when the spec asks to wait until every expectation is decidable).
pub async fn evaluate_run(run_dir: &Path, scenario: &Scenario) -> Result<Report> {
    let observations = RunObservations::load(run_dir).await?;
    Ok(Report::build(scenario, &observations))
}

/// Builds the report of a run and writes every output into the run directory.
pub async fn write_report(run_dir: &Path, scenario: &Scenario) -> Result<Written> {
    let observations = RunObservations::load(run_dir).await?;
    let report = Report::build(scenario, &observations);
    let namespaces: Vec<String> = scenario.namespaces().into_iter().collect();
    let mut outputs = evidence::evidence_files(&observations, &namespaces);
    outputs.push(evidence::EvidenceFile { name: REPORT_MD.into(), text: markdown::render(&report) });
    outputs.push(evidence::EvidenceFile { name: REPORT_HTML.into(), text: html::render(&report) });
    outputs.push(evidence::EvidenceFile { name: JUNIT_XML.into(), text: junit::render(&report) });
    evidence::write_files(run_dir, &outputs)?;
    // The Evidence column says `(not written)` too; the log tells whoever runs it.
    for (row, evidence) in report.rows.iter().flat_map(|row| row.evidence.iter().map(move |file| (row, file))) {
        if let Some(file) = evidence.strip_suffix(model::NOT_WRITTEN) {
            tracing::warn!(scenario = row.number, file = %file, "an evidence file named by the scenario was not produced");
        }
    }
    Ok(Written {
        summary: report.summary(),
        files: outputs.iter().map(|output| run_dir.join(&output.name)).collect(),
        report,
    })
}

impl Report {
    /// Whether the recording decides every expectation (see [`Outcome::decided`]).
    pub fn all_decided(&self) -> bool {
        self.rows.iter().flat_map(|row| &row.checks).all(|check| check.outcome.decided)
    }
}
