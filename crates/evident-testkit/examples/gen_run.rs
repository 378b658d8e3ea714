//! Writes a generated run directory (see `evident_testkit::runs`) through the recorder's
//! change store: the committed lesson-1 sample, or a scaled run for the query benchmark.
//!
//! ```text
//! cargo run -p evident-testkit --example gen_run -- --sample --out evidence/sample-synthetic
//! cargo run --release -p evident-testkit --example gen_run -- --changes 1000000 --out /tmp/run1m [--nodes 400]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut out, mut changes, mut nodes, mut sample) = (None, None, 400usize, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(args.next().context("--out needs a directory")?)),
            "--changes" => {
                changes = Some(args.next().context("--changes needs a number")?.replace('_', "").parse::<u64>()?)
            }
            "--nodes" => nodes = args.next().context("--nodes needs a number")?.parse()?,
            "--sample" => sample = true,
            other => bail!("unknown argument {other}; usage: gen_run (--sample | --changes N [--nodes M]) --out DIR"),
        }
    }
    let out = out.context("--out DIR is required")?;
    if out.join("run.json").exists() {
        bail!("{} already holds a run; remove it first", out.display());
    }
    let started = Instant::now();
    let manifest = match (sample, changes) {
        (true, None) => evident_testkit::runs::write_lesson1(&out)?,
        (false, Some(changes)) => evident_testkit::runs::write_scaled(&out, changes, nodes)?,
        _ => bail!("pass exactly one of --sample or --changes N"),
    };
    let bytes: u64 = manifest.segments.iter().map(|segment| segment.bytes).sum();
    println!(
        "wrote {} ({:?} rows, {} segments, {:.1} MiB) in {:.1}s",
        out.display(),
        manifest.row_counts,
        manifest.segments.len(),
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
