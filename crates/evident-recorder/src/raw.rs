//! Objects as the API server sent them, kept as JSON text.
//!
//! The watch decodes every list item and watch event into a [`RawObject`] without building
//! a tree of the object (a `DynamicObject` of a 5 KiB pod cost several times the rest of
//! the write path, and had to be serialized back to text afterwards): serde_json hands over
//! the object's text as it came, checked but not copied token by token, and the few
//! metadata fields the watcher needs are then read from the text with
//! [`evident_core::json::Reader`]: `resourceVersion` (to resume watches), `uid` (to tell
//! additions from modifications and to write tombstones), `name` and `namespace`.

use std::borrow::Cow;
use std::fmt;

use evident_core::json::{self, Cursor, Reader};
use kube::api::ApiResource;
use kube::core::{DynamicResourceScope, ObjectMeta, Resource};
use serde::Deserialize as _;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// One object as JSON text, with the metadata the watcher reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawObject {
    /// `name`, `namespace`, `uid` and `resourceVersion`; every other field is left empty.
    pub metadata: ObjectMeta,
    /// The object's JSON text as the API server sent it (compact, members in its order).
    pub json: String,
    /// Whether the object has top-level `apiVersion` and `kind` (items of a list have not).
    has_api_version: bool,
    has_kind: bool,
}

impl RawObject {
    /// Adds `apiVersion` and `kind` from `resource` where the object lacks them (list
    /// items), as the first members, so every recorded row describes itself.
    pub fn fill_type(&mut self, resource: &ApiResource) {
        if self.has_api_version && self.has_kind {
            return;
        }
        let mut head = String::from("{");
        for (present, key, value) in
            [(self.has_api_version, "apiVersion", &resource.api_version), (self.has_kind, "kind", &resource.kind)]
        {
            if !present {
                head.push_str(&serde_json::to_string(key).unwrap_or_default());
                head.push(':');
                head.push_str(&serde_json::to_string(value).unwrap_or_default());
                head.push(',');
            }
        }
        let rest = &self.json[1..];
        if rest.trim_start().starts_with('}') {
            head.pop();
        }
        head.push_str(rest);
        self.json = head;
        (self.has_api_version, self.has_kind) = (true, true);
    }
}

impl Resource for RawObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(resource: &ApiResource) -> Cow<'_, str> {
        resource.kind.as_str().into()
    }

    fn group(resource: &ApiResource) -> Cow<'_, str> {
        resource.group.as_str().into()
    }

    fn version(resource: &ApiResource) -> Cow<'_, str> {
        resource.version.as_str().into()
    }

    fn api_version(resource: &ApiResource) -> Cow<'_, str> {
        resource.api_version.as_str().into()
    }

    fn plural(resource: &ApiResource) -> Cow<'_, str> {
        resource.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The name under which serde_json hands a value's raw text to a visitor (what its
/// `RawValue` asks for; serde_json's own name, relied on here for speed only). Other
/// deserializers treat it as any newtype name, and the object goes through a tree instead:
/// slower, and its keys come out sorted.
const SERDE_JSON_RAW_VALUE: &str = "$serde_json::private::RawValue";

impl<'de> serde::Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(SERDE_JSON_RAW_VALUE, ObjectVisitor)
    }
}

/// Takes the object's text from serde_json as it is, or rebuilds it from any other
/// deserializer.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = RawObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object (a JSON object)")
    }

    /// serde_json: one member, the raw value's name, whose value is the (validated) text.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
        if map.next_key::<String>()?.as_deref() != Some(SERDE_JSON_RAW_VALUE) {
            return Err(de::Error::custom("expected the raw text of a Kubernetes object"));
        }
        RawObject::from_json(map.next_value()?).ok_or_else(|| de::Error::custom(OBJECT_EXPECTED))
    }

    /// Any other deserializer (serde buffers a watch event whose `object` comes before its
    /// `type`, which the API server never sends): through a tree, with keys sorted.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawObject, D::Error> {
        let tree = serde_json::Value::deserialize(deserializer)?;
        RawObject::from_json(tree.to_string()).ok_or_else(|| de::Error::custom(OBJECT_EXPECTED))
    }
}

const OBJECT_EXPECTED: &str = "expected a Kubernetes object (a JSON object)";

impl RawObject {
    /// Wraps JSON text (already known to be valid JSON), reading the metadata the watcher
    /// needs. Stops reading once it has seen `apiVersion`, `kind` and `metadata`, which the
    /// API server sends first; and inside `metadata`, at `managedFields` (the API server's
    /// last and largest member there) once every field it needs is known. `None` when the
    /// text is not an object, or its metadata is neither an object nor `null`.
    fn from_json(json: String) -> Option<RawObject> {
        let (mut has_api_version, mut has_kind, mut has_metadata) = (false, false, false);
        let mut meta = ObjectMeta::default();
        Reader::new(&json).object(|r, key| {
            match key {
                "apiVersion" => has_api_version = true,
                "kind" => has_kind = true,
                "metadata" => has_metadata = true,
                _ => {}
            }
            if key != "metadata" {
                r.pass()?;
            } else if !r.null() {
                let mut done = false;
                r.object(|r, key| {
                    let field = match key {
                        "name" => &mut meta.name,
                        "namespace" => &mut meta.namespace,
                        "uid" => &mut meta.uid,
                        "resourceVersion" => &mut meta.resource_version,
                        // A cluster-scoped object has no namespace: it is read to the end.
                        "managedFields" if has_api_version && has_kind && all_known(&meta) => {
                            done = true;
                            return Some(false);
                        }
                        _ => return r.pass(),
                    };
                    *field = json::string(r.take()?).map(String::from);
                    Some(true)
                })?;
                if done {
                    return Some(false);
                }
            }
            Some(!(has_api_version && has_kind && has_metadata))
        })?;
        Some(RawObject { metadata: meta, json, has_api_version, has_kind })
    }
}

fn all_known(meta: &ObjectMeta) -> bool {
    [&meta.name, &meta.namespace, &meta.uid, &meta.resource_version].iter().all(|field| field.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::WatchEvent;
    use kube::core::ObjectList;
    use serde_json::json;

    fn tree(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn keeps_every_value_and_the_metadata_the_watcher_reads() {
        let text = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p\"1","namespace":"ns","uid":"u-1","resourceVersion":"42","labels":{"name":"not-this"},"managedFields":[{"f:spec":{"k:{\"name\":\"c\"}":{}}}]},"spec":{"containers":[{"name":"c","env":[{"name":"E","value":"tab\t é 😀 \u0001"}]}],"priority":-5,"overhead":null,"ratio":0.25,"big":18446744073709551615,"empty":{},"none":[],"flags":[true,false]},"status":{}}"#;
        let raw: RawObject = serde_json::from_str(text).unwrap();
        assert_eq!(tree(&raw.json), tree(text));
        let spaced: RawObject = serde_json::from_str(" {\n \"a\" : [ 1 , { } ] } ").unwrap();
        assert_eq!(spaced.json, "{\n \"a\" : [ 1 , { } ] }", "serde_json hands over the text as it came");
        let meta = &raw.metadata;
        assert_eq!(
            (meta.name.as_deref(), meta.namespace.as_deref(), meta.uid.as_deref(), meta.resource_version.as_deref()),
            (Some("p\"1"), Some("ns"), Some("u-1"), Some("42"))
        );
        assert_eq!(meta.labels, None, "nothing else is kept");
        let no_metadata: RawObject = serde_json::from_str(r#"{"metadata":null,"kind":"Pod"}"#).unwrap();
        assert_eq!((no_metadata.metadata, no_metadata.has_kind), (ObjectMeta::default(), true));
        assert!(serde_json::from_str::<RawObject>(r#"{"metadata":"m"}"#).is_err());
        assert!(serde_json::from_str::<RawObject>("[1]").is_err());
        assert!(serde_json::from_str::<RawObject>(r#"{"a":"#).is_err());
    }

    #[test]
    fn stops_at_managed_fields_only_once_the_metadata_it_needs_is_known() {
        let head = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u","resourceVersion":"1","managedFields":"#;
        // Everything after `managedFields` is left unread (the tail here is not even JSON).
        let raw = RawObject::from_json(format!("{head}[{{not json")).unwrap();
        assert_eq!(raw.metadata.resource_version.as_deref(), Some("1"));
        assert!(raw.has_api_version && raw.has_kind);

        let early = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"managedFields":[{}],"name":"p","namespace":"n","uid":"u","resourceVersion":"3"}}"#;
        assert_eq!(RawObject::from_json(early.into()).unwrap().metadata.resource_version.as_deref(), Some("3"));
        // No namespace (a Node), or no type yet (a list item): read to the end of metadata.
        let node = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n","uid":"u","resourceVersion":"4","managedFields":[],"namespace":"late"}}"#;
        assert_eq!(RawObject::from_json(node.into()).unwrap().metadata.namespace.as_deref(), Some("late"));
        let item = r#"{"metadata":{"name":"p","namespace":"n","uid":"u","resourceVersion":"5","managedFields":[]},"kind":"Pod"}"#;
        assert!(RawObject::from_json(item.into()).unwrap().has_kind);
    }

    #[test]
    fn reads_watch_events_and_list_items_and_fills_in_their_type() {
        let event = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata": {"uid":"u","resourceVersion":"7"},"spec":{}}}"#;
        let Ok(WatchEvent::Modified(raw)) = serde_json::from_str::<WatchEvent<RawObject>>(event) else {
            panic!("not a MODIFIED event");
        };
        // The object's text is passed on as it came (the space is kept), not rebuilt.
        assert_eq!(
            raw.json,
            r#"{"kind":"Pod","apiVersion":"v1","metadata": {"uid":"u","resourceVersion":"7"},"spec":{}}"#
        );
        assert_eq!((raw.metadata.uid.as_deref(), raw.metadata.resource_version.as_deref()), (Some("u"), Some("7")));
        let mut filled = raw.clone();
        filled.fill_type(&kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()));
        assert_eq!(filled.json, raw.json, "an object with its type is left alone");

        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
                          "items": [{"metadata": {"uid": "a"}, "spec": {}}, {}]});
        let list: ObjectList<RawObject> = serde_json::from_str(&list.to_string()).unwrap();
        let resource = kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
        let mut items = list.items;
        for item in &mut items {
            item.fill_type(&resource);
        }
        assert_eq!(items[0].json, r#"{"apiVersion":"v1","kind":"Pod","metadata":{"uid":"a"},"spec":{}}"#);
        assert_eq!(items[1].json, r#"{"apiVersion":"v1","kind":"Pod"}"#);
        assert_eq!(items[0].metadata.uid.as_deref(), Some("a"));

        // An event whose object comes before its type is buffered by serde, so the object
        // is not JSON text any more: it goes through a tree, and is kept all the same.
        let late_type = r#"{"object":{"metadata":{"uid":"u","resourceVersion":"8"},"kind":"Pod"},"type":"ADDED"}"#;
        let Ok(WatchEvent::Added(raw)) = serde_json::from_str::<WatchEvent<RawObject>>(late_type) else {
            panic!("not an ADDED event");
        };
        assert_eq!(raw.json, r#"{"kind":"Pod","metadata":{"resourceVersion":"8","uid":"u"}}"#);
        assert_eq!(raw.metadata.resource_version.as_deref(), Some("8"));
        assert!(serde_json::from_str::<WatchEvent<RawObject>>(r#"{"object":[1],"type":"ADDED"}"#).is_err());
    }
}
