//! Named queries against the committed sample runs (`evidence/sample*/`): each result must
//! equal its checked-in expectation `queries/expected/<sample>/<query>.txt`.
//!
//! `EVIDENT_BLESS=1 cargo test --workspace --test integration -- named_queries` rewrites the
//! expectations from the current results; review the diff before committing it. A new sample
//! run (e.g. the real recording in `evidence/sample/`) gets its expectations the same way.

use std::path::PathBuf;

use crate::{queries, repo};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Expr, OrderByKind, SetExpr, Statement, visit_expressions};
use evident_query::format::render_table;
use evident_query::named_query::NamedQuery;
use evident_query::{RunSet, Session};

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

/// Functions whose value depends on when or how often a query runs.
const NON_DETERMINISTIC: [&str; 7] =
    ["now", "current_timestamp", "current_date", "current_time", "localtimestamp", "random", "uuid"];

/// Whether `sql` is one query whose result is ordered by its outermost `ORDER BY` (not one in
/// a CTE, a subquery, a window or a comment), and the non-deterministic functions it calls.
fn ordering_of(sql: &str) -> Result<(bool, Vec<String>), String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|error| error.to_string())?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(DfStatement::Statement(statement)), true) => statement,
        _ => return Err("not exactly one SQL statement".to_string()),
    };
    let Statement::Query(query) = statement.as_ref() else { return Err("not a query".to_string()) };
    let ordered = match query.order_by.as_ref().map(|order_by| &order_by.kind) {
        Some(OrderByKind::Expressions(expressions)) => !expressions.is_empty(),
        Some(OrderByKind::All(_)) => true,
        // A parenthesised query keeps its ORDER BY one level down.
        None => matches!(query.body.as_ref(), SetExpr::Query(inner) if inner.order_by.is_some()),
    };
    let mut clock_or_dice = Vec::new();
    let _ = visit_expressions(statement.as_ref(), |expr| {
        if let Expr::Function(function) = expr {
            let name = function.name.to_string().to_lowercase();
            if NON_DETERMINISTIC.contains(&name.as_str()) {
                clock_or_dice.push(name);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok((ordered, clock_or_dice))
}

#[tokio::test]
async fn named_queries_are_deterministic_and_ordered() {
    let run = &sample_runs()[0];
    let session = Session::new(&RunSet::open_run(run).unwrap()).await.unwrap();
    for query in queries() {
        let (ordered, clock_or_dice) =
            ordering_of(&query.sql).unwrap_or_else(|error| panic!("{} does not parse: {error}", query.name));
        assert!(ordered, "{} needs an outermost ORDER BY for a stable result", query.name);
        assert!(
            clock_or_dice.is_empty(),
            "{} must not depend on the wall clock or chance: {clock_or_dice:?}",
            query.name
        );
        assert_eq!(render(&session, &query).await, render(&session, &query).await, "{} gives one answer", query.name);
    }
}

#[test]
fn only_an_outermost_order_by_orders_a_result() {
    let ordered = |sql: &str| ordering_of(sql).unwrap().0;
    assert!(ordered("SELECT name FROM pods ORDER BY name"));
    assert!(ordered("WITH p AS (SELECT name FROM pods) SELECT name FROM p ORDER BY 1"));
    assert!(ordered("(SELECT name FROM pods ORDER BY name)"));
    assert!(!ordered("SELECT name FROM pods -- ORDER BY name"), "a comment orders nothing");
    assert!(!ordered("SELECT name /* ORDER BY */ FROM pods"), "a comment orders nothing");
    assert!(!ordered("SELECT row_number() OVER (ORDER BY seq) FROM pods"), "a window orders its frame only");
    assert!(!ordered("WITH p AS (SELECT name FROM pods ORDER BY name) SELECT name FROM p"), "a CTE's order is lost");
    assert!(!ordered("SELECT * FROM (SELECT name FROM pods ORDER BY name) AS p"), "a subquery's order is lost");
    assert!(!ordered("SELECT 'ORDER BY' AS words FROM pods"), "a string orders nothing");
    let (_, clock) = ordering_of("SELECT name FROM pods WHERE created_at < now() ORDER BY name").unwrap();
    assert_eq!(clock, ["now"]);
    let (_, clock) = ordering_of("SELECT name, 'now()' FROM pods ORDER BY name").unwrap();
    assert!(clock.is_empty(), "a string is not a call: {clock:?}");
    assert!(ordering_of("SELECT 1; SELECT 2").is_err(), "two statements are refused");
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
