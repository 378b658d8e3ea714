//! Named queries against the committed sample runs (`evidence/sample*/`): each result must
//! equal its checked-in expectation `queries/expected/<sample>/<query>.txt`.
//!
//! `EVIDENT_BLESS=1 cargo test --workspace --test integration -- named_queries` rewrites the
//! expectations from the current results; review the diff before committing it. A new sample
//! run (e.g. the real recording in `evidence/sample/`) gets its expectations the same way.

use std::path::{Path, PathBuf};

use evident_query::format::render_table;
use evident_query::named_query::NamedQuery;
use evident_query::{RunSet, Session};

fn repo() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo")).join("../..")
}

fn queries() -> Vec<NamedQuery> {
    NamedQuery::load_dir(&repo().join("queries")).expect("queries/ loads")
}

/// Committed sample runs: `evidence/sample*` directories with a run.json.
fn sample_runs() -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(repo().join("evidence"))
        .expect("evidence/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name().unwrap().to_string_lossy().starts_with("sample") && path.join("run.json").is_file()
        })
        .collect();
    runs.sort();
    runs
}

fn blessing() -> bool {
    std::env::var_os("EVIDENT_BLESS").is_some_and(|value| !value.is_empty() && value != "0")
}

async fn render(session: &Session, query: &NamedQuery) -> String {
    let (schema, batches) = session.query(&query.sql).await.unwrap_or_else(|e| panic!("{} fails: {e}", query.name));
    render_table(&schema, &batches).unwrap()
}

#[tokio::test]
async fn named_queries_match_their_expected_results() {
    let runs = sample_runs();
    assert!(!runs.is_empty(), "no committed sample run under evidence/sample*");
    let mut failures = Vec::new();
    for run in runs {
        let sample = run.file_name().unwrap().to_string_lossy().into_owned();
        let session = Session::new(&RunSet::open_run(&run).unwrap()).await.unwrap();
        let expected_dir = repo().join("queries/expected").join(&sample);
        for query in queries() {
            let actual = render(&session, &query).await;
            let path = expected_dir.join(format!("{}.txt", query.name));
            if blessing() {
                std::fs::create_dir_all(&expected_dir).unwrap();
                std::fs::write(&path, &actual).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "{sample}/{}: result differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
                    query.name,
                    path.display()
                )),
                Err(_) => failures.push(format!("{sample}/{}: no expectation at {}", query.name, path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}\n(EVIDENT_BLESS=1 regenerates the expectations)", failures.join("\n\n"));
}

#[tokio::test]
async fn named_queries_are_deterministic_and_ordered() {
    let run = &sample_runs()[0];
    let session = Session::new(&RunSet::open_run(run).unwrap()).await.unwrap();
    for query in queries() {
        assert!(query.sql.to_uppercase().contains("ORDER BY"), "{} needs an ORDER BY for a stable result", query.name);
        assert!(!query.sql.to_lowercase().contains("now()"), "{} must not depend on the wall clock", query.name);
        assert_eq!(render(&session, &query).await, render(&session, &query).await, "{} gives one answer", query.name);
    }
}

#[test]
fn every_expectation_belongs_to_a_query() {
    let names: Vec<String> = queries().into_iter().map(|query| query.name).collect();
    for sample in std::fs::read_dir(repo().join("queries/expected")).unwrap() {
        for file in std::fs::read_dir(sample.unwrap().path()).unwrap() {
            let file = file.unwrap().path();
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(names.contains(&stem), "{} has no query queries/{stem}.sql", file.display());
        }
    }
}
