//! `evident report`: rebuilds the lab report of a recorded run from the recording alone.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directory to report on [default: the newest run under evidence/, searched from the
    /// working directory upward].
    pub run: Option<PathBuf>,

    /// Scenario spec to check the run against [default: <run>/scenario.yaml, stored by `evident run`].
    #[arg(long, value_name = "SPEC")]
    pub scenario: Option<PathBuf>,
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let run = match args.run {
        Some(run) => run,
        None => {
            let cwd = std::env::current_dir().context("cannot read the working directory")?;
            let evidence = evident_query::run_set::find_upward(&cwd, evident_query::run_set::EVIDENCE_DIR)
                .with_context(|| {
                    format!("no evidence/ directory in {} or above it; pass the run directory", cwd.display())
                })?;
            evident_query::run_set::newest_run_dir(&evidence)?
        }
    };
    if let Some(warning) = crate::status::unrecovered_warning(&run) {
        eprintln!("{warning}");
    }
    let scenario = match evident_report::scenario_of_run(&run, args.scenario.as_deref()) {
        Ok(scenario) => scenario,
        Err(evident_report::Error::Scenario(error)) => {
            for line in error.lines() {
                eprintln!("error: {line}");
            }
            return Ok(ExitCode::from(2));
        }
        Err(error) => return Err(error.into()),
    };
    let written = evident_report::write_report(&run, &scenario).await?;
    for row in &written.report.rows {
        println!(
            "{} {:>2}. {} | expected: {} | observed: {}",
            if row.passed() { "PASS" } else { "FAIL" },
            row.number,
            row.title,
            row.expected,
            row.observed
        );
    }
    let summary = written.summary;
    println!(
        "{} passed, {} failed; report: {}",
        summary.passed,
        summary.failed,
        run.join(evident_report::REPORT_MD).display()
    );
    Ok(if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
