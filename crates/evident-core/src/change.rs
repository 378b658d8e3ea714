//! One observed change of one object: the row of the event-sourced log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::extract::Facts;
use crate::redact::Redactor;

/// The kinds evident records. Secrets are deliberately absent: they are never watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Node,
    Pod,
    Event,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Node, Kind::Pod, Kind::Event];

    /// Table (and directory) name of this kind's change log.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Event => "events",
        }
    }

    /// The Kubernetes `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
        }
    }

    pub fn from_table(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.table() == name)
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(code as usize).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What happened to the object, as the watcher saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    Added,
    Modified,
    Deleted,
    /// The object was present in a (re)list that opened a new epoch.
    Sync,
    /// The object was known before a relist and missing from it: a synthetic tombstone
    /// carrying the last known object.
    DeletedInGap,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Added, Op::Modified, Op::Deleted, Op::Sync, Op::DeletedInGap];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Added => "ADDED",
            Op::Modified => "MODIFIED",
            Op::Deleted => "DELETED",
            Op::Sync => "SYNC",
            Op::DeletedInGap => "DELETED_IN_GAP",
        }
    }

    pub fn from_code(code: u8) -> Option<Op> {
        Op::ALL.get(code as usize).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// One row of the change log. The object is redacted JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Order of observation within the run, starting at 0, without holes.
    pub seq: u64,
    /// Recorder receipt time, nanoseconds since the Unix epoch (UTC).
    pub observed_at_ns: i64,
    /// Watch epoch of this kind: +1 on every (re)list.
    pub epoch: u32,
    pub op: Op,
    pub kind: Kind,
    /// The redacted object, as JSON text.
    pub json: String,
}

impl Change {
    /// Builds a change from an object tree (generators, tests), redacting it first with
    /// `redactor`.
    pub fn new(
        seq: u64,
        observed_at_ns: i64,
        epoch: u32,
        op: Op,
        kind: Kind,
        mut object: Value,
        redactor: &Redactor,
    ) -> Self {
        redactor.redact(&mut object);
        let json = object.to_string();
        Change { seq, observed_at_ns, epoch, op, kind, json }
    }

    /// Builds a change from the object's JSON text, as the API server sends it, redacting it
    /// first with `redactor` ([`Redactor::redact_json`]). Fails only on invalid JSON.
    pub fn from_json(
        seq: u64,
        observed_at_ns: i64,
        epoch: u32,
        op: Op,
        kind: Kind,
        text: &str,
        redactor: &Redactor,
    ) -> Result<Self, serde_json::Error> {
        let json = redactor.redact_json(text)?;
        Ok(Change { seq, observed_at_ns, epoch, op, kind, json })
    }

    /// Builds a change from JSON text that is already redacted (read back from the WAL).
    pub fn from_redacted(seq: u64, observed_at_ns: i64, epoch: u32, op: Op, kind: Kind, json: String) -> Self {
        Change { seq, observed_at_ns, epoch, op, kind, json }
    }

    /// The typed facts of the object (see [`Facts::parse`]).
    pub fn facts(&self) -> Result<Facts<'_>, serde_json::Error> {
        Facts::parse(&self.json)
    }

    /// The object as a tree, for code off the write path. `Null` if the JSON is invalid.
    pub fn object(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}
