//! `evident record`: watch a cluster and write its changes into a run directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use evident_core::Kind;
use evident_recorder::recording::{MetricsConfig, Recording, RecordingConfig};
use evident_runner::settle::{self, StopWhen};

use crate::cluster;
use crate::duration::parse_duration;
use crate::interrupt::interrupted;
use crate::status::{self, StatusLine};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kube context to use (default: the kubeconfig's current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Record pods and events of these namespaces only (repeat or comma-separate; default: all).
    #[arg(short = 'n', long = "namespace", value_name = "NS", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Folder that holds runs.
    #[arg(long, value_name = "DIR", default_value = "evidence")]
    pub out: PathBuf,

    /// Run id: the run's directory name under --out (default: k8s-<UTC date>-<time>).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Stop after this long (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop once no change was seen for this long, after the first list (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub until_quiet: Option<Duration>,

    /// Roll a Parquet segment after this many rows of one table.
    #[arg(long, value_name = "ROWS", default_value_t = 50_000)]
    pub segment_rows: usize,

    /// Roll a Parquet segment after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub segment_age: Duration,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// No live status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// GPU metrics scraping, shared by `record` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    /// Also scrape this Prometheus text endpoint (plain http://, e.g. dcgm-exporter's
    /// http://<node>:9400/metrics) into the run's `metrics` table; repeat for several.
    #[arg(long = "metrics", value_name = "URL")]
    pub endpoints: Vec<String>,

    /// Time between two scrapes of each --metrics endpoint (e.g. 1s, 5s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub metrics_interval: Duration,
}

impl MetricsArgs {
    /// The recording's metrics settings; fails with one line on an unusable URL or interval.
    pub fn config(&self) -> anyhow::Result<MetricsConfig> {
        anyhow::ensure!(
            self.metrics_interval >= Duration::from_millis(100),
            "--metrics-interval must be at least 100ms"
        );
        for url in &self.endpoints {
            evident_recorder::scrape::Endpoint::parse(url)?;
        }
        Ok(MetricsConfig { endpoints: self.endpoints.clone(), interval: self.metrics_interval })
    }
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let run_id = args.run_id.clone().unwrap_or_else(default_run_id);
    let run_dir = evident_core::layout::run_dir(&args.out, &run_id)?;
    let metrics = args.metrics.config()?;
    let (client, info) = cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let mut config = RecordingConfig::new(&run_dir);
    config.namespaces = args.namespaces.clone();
    config.kinds = Kind::ALL.to_vec();
    config.store.segment_max_rows = args.segment_rows;
    config.store.segment_max_age = args.segment_age;
    config.metrics = metrics;
    let recording = Recording::start(client, info.clone(), config)
        .with_context(|| format!("cannot record into {}", run_dir.display()))?;
    let recovered = recording.recovery();
    if !recovered.is_noop() {
        eprintln!(
            "resumed {}: recovered {} change(s) from the write-ahead log, dropped {} damaged record(s)",
            run_dir.display(),
            recovered.changes.records_recovered,
            recovered.changes.records_dropped
        );
    }
    eprintln!("recording {} (Kubernetes {}) into {}", info.server, info.server_version, run_dir.display());
    let stop = StopWhen { duration: args.duration, until_quiet: args.until_quiet };
    let mut status_line = StatusLine::new(!args.quiet);
    // A failed write ends the recording at once, as an interrupt would; `stop` then returns
    // the failure (with the path and the cause), which exits 2.
    let interrupted_or_failed = async {
        tokio::select! {
            _ = interrupted() => {}
            _ = recording.failed() => {}
        }
    };
    let reason = settle::follow(&recording, &stop, interrupted_or_failed, |stats| status_line.update(stats)).await;
    status_line.finish();
    let manifest = recording.stop(reason).await.with_context(|| format!("recording {} stopped", run_dir.display()))?;
    eprintln!("{}", status::summary(&manifest, &run_dir));
    Ok(ExitCode::SUCCESS)
}

/// `k8s-YYYYMMDD-HHMMSS` in UTC, as in the reference notebook.
pub fn default_run_id() -> String {
    chrono::Utc::now().format("k8s-%Y%m%d-%H%M%S").to_string()
}
