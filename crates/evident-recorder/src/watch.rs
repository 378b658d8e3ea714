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
//! A resumed run's watches start from the run's last known state
//! ([`crate::last_known`], via [`EpochTracker::resumed`]): their first list is a relist like
//! any other, so whatever was deleted while the recorder was down is tombstoned too.
//!
//! Memory grows with the number of live objects (the last version of each is kept for the
//! tombstones), not with the number of changes. Errors are retried with [`RetryBackoff`]
//! (250 ms doubling to at most 4 s); each one is reported as a [`WatchState::Retrying`]
//! observation, and the state goes back to `Listing`/`Watching` as soon as the watch is
//! healthy again: at its next event, or, when nothing changes (kube-runtime resumes a watch
//! from its resourceVersion without a word), once a probe ([`PROBE_INTERVAL`]) finds the API
//! server answering a list of the kind again. A relist's [`Gap`] names the error that caused
//! it: the last one before the relist began, never one from before the watch was last
//! healthy.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use evident_core::run_manifest::Gap;
use evident_core::{Kind, Op};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use kube::api::{ApiResource, ListParams};
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

/// While a watch is retrying, how often the API server is probed (and how long a probe may
/// take): a list of at most one object of the watched kind and scope.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Follows one kind (in one namespace scope) until `sink` refuses an observation, which is
/// how the recording tells watches to stop. `tracker` holds the kind, the first epoch and,
/// for a resumed run, the objects the run last saw alive. The sink may wait (the recording's
/// queue is bounded): the watch reads no further meanwhile.
pub async fn follow<Sent: std::future::Future<Output = bool>>(
    api: Api<RawObject>,
    mut tracker: EpochTracker,
    scope: String,
    mut sink: impl FnMut(Observation) -> Sent,
) {
    let kind = tracker.kind;
    let resource = api_resource(kind);
    let probe_api = api.clone();
    let stream = watcher::watcher(api, watcher::Config::default()).backoff(RetryBackoff::default());
    futures::pin_mut!(stream);
    loop {
        let observations = tokio::select! {
            item = stream.next() => match item {
                Some(Ok(event)) => tracker.on_event(event_to_watched(event, &resource), now_ns()),
                Some(Err(error)) => tracker.on_error(&error.to_string()),
                None => return,
            },
            answered = probe(&probe_api), if tracker.is_retrying() => {
                if answered { tracker.on_server_answers() } else { Vec::new() }
            }
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

/// Waits [`PROBE_INTERVAL`], then asks the API server for at most one object's metadata;
/// true if it answered within [`PROBE_INTERVAL`].
async fn probe(api: &Api<RawObject>) -> bool {
    tokio::time::sleep(PROBE_INTERVAL).await;
    let params = ListParams::default().limit(1);
    matches!(tokio::time::timeout(PROBE_INTERVAL, api.list_metadata(&params)).await, Ok(Ok(_)))
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

/// The gap reason of a resumed run's first list when no error came before it.
pub const RESUMED_REASON: &str = "the recorder was not running (resumed run)";

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
    /// The last error since the watch was last healthy: the cause of a relist, if one follows.
    last_error: Option<String>,
    /// Why the list in progress was started; the reason of its gap.
    relist_cause: Option<String>,
    /// The last state reported is [`WatchState::Retrying`].
    retrying: bool,
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
            relist_cause: None,
            retrying: false,
        }
    }

    /// A watch of a resumed run: it starts knowing `known` (live objects by uid, as JSON
    /// text, from [`crate::last_known`]) and the run's last change of the kind at
    /// `last_change_ns`, so its first list tombstones every known object it does not list
    /// and reports the downtime as a gap.
    pub fn resumed(kind: Kind, first_epoch: u32, known: HashMap<String, String>, last_change_ns: Option<i64>) -> Self {
        let mut tracker = EpochTracker::new(kind, first_epoch);
        if !known.is_empty() || last_change_ns.is_some() {
            tracker.last_error = Some(RESUMED_REASON.to_string());
        }
        tracker.known = known;
        tracker.last_change_ns = last_change_ns;
        tracker
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn live_objects(&self) -> usize {
        self.known.len()
    }

    /// True while the last state reported is [`WatchState::Retrying`].
    pub fn is_retrying(&self) -> bool {
        self.retrying
    }

    pub fn on_error(&mut self, error: &str) -> Vec<Observation> {
        let error = error.replace(['\n', '\r'], " ");
        self.last_error = Some(error.clone());
        self.retrying = true;
        vec![self.state(WatchState::Retrying { error })]
    }

    /// The API server answers again (a probe succeeded) while the watch is retrying: back to
    /// the state before the error. The error is kept: if the watch now relists, it is the
    /// cause.
    pub fn on_server_answers(&mut self) -> Vec<Observation> {
        if !self.retrying || self.epoch == 0 {
            return Vec::new();
        }
        self.retrying = false;
        vec![self.current_state()]
    }

    pub fn on_event(&mut self, event: Event<WatchedObject>, now_ns: i64) -> Vec<Observation> {
        let mut observations = Vec::new();
        match event {
            Event::Init => {
                self.epoch = self.epoch.saturating_add(1);
                self.listed = Some(HashSet::new());
                self.relist_cause = self.last_error.take();
                self.retrying = false;
                observations.push(self.state(WatchState::Listing { epoch: self.epoch }));
            }
            Event::InitApply(WatchedObject { uid, json }) => {
                self.healthy(&mut observations);
                if let Some(listed) = self.listed.as_mut() {
                    listed.insert(uid.clone());
                }
                self.known.insert(uid, json.clone());
                observations.push(self.change(Op::Sync, json, now_ns));
            }
            Event::InitDone => {
                self.retrying = false;
                self.last_error = None;
                observations.extend(self.finish_list(now_ns));
            }
            Event::Apply(WatchedObject { uid, json }) => {
                self.healthy(&mut observations);
                let op = if self.known.contains_key(&uid) { Op::Modified } else { Op::Added };
                self.known.insert(uid, json.clone());
                observations.push(self.change(op, json, now_ns));
            }
            Event::Delete(WatchedObject { uid, json }) => {
                self.healthy(&mut observations);
                self.known.remove(&uid);
                observations.push(self.change(Op::Deleted, json, now_ns));
            }
        }
        observations
    }

    /// An event arrived: the watch works. A retry state is cleared, and an error from before
    /// can no longer be the cause of a later relist.
    fn healthy(&mut self, observations: &mut Vec<Observation>) {
        if self.listed.is_none() {
            self.last_error = None;
        }
        if self.retrying {
            self.retrying = false;
            observations.push(self.current_state());
        }
    }

    /// `Listing` while a list is in progress, else `Watching`.
    fn current_state(&self) -> Observation {
        match self.listed {
            Some(_) => self.state(WatchState::Listing { epoch: self.epoch }),
            None => self.state(WatchState::Watching { epoch: self.epoch }),
        }
    }

    fn finish_list(&mut self, now_ns: i64) -> Vec<Observation> {
        let listed = self.listed.take().unwrap_or_default();
        let vanished: Vec<String> = self.known.keys().filter(|uid| !listed.contains(*uid)).cloned().collect();
        let mut observations = Vec::with_capacity(vanished.len().saturating_add(2));
        let gap_from = self.last_change_ns;
        for uid in &vanished {
            if let Some(object) = self.known.remove(uid) {
                observations.push(self.change(Op::DeletedInGap, object, now_ns));
            }
        }
        let cause = self.relist_cause.take();
        // The first list of a run is not a gap; every later one is.
        if self.epoch > 1 || !vanished.is_empty() {
            observations.push(Observation::Gap(Gap {
                kind: self.kind.as_str().to_string(),
                epoch: self.epoch,
                from: gap_from.map(evident_core::time::format_ns).unwrap_or_default(),
                to: evident_core::time::format_ns(now_ns),
                reason: cause.unwrap_or_else(|| "relist".to_string()),
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

    fn states(observations: &[Observation]) -> Vec<WatchState> {
        observations
            .iter()
            .filter_map(|o| match o {
                Observation::State { state, .. } => Some(state.clone()),
                _ => None,
            })
            .collect()
    }

    fn gaps(observations: &[Observation]) -> Vec<Gap> {
        observations
            .iter()
            .filter_map(|o| if let Observation::Gap(gap) = o { Some(gap.clone()) } else { None })
            .collect()
    }

    fn listed(tracker: &mut EpochTracker, uids: &[&str], now: i64) -> Vec<Observation> {
        let mut all = tracker.on_event(Event::Init, now);
        for uid in uids {
            all.extend(tracker.on_event(Event::InitApply(pod(uid, "1")), now));
        }
        all.extend(tracker.on_event(Event::InitDone, now));
        all
    }

    #[test]
    fn an_event_after_an_error_clears_the_retry_state() {
        let mut tracker = EpochTracker::new(Kind::Pod, 1);
        listed(&mut tracker, &["a"], 10);
        assert_eq!(
            states(&tracker.on_error("connection refused")),
            [WatchState::Retrying { error: "connection refused".into() }]
        );
        // kube-runtime resumed the watch from its resourceVersion: no relist, just events.
        let after = tracker.on_event(Event::Apply(pod("a", "2")), 20);
        assert_eq!(states(&after), [WatchState::Watching { epoch: 1 }]);
        assert_eq!(ops(&after), [(Op::Modified, 1, "a".into())]);
        assert!(!tracker.is_retrying());
        // Only once: later events report no state.
        assert!(states(&tracker.on_event(Event::Delete(pod("a", "3")), 30)).is_empty());
    }

    #[test]
    fn the_server_answering_again_clears_the_retry_state_of_a_quiet_watch() {
        let mut tracker = EpochTracker::new(Kind::Node, 1);
        assert!(tracker.on_server_answers().is_empty(), "nothing to clear before an error");
        listed(&mut tracker, &["a"], 10);
        tracker.on_error("connection refused");
        assert_eq!(states(&tracker.on_server_answers()), [WatchState::Watching { epoch: 1 }]);
        assert!(tracker.on_server_answers().is_empty(), "reported once");
        // An error in the middle of a list goes back to listing, not watching.
        tracker.on_error("410 Gone");
        tracker.on_event(Event::Init, 20);
        tracker.on_error("connection reset");
        assert_eq!(states(&tracker.on_server_answers()), [WatchState::Listing { epoch: 2 }]);
    }

    #[test]
    fn a_relist_names_the_error_that_caused_it_not_an_older_one() {
        let mut tracker = EpochTracker::new(Kind::Pod, 1);
        listed(&mut tracker, &["a"], 10);
        // An error the watch recovered from without a relist...
        tracker.on_error("connection refused");
        tracker.on_event(Event::Apply(pod("a", "2")), 20);
        // ...is not the cause of a relist much later.
        let relist = listed(&mut tracker, &["a"], 30);
        assert_eq!(gaps(&relist)[0].reason, "relist");
        // The error right before a relist is.
        tracker.on_error("first error");
        tracker.on_server_answers();
        tracker.on_error("410 Gone: too old resource version");
        let relist = listed(&mut tracker, &["a"], 40);
        assert_eq!(gaps(&relist)[0].reason, "410 Gone: too old resource version");
        assert_eq!(states(&relist).last(), Some(&WatchState::Watching { epoch: 3 }));
    }

    #[test]
    fn a_resumed_watch_tombstones_what_vanished_while_the_recorder_was_down() {
        let known: HashMap<String, String> =
            ["a", "b", "c"].into_iter().map(|uid| (uid.to_string(), pod(uid, "1").json)).collect();
        let mut tracker = EpochTracker::resumed(Kind::Pod, 3, known, Some(5));
        let first = listed(&mut tracker, &["a", "d"], 50);
        let mut ops = ops(&first);
        ops.sort_by(|x, y| (x.0.as_str(), &x.2).cmp(&(y.0.as_str(), &y.2)));
        assert_eq!(
            ops,
            [
                (Op::DeletedInGap, 3, "b".into()),
                (Op::DeletedInGap, 3, "c".into()),
                (Op::Sync, 3, "a".into()),
                (Op::Sync, 3, "d".into()),
            ]
        );
        let gap = &gaps(&first)[0];
        assert_eq!((gap.epoch, gap.tombstones, gap.reason.as_str()), (3, 2, RESUMED_REASON));
        assert_eq!(
            (gap.from.as_str(), gap.to.as_str()),
            (evident_core::time::format_ns(5).as_str(), evident_core::time::format_ns(50).as_str())
        );
        assert_eq!(tracker.live_objects(), 2);
        // The tombstone carries the last known object.
        let tombstone = first.iter().find_map(|o| match o {
            Observation::Change { op: Op::DeletedInGap, object, .. } if uid_of(object) == "b" => Some(object.clone()),
            _ => None,
        });
        assert_eq!(tombstone, Some(pod("b", "1").json));
    }
}
