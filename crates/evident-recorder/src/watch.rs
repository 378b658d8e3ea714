//! Watching one kind of object and turning the watch stream into change observations.
//!
//! A watch stream is kube-runtime's `watcher`: a list, then a watch resumed from the last
//! resourceVersion after every interruption, and a fresh list when the version is gone
//! (410 Gone) or cannot be resumed. This module maps that onto the change log:
//!
//! - every list (the first one and every relist) opens a new **epoch**; each listed object
//!   becomes a `SYNC` row;
//! - when a relist completes, every object known before it and missing from it becomes a
//!   `DELETED_IN_GAP` row carrying the last known object, and the relist is reported as a
//!   [`Gap`] (from the last change seen before it, to the end of the relist);
//! - between lists, applies are `ADDED` (uid not known) or `MODIFIED`, deletes `DELETED`.
//!
//! Memory grows with the number of live objects (the last version of each is kept for the
//! tombstones), not with the number of changes. Errors are retried with [`RetryBackoff`]
//! (250 ms doubling to at most 4 s); each one is reported as a [`WatchState::Retrying`]
//! observation.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use evident_core::run_manifest::Gap;
use evident_core::{Kind, Op};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use kube::api::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::clock::now_ns;
use crate::raw::RawObject;

/// What a watch reports to the recording.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// One change to append to the log. `object` is its JSON text, not yet redacted.
    Change { kind: Kind, op: Op, epoch: u32, observed_at_ns: i64, object: String },
    /// A relist completed; state between `gap.from` and `gap.to` was not observed.
    Gap(Gap),
    /// The watch changed state.
    State { kind: Kind, scope: String, state: WatchState },
}

/// An object as a watch saw it: its uid and its JSON text (not yet redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedObject {
    pub uid: String,
    pub json: String,
}

/// Where a watch stands, for progress display and for deciding that a cluster is quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchState {
    /// Listing the objects of a new epoch.
    Listing { epoch: u32 },
    /// Initial list done; following changes.
    Watching { epoch: u32 },
    /// The last request failed; retrying with backoff. Holds the error, on one line.
    Retrying { error: String },
}

/// The API resource of a recorded kind. Secrets have no entry: they are never watched.
pub fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Node => ApiResource::erase::<Node>(&()),
        Kind::Pod => ApiResource::erase::<Pod>(&()),
        Kind::Event => ApiResource::erase::<CoreEvent>(&()),
    }
}

/// The API handle for `kind` in `namespace` (`None`: all namespaces; ignored for nodes).
pub fn api_for(client: Client, kind: Kind, namespace: Option<&str>) -> Api<RawObject> {
    let resource = api_resource(kind);
    match (kind, namespace) {
        (Kind::Node, _) | (_, None) => Api::all_with(client, &resource),
        (_, Some(namespace)) => Api::namespaced_with(client, namespace, &resource),
    }
}

/// Follows one kind (in one namespace scope) until `sink` refuses an observation, which is
/// how the recording tells watches to stop. The sink may wait (the recording's queue is
/// bounded): the watch reads no further meanwhile.
pub async fn follow<Sent: std::future::Future<Output = bool>>(
    api: Api<RawObject>,
    kind: Kind,
    scope: String,
    first_epoch: u32,
    mut sink: impl FnMut(Observation) -> Sent,
) {
    let resource = api_resource(kind);
    let mut tracker = EpochTracker::new(kind, first_epoch);
    let stream = watcher::watcher(api, watcher::Config::default()).backoff(RetryBackoff::default());
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let observations = match item {
            Ok(event) => tracker.on_event(event_to_watched(event, &resource), now_ns()),
            Err(error) => tracker.on_error(&error.to_string()),
        };
        for observation in observations {
            let observation = match observation {
                Observation::State { kind, state, .. } => Observation::State { kind, scope: scope.clone(), state },
                other => other,
            };
            if !sink(observation).await {
                return;
            }
        }
    }
}

/// Retry delays of a watch: 250 ms, doubling, at most 4 s; back to 250 ms once a request
/// succeeds.
///
/// kube-runtime's default (800 ms doubling to 30 s, like client-go) is kind to a loaded API
/// server, but after a restart of a lab cluster's API server it left the recorder blind for
/// 20 s or more, and everything that happened then became a gap. A recorder wants to be
/// back as soon as the server is; a few requests a second to a local API server are cheap.
#[derive(Debug, Clone)]
pub struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    pub const FIRST: Duration = Duration::from_millis(250);
    pub const MAX: Duration = Duration::from_secs(4);
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff { next: Self::FIRST }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        Some(delay)
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

fn event_to_watched(event: Event<RawObject>, resource: &ApiResource) -> Event<WatchedObject> {
    match event {
        Event::Apply(object) => Event::Apply(to_watched(object, resource)),
        Event::Delete(object) => Event::Delete(to_watched(object, resource)),
        Event::Init => Event::Init,
        Event::InitApply(object) => Event::InitApply(to_watched(object, resource)),
        Event::InitDone => Event::InitDone,
    }
}

/// The object's text as received (see [`crate::raw`]); the store redacts and reads it.
fn to_watched(mut object: RawObject, resource: &ApiResource) -> WatchedObject {
    // Items of a list carry no apiVersion/kind; fill them in so every row is self-describing.
    object.fill_type(resource);
    WatchedObject { uid: object.metadata.uid.unwrap_or_default(), json: object.json }
}

/// The epoch bookkeeping of one watch, separated from the network so it can be tested.
#[derive(Debug)]
pub struct EpochTracker {
    kind: Kind,
    epoch: u32,
    /// Last known version of every live object (its JSON text), by uid.
    known: HashMap<String, String>,
    /// Uids listed in the current list, while one is in progress.
    listed: Option<HashSet<String>>,
    last_change_ns: Option<i64>,
    last_error: Option<String>,
}

impl EpochTracker {
    /// `first_epoch` is the epoch the first list opens (1 for a new run).
    pub fn new(kind: Kind, first_epoch: u32) -> Self {
        EpochTracker {
            kind,
            epoch: first_epoch.saturating_sub(1),
            known: HashMap::new(),
            listed: None,
            last_change_ns: None,
            last_error: None,
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn live_objects(&self) -> usize {
        self.known.len()
    }

    pub fn on_error(&mut self, error: &str) -> Vec<Observation> {
        let error = error.replace('\n', " ");
        self.last_error = Some(error.clone());
        vec![Observation::State { kind: self.kind, scope: String::new(), state: WatchState::Retrying { error } }]
    }

    pub fn on_event(&mut self, event: Event<WatchedObject>, now_ns: i64) -> Vec<Observation> {
        match event {
            Event::Init => {
                self.epoch += 1;
                self.listed = Some(HashSet::new());
                vec![self.state(WatchState::Listing { epoch: self.epoch })]
            }
            Event::InitApply(WatchedObject { uid, json }) => {
                if let Some(listed) = self.listed.as_mut() {
                    listed.insert(uid.clone());
                }
                self.known.insert(uid, json.clone());
                vec![self.change(Op::Sync, json, now_ns)]
            }
            Event::InitDone => self.finish_list(now_ns),
            Event::Apply(WatchedObject { uid, json }) => {
                let op = if self.known.contains_key(&uid) { Op::Modified } else { Op::Added };
                self.known.insert(uid, json.clone());
                vec![self.change(op, json, now_ns)]
            }
            Event::Delete(WatchedObject { uid, json }) => {
                self.known.remove(&uid);
                vec![self.change(Op::Deleted, json, now_ns)]
            }
        }
    }

    fn finish_list(&mut self, now_ns: i64) -> Vec<Observation> {
        let listed = self.listed.take().unwrap_or_default();
        let vanished: Vec<String> = self.known.keys().filter(|uid| !listed.contains(*uid)).cloned().collect();
        let mut observations = Vec::with_capacity(vanished.len() + 2);
        let gap_from = self.last_change_ns;
        for uid in &vanished {
            if let Some(object) = self.known.remove(uid) {
                observations.push(self.change(Op::DeletedInGap, object, now_ns));
            }
        }
        // The first list of a run is not a gap; every later one is.
        if self.epoch > 1 || !vanished.is_empty() {
            observations.push(Observation::Gap(Gap {
                kind: self.kind.as_str().to_string(),
                epoch: self.epoch,
                from: gap_from.map(evident_core::time::format_ns).unwrap_or_default(),
                to: evident_core::time::format_ns(now_ns),
                reason: self.last_error.take().unwrap_or_else(|| "relist".to_string()),
                tombstones: vanished.len() as u64,
            }));
        }
        observations.push(self.state(WatchState::Watching { epoch: self.epoch }));
        observations
    }

    fn change(&mut self, op: Op, object: String, now_ns: i64) -> Observation {
        self.last_change_ns = Some(now_ns);
        Observation::Change { kind: self.kind, op, epoch: self.epoch, observed_at_ns: now_ns, object }
    }

    fn state(&self, state: WatchState) -> Observation {
        Observation::State { kind: self.kind, scope: String::new(), state }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, rv: &str) -> WatchedObject {
        let json = json!({"metadata": {"uid": uid, "name": uid, "resourceVersion": rv}}).to_string();
        WatchedObject { uid: uid.to_string(), json }
    }

    fn uid_of(json: &str) -> String {
        let object: serde_json::Value = serde_json::from_str(json).unwrap();
        object["metadata"]["uid"].as_str().unwrap_or_default().to_string()
    }

    fn ops(observations: &[Observation]) -> Vec<(Op, u32, String)> {
        observations
            .iter()
            .filter_map(|o| match o {
                Observation::Change { op, epoch, object, .. } => Some((*op, *epoch, uid_of(object))),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_list_is_sync_then_added_modified_deleted() {
        let mut tracker = EpochTracker::new(Kind::Pod, 1);
        let mut all = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(pod("a", "1")),
            Event::InitDone,
            Event::Apply(pod("b", "2")),
            Event::Apply(pod("a", "3")),
            Event::Delete(pod("b", "4")),
        ] {
            all.extend(tracker.on_event(event, 10));
        }
        assert_eq!(
            ops(&all),
            vec![
                (Op::Sync, 1, "a".into()),
                (Op::Added, 1, "b".into()),
                (Op::Modified, 1, "a".into()),
                (Op::Deleted, 1, "b".into()),
            ]
        );
        assert!(!all.iter().any(|o| matches!(o, Observation::Gap(_))), "the first list is not a gap");
    }

    #[test]
    fn retry_backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = RetryBackoff::default();
        let delays: Vec<u64> = backoff.by_ref().take(7).map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(RetryBackoff::FIRST));
    }

    #[test]
    fn relist_opens_epoch_and_tombstones_vanished_objects() {
        let mut tracker = EpochTracker::new(Kind::Pod, 1);
        for event in [Event::Init, Event::InitApply(pod("a", "1")), Event::InitApply(pod("b", "1")), Event::InitDone] {
            tracker.on_event(event, 10);
        }
        tracker.on_error("410 Gone: too old resource version");
        let mut after = Vec::new();
        for event in [Event::Init, Event::InitApply(pod("a", "5")), Event::InitDone] {
            after.extend(tracker.on_event(event, 20));
        }
        assert_eq!(ops(&after), vec![(Op::Sync, 2, "a".into()), (Op::DeletedInGap, 2, "b".into())]);
        let gap = after
            .iter()
            .find_map(|o| if let Observation::Gap(gap) = o { Some(gap.clone()) } else { None })
            .expect("a relist is a gap");
        assert_eq!((gap.epoch, gap.tombstones), (2, 1));
        assert!(gap.reason.contains("410"), "{}", gap.reason);
        assert_eq!(tracker.live_objects(), 1);
    }
}
