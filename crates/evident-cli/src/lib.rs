//! The `evident` binary: argument parsing, terminal output and exit codes. The work itself
//! lives in the library crates (`evident run`'s orchestration, and when any recording stops,
//! in evident-runner); nothing below this crate prints to the terminal.
//!
//! Exit codes: 0 success (and every expectation passed), 1 an expectation failed,
//! 2 a usage or environment error, reported as one line on stderr.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::LazyLock;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

mod cluster;
mod cmd;
mod duration;
mod interrupt;
mod log;
mod status;

/// Records what a Kubernetes cluster does during scheduling experiments and turns the
/// recording into evidence: SQL you can ask, and a lab report CI can check.
///
/// evident watches every Node, Pod and Event change of a cluster into an append-only Parquet
/// log. `evident run` brings a scenario (fleet, workloads, expectations) up on a cluster,
/// records it until it settles and writes the report (Markdown, HTML, JUnit) with PASS/FAIL
/// per expectation; `evident query` and `evident report` work on the recording alone.
///
/// The cluster is chosen as kubectl chooses it: --kubeconfig, else KUBECONFIG (a list of
/// files), else ~/.kube/config, and --context. Nothing is started unless asked (`evident run
/// --local` in an evident checkout).
#[derive(Debug, Parser)]
#[command(
    name = "evident",
    propagate_version = true,
    after_help = "Start here:\n  \
        evident scenarios                 list the built-in scenarios\n  \
        evident run lesson1               run one on the current cluster, write the report under ./evidence\n  \
        evident init my-scenario          write a scenario folder to edit, then: evident run my-scenario/scenarios/lesson1.yaml\n  \
        evident query --list              the named queries"
)]
struct Cli {
    /// Log filter for diagnostics on stderr (e.g. `debug`, `evident_recorder=trace`; kube's own
    /// request failures only when it names `kube_client`), one line per event, coloured only on
    /// a terminal and never with NO_COLOR set.
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
    /// Bring a scenario up on a cluster, record it until it settles, and write its report.
    Run(cmd::run::Args),
    /// List the scenarios built into evident (`evident run <name>` runs one).
    Scenarios(cmd::scenarios::Args),
    /// Write a starter scenario folder (spec, fleet and workloads) to edit and run.
    Init(cmd::init::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::Args),
    /// Print evident's man page (roff), generated from the same definition as --help.
    Man(cmd::man::Args),
}

/// What `--version` prints after the name: the tool's version, and the versions of what it
/// writes, which a reader of a run checks against (`run.json` and every Parquet file carry them).
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (change-log schema {}, metrics schema {}, redaction policy {})",
        env!("CARGO_PKG_VERSION"),
        evident_core::schema::SCHEMA_VERSION,
        evident_core::metric::SCHEMA_VERSION,
        evident_core::redact::POLICY_VERSION
    )
});

/// The command-line definition: what parsing, `--help`, completions and the man page share.
fn command() -> clap::Command {
    Cli::command().version(VERSION.as_str())
}

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    log::init(&cli.log, std::io::stderr().is_terminal());
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
            Command::Scenarios(args) => cmd::scenarios::execute(args),
            Command::Init(args) => cmd::init::execute(args),
            Command::Completions(args) => cmd::completions::execute(args, command()),
            Command::Man(args) => cmd::man::execute(args, command()),
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            let error: &(dyn std::error::Error + 'static) = error.as_ref();
            eprintln!("error: {}", log::error_line(error));
            ExitCode::from(2)
        }
    }
}
