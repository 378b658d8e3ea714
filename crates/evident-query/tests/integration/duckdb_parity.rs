//! The named queries give the same numbers in DuckDB as in evident over the same Parquet
//! files: evident's results are written as Parquet, then `tests/duckdb/run_named_queries.py`
//! runs each query in DuckDB (`queries/duckdb/<name>.sql` where a dialect forced a variant)
//! and compares row by row.
//!
//! Runs over every committed sample run: the real lesson-1 recording (`evidence/sample`) and
//! the synthetic one. Needs a Python with `duckdb` and `pyarrow`: `$EVIDENT_PYTHON` (`make
//! test` sets it from `hack/python-env.sh`, which pins DuckDB 2.0.1: 2.0.0 has no
//! `date_part` for nanosecond TIMESTAMPTZ), else `python3`. Without them the test fails,
//! saying so, unless `EVIDENT_SKIP_DUCKDB=1` is set.

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
    let python = std::env::var_os("EVIDENT_PYTHON").unwrap_or_else(|| "python3".into());
    let probe = Command::new(&python).args(["-c", "import duckdb, pyarrow"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        _ => panic!(
            "{} lacks duckdb or pyarrow: set EVIDENT_PYTHON=\"$(hack/python-env.sh)\" (or EVIDENT_SKIP_DUCKDB=1)",
            python.to_string_lossy()
        ),
    }
    for sample in ["sample", "sample-synthetic"] {
        compare_with_duckdb(&python, &repo().join("evidence").join(sample)).await;
    }
}

async fn compare_with_duckdb(python: &std::ffi::OsStr, run: &Path) {
    let session = Session::new(&RunSet::open_run(run).unwrap()).await.unwrap();
    let results = tempfile::tempdir().unwrap();
    let queries = NamedQuery::load_dir(&repo().join("queries")).unwrap();
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
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "DuckDB disagrees on {}:\n{stdout}\n{stderr}", run.display());
    for query in &queries {
        assert!(stdout.contains(&format!("ok   {}:", query.name)), "{} was not compared:\n{stdout}", query.name);
    }
}
