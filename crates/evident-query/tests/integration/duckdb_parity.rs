//! The named queries give the same numbers in DuckDB as in evident over the same Parquet
//! files: evident's results are written as Parquet, then `tests/duckdb/run_named_queries.py`
//! runs each query in DuckDB (`queries/duckdb/<name>.sql` where a dialect forced a variant)
//! and compares row by row.
//!
//! Runs over every committed sample run (the real lesson-1 recording `evidence/sample` and the
//! synthetic one), over a generated run with a `metrics` table (`evident_testkit::plan`) and
//! over the crafted run of Pending GPU pods (`evident_testkit::gpu_pending`),
//! so every query has rows in at least one run. A query with no rows compares nothing: it
//! fails unless [`EXPECTED_EMPTY`] lists it for that run. Needs a Python with `duckdb` and
//! `pyarrow`: `$EVIDENT_PYTHON` (`make test` sets it from `hack/python-env.sh`, which pins
//! DuckDB 2.0.1: 2.0.0 has no `date_part` for nanosecond TIMESTAMPTZ), else `python3`. Without
//! them the test fails, saying so, unless `EVIDENT_SKIP_DUCKDB=1` is set (a visible skip).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::{queries, repo};
use evident_query::format::write_parquet;
use evident_query::{RunSet, Session};

/// (run, query) pairs whose result is empty by design: the synthetic sample and the crafted run
/// of Pending GPU pods have no scrapes (the real sample was recorded with the fake-gpu-operator's
/// exporter).
const EXPECTED_EMPTY: [(&str, &str); 2] = [("sample-synthetic", "gpu_metrics"), ("pending-classes", "gpu_metrics")];

/// Seed of the generated run with metrics (any seed has them).
const METRICS_PLAN_SEED: u64 = 7;

#[tokio::test]
async fn named_queries_agree_with_duckdb() {
    if std::env::var_os("EVIDENT_SKIP_DUCKDB").is_some_and(|v| v == "1") {
        evident_testkit::skip::skip("duckdb_parity::named_queries_agree_with_duckdb", "EVIDENT_SKIP_DUCKDB=1");
        return;
    }
    let python = std::env::var_os("EVIDENT_PYTHON").unwrap_or_else(|| "python3".into());
    let probe = Command::new(&python).args(["-c", "import duckdb, pyarrow"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        _ => panic!(
            "{} lacks duckdb or pyarrow: set EVIDENT_PYTHON=\"$(hack/python-env.sh)\" (or EVIDENT_SKIP_DUCKDB=1)",
            python.to_string_lossy()
        ),
    }
    let mut gave_rows = BTreeSet::new();
    for sample in ["sample", "sample-synthetic"] {
        gave_rows.extend(compare_with_duckdb(&python, &repo().join("evidence").join(sample)).await);
    }
    let generated = tempfile::tempdir().unwrap();
    let run = generated.path().join("plan-with-metrics");
    evident_testkit::runs::write_plan(&run, &evident_testkit::plan::Plan::generate(METRICS_PLAN_SEED)).unwrap();
    gave_rows.extend(compare_with_duckdb(&python, &run).await);
    // Selectors, affinity (In, NotIn), taints and tolerations: node_admits() against its
    // restatement in queries/duckdb/pending_classification.sql.
    let classes = generated.path().join("pending-classes");
    evident_testkit::gpu_pending::write_pending_classes(&classes).unwrap();
    gave_rows.extend(compare_with_duckdb(&python, &classes).await);
    let queries: BTreeSet<String> = queries().into_iter().map(|query| query.name).collect();
    let never: Vec<_> = queries.difference(&gave_rows).collect();
    assert!(
        never.is_empty(),
        "these queries returned no rows over any run, so DuckDB never checked a value: {never:?}"
    );
}

/// Compares every named query over `run` and returns the names of those that gave rows.
async fn compare_with_duckdb(python: &std::ffi::OsStr, run: &Path) -> BTreeSet<String> {
    let run_name = run.file_name().unwrap().to_string_lossy().into_owned();
    let session = Session::new(&RunSet::open_run(run).unwrap()).await.unwrap();
    let results = tempfile::tempdir().unwrap();
    let queries = queries();
    for query in &queries {
        let (schema, batches) = session.query(&query.sql).await.unwrap();
        write_parquet(&results.path().join(format!("{}.parquet", query.name)), &schema, &batches).unwrap();
    }
    let output = Command::new(python)
        .arg(repo().join("tests/duckdb/run_named_queries.py"))
        .arg("--run")
        .arg(run)
        .arg("--queries")
        .arg(repo().join("queries"))
        .arg("--compare")
        .arg(results.path())
        .args(
            EXPECTED_EMPTY
                .iter()
                .filter(|(sample, _)| *sample == run_name)
                .flat_map(|(_, query)| ["--allow-empty", query]),
        )
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "DuckDB disagrees on {}:\n{stdout}\n{stderr}", run.display());
    let mut gave_rows = BTreeSet::new();
    for query in &queries {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("ok   {}:", query.name)))
            .unwrap_or_else(|| panic!("{} was not compared:\n{stdout}", query.name));
        if !line.contains(": 0 rows agree") {
            gave_rows.insert(query.name.clone());
        }
    }
    gave_rows
}
