//! A recording session: the watches of every recorded kind feeding one change store.
//!
//! Threads: each watch is a tokio task; the store lives on one dedicated OS thread (its file
//! IO and fsyncs never block the async runtime). Watches send observations over an unbounded
//! channel; the store thread appends them in arrival order, which defines `seq`, and calls
//! [`ChangeStore::tick`] at least every 100 ms so the WAL is fsynced on time even when the
//! cluster is quiet.
//!
//! Stopping: [`Recording::stop`] aborts the watches, lets the store drain what it already
//! received, then closes it (final segments, WAL cleanup, manifest). A crash instead leaves
//! the WAL, which the next `open` (or `evident recover`) folds into Parquet.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evident_core::Kind;
use evident_core::manifest::{ClusterInfo, RecorderSettings, RunManifest};
use kube::Client;

use crate::store::{ChangeStore, RecoveryReport, StoreConfig, StoreError};
use crate::watch::{self, Observation, WatchState};

/// Errors of a recording session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The change store failed (opening the run, writing, closing).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The store thread could not be started or died.
    #[error("the recorder's writer thread stopped unexpectedly: {0}")]
    Writer(String),
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// What to record and where.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The run directory (`evidence/<run-id>`).
    pub run_dir: PathBuf,
    /// Namespaces of pods and events; empty (the default) records all namespaces.
    pub namespaces: Vec<String>,
    /// Kinds to record; default: nodes, pods and events.
    pub kinds: Vec<Kind>,
    pub store: StoreConfig,
}

impl SessionConfig {
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        SessionConfig {
            run_dir: run_dir.into(),
            namespaces: Vec::new(),
            kinds: Kind::ALL.to_vec(),
            store: StoreConfig::default(),
        }
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
    Stop(String),
}

/// A running recording.
#[derive(Debug)]
pub struct Recording {
    sender: mpsc::Sender<Message>,
    stats: Arc<Mutex<LiveStats>>,
    watches: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<JoinHandle<Result<RunManifest>>>,
    recovery: RecoveryReport,
}

impl Recording {
    /// Opens (or reopens) the run directory, then starts the watches.
    pub fn start(client: Client, cluster: ClusterInfo, config: SessionConfig) -> Result<Recording> {
        let (mut store, recovery) = ChangeStore::open(&config.run_dir, config.store.clone())?;
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

        let stats = Arc::new(Mutex::new(LiveStats::default()));
        let (sender, receiver) = mpsc::channel::<Message>();
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("evident-store".into())
            .spawn(move || write_loop(store, receiver, writer_stats))
            .map_err(|error| SessionError::Writer(error.to_string()))?;

        let mut watches = Vec::new();
        for kind in &config.kinds {
            let scopes: Vec<Option<String>> = if *kind == Kind::Node || config.namespaces.is_empty() {
                vec![None]
            } else {
                config.namespaces.iter().cloned().map(Some).collect()
            };
            for scope in scopes {
                let api = watch::api_for(client.clone(), *kind, scope.as_deref());
                let sender = sender.clone();
                let label = scope.clone().unwrap_or_else(|| "all".to_string());
                let kind = *kind;
                watches.push(tokio::spawn(async move {
                    watch::follow(api, kind, label, first_epoch, move |observation| {
                        sender.send(Message::Observed(observation)).is_ok()
                    })
                    .await;
                }));
            }
        }
        Ok(Recording { sender, stats, watches, writer: Some(writer), recovery })
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

    /// Stops the watches, drains what was received and closes the store.
    pub async fn stop(mut self, reason: &str) -> Result<RunManifest> {
        for watch in &self.watches {
            watch.abort();
        }
        let _ = self.sender.send(Message::Stop(reason.to_string()));
        let writer = self.writer.take().ok_or_else(|| SessionError::Writer("already stopped".into()))?;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|error| SessionError::Writer(error.to_string()))?
            .map_err(|_| SessionError::Writer("the writer thread panicked".into()))?
    }
}

fn write_loop(
    mut store: ChangeStore,
    receiver: mpsc::Receiver<Message>,
    stats: Arc<Mutex<LiveStats>>,
) -> Result<RunManifest> {
    let tick = Duration::from_millis(100);
    let mut stop_reason = String::from("writer-disconnected");
    loop {
        match receiver.recv_timeout(tick) {
            Ok(Message::Observed(observation)) => observe(&mut store, observation, &stats)?,
            Ok(Message::Stop(reason)) => {
                // Drain what watches sent before they were stopped: nothing received is lost.
                while let Ok(Message::Observed(observation)) = receiver.try_recv() {
                    observe(&mut store, observation, &stats)?;
                }
                stop_reason = reason;
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        store.tick()?;
    }
    if let Ok(stats) = stats.lock() {
        if let Some(version) = &stats.kwok_version {
            store.manifest_mut().cluster.kwok_version = version.clone();
        }
    }
    Ok(store.close(&stop_reason)?)
}

fn observe(store: &mut ChangeStore, observation: Observation, stats: &Mutex<LiveStats>) -> Result<()> {
    match observation {
        Observation::Change { kind, op, epoch, observed_at_ns, object } => {
            let kwok = kwok_version(kind, &object);
            match store.append(kind, op, epoch, observed_at_ns, &object) {
                // Serialized by the watch, so never expected; skip the object, keep recording.
                Err(StoreError::Json(error)) => {
                    tracing::warn!(kind = kind.as_str(), %error, "skipped an object that is not valid JSON");
                    return Ok(());
                }
                other => other?,
            };
            if let Ok(mut stats) = stats.lock() {
                *stats.changes_by_kind.entry(kind.table()).or_default() += 1;
                stats.total_changes += 1;
                stats.last_change = Some(Instant::now());
                stats.lag_ms = (watch::now_ns() - observed_at_ns) as f64 / 1e6;
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
