//! The `metrics` table: samples scraped from Prometheus text endpoints (GPU exporters such as
//! dcgm-exporter) while recording, one row per sample per scrape.
//!
//! Unlike the change log, rows are not Kubernetes objects: there is no `seq`/`uid`, but a
//! `scrape_seq` (the scrape's place in the run, from 0, without holes) that plays the same
//! role for durability. The labels DCGM uses are extracted into typed columns for the hot
//! paths (`node`, `gpu`, `uuid`, `model`, `namespace`, `pod`, `container`); every label is also
//! kept in `labels` (a JSON object), which stays the source of truth. Columns are documented
//! in `docs/schema.md`, which a test keeps in step with [`schema`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use crate::exposition::Sample;
use crate::schema::{META_KIND, META_SCHEMA_VERSION};

/// Table (and directory) name of the scraped metrics.
pub const TABLE: &str = "metrics";
/// Version of the metrics table layout, stamped into every file. Bump on any column change.
pub const SCHEMA_VERSION: &str = "evident-metrics-v1";

/// Label names read into the `node` column, first match wins: dcgm-exporter's `Hostname`,
/// then the names relabelling rules commonly give the node.
pub const NODE_LABELS: &[&str] = &["Hostname", "node", "kubernetes_node"];
/// Label names of the pod a GPU is allocated to; dcgm-exporter before 2.4 used the `*_name` forms.
pub const NAMESPACE_LABELS: &[&str] = &["namespace", "pod_namespace", "exported_namespace"];
pub const POD_LABELS: &[&str] = &["pod", "pod_name", "exported_pod"];
pub const CONTAINER_LABELS: &[&str] = &["container", "container_name", "exported_container"];

fn time() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The Arrow schema of the `metrics` table, with evident's metadata.
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let fields = vec![
        Field::new("scrape_seq", DataType::UInt64, false),
        Field::new("scraped_at", time(), false),
        text("endpoint", false),
        text("metric", false),
        text("metric_type", true),
        Field::new("value", DataType::Float64, false),
        Field::new("sampled_at", time(), true),
        text("node", true),
        text("gpu", true),
        text("uuid", true),
        text("model", true),
        text("namespace", true),
        text("pod", true),
        text("container", true),
        text("labels", false),
    ];
    let metadata =
        [(META_SCHEMA_VERSION.to_string(), SCHEMA_VERSION.to_string()), (META_KIND.to_string(), TABLE.to_string())]
            .into_iter()
            .collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The labels as a JSON object with sorted keys (a later duplicate of a name wins).
pub fn labels_json(labels: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        labels.iter().map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone()))).collect();
    serde_json::Value::Object(map).to_string()
}

/// Accumulates rows of the `metrics` table into record batches.
#[derive(Debug)]
pub struct MetricBatchBuilder {
    scrape_seq: UInt64Builder,
    scraped_at: TimestampNanosecondBuilder,
    endpoint: StringBuilder,
    metric: StringBuilder,
    metric_type: StringBuilder,
    value: Float64Builder,
    sampled_at: TimestampNanosecondBuilder,
    /// node, gpu, uuid, model, namespace, pod, container.
    typed_labels: [StringBuilder; 7],
    labels: StringBuilder,
    len: usize,
}

impl Default for MetricBatchBuilder {
    fn default() -> Self {
        MetricBatchBuilder {
            scrape_seq: UInt64Builder::new(),
            scraped_at: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            endpoint: StringBuilder::new(),
            metric: StringBuilder::new(),
            metric_type: StringBuilder::new(),
            value: Float64Builder::new(),
            sampled_at: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            typed_labels: std::array::from_fn(|_| StringBuilder::new()),
            labels: StringBuilder::new(),
            len: 0,
        }
    }
}

impl MetricBatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of the scrape `scrape_seq`, taken at `scraped_at_ns` from `endpoint`.
    pub fn append(&mut self, scrape_seq: u64, scraped_at_ns: i64, endpoint: &str, sample: &Sample) {
        self.scrape_seq.append_value(scrape_seq);
        self.scraped_at.append_value(scraped_at_ns);
        self.endpoint.append_value(endpoint);
        self.metric.append_value(&sample.name);
        self.metric_type.append_option(sample.metric_type.as_deref());
        self.value.append_value(sample.value);
        self.sampled_at.append_option(sample.timestamp_ms.and_then(|ms| ms.checked_mul(1_000_000)));
        let typed: [&[&str]; 7] =
            [NODE_LABELS, &["gpu"], &["UUID", "uuid"], &["modelName"], NAMESPACE_LABELS, POD_LABELS, CONTAINER_LABELS];
        for (builder, names) in self.typed_labels.iter_mut().zip(typed) {
            builder.append_option(sample.label(names));
        }
        self.labels.append_value(labels_json(&sample.labels));
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rows appended since the last call, as one batch of [`schema`].
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.scrape_seq.finish()),
            Arc::new(self.scraped_at.finish()),
            Arc::new(self.endpoint.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.sampled_at.finish()),
        ];
        columns.extend(self.typed_labels.iter_mut().map(|builder| Arc::new(builder.finish()) as ArrayRef));
        columns.push(Arc::new(self.labels.finish()));
        self.len = 0;
        RecordBatch::try_new(schema(), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;
    use arrow::array::AsArray;

    #[test]
    fn dcgm_labels_fill_the_typed_columns() {
        let text = "DCGM_FI_DEV_GPU_UTIL{gpu=\"3\",UUID=\"GPU-3\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"n1\",pod_name=\"p\",pod_namespace=\"ns\"} 42 1000\n";
        let sample = &parse(text).samples[0];
        let mut builder = MetricBatchBuilder::new();
        builder.append(7, 5, "http://127.0.0.1:9400/metrics", sample);
        let batch = builder.finish().unwrap();
        assert_eq!(batch.schema().fields().len(), schema().fields().len());
        let text_of = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().value(0).to_string();
        assert_eq!(
            ["node", "gpu", "uuid", "model", "namespace", "pod"].map(text_of),
            ["n1", "3", "GPU-3", "NVIDIA H100 80GB HBM3", "ns", "p"]
        );
        assert!(batch.column_by_name("container").unwrap().is_null(0));
        assert!(text_of("labels").starts_with("{\"Hostname\":\"n1\","), "{}", text_of("labels"));
        let sampled = batch.column_by_name("sampled_at").unwrap();
        assert_eq!(
            sampled.as_primitive::<arrow::datatypes::TimestampNanosecondType>().value(0),
            1_000_000_000
        );
        assert!(builder.is_empty());
    }
}
