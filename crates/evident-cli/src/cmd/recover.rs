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

    if report.is_noop() {
        println!("{}: nothing to recover (next seq {})", run_dir.display(), report.next_seq);
    } else {
        println!(
            "{}: recovered {} record(s) into {} file(s), {} already in Parquet, dropped {} damaged record(s) ({} bytes), removed {} unfinished file(s); next seq {}",
            run_dir.display(),
            report.records_recovered,
            report.segments_written.len(),
            report.records_already_durable,
            report.records_dropped,
            report.bytes_dropped,
            report.inprogress_removed.len(),
            report.next_seq
        );
    }
    if !report.metrics.is_noop() {
        println!("{}: {}", run_dir.display(), report.metrics.detail());
    }
    for file in &report.metrics.quarantined {
        eprintln!("warning: metrics write-ahead log damaged before its end; kept as {} for inspection", file.display());
    }
    for damage in report.damage.iter().filter(|damage| damage.quarantined) {
        eprintln!(
            "warning: {} is damaged before its end ({}); kept as {}.damaged for inspection",
            damage.file.display(),
            damage.damage.as_str(),
            damage.file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
