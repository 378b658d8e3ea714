//! Objects as the API server sent them, kept as JSON text.
//!
//! The watch decodes every list item and watch event into a [`RawObject`]: serde hands the
//! object's tokens straight to a writer that produces compact JSON, so no tree of the object
//! is ever built (a `DynamicObject` of a 5 KiB pod costs several times the rest of the write
//! path, and had to be serialized back to text afterwards). On the way it keeps the few
//! metadata fields the watcher needs: `resourceVersion` (to resume watches) and `uid` (to
//! tell additions from modifications and to write tombstones).

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use kube::api::ApiResource;
use kube::core::{DynamicResourceScope, ObjectMeta, Resource};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One object as JSON text, with the metadata the watcher reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawObject {
    /// `name`, `namespace`, `uid` and `resourceVersion`; every other field is left empty.
    pub metadata: ObjectMeta,
    /// The object, as compact JSON with members in the order received.
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

impl<'de> serde::Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = RawObject::default();
        let mut out = Vec::with_capacity(4096);
        let mut writer = Writer { out: &mut out, object: &mut object };
        deserializer.deserialize_any(Value { writer: &mut writer, at: Place::Top })?;
        if out.first() != Some(&b'{') {
            return Err(de::Error::custom("expected a Kubernetes object (a JSON object)"));
        }
        object.json = String::from_utf8(out).map_err(de::Error::custom)?;
        Ok(object)
    }
}

/// Where a value sits in the object, as far as the watcher cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Metadata,
    Name,
    Namespace,
    Uid,
    ResourceVersion,
    ApiVersion,
    Kind,
    Elsewhere,
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    object: &'a mut RawObject,
}

impl Writer<'_> {
    fn string(&mut self, text: &str, at: Place) {
        let metadata = &mut self.object.metadata;
        match at {
            Place::Name => metadata.name = Some(text.to_string()),
            Place::Namespace => metadata.namespace = Some(text.to_string()),
            Place::Uid => metadata.uid = Some(text.to_string()),
            Place::ResourceVersion => metadata.resource_version = Some(text.to_string()),
            Place::ApiVersion => self.object.has_api_version = true,
            Place::Kind => self.object.has_kind = true,
            Place::Top | Place::Metadata | Place::Elsewhere => {}
        }
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, text);
    }

    /// Writes `open`, the items `item` writes (it returns false when there are no more)
    /// separated by commas, then `close`. Whether another item follows is known only by
    /// trying, so each comma goes out first and is taken back after the last item.
    fn items<E>(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Result<bool, E>) -> Result<(), E> {
        self.out.push(open);
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if !item(self)? {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(close);
        Ok(())
    }
}

/// Writes one value (of any type) to the output.
struct Value<'w, 'a> {
    writer: &'w mut Writer<'a>,
    at: Place,
}

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Value<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.writer.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        let _ = write!(self.writer.out, "{value}");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        let _ = write!(self.writer.out, "{value}");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        // As serde_json writes a float (non-finite ones as null).
        serde_json::to_writer(&mut *self.writer.out, &value).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.writer.string(value, self.at);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.writer.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.writer
            .items(b'[', b']', |writer| Ok(seq.next_element_seed(Value { writer, at: Place::Elsewhere })?.is_some()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let parent = self.at;
        self.writer.items(b'{', b'}', |writer| {
            let Some(at) = map.next_key_seed(Key { writer: &mut *writer, parent })? else {
                return Ok(false);
            };
            writer.out.push(b':');
            map.next_value_seed(Value { writer, at })?;
            Ok(true)
        })
    }
}

/// Writes a member's key and says where its value sits.
struct Key<'w, 'a> {
    writer: &'w mut Writer<'a>,
    parent: Place,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = Place;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Place, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = Place;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Place, E> {
        let _ = serde_json::to_writer(&mut *self.writer.out, key);
        Ok(match (self.parent, key) {
            (Place::Top, "metadata") => Place::Metadata,
            (Place::Top, "apiVersion") => Place::ApiVersion,
            (Place::Top, "kind") => Place::Kind,
            (Place::Metadata, "name") => Place::Name,
            (Place::Metadata, "namespace") => Place::Namespace,
            (Place::Metadata, "uid") => Place::Uid,
            (Place::Metadata, "resourceVersion") => Place::ResourceVersion,
            _ => Place::Elsewhere,
        })
    }
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
        assert_eq!(spaced.json, r#"{"a":[1,{}]}"#);
        let meta = &raw.metadata;
        assert_eq!(
            (meta.name.as_deref(), meta.namespace.as_deref(), meta.uid.as_deref(), meta.resource_version.as_deref()),
            (Some("p\"1"), Some("ns"), Some("u-1"), Some("42"))
        );
        assert_eq!(meta.labels, None, "nothing else is kept");
        assert!(serde_json::from_str::<RawObject>("[1]").is_err());
        assert!(serde_json::from_str::<RawObject>(r#"{"a":"#).is_err());
    }

    #[test]
    fn reads_watch_events_and_list_items_and_fills_in_their_type() {
        let event = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u","resourceVersion":"7"}}}"#;
        let Ok(WatchEvent::Modified(raw)) = serde_json::from_str::<WatchEvent<RawObject>>(event) else {
            panic!("not a MODIFIED event");
        };
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
        assert!(items[0].json.starts_with(r#"{"apiVersion":"v1","kind":"Pod","metadata""#), "{}", items[0].json);
        assert_eq!(tree(&items[0].json)["metadata"]["uid"], "a");
        assert_eq!(items[1].json, r#"{"apiVersion":"v1","kind":"Pod"}"#);
        assert_eq!(items[0].metadata.uid.as_deref(), Some("a"));
    }
}
