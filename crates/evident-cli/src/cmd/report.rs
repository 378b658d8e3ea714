//! `evident report`: rebuilds the lab report of a recorded run from the recording alone.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use evident_query::format::terminal_safe;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directory to report on [default: the newest run under evidence/, searched from the
    /// working directory upward].
    pub run: Option<PathBuf>,

    /// Scenario spec to check the run against [default: <run>/scenario.yaml, stored by `evident run`].
    #[arg(long, value_name = "SPEC")]
    pub scenario: Option<PathBuf>,

    /// Folder of <name>.sql files to run instead of the built-in named queries of the same
    /// name; the report says which were replaced [default: the queries built into evident,
    /// whatever the working directory holds].
    #[arg(long, value_name = "DIR", env = evident_query::named_query::QUERIES_ENV)]
    pub queries: Option<PathBuf>,

    /// Folder to write the report and evidence files into, created when missing; the run
    /// directory is then only read [default: the run directory, whose earlier report is
    /// replaced].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    let queries = evident_report::QuerySet::from_option(args.queries.as_deref())?;
    let mut options = evident_report::ReportOptions::default().with_queries(queries);
    if let Some(out) = &args.out {
        options = options.with_out_dir(out);
    }
    let written = evident_report::write_report_with(&run, &scenario, &options).await?;
    for row in &written.report.rows {
        // Observed text is the cluster's: printed with its terminal controls made visible.
        println!(
            "{} {:>2}. {} | expected: {} | observed: {}",
            if row.passed() { "PASS" } else { "FAIL" },
            row.number,
            terminal_safe(&row.title),
            terminal_safe(&row.expected),
            terminal_safe(&row.observed)
        );
    }
    if let Some(dir) = options.queries.dir() {
        eprintln!("note: named queries from {} replaced the built-in ones; the report says so", dir.display());
    }
    let summary = written.summary;
    println!(
        "{} passed, {} failed; report: {}",
        summary.passed,
        summary.failed,
        args.out.as_deref().unwrap_or(&run).join(evident_report::REPORT_MD).display()
    );
    Ok(if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
