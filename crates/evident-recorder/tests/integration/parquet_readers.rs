//! The segments are plain Parquet: DataFusion reads them back, through its low-level
//! reader and through SQL, with row counts equal to the manifest's, the schema of
//! `evident_core::schema`, and the typed columns re-derivable from the JSON column.

use crate::common;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use evident_core::Kind;
use evident_recorder::{ChangeStore, StoreConfig};
use evident_testkit::objects::SyntheticCluster;

fn recorded_run(dir: &std::path::Path) -> (std::path::PathBuf, evident_core::run_manifest::RunManifest) {
    let run = dir.join("run");
    let (mut store, _) = ChangeStore::open(&run, StoreConfig::default().with_segment_max_rows(700)).unwrap();
    let mut cluster = SyntheticCluster::new(150, 11);
    for seq in 0..3_000i64 {
        let change = cluster.next_change();
        store.append(change.kind, change.op, 1, seq, &change.object.to_string()).unwrap();
    }
    let manifest = store.close("duration").unwrap();
    (run, manifest)
}

#[test]
fn the_low_level_reader_sees_the_manifest_row_counts_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = recorded_run(dir.path());
    assert_eq!(common::row_counts(&run), manifest.row_counts);
    assert_eq!(manifest.row_counts.values().sum::<u64>(), 3_000);
    assert!(manifest.row_counts.values().all(|rows| *rows > 0), "{:?}", manifest.row_counts);
    for segment in &manifest.segments {
        let batches = common::read_segment(&run.join(&segment.path));
        let kind = Kind::from_table(&segment.table).unwrap();
        let expected = evident_core::schema::schema(kind);
        for batch in &batches {
            assert_eq!(batch.schema().fields(), expected.fields(), "{}", segment.path);
        }
        let file = std::fs::File::open(run.join(&segment.path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for (key, value) in expected.metadata() {
            assert_eq!(reader.schema().metadata().get(key), Some(value), "{key} in {}", segment.path);
        }
        let footer = reader.metadata().file_metadata().key_value_metadata().unwrap();
        let first_seq = footer.iter().find(|kv| kv.key == "evident.first_seq").and_then(|kv| kv.value.clone());
        assert_eq!(first_seq, Some(segment.first_seq.to_string()));
        assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), segment.rows);
        assert_eq!(std::fs::metadata(run.join(&segment.path)).unwrap().len(), segment.bytes);
    }
}

#[tokio::test]
async fn datafusion_sql_counts_the_same_rows_and_typed_columns_match_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let (run, manifest) = recorded_run(dir.path());
    let ctx = SessionContext::new();
    for kind in Kind::ALL {
        let path = run.join(kind.table());
        ctx.register_parquet(kind.table(), path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
        let batches =
            ctx.sql(&format!("SELECT count(*) AS n FROM {}", kind.table())).await.unwrap().collect().await.unwrap();
        let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        assert_eq!(count as u64, manifest.row_counts[kind.table()], "{}", kind.table());
    }
    let rows = common::read_rows(&run);
    let pods_with_phase = rows
        .iter()
        .filter(|row| row.kind == Kind::Pod)
        .filter(|row| serde_json::from_str::<serde_json::Value>(&row.object).unwrap()["status"]["phase"].is_string())
        .count();
    let batches = ctx.sql("SELECT count(*) FROM pods WHERE phase IS NOT NULL").await.unwrap().collect().await.unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0) as usize, pods_with_phase);
}
