//! Arrow schemas of the change-log tables and the builder that turns [`Change`]s into
//! record batches.
//!
//! Every table starts with the same identity columns ([`COMMON_COLUMNS`]), then the typed
//! columns of its kind, then `object` (the redacted JSON). Times are
//! `Timestamp(Nanosecond, "UTC")`; the precision of the source is documented per column in
//! `docs/schema.md`, which a test keeps in step with this file.

use std::sync::Arc;

use crate::change::{Change, Kind};
use crate::extract::{Cell, Facts, Text};
use crate::redact::POLICY_VERSION;
use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

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

/// What a column is read from: the change, and the facts parsed once from its object.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub change: &'a Change,
    pub facts: &'a Facts<'a>,
}

type Extractor = for<'a> fn(&Row<'a>) -> Cell<'a>;

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

/// Identity and bookkeeping columns, first in every table.
pub const COMMON_COLUMNS: &[Column] = &[
    required("seq", U64, |r| Cell::Int(Some(r.change.seq as i64))),
    required("observed_at", Time, |r| Cell::Time(Some(r.change.observed_at_ns))),
    required("epoch", U32, |r| Cell::Int(Some(i64::from(r.change.epoch)))),
    required("op", Str, |r| Cell::Str(Some(r.change.op.as_str()))),
    required("kind", Str, |r| Cell::Str(Some(r.change.kind.as_str()))),
    col("namespace", Str, |r| Cell::Str(r.facts.namespace())),
    required("name", Str, |r| Cell::Str(Some(r.facts.name()))),
    required("uid", Str, |r| Cell::Str(Some(r.facts.uid()))),
    required("resource_version", Str, |r| Cell::Str(Some(r.facts.resource_version()))),
    col("created_at", Time, |r| Cell::Time(r.facts.created_at())),
    col("deleted_at", Time, |r| Cell::Time(r.facts.deleted_at())),
];

/// The redacted object, last in every table.
pub const OBJECT_COLUMN: Column = required("object", Str, |r| Cell::Str(Some(&r.change.json)));

pub const POD_COLUMNS: &[Column] = &[
    col("phase", Str, |r| Cell::Str(r.facts.phase())),
    col("node_name", Str, |r| Cell::Str(r.facts.node_name())),
    col("gpu_request", I64, |r| Cell::Int(r.facts.pod_gpu_request())),
    col("pool_selector", Str, |r| Cell::Str(r.facts.pod_pool_selector())),
    col("node_selector", Str, |r| Cell::Owned(r.facts.pod_node_selector())),
    col("owner_kind", Str, |r| Cell::Str(r.facts.controller_owner().map(|(kind, _)| kind))),
    col("owner_name", Str, |r| Cell::Str(r.facts.controller_owner().map(|(_, name)| name))),
    col("workload", Str, |r| Cell::Str(r.facts.pod_workload())),
    col("scheduler_name", Str, |r| Cell::Str(r.facts.scheduler_name())),
    col("scheduled_status", Str, |r| Cell::Str(r.facts.condition_status("PodScheduled"))),
    col("scheduled_reason", Str, |r| Cell::Str(r.facts.condition_reason("PodScheduled"))),
    col("scheduled_message", Str, |r| Cell::Str(r.facts.condition_message("PodScheduled"))),
    col("scheduled_at", Time, |r| Cell::Time(r.facts.condition_true_at("PodScheduled"))),
    col("initialized_at", Time, |r| Cell::Time(r.facts.condition_true_at("Initialized"))),
    col("containers_ready_at", Time, |r| Cell::Time(r.facts.condition_true_at("ContainersReady"))),
    col("ready_at", Time, |r| Cell::Time(r.facts.condition_true_at("Ready"))),
    col("started_at", Time, |r| Cell::Time(r.facts.started_at())),
];

pub const NODE_COLUMNS: &[Column] = &[
    col("pool", Str, |r| Cell::Str(r.facts.node_pool())),
    col("gpu_capacity", I64, |r| Cell::Int(r.facts.node_gpus("capacity"))),
    col("gpu_allocatable", I64, |r| Cell::Int(r.facts.node_gpus("allocatable"))),
    col("gpu_product", Str, |r| Cell::Str(r.facts.label("nvidia.com/gpu.product"))),
    col("cpu_allocatable", Str, |r| Cell::Str(r.facts.node_allocatable("cpu"))),
    col("memory_allocatable", Str, |r| Cell::Str(r.facts.node_allocatable("memory"))),
    col("taints", Str, |r| Cell::Owned(r.facts.node_taints())),
    col("unschedulable", Bool, |r| Cell::Bool(r.facts.spec.unschedulable)),
    col("ready", Str, |r| Cell::Str(r.facts.condition_status("Ready"))),
    col("ready_at", Time, |r| Cell::Time(r.facts.condition_true_at("Ready"))),
    col("kubelet_version", Str, |r| Cell::Str(r.facts.node_kubelet_version())),
    col("kwok_managed", Bool, |r| Cell::Bool(r.facts.node_kwok_managed())),
];

pub const EVENT_COLUMNS: &[Column] = &[
    col("reason", Str, |r| Cell::Str(r.facts.event_reason())),
    col("event_type", Str, |r| Cell::Str(r.facts.event_type())),
    col("message", Str, |r| Cell::Str(r.facts.event_message())),
    col("involved_kind", Str, |r| Cell::Str(r.facts.involved_object.kind.as_ref().map(Text::as_str))),
    col("involved_namespace", Str, |r| Cell::Str(r.facts.involved_object.namespace.as_ref().map(Text::as_str))),
    col("involved_name", Str, |r| Cell::Str(r.facts.involved_object.name.as_ref().map(Text::as_str))),
    col("involved_uid", Str, |r| Cell::Str(r.facts.involved_object.uid.as_ref().map(Text::as_str))),
    col("source_component", Str, |r| Cell::Str(r.facts.event_source_component())),
    col("source_host", Str, |r| Cell::Str(r.facts.event_source_host())),
    col("count", I64, |r| Cell::Int(r.facts.count)),
    col("first_timestamp", Time, |r| Cell::Time(r.facts.event_first_timestamp())),
    col("last_timestamp", Time, |r| Cell::Time(r.facts.event_last_timestamp())),
    col("event_time", Time, |r| Cell::Time(r.facts.event_time())),
    col("series_count", I64, |r| Cell::Int(r.facts.series.count)),
    col("series_last_observed", Time, |r| Cell::Time(r.facts.event_series_last_observed())),
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
            ColumnBuilder::Str(b) => {
                let array = b.finish();
                // Room for a batch like this one, instead of growing (and copying) into it.
                *b = StringBuilder::with_capacity(array.len(), array.values().len());
                Arc::new(array)
            }
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

    /// Appends one change. Changes of another kind are a caller bug. Fails only when the
    /// change's JSON is invalid, and then appends nothing.
    pub fn append(&mut self, change: &Change) -> Result<(), serde_json::Error> {
        let facts = change.facts()?;
        self.append_with_facts(change, &facts);
        Ok(())
    }

    /// Appends one change whose facts the caller has already read (the recorder reads them
    /// while redacting, see [`crate::redact::redact_read`]), so they are not read a second
    /// time. `facts` must equal `change.facts()`.
    pub fn append_with_facts(&mut self, change: &Change, facts: &Facts<'_>) {
        debug_assert_eq!(change.kind, self.kind);
        let row = Row { change, facts };
        for (column, builder) in self.columns.iter().zip(&mut self.builders) {
            builder.append((column.extract)(&row));
        }
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
            let redactor = crate::redact::Redactor::from_key([0; crate::redact::KEY_BYTES]);
            builder.append(&Change::new(7, 1_000, 1, Op::Added, kind, object.clone(), &redactor)).unwrap();
            builder.append(&Change::new(8, 2_000, 1, Op::Modified, kind, object, &redactor)).unwrap();
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
