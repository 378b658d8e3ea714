//! Typed columns extracted from a (redacted) object for the hot query paths.
//!
//! [`Facts`] is a borrowed view of the few fields the typed columns need, read from the JSON
//! text in one pass: serde skips every other field without building anything, and strings
//! borrow from the text unless they hold escapes. Each accessor reads one fact and returns
//! `None` when the object does not carry it; none of them fails. The JSON stays the source
//! of truth.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::gpu::{self, GPU_RESOURCE};
use crate::json::{self, Cursor, Reader};
use crate::time::parse_rfc3339_ns;

/// A typed cell value produced by an extractor.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Str(Option<&'a str>),
    Owned(Option<String>),
    Int(Option<i64>),
    /// Nanoseconds since the Unix epoch, UTC.
    Time(Option<i64>),
    Bool(Option<bool>),
}

/// A JSON string, borrowed from the text unless it holds escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A JSON object read as its members, in order. Lookups are linear: an object has a handful
/// of labels or quantities, where a vector beats a tree that allocates per entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairs<'a, V>(pub Vec<(Text<'a>, V)>);

impl<V> Default for Pairs<'_, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<V> Pairs<'_, V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(name, _)| name.as_str() == key).map(|(_, value)| value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a, V>(PhantomData<(Text<'a>, V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(pair) = map.next_entry::<Text<'a>, V>()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// A map value that may be a string or a number (resource quantities), or something else,
/// which is skipped rather than failing the whole object.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scalar<'a> {
    Text(Text<'a>),
    Int(i64),
    #[default]
    Other,
}

impl Scalar<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Text(Cow::Borrowed(text))))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Text(Cow::Owned(text.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(number))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(number).map(Scalar::Int).unwrap_or_default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `null` reads as the type's default, as an absent field does.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

type Str<'a> = Option<Text<'a>>;
pub type StrMap<'a> = Pairs<'a, Text<'a>>;
pub type QuantityMap<'a> = Pairs<'a, Scalar<'a>>;

/// The fields of a Node, Pod or Event that the typed columns read. Fields of all three kinds
/// share one struct: their names do not collide, and absent ones are empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Facts<'a> {
    #[serde(borrow, deserialize_with = "nullable")]
    pub metadata: Meta<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub spec: Spec<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub status: Status<'a>,
    // core/v1 Event fields, at the top level of the object.
    #[serde(borrow)]
    pub reason: Str<'a>,
    #[serde(borrow, rename = "type")]
    pub event_type: Str<'a>,
    #[serde(borrow)]
    pub message: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub involved_object: ObjectRef<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub source: EventSource<'a>,
    pub count: Option<i64>,
    #[serde(borrow)]
    pub first_timestamp: Str<'a>,
    #[serde(borrow)]
    pub last_timestamp: Str<'a>,
    #[serde(borrow)]
    pub event_time: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub series: EventSeries<'a>,
    #[serde(borrow)]
    pub reporting_component: Str<'a>,
    #[serde(borrow)]
    pub reporting_instance: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta<'a> {
    #[serde(borrow)]
    pub name: Str<'a>,
    #[serde(borrow)]
    pub namespace: Str<'a>,
    #[serde(borrow)]
    pub uid: Str<'a>,
    #[serde(borrow)]
    pub resource_version: Str<'a>,
    #[serde(borrow)]
    pub creation_timestamp: Str<'a>,
    #[serde(borrow)]
    pub deletion_timestamp: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub labels: StrMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub annotations: StrMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerRef<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerRef<'a> {
    #[serde(borrow)]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub name: Str<'a>,
    pub controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Spec<'a> {
    #[serde(borrow)]
    pub node_name: Str<'a>,
    #[serde(borrow)]
    pub scheduler_name: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub node_selector: StrMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub containers: Vec<Container<'a>>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub taints: Vec<Taint<'a>>,
    pub unschedulable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Container<'a> {
    #[serde(borrow, deserialize_with = "nullable")]
    pub resources: Resources<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Resources<'a> {
    #[serde(borrow, deserialize_with = "nullable")]
    pub requests: QuantityMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub limits: QuantityMap<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Taint<'a> {
    #[serde(borrow)]
    pub key: Str<'a>,
    #[serde(borrow)]
    pub value: Str<'a>,
    #[serde(borrow)]
    pub effect: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Status<'a> {
    #[serde(borrow)]
    pub phase: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub conditions: Vec<Condition<'a>>,
    #[serde(borrow)]
    pub start_time: Str<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub capacity: QuantityMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub allocatable: QuantityMap<'a>,
    #[serde(borrow, deserialize_with = "nullable")]
    pub node_info: NodeInfo<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub status: Str<'a>,
    #[serde(borrow)]
    pub reason: Str<'a>,
    #[serde(borrow)]
    pub message: Str<'a>,
    #[serde(borrow)]
    pub last_transition_time: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeInfo<'a> {
    #[serde(borrow)]
    pub kubelet_version: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ObjectRef<'a> {
    #[serde(borrow)]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub namespace: Str<'a>,
    #[serde(borrow)]
    pub name: Str<'a>,
    #[serde(borrow)]
    pub uid: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventSource<'a> {
    #[serde(borrow)]
    pub component: Str<'a>,
    #[serde(borrow)]
    pub host: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSeries<'a> {
    pub count: Option<i64>,
    #[serde(borrow)]
    pub last_observed_time: Str<'a>,
}

/// Just the identity, for objects whose other fields do not have the expected types.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentityOnly<'a> {
    #[serde(borrow, deserialize_with = "nullable")]
    metadata: IdentityMeta<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IdentityMeta<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    namespace: Str<'a>,
    #[serde(borrow)]
    uid: Str<'a>,
    #[serde(borrow)]
    resource_version: Str<'a>,
}

/// Reads the object at the cursor with `member`; a `null` is an empty object, as
/// [`nullable`] reads it. `None` when the value is neither.
pub(crate) fn walk<'a, C: Cursor<'a>>(r: &mut C, member: impl FnMut(&mut C, &str) -> Option<bool>) -> Option<bool> {
    if !r.null() {
        r.object(member)?;
    }
    Some(true)
}

/// Decodes a field from the value at the cursor, as serde reads it in [`Facts::parse`]
/// (`null` as the field's default). `None` on a value of another type.
pub(crate) fn set<'a, T: Decode<'a>>(field: &mut T, r: &mut impl Cursor<'a>) -> Option<bool> {
    *field = T::decode(r.value()?)?;
    Some(true)
}

pub(crate) trait Decode<'a>: Sized {
    fn decode(value: &'a str) -> Option<Self>;
}

/// Strings without escapes, the most common value, are taken directly.
impl<'a> Decode<'a> for Str<'a> {
    fn decode(value: &'a str) -> Option<Self> {
        if value == "null" { Some(None) } else { json::string(value).map(|text| Some(Text(text))) }
    }
}

/// Values decoded by serde, where `null` reads as the default (the fields marked
/// `nullable`, and the options, whose default is `None`).
macro_rules! decode_with_serde {
    ($($type:ty),* $(,)?) => {$(
        impl<'a> Decode<'a> for $type {
            fn decode(value: &'a str) -> Option<Self> {
                serde_json::from_str::<Option<$type>>(value).ok().map(Option::unwrap_or_default)
            }
        }
    )*};
}

decode_with_serde!(
    StrMap<'a>,
    QuantityMap<'a>,
    Vec<OwnerRef<'a>>,
    Vec<Taint<'a>>,
    Vec<Condition<'a>>,
    Resources<'a>,
    NodeInfo<'a>,
    ObjectRef<'a>,
    EventSource<'a>,
    EventSeries<'a>,
    Option<i64>,
    Option<bool>,
);

impl<'a> Meta<'a> {
    pub(crate) fn member(&mut self, r: &mut impl Cursor<'a>, key: &str) -> Option<bool> {
        match key {
            "name" => set(&mut self.name, r),
            "namespace" => set(&mut self.namespace, r),
            "uid" => set(&mut self.uid, r),
            "resourceVersion" => set(&mut self.resource_version, r),
            "creationTimestamp" => set(&mut self.creation_timestamp, r),
            "deletionTimestamp" => set(&mut self.deletion_timestamp, r),
            "labels" => set(&mut self.labels, r),
            "annotations" => set(&mut self.annotations, r),
            "ownerReferences" => set(&mut self.owner_references, r),
            _ => r.pass(),
        }
    }
}

impl<'a> Spec<'a> {
    pub(crate) fn member(&mut self, r: &mut impl Cursor<'a>, key: &str) -> Option<bool> {
        match key {
            "nodeName" => set(&mut self.node_name, r),
            "schedulerName" => set(&mut self.scheduler_name, r),
            "nodeSelector" => set(&mut self.node_selector, r),
            "containers" => self.read_containers(r, |r, _| r.pass()),
            "taints" => set(&mut self.taints, r),
            "unschedulable" => set(&mut self.unschedulable, r),
            _ => r.pass(),
        }
    }

    /// Reads `containers`: each container's `resources`; `other` consumes each other member
    /// of a container (redaction rewrites `env` there).
    pub(crate) fn read_containers<C: Cursor<'a>>(
        &mut self,
        r: &mut C,
        mut other: impl FnMut(&mut C, &str) -> Option<bool>,
    ) -> Option<bool> {
        self.containers.clear();
        if r.null() {
            return Some(true);
        }
        r.array(|r| {
            // A container must be an object (`null` is not read as an empty one).
            let mut resources = Resources::default();
            r.object(|r, key| match key {
                "resources" => set(&mut resources, r),
                _ => other(r, key),
            })?;
            self.containers.push(Container { resources });
            Some(true)
        })?;
        Some(true)
    }
}

impl<'a> Status<'a> {
    pub(crate) fn member(&mut self, r: &mut impl Cursor<'a>, key: &str) -> Option<bool> {
        match key {
            "phase" => set(&mut self.phase, r),
            "conditions" => set(&mut self.conditions, r),
            "startTime" => set(&mut self.start_time, r),
            "capacity" => set(&mut self.capacity, r),
            "allocatable" => set(&mut self.allocatable, r),
            "nodeInfo" => set(&mut self.node_info, r),
            _ => r.pass(),
        }
    }
}

fn text<'b>(value: &'b Str<'_>) -> Option<&'b str> {
    value.as_ref().map(Text::as_str)
}

fn non_empty<'b>(value: &'b Str<'_>) -> Option<&'b str> {
    text(value).filter(|v| !v.is_empty())
}

impl<'a> Facts<'a> {
    /// Reads the facts of `json`. Fails only when `json` is not valid JSON; an object whose
    /// fields have unexpected types gives its identity and nothing else.
    pub fn parse(json: &'a str) -> Result<Facts<'a>, serde_json::Error> {
        match serde_json::from_str(json) {
            Ok(facts) => Ok(facts),
            Err(error) if error.is_data() => {
                // The type error may come before a syntax error: the text must still be JSON.
                serde_json::from_str::<IgnoredAny>(json)?;
                let identity: IdentityOnly<'a> = serde_json::from_str(json).unwrap_or_default();
                let IdentityMeta { name, namespace, uid, resource_version } = identity.metadata;
                Ok(Facts {
                    metadata: Meta { name, namespace, uid, resource_version, ..Meta::default() },
                    ..Facts::default()
                })
            }
            Err(error) => Err(error),
        }
    }

    /// Reads the same facts as [`Facts::parse`] from text already known to be JSON (serde_json
    /// decoded or wrote it), faster: it walks the object with a [`json::Reader`], skips what
    /// no column reads without decoding it, and decodes only the small values the columns
    /// need. A value of an unexpected type is left to [`Facts::parse`]. Unlike it, does not
    /// check that the text is JSON, and a key given twice keeps its last value (serde
    /// refuses it, and only the identity is read).
    pub fn read(json: &'a str) -> Result<Facts<'a>, serde_json::Error> {
        let mut facts = Facts::default();
        match Reader::new(json).object(|r, key| facts.member(r, key)) {
            Some(()) => Ok(facts),
            None => Facts::parse(json),
        }
    }

    pub(crate) fn member(&mut self, r: &mut impl Cursor<'a>, key: &str) -> Option<bool> {
        match key {
            "metadata" => walk(r, |r, key| self.metadata.member(r, key)),
            "spec" => walk(r, |r, key| self.spec.member(r, key)),
            "status" => walk(r, |r, key| self.status.member(r, key)),
            "reason" => set(&mut self.reason, r),
            "type" => set(&mut self.event_type, r),
            "message" => set(&mut self.message, r),
            "involvedObject" => set(&mut self.involved_object, r),
            "source" => set(&mut self.source, r),
            "count" => set(&mut self.count, r),
            "firstTimestamp" => set(&mut self.first_timestamp, r),
            "lastTimestamp" => set(&mut self.last_timestamp, r),
            "eventTime" => set(&mut self.event_time, r),
            "series" => set(&mut self.series, r),
            "reportingComponent" => set(&mut self.reporting_component, r),
            "reportingInstance" => set(&mut self.reporting_instance, r),
            _ => r.pass(),
        }
    }

    pub fn name(&self) -> &str {
        text(&self.metadata.name).unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        text(&self.metadata.namespace)
    }

    pub fn uid(&self) -> &str {
        text(&self.metadata.uid).unwrap_or_default()
    }

    pub fn resource_version(&self) -> &str {
        text(&self.metadata.resource_version).unwrap_or_default()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.get(key).map(Text::as_str)
    }

    pub fn created_at(&self) -> Option<i64> {
        time(&self.metadata.creation_timestamp)
    }

    pub fn deleted_at(&self) -> Option<i64> {
        time(&self.metadata.deletion_timestamp)
    }

    /// A status condition of the given type (`PodScheduled`, `Ready`, ...).
    pub fn condition(&self, kind: &str) -> Option<&Condition<'a>> {
        self.status.conditions.iter().find(|condition| text(&condition.kind) == Some(kind))
    }

    pub fn condition_status(&self, kind: &str) -> Option<&str> {
        text(&self.condition(kind)?.status)
    }

    pub fn condition_reason(&self, kind: &str) -> Option<&str> {
        text(&self.condition(kind)?.reason)
    }

    pub fn condition_message(&self, kind: &str) -> Option<&str> {
        text(&self.condition(kind)?.message)
    }

    /// When the condition last turned `True` (1 s precision), or `None` while it is not true.
    pub fn condition_true_at(&self, kind: &str) -> Option<i64> {
        let condition = self.condition(kind)?;
        if text(&condition.status) != Some("True") {
            return None;
        }
        time(&condition.last_transition_time)
    }

    pub fn phase(&self) -> Option<&str> {
        text(&self.status.phase)
    }

    pub fn node_name(&self) -> Option<&str> {
        text(&self.spec.node_name)
    }

    pub fn scheduler_name(&self) -> Option<&str> {
        text(&self.spec.scheduler_name)
    }

    pub fn started_at(&self) -> Option<i64> {
        time(&self.status.start_time)
    }

    /// GPUs a pod asks for: the sum over its containers of the request (or, when only a
    /// limit is set, the limit, which the API server copies into the request for extended
    /// resources).
    pub fn pod_gpu_request(&self) -> Option<i64> {
        let mut total = None;
        for container in &self.spec.containers {
            let resources = &container.resources;
            let quantity = resources.requests.get(GPU_RESOURCE).or_else(|| resources.limits.get(GPU_RESOURCE));
            if let Some(count) = quantity.and_then(device_count) {
                // Cluster data: saturate rather than wrap (overflow checks are off).
                total = Some(total.unwrap_or(0_i64).saturating_add(count));
            }
        }
        total
    }

    /// The pool a pod's nodeSelector asks for, if it names one of the known pool labels.
    pub fn pod_pool_selector(&self) -> Option<&str> {
        gpu::pool_of(|key| self.spec.node_selector.get(key).map(Text::as_str))
    }

    /// The controlling owner reference (kind, name).
    pub fn controller_owner(&self) -> Option<(&str, &str)> {
        let owners = &self.metadata.owner_references;
        let owner = owners.iter().find(|owner| owner.controller == Some(true)).or_else(|| owners.first())?;
        Some((text(&owner.kind)?, text(&owner.name)?))
    }

    /// The workload a pod belongs to: for a ReplicaSet created by a Deployment, the
    /// Deployment (the owner name minus its `-<pod-template-hash>` suffix); otherwise the
    /// owner's name; for a bare pod, the pod's own name.
    pub fn pod_workload(&self) -> Option<&str> {
        let name = text(&self.metadata.name)?;
        let Some((kind, owner)) = self.controller_owner() else {
            return Some(name);
        };
        if kind == "ReplicaSet"
            && let Some(hash) = self.label("pod-template-hash")
            && let Some(deployment) = owner.strip_suffix(hash).and_then(|rest| rest.strip_suffix('-'))
        {
            return Some(deployment);
        }
        Some(owner)
    }

    /// The nodeSelector as compact JSON text, keys sorted.
    pub fn pod_node_selector(&self) -> Option<String> {
        let selector = &self.spec.node_selector;
        if selector.is_empty() {
            return None;
        }
        let sorted: BTreeMap<&str, &str> =
            selector.0.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        serde_json::to_string(&sorted).ok()
    }

    /// GPUs in the node's `status.capacity` or `status.allocatable` (`field`).
    pub fn node_gpus(&self, field: &str) -> Option<i64> {
        let quantities = match field {
            "capacity" => &self.status.capacity,
            "allocatable" => &self.status.allocatable,
            _ => return None,
        };
        quantities.get(GPU_RESOURCE).and_then(device_count)
    }

    pub fn node_allocatable(&self, resource: &str) -> Option<&str> {
        self.status.allocatable.get(resource)?.as_str()
    }

    /// Taints as `key=value:Effect` joined by `,` in the order the API returns them.
    pub fn node_taints(&self) -> Option<String> {
        let taints = &self.spec.taints;
        if taints.is_empty() {
            return None;
        }
        let parts: Vec<String> = taints
            .iter()
            .map(|taint| {
                let key = text(&taint.key).unwrap_or_default();
                let effect = text(&taint.effect).unwrap_or_default();
                match non_empty(&taint.value) {
                    Some(value) => format!("{key}={value}:{effect}"),
                    None => format!("{key}:{effect}"),
                }
            })
            .collect();
        Some(parts.join(","))
    }

    pub fn node_pool(&self) -> Option<&str> {
        gpu::pool_of(|key| self.label(key))
    }

    /// `status.nodeInfo.kubeletVersion`, with the empty string (not yet stamped) as `None`.
    pub fn node_kubelet_version(&self) -> Option<&str> {
        non_empty(&self.status.node_info.kubelet_version)
    }

    pub fn node_kwok_managed(&self) -> Option<bool> {
        Some(self.metadata.annotations.contains_key("kwok.x-k8s.io/node"))
    }

    pub fn event_reason(&self) -> Option<&str> {
        text(&self.reason)
    }

    pub fn event_type(&self) -> Option<&str> {
        text(&self.event_type)
    }

    pub fn event_message(&self) -> Option<&str> {
        text(&self.message)
    }

    /// The component that emitted an event: `source.component`, else `reportingComponent`
    /// (events written through events.k8s.io/v1 fill only the latter).
    pub fn event_source_component(&self) -> Option<&str> {
        non_empty(&self.source.component).or_else(|| non_empty(&self.reporting_component))
    }

    pub fn event_source_host(&self) -> Option<&str> {
        non_empty(&self.source.host).or_else(|| non_empty(&self.reporting_instance))
    }

    pub fn event_first_timestamp(&self) -> Option<i64> {
        time(&self.first_timestamp)
    }

    pub fn event_last_timestamp(&self) -> Option<i64> {
        time(&self.last_timestamp)
    }

    pub fn event_time(&self) -> Option<i64> {
        time(&self.event_time)
    }

    pub fn event_series_last_observed(&self) -> Option<i64> {
        time(&self.series.last_observed_time)
    }
}

fn time(value: &Str<'_>) -> Option<i64> {
    text(value).and_then(parse_rfc3339_ns)
}

/// Reads a resource quantity that counts whole devices (`"8"`, `8`). Quantities with
/// suffixes or fractions are not device counts and give `None`.
fn device_count(quantity: &Scalar<'_>) -> Option<i64> {
    match quantity {
        Scalar::Text(text) => gpu::device_count(text.as_str()),
        Scalar::Int(number) => Some(*number),
        Scalar::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts_of(object: &serde_json::Value) -> String {
        serde_json::to_string(object).unwrap()
    }

    fn sample_pod() -> String {
        facts_of(&json!({
            "metadata": {
                "name": "queue-pressure-6d9f7c-abcde",
                "labels": {"pod-template-hash": "6d9f7c"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "queue-pressure-6d9f7c", "controller": true}]
            },
            "spec": {
                "nodeSelector": {"zone": "b", "run.ai/simulated-gpu-node-pool": "a100"},
                "containers": [
                    {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}},
                    {"name": "b", "resources": {"requests": {"nvidia.com/gpu": 2}}},
                    {"name": "c", "env": [{"name": "X", "value": "y"}]}
                ]
            },
            "status": {"conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-06-14T15:39:51Z"},
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-06-14T15:39:52Z"}
            ]}
        }))
    }

    fn sample_node() -> String {
        facts_of(&json!({
            "metadata": {"labels": {"run.ai/simulated-gpu-node-pool": "h100"}, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": [
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "k", "value": "v", "effect": "NoExecute"}
            ]},
            "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8", "cpu": "32"},
                       "nodeInfo": {"kubeletVersion": ""}}
        }))
    }

    #[test]
    fn pod_columns() {
        let pod = sample_pod();
        let pod = Facts::parse(&pod).unwrap();
        assert_eq!(pod.pod_gpu_request(), Some(3));
        assert_eq!(pod.pod_pool_selector(), Some("a100"));
        assert_eq!(pod.pod_workload(), Some("queue-pressure"));
        assert_eq!(pod.controller_owner(), Some(("ReplicaSet", "queue-pressure-6d9f7c")));
        assert_eq!(pod.pod_node_selector().as_deref(), Some(r#"{"run.ai/simulated-gpu-node-pool":"a100","zone":"b"}"#));
        assert!(pod.condition_true_at("PodScheduled").is_some());
        assert_eq!(pod.condition_true_at("Ready"), None);
        // Keys come out sorted whatever order the API server sent them in.
        let unsorted = Facts::parse(r#"{"spec":{"nodeSelector":{"zone":"b","pool":"x"}}}"#).unwrap();
        assert_eq!(unsorted.pod_node_selector().as_deref(), Some(r#"{"pool":"x","zone":"b"}"#));
        assert_eq!(unsorted.pod_pool_selector(), Some("x"));
        let bare = facts_of(&json!({"spec": {"containers": [{"name": "x"}]}}));
        assert_eq!(Facts::parse(&bare).unwrap().pod_gpu_request(), None);
    }

    /// Quantities are cluster data: a sum past `i64::MAX` stays at it instead of wrapping to
    /// a negative GPU count.
    #[test]
    fn a_gpu_request_too_large_to_add_saturates() {
        let huge = i64::MAX.to_string();
        let pod = facts_of(&json!({"spec": {"containers": [
            {"resources": {"requests": {"nvidia.com/gpu": huge}}},
            {"resources": {"requests": {"nvidia.com/gpu": huge}}}
        ]}}));
        assert_eq!(Facts::parse(&pod).unwrap().pod_gpu_request(), Some(i64::MAX));
    }

    #[test]
    fn bare_pod_is_its_own_workload() {
        let pod = facts_of(&json!({"metadata": {"name": "cuda-batch-small"}}));
        assert_eq!(Facts::parse(&pod).unwrap().pod_workload(), Some("cuda-batch-small"));
    }

    #[test]
    fn node_columns() {
        let node = sample_node();
        let node = Facts::parse(&node).unwrap();
        assert_eq!(node.node_pool(), Some("h100"));
        assert_eq!(node.node_gpus("allocatable"), Some(8));
        assert_eq!(node.node_allocatable("cpu"), Some("32"));
        assert_eq!(
            node.node_taints().as_deref(),
            Some("node-role.kubernetes.io/control-plane:NoSchedule,k=v:NoExecute")
        );
        assert_eq!(node.node_kubelet_version(), None);
        assert_eq!(node.node_kwok_managed(), Some(true));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_nulls_read_as_absent() {
        let text =
            r#"{"metadata":{"name":"plain","namespace":"a\"b","labels":null},"series":null,"message":"m","count":3}"#;
        let event = Facts::parse(text).unwrap();
        assert!(matches!(event.metadata.name, Some(Text(Cow::Borrowed("plain")))));
        assert_eq!(event.namespace(), Some("a\"b"));
        assert_eq!((event.event_message(), event.count), (Some("m"), Some(3)));
        assert_eq!(event.event_series_last_observed(), None);
    }

    #[test]
    fn unexpected_types_keep_the_identity_and_invalid_json_fails() {
        let odd = r#"{"metadata":{"name":"p","uid":"u","resourceVersion":"7"},"status":{"phase":42}}"#;
        let facts = Facts::parse(odd).unwrap();
        assert_eq!((facts.name(), facts.uid(), facts.resource_version()), ("p", "u", "7"));
        assert_eq!(facts.phase(), None);
        assert!(Facts::parse(r#"{"metadata":"#).is_err());
        // A type error before the syntax error: still refused.
        assert!(Facts::parse(r#"{"status":{"phase":42},"spec":[tru"#).is_err());
    }

    #[test]
    fn read_gives_what_parse_gives() {
        let event = r#"{"kind":"Event","metadata":{"name":"e","namespace":"a\"b","uid":"u"},"involvedObject":{"kind":"Pod","name":"p"},"reason":"FailedScheduling","type":"Warning","message":"0/3 nodes are available","source":{"component":"default-scheduler"},"count":3,"firstTimestamp":"2026-06-14T15:39:51Z","lastTimestamp":null,"eventTime":"2026-06-14T15:39:51.123456Z","series":{"count":2,"lastObservedTime":"2026-06-14T15:39:52.000000Z"},"reportingComponent":"default-scheduler","reportingInstance":"i"}"#;
        let texts = [
            sample_pod(),
            sample_node(),
            event.to_string(),
            // every other field the columns read
            r#"{"metadata":{"name":"p","resourceVersion":"9","creationTimestamp":"2026-06-14T15:39:50Z","deletionTimestamp":"2026-06-14T15:40:00Z"},"spec":{"nodeName":"n1","schedulerName":"default-scheduler","unschedulable":true},"status":{"phase":"Running","startTime":"2026-06-14T15:39:53Z"}}"#.into(),
            // nulls read as absent or empty, wherever they are
            r#"{"metadata":null,"spec":{"nodeSelector":null,"containers":null,"taints":null},"status":{"conditions":null,"nodeInfo":null},"count":null}"#.into(),
            r#"{"spec":{"containers":[{"resources":null},{"name":"x","resources":{"requests":{"nvidia.com/gpu":"1"}}}]}}"#.into(),
            " { \"metadata\" : { \"name\" : \"spaced\" } , \"status\" : { \"phase\" : \"Running\" } } ".into(),
            "{}".into(),
            // unexpected types: the identity only
            r#"{"metadata":{"name":"p","uid":"u","resourceVersion":"7"},"status":{"phase":42}}"#.into(),
            r#"{"metadata":{"name":"p","labels":["x"]}}"#.into(),
            r#"{"metadata":{"name":"p"},"spec":{"containers":[null]}}"#.into(),
            r#"{"metadata":{"name":"p"},"spec":{"containers":{"a":1}}}"#.into(),
            r#"{"metadata":{"name":"p"},"spec":"none"}"#.into(),
            r#"{"metadata":{"name":"p"},"count":"3"}"#.into(),
            "[1]".into(),
            "null".into(),
        ];
        for text in &texts {
            let read = Facts::read(text).unwrap();
            assert_eq!(format!("{read:?}"), format!("{:?}", Facts::parse(text).unwrap()), "{text}");
        }
        let read = Facts::read(&texts[0]).unwrap();
        assert_eq!((read.pod_gpu_request(), read.pod_pool_selector()), (Some(3), Some("a100")));
        let read = Facts::read(&texts[3]).unwrap();
        assert_eq!((read.node_name(), read.spec.unschedulable, read.resource_version()), (Some("n1"), Some(true), "9"));
        assert!(read.created_at().is_some() && read.deleted_at().is_some() && read.started_at().is_some());
        let read = Facts::read(&texts[6]).unwrap();
        assert_eq!((read.name(), read.phase()), ("spaced", Some("Running")));
    }
}
