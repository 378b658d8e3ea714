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
//! Each file is written to a temporary file of its own in the run directory, flushed to disk,
//! renamed over its name, and the directory is flushed after the last rename, so a crash while
//! writing leaves the previous version or the new one of each file, never half a file. File
//! names made from recorded or scenario names are one plain name in the run directory, whatever
//! they hold ([`evidence::describe_file_name`], [`safe_file_name`]), named once in
//! [`evidence`] for both the files and the report's Evidence column.
//!
//! The named queries the report runs are those embedded in the binary, whatever the working
//! directory holds; [`ReportOptions::queries`] replaces them only when given (`evident report
//! --queries <dir>`), and the report then says which queries came from where (an Environment
//! row and the first note).
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
mod html_text;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod observation;
pub mod pending;
pub mod plot;
pub mod scenario;
pub mod timeline;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use evaluate::Outcome;
pub use evidence::safe_file_name;
pub use evident_query::QuerySet;
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
    /// The named queries could not be loaded (`--queries <dir>`).
    #[error(transparent)]
    Queries(#[from] evident_query::named_query::NamedQueryError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`write_report`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub summary: Summary,
    /// Every file written, in the run directory or [`ReportOptions::out_dir`].
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
        return Ok(Scenario::load_for_report(spec)?);
    }
    let recorded = run_dir.join(RUN_SCENARIO_FILE);
    if !recorded.is_file() {
        return Err(Error::NoScenario { run: run_dir.to_path_buf() });
    }
    Ok(Scenario::load_recorded(&recorded)?)
}

/// How a report is built.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The named queries the report runs [default: [`QuerySet::embedded`], the ones compiled
    /// into the binary]. Built with [`QuerySet::with_dir`], the report says which ones came
    /// from the folder.
    pub queries: QuerySet,
    /// Where the report and evidence files are written [default: `None`, into the run
    /// directory]. Created when missing; the report's Evidence directory names it.
    pub out_dir: Option<PathBuf>,
}

impl ReportOptions {
    /// Runs the named queries of `queries` instead of the embedded ones.
    pub fn with_queries(mut self, queries: QuerySet) -> Self {
        self.queries = queries;
        self
    }

    /// Writes the outputs into `dir` instead of the run directory, which is then only read.
    pub fn with_out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }
}

/// Checks the scenario against the run without writing anything (what `evident run` polls
/// when the spec asks to wait until every expectation is decidable).
pub async fn evaluate_run(run_dir: &Path, scenario: &Scenario) -> Result<Report> {
    evaluate_run_with(run_dir, scenario, &ReportOptions::default()).await
}

/// [`evaluate_run`] with options.
pub async fn evaluate_run_with(run_dir: &Path, scenario: &Scenario, options: &ReportOptions) -> Result<Report> {
    let observations = RunObservations::load_with(run_dir, &options.queries).await?;
    let mut report = Report::build(scenario, &observations);
    mark_query_overrides(&mut report, &options.queries);
    Ok(report)
}

/// Builds the report of a run and writes every output into the run directory.
pub async fn write_report(run_dir: &Path, scenario: &Scenario) -> Result<Written> {
    write_report_with(run_dir, scenario, &ReportOptions::default()).await
}

/// [`write_report`] with options (`evident report --queries <dir> --out <dir>`; `evident run`
/// passes the same).
pub async fn write_report_with(run_dir: &Path, scenario: &Scenario, options: &ReportOptions) -> Result<Written> {
    let observations = RunObservations::load_with(run_dir, &options.queries).await?;
    let mut report = Report::build(scenario, &observations);
    mark_query_overrides(&mut report, &options.queries);
    let out_dir = match &options.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|source| evidence::EvidenceError::Write { path: dir.clone(), source })?;
            report.set_evidence_directory(dir);
            dir.as_path()
        }
        None => run_dir,
    };
    let namespaces: Vec<String> = scenario.namespaces().into_iter().collect();
    let mut outputs = evidence::evidence_files(&observations, &namespaces);
    for output in &mut outputs {
        // The evidence files read like kubectl's output and are read on terminals: recorded
        // text in them gets kubectl's escaping of terminal controls.
        if let std::borrow::Cow::Owned(text) = evident_query::format::terminal_safe_lines(&output.text) {
            output.text = text;
        }
    }
    outputs.push(evidence::EvidenceFile { name: REPORT_MD.into(), text: markdown::render(&report) });
    outputs.push(evidence::EvidenceFile { name: REPORT_HTML.into(), text: html::render(&report) });
    outputs.push(evidence::EvidenceFile { name: JUNIT_XML.into(), text: junit::render(&report) });
    write_durably(out_dir, &outputs)?;
    // The Evidence column says `(not written)` too; the log tells whoever runs it.
    for (row, evidence) in report.rows.iter().flat_map(|row| row.evidence.iter().map(move |file| (row, file))) {
        if let Some(file) = evidence.strip_suffix(model::NOT_WRITTEN) {
            tracing::warn!(scenario = row.number, file = %file, "an evidence file named by the scenario was not produced");
        }
    }
    Ok(Written {
        summary: report.summary(),
        files: outputs.iter().map(|output| out_dir.join(&output.name)).collect(),
        report,
    })
}

/// When named queries were overridden, says so where a reader looks: an Environment row and
/// the first note.
fn mark_query_overrides(report: &mut Report, queries: &QuerySet) {
    let Some(dir) = queries.dir() else { return };
    let names: Vec<&str> = queries.overridden().iter().map(|query| query.name.as_str()).collect();
    let which = if names.is_empty() { "none of the report's".to_string() } else { names.join(", ") };
    report.environment.push((
        "Named queries".into(),
        format!("overridden by --queries {}: {which} (the others built in)", dir.display()),
    ));
    report.notes.insert(
        0,
        format!(
            "This report ran named queries from {} instead of the built-in ones ({which}); its numbers and verdicts \
             may differ from a report with the queries of this evident version.",
            dir.display()
        ),
    );
}

/// Writes each output through its own temporary file in `dir` (flushed to disk, then renamed
/// over the output's name), then flushes the directory, so the renames survive a crash too.
fn write_durably(dir: &Path, outputs: &[evidence::EvidenceFile]) -> Result<()> {
    for output in outputs {
        let path = dir.join(&output.name);
        let error = |source| evidence::EvidenceError::Write { path: path.clone(), source };
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{}.", output.name))
            .suffix(".tmp-evident")
            .tempfile_in(dir)
            .map_err(error)?;
        file.write_all(output.text.as_bytes()).map_err(error)?;
        file.as_file().sync_all().map_err(error)?;
        file.persist(&path).map_err(|persist| error(persist.error))?;
    }
    let error = |source| evidence::EvidenceError::Write { path: dir.to_path_buf(), source };
    std::fs::File::open(dir).and_then(|handle| handle.sync_all()).map_err(error)?;
    Ok(())
}

impl Report {
    /// Whether the recording decides every expectation (see [`Outcome::decided`]).
    pub fn all_decided(&self) -> bool {
        self.rows.iter().flat_map(|row| &row.checks).all(|check| check.outcome.decided)
    }
}
