//! Keeps `docs/schema.md` and the written schema in step: adding, removing, renaming or
//! retyping a column without documenting it fails here.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, TimeUnit};
use evident_core::Kind;
use evident_core::schema::{self, COMMON_COLUMNS, OBJECT_COLUMN};

fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Timestamp(TimeUnit::Nanosecond, Some(tz)) => format!("Timestamp(ns, {tz})"),
        other => format!("{other:?}"),
    }
}

/// Section title -> rows of (column, type, nullable).
fn documented() -> BTreeMap<String, Vec<(String, String, bool)>> {
    let path = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo"))
        .join("../../docs/schema.md");
    let text = std::fs::read_to_string(path).expect("docs/schema.md is readable");
    let mut sections: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            current = title.trim().to_string();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        sections.entry(current.clone()).or_default().push((name, cells[2].to_string(), cells[3] == "yes"));
    }
    sections
}

fn describe(columns: &[schema::Column]) -> Vec<(String, String, bool)> {
    columns.iter().map(|c| (c.name.to_string(), type_name(&c.ty.data_type()), c.nullable)).collect()
}

#[test]
fn every_table_matches_docs_schema_md() {
    let docs = documented();
    let common = &docs["Common columns (first in every table)"];
    let last = &docs["Last column of every table"];
    assert_eq!(common, &describe(COMMON_COLUMNS), "common columns drifted from docs/schema.md");
    assert_eq!(last, &describe(&[OBJECT_COLUMN]), "object column drifted from docs/schema.md");
    for kind in Kind::ALL {
        let written = schema::schema(kind);
        let mut expected = common.clone();
        expected.extend(docs.get(kind.table()).cloned().unwrap_or_default());
        expected.extend(last.iter().cloned());
        let actual: Vec<_> =
            written.fields().iter().map(|f| (f.name().clone(), type_name(f.data_type()), f.is_nullable())).collect();
        assert_eq!(actual, expected, "table `{}` drifted from docs/schema.md", kind.table());
    }
}

#[test]
fn the_metrics_table_matches_docs_schema_md() {
    let docs = documented();
    let written = evident_core::metric::schema();
    let actual: Vec<_> =
        written.fields().iter().map(|f| (f.name().clone(), type_name(f.data_type()), f.is_nullable())).collect();
    let expected = docs.get(evident_core::metric::TABLE).cloned().unwrap_or_default();
    assert_eq!(actual, expected, "table `metrics` drifted from docs/schema.md");
}
