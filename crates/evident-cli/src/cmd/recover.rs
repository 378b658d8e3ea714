//! `evident recover <run-dir>`: folds the write-ahead log a crashed recording left behind
//! into Parquet, so the run can be queried. Safe to run any number of times.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directory to recover (e.g. `evidence/k8s-20260614-153951`).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let run_dir = args.run_dir;
    let report = tokio::task::spawn_blocking({
        let run_dir = run_dir.clone();
        move || evident_recorder::recover(&run_dir)
    })
    .await
    .context("the recovery task stopped unexpectedly")?
    .context("recovery failed")?;

    let changes = &report.changes;
    if report.is_noop() {
        println!("{}: nothing to recover (next seq {})", run_dir.display(), changes.next_seq);
    } else {
        println!(
            "{}: recovered {} record(s) into {} file(s), {} already in Parquet, dropped {} damaged record(s) ({} bytes), removed {} unfinished file(s); next seq {}",
            run_dir.display(),
            changes.records_recovered,
            changes.segments_written.len(),
            changes.records_already_durable,
            changes.records_dropped,
            changes.bytes_dropped,
            changes.inprogress_removed.len(),
            changes.next_seq
        );
    }
    if !report.metrics.is_noop() {
        println!(
            "{}: metrics: recovered {} scrape(s) into {} file(s), {} already in Parquet, dropped {} damaged record(s) ({} bytes), removed {} unfinished file(s); next scrape seq {}",
            run_dir.display(),
            report.metrics.records_recovered,
            report.metrics.segments_written.len(),
            report.metrics.records_already_durable,
            report.metrics.records_dropped,
            report.metrics.bytes_dropped,
            report.metrics.inprogress_removed.len(),
            report.metrics.next_seq
        );
    }
    for (_, table) in report.tables() {
        for damage in table.damage.iter().filter(|damage| damage.quarantined) {
            eprintln!(
                "warning: {} is damaged before its end ({}); kept as {}.damaged for inspection",
                damage.file.display(),
                damage.damage.as_str(),
                damage.file.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
