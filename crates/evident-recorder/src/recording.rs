//! A recording: the watches of every recorded kind feeding one change store.
//!
//! Threads: each watch is a tokio task; the store lives on one dedicated OS thread (its file
//! IO and fsyncs never block the async runtime). Watches send observations over a bounded
//! queue ([`crate::writer_queue`], [`RecordingConfig::queue_capacity`]); when the writer falls
//! behind, the watches wait for room (the API server keeps the changes meanwhile) and
//! `run.json` records how long (`writer_queue`). The store thread appends observations in
//! arrival order, which defines `seq`, and calls [`ChangeStore::tick`] at least every 100 ms
//! so the WAL is fsynced on time even when the cluster is quiet.
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
//!
//! A failed write (disk full, read-only file system, failed fsync) is never silent: the first
//! store error stops the writer at once, which announces it ([`Recording::failure`],
//! [`Recording::failed`], [`LiveStats::writer_failure`]), closes the queue (so the watches and
//! scrapers end), and rewrites `run.json` with `stop_reason` `write-failed` and the error in
//! `stop_error`, using the space of the run's [`Reserve`] when the disk is full. What was
//! fsynced stays in the WAL for `evident recover`; [`Recording::stop`] returns that first
//! error. A scrape the metrics store cannot take (too large) is a failed scrape, not a failed
//! write.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evident_core::Kind;
use evident_core::run_manifest::{ClusterInfo, RecorderSettings, RunManifest, Segment, StopReason, WriterQueue};
use evident_core::time::format_ns;
use kube::Client;
use tracing::warn;

use crate::change_store::{ChangeStore, StoreError};
use crate::clock::now_ns;
use crate::config::StoreConfig;
use crate::last_known::{LastKnown, LastKnownError};
use crate::metric_store::{MetricStore, MetricStoreError};
use crate::recover::RecoveryReport;
use crate::run_manifest::{self, ManifestError, Reserve};
use crate::scrape::{self, Endpoint, ScrapeError, ScrapeResult};
use crate::watch::{self, EpochTracker, Observation, WatchState};
use crate::writer_queue::{self, QueueReceiver, QueueSender};

/// Observations and scrapes queued for the writer at most, by default (see
/// [`RecordingConfig::queue_capacity`]).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

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
    /// The disk space set aside for `run.json` could not be written (see [`Reserve`]).
    #[error("setting disk space aside for run.json: {0}")]
    Reserve(#[source] ManifestError),
    /// Writing failed and `run.json` could not record why either (the disk is full, say).
    #[error("{first}; run.json could not record why the recording stopped: {manifest}")]
    Unrecorded {
        #[source]
        first: Box<RecordingError>,
        manifest: ManifestError,
    },
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
    /// Observations and scrapes waiting for the writer at most; a watch that finds the queue
    /// full waits. Default: [`DEFAULT_QUEUE_CAPACITY`] (1024; with objects of a few KiB, a
    /// few MiB of memory).
    pub queue_capacity: usize,
}

impl RecordingConfig {
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        RecordingConfig {
            run_dir: run_dir.into(),
            namespaces: Vec::new(),
            kinds: Kind::ALL.to_vec(),
            store: StoreConfig::default(),
            metrics: MetricsConfig::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
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
    /// Why the writer stopped, once it failed: the recording records nothing more.
    pub writer_failure: Option<String>,
}

impl LiveStats {
    /// True once every watch finished its first list and follows changes.
    pub fn all_synced(&self, expected_watches: usize) -> bool {
        self.watches.len() >= expected_watches
            && self.watches.values().all(|state| matches!(state, WatchState::Watching { .. }))
    }
}

#[derive(Debug)]
enum Message {
    Observed(Observation),
    Scraped(ScrapeResult),
    Stop(StopReason),
}

/// A running recording.
#[derive(Debug)]
pub struct Recording {
    sender: QueueSender<Message>,
    stats: Arc<Mutex<LiveStats>>,
    watches: Vec<tokio::task::JoinHandle<()>>,
    scrapers: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<JoinHandle<Result<RunManifest>>>,
    /// Set once by the writer when it fails (see the module documentation).
    failure: tokio::sync::watch::Receiver<Option<String>>,
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
            // run.json may have been edited: an epoch of u32::MAX must not wrap round to 0.
            .saturating_add(1);

        // A resumed run's watches start from what it last saw alive (see `last_known`).
        let last_known = match LastKnown::read(&config.run_dir, &config.kinds) {
            Ok(last_known) => last_known,
            Err(error) => {
                store.close(StopReason::Error)?;
                return Err(error.into());
            }
        };

        let reserve = Reserve::create(&config.run_dir).map_err(RecordingError::Reserve)?;
        let stats = Arc::new(Mutex::new(LiveStats::default()));
        let (sender, receiver) = writer_queue::bounded::<Message>(config.queue_capacity);
        let (failure_sender, failure) = tokio::sync::watch::channel(None);
        let writer = Writer { store, metrics: metric_store, stats: stats.clone(), failure: failure_sender };
        let writer = std::thread::Builder::new()
            .name("evident-store".into())
            .spawn(move || writer.run(receiver, reserve))
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
                        let sender = sender.clone();
                        async move { sender.send(Message::Observed(observation)).await.is_ok() }
                    })
                    .await;
                }));
            }
        }
        let scrapers = endpoints
            .into_iter()
            .map(|endpoint| tokio::spawn(scrape_endpoint(endpoint, config.metrics.clone(), sender.clone())))
            .collect();
        Ok(Recording { sender, stats, watches, scrapers, writer: Some(writer), failure, recovery })
    }

    /// Why the writer failed, if it did: the recording then records nothing more, and
    /// [`Recording::stop`] returns the error. Cheap; a progress loop may call it every tick.
    pub fn failure(&self) -> Option<String> {
        if let Some(failure) = self.failure.borrow().clone() {
            return Some(failure);
        }
        // A writer that ended before any stop was asked for died without a word (a panic).
        self.writer
            .as_ref()
            .filter(|writer| writer.is_finished())
            .map(|_| "the writer thread ended unexpectedly".into())
    }

    /// Completes as soon as the writer fails (at once if it already did); never completes
    /// while it works. Select on it beside the stop conditions to end a recording promptly.
    pub async fn failed(&self) {
        let mut failure = self.failure.clone();
        // An error here means the writer ended, and before `stop` it only ends by failing.
        let _ = failure.wait_for(Option::is_some).await;
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
        // Fails only if the writer already stopped; joining it then gives its error.
        let _ = self.sender.send_now(Message::Stop(reason));
        self.writer.take().ok_or_else(|| RecordingError::Writer("already stopped".into()))
    }
}

/// Scrapes one endpoint until the recording stops; logs when it starts and stops failing.
async fn scrape_endpoint(endpoint: Endpoint, config: MetricsConfig, sender: QueueSender<Message>) {
    let mut failing = false;
    let url = endpoint.url.clone();
    scrape::follow(endpoint, config.interval, config.timeout(), move |result| {
        match (&result.outcome, failing) {
            (Err(error), false) => warn!(endpoint = %url, %error, "metrics scrape failed; retrying at every interval"),
            (Ok(_), true) => warn!(endpoint = %url, "metrics endpoint answers again"),
            _ => {}
        }
        failing = result.outcome.is_err();
        let sender = sender.clone();
        async move { sender.send(Message::Scraped(result)).await.is_ok() }
    })
    .await;
}

/// The writer thread's state: the stores, and where it tells of a failure.
struct Writer {
    store: ChangeStore,
    metrics: Option<MetricStore>,
    stats: Arc<Mutex<LiveStats>>,
    failure: tokio::sync::watch::Sender<Option<String>>,
}

impl Writer {
    /// Appends what arrives until a stop, then closes the stores. The first error ends it
    /// (see the module documentation); it is returned, after `run.json` recorded it.
    fn run(mut self, receiver: QueueReceiver<Message>, reserve: Reserve) -> Result<RunManifest> {
        let stop_reason = match self.follow(&receiver) {
            Ok(reason) => reason,
            Err(error) => {
                let queue = receiver.figures();
                // Closing the queue ends the watches and scrapers.
                drop(receiver);
                return Err(self.fail(error, queue, Some(reserve)));
            }
        };
        let queue = receiver.figures();
        drop(receiver);
        // The reserve is for a failure while recording; closing gets its space.
        if let Err(error) = reserve.release() {
            return Err(self.fail(RecordingError::Reserve(error), queue, None));
        }
        if let Ok(stats) = self.stats.lock()
            && let Some(version) = &stats.kwok_version
        {
            self.store.manifest_mut().cluster.kwok_version = version.clone();
        }
        self.store.manifest_mut().writer_queue = Some(queue.clone());
        let Writer { store, metrics, stats, failure } = self;
        // Kept to record a failure of the close itself: closing consumes the store.
        let run_dir = store.run_dir().to_path_buf();
        let manifest = store.manifest().clone();
        let closed = (|| {
            let mut store = store;
            if let Some(segment) = metrics.map(MetricStore::close).transpose()?.flatten() {
                run_manifest::add_segment(store.manifest_mut(), segment);
            }
            Ok(store.close(stop_reason)?)
        })();
        closed.map_err(|error| {
            announce(&failure, &stats, &error);
            record_failure(&run_dir, manifest, queue, error)
        })
    }

    /// Appends messages and ticks the stores until a stop message; returns its reason.
    fn follow(&mut self, receiver: &QueueReceiver<Message>) -> Result<StopReason> {
        let tick = Duration::from_millis(100);
        loop {
            match receiver.recv_timeout(tick) {
                Ok(Message::Stop(reason)) => {
                    // Drain what watches and scrapers sent before they were stopped: nothing
                    // received is lost.
                    while let Ok(message) = receiver.try_recv() {
                        self.handle(message)?;
                    }
                    return Ok(reason);
                }
                Ok(message) => self.handle(message)?,
                Err(RecvTimeoutError::Timeout) => {}
                // Not while the recording holds its sender; kept for callers that drop it.
                Err(RecvTimeoutError::Disconnected) => return Ok(StopReason::WriterDisconnected),
            }
            self.store.tick()?;
            if let Some(segment) = self.metrics.as_mut().map(MetricStore::tick).transpose()?.flatten() {
                list_segment(&mut self.store, segment)?;
            }
        }
    }

    fn handle(&mut self, message: Message) -> Result<()> {
        handle(&mut self.store, &mut self.metrics, message, &self.stats)
    }

    /// Tells of `error` at once, then rewrites `run.json` with the stop reason, using the reserve's space. The stores are
    /// dropped only afterwards: the WAL's buffered bytes must not take that space first.
    fn fail(self, error: RecordingError, queue: WriterQueue, reserve: Option<Reserve>) -> RecordingError {
        announce(&self.failure, &self.stats, &error);
        if let Some(reserve) = reserve {
            // If the reserve cannot be deleted, the write below may still find room.
            let _ = reserve.release();
        }
        let recorded = record_failure(self.store.run_dir(), self.store.manifest().clone(), queue, error);
        drop(self);
        recorded
    }
}

/// Makes the failure visible to [`Recording::failure`], [`Recording::failed`] and the live
/// stats.
fn announce(failure: &tokio::sync::watch::Sender<Option<String>>, stats: &Mutex<LiveStats>, error: &RecordingError) {
    let text = error.to_string();
    warn!(error = %text, "the recording stopped: writing failed");
    if let Ok(mut stats) = stats.lock() {
        stats.writer_failure = Some(text.clone());
    }
    failure.send_replace(Some(text));
}

/// Writes `run.json` with the failure as stop reason; returns `error`, or, when even that
/// write fails, an error saying so too.
fn record_failure(
    run_dir: &std::path::Path,
    mut manifest: RunManifest,
    queue: WriterQueue,
    error: RecordingError,
) -> RecordingError {
    manifest.stopped_at = format_ns(now_ns());
    manifest.stop_reason = StopReason::WriteFailed;
    manifest.stop_error = error.to_string();
    manifest.writer_queue = Some(queue);
    match run_manifest::write(run_dir, &manifest) {
        Ok(()) => error,
        Err(manifest) => RecordingError::Unrecorded { first: Box::new(error), manifest },
    }
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
            count_failed_scrape(store, stats, &url, error.to_string());
            return Ok(());
        }
    };
    let appended = match metrics.append(&scrape) {
        // The exporter's answer, not the disk: a failed scrape, and the recording goes on.
        Err(MetricStoreError::TooLarge { bytes, .. }) => {
            let problem = format!("the answer ({bytes} bytes) or the URL is too large to record");
            count_failed_scrape(store, stats, &url, problem);
            return Ok(());
        }
        other => other?,
    };
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

fn count_failed_scrape(store: &mut ChangeStore, stats: &Mutex<LiveStats>, url: &str, problem: String) {
    let counts = store.manifest_mut().metrics.endpoint_mut(url);
    counts.failures = counts.failures.saturating_add(1);
    if let Ok(mut stats) = stats.lock() {
        stats.metric_failures = stats.metric_failures.saturating_add(1);
        stats.last_metric_problem = Some(format!("{url}: {problem}"));
    }
    counts.last_problem = problem;
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
                stats.lag_ms = now_ns().saturating_sub(observed_at_ns) as f64 / 1e6;
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
