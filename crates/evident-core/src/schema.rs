//! Arrow schemas of the change-log tables and the builder that turns [`Change`]s into
//! record batches.
//!
//! Every table starts with the same identity columns ([`COMMON_COLUMNS`]), then the typed
//! columns of its kind, then `object` (the redacted JSON). Times are
//! `Timestamp(Nanosecond, "UTC")`; the precision of the source is documented per column in
//! `docs/schema.md`, which a test keeps in step with this file.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use serde_json::Value;

use crate::change::{Change, Kind};
use crate::extract::{self, Cell};
use crate::redact::POLICY_VERSION;

/// Version of the table layout, stamped into every file. Bump on any column change.
pub const SCHEMA_VERSION: &str = "evident-changelog-v1";

/// Schema-level metadata keys written into every Parquet file.
pub const META_SCHEMA_VERSION: &str = "evident.schema_version";
pub const META_REDACTION: &str = "evident.redaction_policy";
pub const META_KIND: &str = "evident.kind";

/// Logical column types of the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    U64,
    U32,
    I64,
    Str,
    Time,
    Bool,
}

impl ColumnType {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::U64 => DataType::UInt64,
            ColumnType::U32 => DataType::UInt32,
            ColumnType::I64 => DataType::Int64,
            ColumnType::Str => DataType::Utf8,
            ColumnType::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ColumnType::Bool => DataType::Boolean,
        }
    }
}

type Extractor = for<'a> fn(&'a Change) -> Cell<'a>;

/// One column: its name, type, nullability and how it is read from a change.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    extract: Extractor,
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column").field("name", &self.name).field("ty", &self.ty).finish()
    }
}

const fn col(name: &'static str, ty: ColumnType, extract: Extractor) -> Column {
    Column { name, ty, nullable: true, extract }
}

const fn required(name: &'static str, ty: ColumnType, extract: Extractor) -> Column {
    Column { name, ty, nullable: false, extract }
}

use ColumnType::{Bool, I64, Str, Time, U32, U64};

fn o(change: &Change) -> &Value {
    &change.object
}

/// Identity and bookkeeping columns, first in every table.
pub const COMMON_COLUMNS: &[Column] = &[
    required("seq", U64, |c| Cell::Int(Some(c.seq as i64))),
    required("observed_at", Time, |c| Cell::Time(Some(c.observed_at_ns))),
    required("epoch", U32, |c| Cell::Int(Some(i64::from(c.epoch)))),
    required("op", Str, |c| Cell::Str(Some(c.op.as_str()))),
    required("kind", Str, |c| Cell::Str(Some(c.kind.as_str()))),
    col("namespace", Str, |c| Cell::Str(c.namespace())),
    required("name", Str, |c| Cell::Str(Some(c.name()))),
    required("uid", Str, |c| Cell::Str(Some(c.uid()))),
    required("resource_version", Str, |c| Cell::Str(Some(c.resource_version()))),
    col("created_at", Time, |c| Cell::Time(extract::time_at(o(c), &["metadata", "creationTimestamp"]))),
    col("deleted_at", Time, |c| Cell::Time(extract::time_at(o(c), &["metadata", "deletionTimestamp"]))),
];

/// The redacted object, last in every table.
pub const OBJECT_COLUMN: Column = required("object", Str, |c| Cell::Owned(Some(c.object.to_string())));

pub const POD_COLUMNS: &[Column] = &[
    col("phase", Str, |c| Cell::Str(extract::str_at(o(c), &["status", "phase"]))),
    col("node_name", Str, |c| Cell::Str(extract::str_at(o(c), &["spec", "nodeName"]))),
    col("gpu_request", I64, |c| Cell::Int(extract::pod_gpu_request(o(c)))),
    col("pool_selector", Str, |c| Cell::Str(extract::pod_pool_selector(o(c)))),
    col("node_selector", Str, |c| Cell::Owned(extract::pod_node_selector(o(c)))),
    col("owner_kind", Str, |c| Cell::Str(extract::controller_owner(o(c)).map(|(kind, _)| kind))),
    col("owner_name", Str, |c| Cell::Str(extract::controller_owner(o(c)).map(|(_, name)| name))),
    col("workload", Str, |c| Cell::Owned(extract::pod_workload(o(c)))),
    col("scheduler_name", Str, |c| Cell::Str(extract::str_at(o(c), &["spec", "schedulerName"]))),
    col("scheduled_status", Str, |c| Cell::Str(extract::condition_str(o(c), "PodScheduled", "status"))),
    col("scheduled_reason", Str, |c| Cell::Str(extract::condition_str(o(c), "PodScheduled", "reason"))),
    col("scheduled_message", Str, |c| Cell::Str(extract::condition_str(o(c), "PodScheduled", "message"))),
    col("scheduled_at", Time, |c| Cell::Time(extract::condition_true_at(o(c), "PodScheduled"))),
    col("initialized_at", Time, |c| Cell::Time(extract::condition_true_at(o(c), "Initialized"))),
    col("containers_ready_at", Time, |c| Cell::Time(extract::condition_true_at(o(c), "ContainersReady"))),
    col("ready_at", Time, |c| Cell::Time(extract::condition_true_at(o(c), "Ready"))),
    col("started_at", Time, |c| Cell::Time(extract::time_at(o(c), &["status", "startTime"]))),
];

pub const NODE_COLUMNS: &[Column] = &[
    col("pool", Str, |c| Cell::Str(extract::node_pool(o(c)))),
    col("gpu_capacity", I64, |c| Cell::Int(extract::node_gpus(o(c), "capacity"))),
    col("gpu_allocatable", I64, |c| Cell::Int(extract::node_gpus(o(c), "allocatable"))),
    col("gpu_product", Str, |c| Cell::Str(extract::str_at(o(c), &["metadata", "labels", "nvidia.com/gpu.product"]))),
    col("cpu_allocatable", Str, |c| Cell::Str(extract::str_at(o(c), &["status", "allocatable", "cpu"]))),
    col("memory_allocatable", Str, |c| Cell::Str(extract::str_at(o(c), &["status", "allocatable", "memory"]))),
    col("taints", Str, |c| Cell::Owned(extract::node_taints(o(c)))),
    col("unschedulable", Bool, |c| {
        Cell::Bool(extract::path(o(c), &["spec", "unschedulable"]).and_then(Value::as_bool))
    }),
    col("ready", Str, |c| Cell::Str(extract::condition_str(o(c), "Ready", "status"))),
    col("ready_at", Time, |c| Cell::Time(extract::condition_true_at(o(c), "Ready"))),
    col("kubelet_version", Str, |c| Cell::Str(extract::node_kubelet_version(o(c)))),
    col("kwok_managed", Bool, |c| Cell::Bool(extract::node_kwok_managed(o(c)))),
];

pub const EVENT_COLUMNS: &[Column] = &[
    col("reason", Str, |c| Cell::Str(extract::str_at(o(c), &["reason"]))),
    col("event_type", Str, |c| Cell::Str(extract::str_at(o(c), &["type"]))),
    col("message", Str, |c| Cell::Str(extract::str_at(o(c), &["message"]))),
    col("involved_kind", Str, |c| Cell::Str(extract::str_at(o(c), &["involvedObject", "kind"]))),
    col("involved_namespace", Str, |c| Cell::Str(extract::str_at(o(c), &["involvedObject", "namespace"]))),
    col("involved_name", Str, |c| Cell::Str(extract::str_at(o(c), &["involvedObject", "name"]))),
    col("involved_uid", Str, |c| Cell::Str(extract::str_at(o(c), &["involvedObject", "uid"]))),
    col("source_component", Str, |c| Cell::Str(extract::event_source_component(o(c)))),
    col("source_host", Str, |c| Cell::Str(extract::event_source_host(o(c)))),
    col("count", I64, |c| Cell::Int(extract::int_at(o(c), &["count"]))),
    col("first_timestamp", Time, |c| Cell::Time(extract::time_at(o(c), &["firstTimestamp"]))),
    col("last_timestamp", Time, |c| Cell::Time(extract::time_at(o(c), &["lastTimestamp"]))),
    col("event_time", Time, |c| Cell::Time(extract::time_at(o(c), &["eventTime"]))),
    col("series_count", I64, |c| Cell::Int(extract::int_at(o(c), &["series", "count"]))),
    col("series_last_observed", Time, |c| Cell::Time(extract::time_at(o(c), &["series", "lastObservedTime"]))),
];

/// All columns of a kind's table, in order.
pub fn columns(kind: Kind) -> Vec<Column> {
    let typed = match kind {
        Kind::Pod => POD_COLUMNS,
        Kind::Node => NODE_COLUMNS,
        Kind::Event => EVENT_COLUMNS,
    };
    COMMON_COLUMNS.iter().chain(typed).copied().chain([OBJECT_COLUMN]).collect()
}

/// The Arrow schema of a kind's change log, with evident's metadata.
pub fn schema(kind: Kind) -> SchemaRef {
    let fields: Vec<Field> =
        columns(kind).iter().map(|column| Field::new(column.name, column.ty.data_type(), column.nullable)).collect();
    let metadata = [
        (META_SCHEMA_VERSION.to_string(), SCHEMA_VERSION.to_string()),
        (META_REDACTION.to_string(), POLICY_VERSION.to_string()),
        (META_KIND.to_string(), kind.as_str().to_string()),
    ]
    .into_iter()
    .collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

enum ColumnBuilder {
    U64(UInt64Builder),
    U32(UInt32Builder),
    I64(Int64Builder),
    Str(StringBuilder),
    Time(TimestampNanosecondBuilder),
    Bool(BooleanBuilder),
}

impl ColumnBuilder {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::U64 => ColumnBuilder::U64(UInt64Builder::new()),
            ColumnType::U32 => ColumnBuilder::U32(UInt32Builder::new()),
            ColumnType::I64 => ColumnBuilder::I64(Int64Builder::new()),
            ColumnType::Str => ColumnBuilder::Str(StringBuilder::new()),
            ColumnType::Time => ColumnBuilder::Time(TimestampNanosecondBuilder::new().with_timezone("UTC")),
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
        }
    }

    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (ColumnBuilder::Str(b), Cell::Str(v)) => b.append_option(v),
            (ColumnBuilder::Str(b), Cell::Owned(v)) => b.append_option(v),
            (ColumnBuilder::U64(b), Cell::Int(v)) => b.append_option(v.map(|v| v as u64)),
            (ColumnBuilder::U32(b), Cell::Int(v)) => b.append_option(v.map(|v| v as u32)),
            (ColumnBuilder::I64(b), Cell::Int(v)) => b.append_option(v),
            (ColumnBuilder::Time(b), Cell::Time(v)) => b.append_option(v),
            (ColumnBuilder::Bool(b), Cell::Bool(v)) => b.append_option(v),
            // The column table pairs each type with a matching extractor; a mismatch is a
            // programming error caught by the unit tests below.
            (_, cell) => unreachable!("extractor produced {cell:?} for a column of another type"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::U64(b) => Arc::new(b.finish()),
            ColumnBuilder::U32(b) => Arc::new(b.finish()),
            ColumnBuilder::I64(b) => Arc::new(b.finish()),
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
        }
    }
}

/// Accumulates changes of one kind and produces Arrow record batches.
pub struct ChangeBatchBuilder {
    kind: Kind,
    schema: SchemaRef,
    columns: Vec<Column>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl std::fmt::Debug for ChangeBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeBatchBuilder").field("kind", &self.kind).field("rows", &self.rows).finish()
    }
}

impl ChangeBatchBuilder {
    pub fn new(kind: Kind) -> Self {
        let columns = columns(kind);
        let builders = columns.iter().map(|column| ColumnBuilder::new(column.ty)).collect();
        ChangeBatchBuilder { kind, schema: schema(kind), columns, builders, rows: 0 }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one change. Changes of another kind are a caller bug.
    pub fn append(&mut self, change: &Change) {
        self.append_with_object_json(change, &change.object.to_string());
    }

    /// Appends one change whose object the caller has already serialized (the recorder
    /// writes the same JSON to its WAL), so it is not serialized a second time.
    /// `object_json` must be `change.object` as JSON.
    pub fn append_with_object_json(&mut self, change: &Change, object_json: &str) {
        debug_assert_eq!(change.kind, self.kind);
        let (object_builder, typed) = self.builders.split_last_mut().expect("every table has columns");
        for (column, builder) in self.columns.iter().zip(typed) {
            builder.append((column.extract)(change));
        }
        object_builder.append(Cell::Str(Some(object_json)));
        self.rows += 1;
    }

    /// Takes the rows appended so far as one batch and starts afresh.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays = self.builders.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Op;
    use serde_json::json;

    #[test]
    fn object_is_the_last_column_of_every_table() {
        // ChangeBatchBuilder::append_with_object_json relies on it.
        for kind in [Kind::Node, Kind::Pod, Kind::Event] {
            assert_eq!(columns(kind).last().map(|c| c.name), Some(OBJECT_COLUMN.name), "{kind:?}");
        }
    }

    #[test]
    fn every_kind_builds_a_batch_with_its_schema() {
        let objects = [
            (Kind::Node, json!({"metadata": {"name": "n", "uid": "u1", "resourceVersion": "1"}})),
            (Kind::Pod, json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u2", "resourceVersion": "2"}})),
            (
                Kind::Event,
                json!({"metadata": {"name": "e", "namespace": "ns", "uid": "u3", "resourceVersion": "3"}, "count": 2}),
            ),
        ];
        for (kind, object) in objects {
            let mut builder = ChangeBatchBuilder::new(kind);
            builder.append(&Change::new(7, 1_000, 1, Op::Added, kind, object.clone()));
            builder.append(&Change::new(8, 2_000, 1, Op::Modified, kind, object));
            let batch = builder.finish().unwrap();
            assert_eq!(batch.num_rows(), 2);
            assert_eq!(batch.schema().metadata()[META_KIND], kind.as_str());
            assert!(builder.is_empty());
        }
    }

    #[test]
    fn column_names_are_unique() {
        for kind in Kind::ALL {
            let mut names: Vec<_> = columns(kind).iter().map(|c| c.name).collect();
            let before = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(before, names.len(), "{kind:?}");
        }
    }
}
