//! `evident run <scenario>`: the notebook's `phase1-up / phase1-demo / phase1-evidence` in
//! one command. Runs a scenario spec file, or a scenario built into evident by name, on the
//! cluster kubectl would use (or, with `--local`, on the checkout's local control plane, which
//! it brings up when it is down): hands it to `evident_runner::ScenarioRunner` (record, fleet,
//! workloads, settle, report, teardown) and prints what it tells; the exit code says whether
//! every expectation held.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use evident_report::Scenario;
use evident_runner::builtin::{self, BuiltinError, Extracted};
use evident_runner::{Checkout, Cluster, Event, RUN_LABEL, Removal, RunnerConfig, ScenarioRunner};

use crate::cluster;
use crate::cmd::record::default_run_id;
use crate::interrupt::interrupted;
use crate::status::{self, StatusLine};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario: a spec file (its fleet and workload paths are relative to it), or the name of
    /// a scenario built into evident (`evident scenarios` lists them, e.g. lesson1).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    /// Kubeconfig file [default: $KUBECONFIG (a list of files, merged as kubectl merges
    /// them), else ~/.kube/config].
    #[arg(long, value_name = "FILE", conflicts_with = "local")]
    pub kubeconfig: Option<PathBuf>,

    /// Kube context to use [default: the kubeconfig's current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Run on the local control plane of the evident checkout the working directory is in
    /// (hack/cluster.sh); when it is down, this run brings it up and stops it at the end
    /// (unless --keep). Never used without this flag.
    #[arg(long)]
    pub local: bool,

    /// Folder that holds runs: this one is written to <DIR>/<run id>/, its report included.
    #[arg(long, value_name = "DIR", default_value = "evidence")]
    pub out: PathBuf,

    /// Run id: the run's directory name under --out, and the value of the label
    /// evident.dev/run on the namespaces the run creates (default: k8s-<UTC date>-<time>).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Keep the cluster and the applied objects afterwards (default: remove what this run created).
    #[arg(long)]
    pub keep: bool,

    /// Delete and re-create namespaces of the scenario that exist and were not created by
    /// evident run, with everything in them (default: such a namespace stops the run, exit 2).
    #[arg(long)]
    pub replace_namespaces: bool,

    /// Folder of <name>.sql files to run instead of the built-in named queries of the same
    /// name; the report says which were replaced [default: the queries built into evident,
    /// whatever the working directory holds].
    #[arg(long, value_name = "DIR", env = evident_query::named_query::QUERIES_ENV)]
    pub queries: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: crate::cmd::record::MetricsArgs,

    /// No live status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let (spec, _extracted) = resolve_scenario(&args.scenario)?;
    let scenario = Scenario::load(&spec).map_err(|error| anyhow::anyhow!(error.lines().join("; ")))?;
    let run_id = args.run_id.clone().unwrap_or_else(default_run_id);
    let run_dir = evident_core::layout::run_dir(&args.out, &run_id)?;
    let mut config = RunnerConfig::new(scenario, Scenario::base_dir(&spec), run_dir);
    config.metrics = args.metrics.config()?;
    config.keep = args.keep;
    config.replace_namespaces = args.replace_namespaces;
    config.report = evident_report::ReportOptions::default()
        .with_queries(evident_report::QuerySet::from_option(args.queries.as_deref())?);
    let scenario_name = config.scenario.name.clone();
    let runner = ScenarioRunner::new(config)?;

    let (kubeconfig, started_by_run) = if args.local {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let checkout = Checkout::find(&cwd)?;
        let was_up = checkout.control_plane_is_up()?;
        if !was_up {
            eprintln!("--local: bringing up the local cluster (hack/cluster.sh up)");
        }
        // Also on a running cluster: `up` restarts a crashed GPU-operator process. Only a
        // cluster this run created is taken down at its end.
        checkout.cluster_up()?;
        (Some(checkout.cluster_kubeconfig()?), (!was_up).then_some(checkout))
    } else {
        (args.kubeconfig.clone(), None)
    };
    let (client, info) = cluster::connect(kubeconfig.as_deref(), args.context.as_deref()).await?;
    eprintln!("run {run_id}: scenario {scenario_name} on {} (Kubernetes {})", info.server, info.server_version);

    let cluster = Cluster { client, info, started_by_run };
    let mut terminal = Terminal { status_line: StatusLine::new(!args.quiet) };
    let outcome = runner.run(&cluster, &mut |event: Event<'_>| terminal.show(event), interrupted()).await?;
    Ok(if outcome.all_passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The spec file `evident run` was given, or a built-in scenario's, extracted into a
/// temporary folder that lives as long as the returned handle. A path that exists is a spec
/// file; a bare name that does not is a built-in scenario.
fn resolve_scenario(given: &Path) -> anyhow::Result<(PathBuf, Option<Extracted>)> {
    if given.is_dir() {
        anyhow::bail!(
            "{} is a folder; pass a scenario spec file in it (e.g. {})",
            given.display(),
            given.join("scenarios/lesson1.yaml").display()
        );
    }
    if given.exists() {
        return Ok((given.to_path_buf(), None));
    }
    let bare_name = given.components().count() == 1 && given.extension().is_none();
    match given.to_str() {
        Some(name) if bare_name => match builtin::extract(name) {
            Ok(extracted) => Ok((extracted.spec().to_path_buf(), Some(extracted))),
            Err(error @ BuiltinError::Unknown { .. }) => {
                anyhow::bail!("scenario {name}: no such file, and {error}")
            }
            Err(error) => Err(error.into()),
        },
        _ => anyhow::bail!(
            "scenario spec {} not found (a built-in scenario is named without a path or .yaml; see `evident scenarios`)",
            given.display()
        ),
    }
}

/// Prints a run's events: messages on stderr, the report's rows on stdout, and the live
/// status line while the recording is followed.
struct Terminal {
    status_line: StatusLine,
}

impl Terminal {
    fn show(&mut self, event: Event<'_>) {
        if let Event::Live(stats) = event {
            self.status_line.update(stats);
            return;
        }
        self.status_line.finish();
        match event {
            Event::Plan { run_id, namespaces, nodes, keep, stops_cluster } => {
                let created = describe_created(namespaces, nodes, run_id);
                if keep {
                    eprintln!("this run creates {created}; --keep: they are left in place at the end");
                } else if stops_cluster {
                    eprintln!(
                        "this run creates {created}; at the end it stops the local cluster it started (--keep keeps it)"
                    );
                } else {
                    eprintln!("this run creates {created}, and deletes them at the end (--keep keeps them)");
                }
            }
            Event::RemovingNamespace(Removal::LeftByRun { name, run }) => {
                eprintln!("deleting namespace {name}, left by evident run {run}")
            }
            Event::RemovingNamespace(Removal::Replaced { name }) => {
                eprintln!("deleting namespace {name} and everything in it (--replace-namespaces)")
            }
            Event::RemovingNamespace(Removal::Terminating { name }) => {
                eprintln!("waiting for namespace {name}, which is being deleted")
            }
            Event::RecreatingFakeNodes { count } => eprintln!(
                "fleet: re-creating {count} fake node(s) left by an earlier run, so the recording sees them start"
            ),
            Event::FleetApplied { objects, nodes } => {
                eprintln!("fleet: applied {objects} object(s); waiting for {nodes} node(s) to be ready")
            }
            Event::PodNotScheduled { name, waited } => {
                eprintln!("warning: pod {name} was not scheduled within {}s; continuing", waited.as_secs())
            }
            Event::WorkloadsApplied { objects, quiet } => {
                eprintln!("workloads: applied {objects} object(s); waiting until quiet for {}s", quiet.as_secs())
            }
            Event::Recorded { manifest, run_dir } => eprintln!("{}", status::summary(manifest, run_dir)),
            Event::NotSettled { timeout, undecided } if undecided.is_empty() => eprintln!(
                "warning: the cluster did not settle within {}s; reporting what was recorded",
                timeout.as_secs()
            ),
            Event::NotSettled { timeout, undecided } => eprintln!(
                "warning: settle timeout: after {}s the recording still cannot decide {} expectation(s): {}; reporting what was recorded",
                timeout.as_secs(),
                undecided.len(),
                undecided.join("; ")
            ),
            Event::Reported { written, run_dir } => {
                for row in &written.report.rows {
                    let verdict = if row.passed() { "PASS" } else { "FAIL" };
                    let safe = evident_query::format::terminal_safe;
                    println!(
                        "{verdict}  {}  {}: expected {}; observed {}",
                        row.number,
                        safe(&row.title),
                        safe(&row.expected),
                        safe(&row.observed)
                    );
                }
                println!(
                    "{} passed, {} failed; report: {}",
                    written.summary.passed,
                    written.summary.failed,
                    run_dir.join(evident_report::REPORT_MD).display()
                );
            }
            Event::StoppingLocalCluster => {
                eprintln!("stopping the local cluster this run started (use --keep to keep it)")
            }
            Event::RemovedCreated { namespaces, nodes } => eprintln!(
                "removed what this run created ({namespaces} namespace(s), {nodes} node(s)); use --keep to keep them"
            ),
            Event::RemovingAfterFailure => {
                eprintln!("the run failed; removing what it created (--keep keeps it)")
            }
            _ => {}
        }
    }
}

/// `namespace(s) a, b (label evident.dev/run=<id>) and 2 node(s) of the fleet (x, y)`.
fn describe_created(namespaces: &[String], nodes: &[String], run_id: &str) -> String {
    let mut parts = Vec::new();
    if !namespaces.is_empty() {
        parts.push(format!("namespace(s) {} (label {RUN_LABEL}={run_id})", namespaces.join(", ")));
    }
    if !nodes.is_empty() {
        parts.push(format!("{} node(s) of the fleet ({})", nodes.len(), nodes.join(", ")));
    }
    if parts.is_empty() {
        return "nothing".to_string();
    }
    parts.join(" and ")
}
