//! The `evident` binary: argument parsing, terminal output and exit codes. The work itself
//! lives in the library crates (`evident run`'s orchestration, and when any recording stops,
//! in evident-runner); nothing below this crate prints to the terminal.
//!
//! Exit codes: 0 success (and every expectation passed), 1 an expectation failed,
//! 2 a usage or environment error, reported as one line on stderr.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster;
mod cmd;
mod duration;
mod interrupt;
mod status;

/// Records what a Kubernetes cluster does during scheduling experiments and turns the
/// recording into evidence: SQL you can ask, and a lab report CI can check.
#[derive(Debug, Parser)]
#[command(name = "evident", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter for diagnostics on stderr (e.g. `debug`, `evident_recorder=trace`).
    #[arg(long, global = true, env = "EVIDENT_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record every Node, Pod and Event change of a cluster into a run directory.
    Record(cmd::record::Args),
    /// Turn the write-ahead log tail of a crashed recording into Parquet.
    Recover(cmd::recover::Args),
    /// Run SQL over one recorded run or many.
    Query(cmd::query::Args),
    /// Build the lab report of a recorded run from the recording alone.
    Report(cmd::report::Args),
    /// Bring a scenario up, record it until it settles, and write its report.
    Run(cmd::run::Args),
}

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Record(args) => cmd::record::execute(args).await,
            Command::Recover(args) => cmd::recover::execute(args).await,
            Command::Query(args) => cmd::query::execute(args).await,
            Command::Report(args) => cmd::report::execute(args).await,
            Command::Run(args) => cmd::run::execute(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(2)
        }
    }
}

/// An error chain as one line: `what failed: why: root cause`.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
