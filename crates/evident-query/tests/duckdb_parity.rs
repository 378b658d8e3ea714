//! The named queries give the same numbers in DuckDB as in evident over the same Parquet
//! files: evident's results are written as Parquet, then `tests/duckdb/run_named_queries.py`
//! runs each query in DuckDB (`queries/duckdb/<name>.sql` where a dialect forced a variant)
//! and compares row by row.
//!
//! Needs `python3` with `duckdb` and `pyarrow` (`pip install duckdb pyarrow`; .ci/run installs
//! them). Without them the test fails, saying so, unless `EVIDENT_SKIP_DUCKDB=1` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use evident_query::format::write_parquet;
use evident_query::named_query::NamedQuery;
use evident_query::{RunSet, Session};

fn repo() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo")).join("../..")
}

#[tokio::test]
async fn named_queries_agree_with_duckdb() {
    if std::env::var_os("EVIDENT_SKIP_DUCKDB").is_some_and(|v| v == "1") {
        eprintln!("skipped: EVIDENT_SKIP_DUCKDB=1");
        return;
    }
    let probe = Command::new("python3").args(["-c", "import duckdb, pyarrow"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        _ => panic!("python3 with duckdb and pyarrow is needed: pip install duckdb pyarrow (or EVIDENT_SKIP_DUCKDB=1)"),
    }
    let run = repo().join("evidence/sample-synthetic");
    let session = Session::new(&RunSet::open_run(&run).unwrap()).await.unwrap();
    let results = tempfile::tempdir().unwrap();
    let queries = NamedQuery::load_dir(&repo().join("queries")).unwrap();
    for query in &queries {
        let (schema, batches) = session.query(&query.sql).await.unwrap();
        write_parquet(&results.path().join(format!("{}.parquet", query.name)), &schema, &batches).unwrap();
    }
    let output = Command::new("python3")
        .arg(repo().join("tests/duckdb/run_named_queries.py"))
        .arg("--run")
        .arg(&run)
        .arg("--queries")
        .arg(repo().join("queries"))
        .arg("--compare")
        .arg(results.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "DuckDB disagrees:\n{stdout}\n{stderr}");
    for query in &queries {
        assert!(stdout.contains(&format!("ok   {}:", query.name)), "{} was not compared:\n{stdout}", query.name);
    }
}
