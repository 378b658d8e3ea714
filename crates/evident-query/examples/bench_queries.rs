//! Times every named query over one run in evident and in DuckDB, side by side.
//!
//! ```text
//! cargo run --release -p evident-testkit --example gen_run -- --changes 1000000 --out /tmp/run1m
//! cargo run --release --example bench_queries -- /tmp/run1m [--repeats 3]
//! ```
//!
//! Each engine opens the run once, then runs each query `repeats` times and keeps the best
//! wall time of planning + execution + collecting the result in memory. DuckDB runs through
//! `tests/duckdb/run_named_queries.py --bench` with `$EVIDENT_PYTHON` (`hack/python-env.sh`
//! prints one that has duckdb and pyarrow), else `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use evident_query::named_query::NamedQuery;
use evident_query::{RunSet, Session};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut run, mut repeats) = (None, 3usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeats" => repeats = args.next().context("--repeats needs a number")?.parse()?,
            other if run.is_none() => run = Some(PathBuf::from(other)),
            other => bail!("unexpected argument {other}; usage: bench_queries RUN_DIR [--repeats N]"),
        }
    }
    let run = run.context("usage: bench_queries RUN_DIR [--repeats N]")?;
    // Under cargo, the repository above this crate; run directly, the working directory.
    let repo =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), |dir| Path::new(&dir).join("../.."));
    let queries = NamedQuery::load_dir(&repo.join("queries"))?;

    let opened = Instant::now();
    let runs = RunSet::open_run(&run)?;
    let session = Session::new(&runs).await?;
    let open_seconds = opened.elapsed().as_secs_f64();
    let rows: u64 = runs.runs()[0].rows.values().sum();

    let mut ours = Vec::new();
    for query in &queries {
        let mut best = f64::INFINITY;
        let mut result_rows = 0;
        for _ in 0..repeats {
            let started = Instant::now();
            let batches = session.sql(&query.sql).await?;
            best = best.min(started.elapsed().as_secs_f64());
            result_rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        ours.push((query.name.clone(), best, result_rows));
    }

    // The Python with duckdb and pyarrow: `EVIDENT_PYTHON="$(hack/python-env.sh)"`, else python3.
    let python = std::env::var_os("EVIDENT_PYTHON").unwrap_or_else(|| "python3".into());
    let output = Command::new(python)
        .arg(repo.join("tests/duckdb/run_named_queries.py"))
        .arg("--run")
        .arg(&run)
        .arg("--queries")
        .arg(repo.join("queries"))
        .arg("--bench")
        .arg(repeats.to_string())
        .output()
        .context("python3 runs")?;
    if !output.status.success() {
        bail!("DuckDB bench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let theirs: serde_json::Value = serde_json::from_slice(&output.stdout)?;

    println!(
        "run {} ({rows} change rows), best of {repeats}; evident session opened in {open_seconds:.3} s",
        run.display()
    );
    println!("{:<24} {:>12} {:>10} {:>12} {:>10} {:>8}", "query", "evident s", "rows", "duckdb s", "rows", "ratio");
    let (mut total_ours, mut total_theirs) = (0.0, 0.0);
    for (name, seconds, result_rows) in &ours {
        let duck_seconds = theirs[name]["seconds"].as_f64().unwrap_or(f64::NAN);
        let duck_rows = theirs[name]["rows"].as_u64().unwrap_or(0);
        total_ours += seconds;
        total_theirs += duck_seconds;
        println!(
            "{name:<24} {seconds:>12.3} {result_rows:>10} {duck_seconds:>12.3} {duck_rows:>10} {:>8.2}",
            seconds / duck_seconds
        );
    }
    println!(
        "{:<24} {total_ours:>12.3} {:>10} {total_theirs:>12.3} {:>10} {:>8.2}",
        "total",
        "",
        "",
        total_ours / total_theirs
    );
    Ok(())
}
