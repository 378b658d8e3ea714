//! A recording: the watches of every recorded kind feeding one change store.
//!
//! Threads: each watch is a tokio task; the store lives on one dedicated OS thread (its file
//! IO and fsyncs never block the async runtime). Watches send observations over an unbounded
//! channel; the store thread appends them in arrival order, which defines `seq`, and calls
//! [`ChangeStore::tick`] at least every 100 ms so the WAL is fsynced on time even when the
//! cluster is quiet.
//!
//! Metrics: each `--metrics` endpoint is scraped by its own tokio task ([`crate::scrape`]),
//! which sends every outcome over the same channel; the store thread appends answered scrapes
//! to the [`MetricStore`] and counts failures in the manifest, and lists every metrics segment
//! in `run.json` (the manifest is owned by the change store, on this thread).
//!
//! Stopping: [`Recording::stop`] aborts the watches and scrapers, lets the store drain what it
//! already received, then closes it (final segments, WAL cleanup, manifest);
//! [`Recording::stop_blocking`] does the same for code that cannot await (a drop guard). A
//! recording is stopped at most once: both consume it. A crash instead leaves the WALs, which
//! the next `open` (or `evident recover`) folds into Parquet.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evident_core::Kind;
use evident_core::run_manifest::{ClusterInfo, RecorderSettings, RunManifest, Segment, StopReason};
use kube::Client;
use tracing::warn;

use crate::change_store::{ChangeStore, StoreError};
use crate::clock::now_ns;
use crate::config::StoreConfig;
use crate::last_known::{LastKnown, LastKnownError};
use crate::metric_store::{MetricStore, MetricStoreError};
use crate::recover::RecoveryReport;
use crate::run_manifest;
use crate::scrape::{self, Endpoint, ScrapeError, ScrapeResult};
use crate::watch::{self, EpochTracker, Observation, WatchState};

/// Errors of a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The change store failed (opening the run, writing, closing).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store thread could not be started or died.
    #[error("the recorder's writer thread stopped unexpectedly: {0}")]
    Writer(String),
    /// A `--metrics` URL is unusable.
    #[error(transparent)]
    Endpoint(#[from] ScrapeError),
    /// Writing scraped metrics failed.
    #[error(transparent)]
    Metrics(#[from] MetricStoreError),
    /// Reading the run's last known state (to resume it) failed; the run was closed again.
    #[error(transparent)]
    LastKnown(#[from] LastKnownError),
}

pub type Result<T, E = RecordingError> = std::result::Result<T, E>;

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// The run directory (`evidence/<run-id>`).
    pub run_dir: PathBuf,
    /// Namespaces of pods and events; empty (the default) records all namespaces.
    pub namespaces: Vec<String>,
    /// Kinds to record; default: nodes, pods and events.
    pub kinds: Vec<Kind>,
    pub store: StoreConfig,
    /// Prometheus text endpoints to scrape into the `metrics` table; default: none.
    pub metrics: MetricsConfig,
}

impl RecordingConfig {
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        RecordingConfig {
            run_dir: run_dir.into(),
            namespaces: Vec::new(),
            kinds: Kind::ALL.to_vec(),
            store: StoreConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// Which metrics endpoints to scrape, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Plain `http://` URLs of Prometheus text endpoints. Default: none.
    pub endpoints: Vec<String>,
    /// Time between two scrapes of one endpoint. Default: 5 s.
    pub interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { endpoints: Vec::new(), interval: Duration::from_secs(5) }
    }
}

impl MetricsConfig {
    /// Longest a scrape may take: the interval, at most 10 s, at least 1 s.
    pub fn timeout(&self) -> Duration {
        self.interval.clamp(Duration::from_secs(1), Duration::from_secs(10))
    }
}

/// Live figures for a progress line and for deciding that the cluster is quiet.
#[derive(Debug, Clone, Default)]
pub struct LiveStats {
    pub changes_by_kind: BTreeMap<&'static str, u64>,
    pub total_changes: u64,
    /// When the last change was appended (monotonic), if any.
    pub last_change: Option<Instant>,
    /// Receipt-to-append delay of the last change, in ms.
    pub lag_ms: f64,
    /// State of each watch, by `kind/scope`.
    pub watches: BTreeMap<String, WatchState>,
    pub gaps: u64,
    /// Nodes' `kubeletVersion` values starting with `kwok-`, last seen.
    pub kwok_version: Option<String>,
    /// Answered and failed scrapes of `--metrics` endpoints, and the samples recorded.
    pub metric_scrapes: u64,
    pub metric_failures: u64,
    pub metric_samples: u64,
    /// The last failure or bad line, `<url>: <what>`.
    pub last_metric_problem: Option<String>,
}

impl LiveStats {
    /// True once every watch finished its first list and follows changes.
    pub fn all_synced(&self, expected_watches: usize) -> bool {
        self.watches.len() >= expected_watches
            && self.watches.values().all(|state| matches!(state, WatchState::Watching { .. }))
    }
}

enum Message {
    Observed(Observation),
    Scraped(ScrapeResult),
    Stop(StopReason),
}

/// A running recording.
#[derive(Debug)]
pub struct Recording {
    sender: mpsc::Sender<Message>,
    stats: Arc<Mutex<LiveStats>>,
    watches: Vec<tokio::task::JoinHandle<()>>,
    scrapers: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<JoinHandle<Result<RunManifest>>>,
    recovery: RecoveryReport,
}

impl Recording {
    /// Opens (or reopens) the run directory, then starts the watches.
    pub fn start(client: Client, cluster: ClusterInfo, config: RecordingConfig) -> Result<Recording> {
        let endpoints =
            config.metrics.endpoints.iter().map(|url| Endpoint::parse(url)).collect::<Result<Vec<_>, _>>()?;
        let (mut store, recovery) = ChangeStore::open(&config.run_dir, config.store.clone())?;
        let mut metric_store = None;
        if !endpoints.is_empty() {
            metric_store = Some(MetricStore::open(&config.run_dir, &config.store)?);
            let metrics = &mut store.manifest_mut().metrics;
            metrics.interval_ms = config.metrics.interval.as_millis() as u64;
            for endpoint in &endpoints {
                metrics.endpoint_mut(&endpoint.url);
            }
        }
        {
            let manifest = store.manifest_mut();
            manifest.cluster = cluster;
            manifest.settings = RecorderSettings {
                namespaces: config.namespaces.clone(),
                kinds: config.kinds.iter().map(|k| k.table().to_string()).collect(),
                segment_max_rows: config.store.segment_max_rows as u64,
                segment_max_secs: config.store.segment_max_age.as_secs(),
                wal_fsync_ms: config.store.wal_fsync_interval.as_millis() as u64,
                ..manifest.settings.clone()
            };
        }
        // A reopened run continues its epochs: a restart of the recorder is a relist.
        let first_epoch = store
            .manifest_mut()
            .gaps
            .iter()
            .map(|g| g.epoch)
            .max()
            .unwrap_or(0)
            .max(if store.manifest_mut().row_counts.values().any(|rows| *rows > 0) { 1 } else { 0 })
            + 1;

        // A resumed run's watches start from what it last saw alive (see `last_known`).
        let last_known = match LastKnown::read(&config.run_dir, &config.kinds) {
            Ok(last_known) => last_known,
            Err(error) => {
                store.close(StopReason::Error)?;
                return Err(error.into());
            }
        };

        let stats = Arc::new(Mutex::new(LiveStats::default()));
        let (sender, receiver) = mpsc::channel::<Message>();
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("evident-store".into())
            .spawn(move || write_loop(store, metric_store, receiver, writer_stats))
            .map_err(|error| RecordingError::Writer(error.to_string()))?;

        let mut watches = Vec::new();
        for kind in &config.kinds {
            let kind_state = last_known.kind(*kind);
            let scopes: Vec<Option<String>> = if *kind == Kind::Node || config.namespaces.is_empty() {
                vec![None]
            } else {
                config.namespaces.iter().cloned().map(Some).collect()
            };
            for scope in scopes {
                let api = watch::api_for(client.clone(), *kind, scope.as_deref());
                let sender = sender.clone();
                let label = scope.clone().unwrap_or_else(|| "all".to_string());
                let known = kind_state.seed_for(scope.as_deref());
                let tracker = EpochTracker::resumed(*kind, first_epoch, known, kind_state.last_observed_at_ns);
                watches.push(tokio::spawn(async move {
                    watch::follow(api, tracker, label, move |observation| {
                        sender.send(Message::Observed(observation)).is_ok()
                    })
                    .await;
                }));
            }
        }
        let scrapers = endpoints
            .into_iter()
            .map(|endpoint| tokio::spawn(scrape_endpoint(endpoint, config.metrics.clone(), sender.clone())))
            .collect();
        Ok(Recording { sender, stats, watches, scrapers, writer: Some(writer), recovery })
    }

    /// What opening the run recovered from an earlier crash.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Number of watch streams (for [`LiveStats::all_synced`]).
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    pub fn stats(&self) -> LiveStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops the watches, drains what was received and closes the store; `run.json` records
    /// `reason`.
    pub async fn stop(mut self, reason: impl Into<StopReason>) -> Result<RunManifest> {
        let writer = self.begin_stop(reason.into())?;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|error| RecordingError::Writer(error.to_string()))?
            .map_err(|_| RecordingError::Writer("the writer thread panicked".into()))?
    }

    /// [`Recording::stop`] for code that cannot await: blocks the calling thread until the
    /// store is closed. Must run inside the tokio runtime (it aborts the watch tasks); on a
    /// runtime worker, wrap it in `tokio::task::block_in_place`.
    pub fn stop_blocking(mut self, reason: impl Into<StopReason>) -> Result<RunManifest> {
        let writer = self.begin_stop(reason.into())?;
        writer.join().map_err(|_| RecordingError::Writer("the writer thread panicked".into()))?
    }

    /// Aborts the watches and scrapers and asks the writer to drain and close.
    fn begin_stop(&mut self, reason: StopReason) -> Result<JoinHandle<Result<RunManifest>>> {
        for task in self.watches.iter().chain(&self.scrapers) {
            task.abort();
        }
        let _ = self.sender.send(Message::Stop(reason));
        self.writer.take().ok_or_else(|| RecordingError::Writer("already stopped".into()))
    }
}

/// Scrapes one endpoint until the recording stops; logs when it starts and stops failing.
async fn scrape_endpoint(endpoint: Endpoint, config: MetricsConfig, sender: mpsc::Sender<Message>) {
    let mut failing = false;
    let url = endpoint.url.clone();
    scrape::follow(endpoint, config.interval, config.timeout(), move |result| {
        match (&result.outcome, failing) {
            (Err(error), false) => warn!(endpoint = %url, %error, "metrics scrape failed; retrying at every interval"),
            (Ok(_), true) => warn!(endpoint = %url, "metrics endpoint answers again"),
            _ => {}
        }
        failing = result.outcome.is_err();
        sender.send(Message::Scraped(result)).is_ok()
    })
    .await;
}

fn write_loop(
    mut store: ChangeStore,
    mut metrics: Option<MetricStore>,
    receiver: mpsc::Receiver<Message>,
    stats: Arc<Mutex<LiveStats>>,
) -> Result<RunManifest> {
    let tick = Duration::from_millis(100);
    let mut stop_reason = StopReason::WriterDisconnected;
    loop {
        match receiver.recv_timeout(tick) {
            Ok(Message::Stop(reason)) => {
                // Drain what watches and scrapers sent before they were stopped: nothing
                // received is lost.
                while let Ok(message) = receiver.try_recv() {
                    handle(&mut store, &mut metrics, message, &stats)?;
                }
                stop_reason = reason;
                break;
            }
            Ok(message) => handle(&mut store, &mut metrics, message, &stats)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        store.tick()?;
        if let Some(segment) = metrics.as_mut().map(MetricStore::tick).transpose()?.flatten() {
            list_segment(&mut store, segment)?;
        }
    }
    if let Ok(stats) = stats.lock()
        && let Some(version) = &stats.kwok_version
    {
        store.manifest_mut().cluster.kwok_version = version.clone();
    }
    if let Some(segment) = metrics.map(MetricStore::close).transpose()?.flatten() {
        run_manifest::add_segment(store.manifest_mut(), segment);
    }
    Ok(store.close(stop_reason)?)
}

fn handle(
    store: &mut ChangeStore,
    metrics: &mut Option<MetricStore>,
    message: Message,
    stats: &Mutex<LiveStats>,
) -> Result<()> {
    match (message, metrics) {
        (Message::Observed(observation), _) => observe(store, observation, stats),
        (Message::Scraped(result), Some(metrics)) => scraped(store, metrics, result, stats),
        _ => Ok(()),
    }
}

/// Records an answered scrape, or counts a failed one, in the manifest and the live stats.
fn scraped(
    store: &mut ChangeStore,
    metrics: &mut MetricStore,
    result: ScrapeResult,
    stats: &Mutex<LiveStats>,
) -> Result<()> {
    let url = result.endpoint.clone();
    let scrape = match result.into_scrape() {
        Ok(scrape) => scrape,
        Err(error) => {
            let counts = store.manifest_mut().metrics.endpoint_mut(&url);
            counts.failures += 1;
            counts.last_problem = error.to_string();
            if let Ok(mut stats) = stats.lock() {
                stats.metric_failures += 1;
                stats.last_metric_problem = Some(format!("{url}: {error}"));
            }
            return Ok(());
        }
    };
    let appended = metrics.append(&scrape)?;
    let counts = store.manifest_mut().metrics.endpoint_mut(&url);
    let first_bad_lines = counts.bad_lines == 0 && appended.bad_lines > 0;
    counts.scrapes += 1;
    counts.samples += appended.samples;
    counts.bad_lines += appended.bad_lines;
    if let Some(problem) = &appended.first_problem {
        counts.last_problem = format!("{} bad line(s), first at {problem}", appended.bad_lines);
        if first_bad_lines {
            warn!(endpoint = %url, bad_lines = appended.bad_lines, first = %problem, "metrics scrape has lines that are not Prometheus text; they are skipped and counted");
        }
    }
    if let Ok(mut stats) = stats.lock() {
        stats.metric_scrapes += 1;
        stats.metric_samples += appended.samples;
        if let Some(problem) = &appended.first_problem {
            stats.last_metric_problem = Some(format!("{url}: {problem}"));
        }
    }
    if let Some(segment) = appended.rolled {
        list_segment(store, segment)?;
    }
    Ok(())
}

/// Lists a finished metrics segment in `run.json` at once, as a roll of the change log does.
fn list_segment(store: &mut ChangeStore, segment: Segment) -> Result<()> {
    run_manifest::add_segment(store.manifest_mut(), segment);
    Ok(store.write_manifest()?)
}

fn observe(store: &mut ChangeStore, observation: Observation, stats: &Mutex<LiveStats>) -> Result<()> {
    match observation {
        Observation::Change { kind, op, epoch, observed_at_ns, object } => {
            let kwok = kwok_version(kind, &object);
            // The watch decoded the object with serde_json (see `raw`), so it is JSON.
            match store.append_decoded(kind, op, epoch, observed_at_ns, &object) {
                // Not expected; skip the object, keep recording.
                Err(StoreError::Json(error)) => {
                    warn!(kind = kind.as_str(), %error, "skipped an object that is not valid JSON");
                    return Ok(());
                }
                other => other?,
            };
            if let Ok(mut stats) = stats.lock() {
                *stats.changes_by_kind.entry(kind.table()).or_default() += 1;
                stats.total_changes += 1;
                stats.last_change = Some(Instant::now());
                stats.lag_ms = (now_ns() - observed_at_ns) as f64 / 1e6;
                if kwok.is_some() {
                    stats.kwok_version = kwok;
                }
            }
        }
        Observation::Gap(gap) => {
            store.manifest_mut().gaps.push(gap);
            if let Ok(mut stats) = stats.lock() {
                stats.gaps += 1;
            }
        }
        Observation::State { kind, scope, state } => {
            if let Ok(mut stats) = stats.lock() {
                stats.watches.insert(format!("{}/{}", kind.table(), scope), state);
            }
        }
    }
    Ok(())
}

fn kwok_version(kind: Kind, object: &str) -> Option<String> {
    if kind != Kind::Node {
        return None;
    }
    let facts = evident_core::Facts::parse(object).ok()?;
    facts.node_kubelet_version().filter(|v| v.starts_with("kwok")).map(str::to_string)
}
