//! `evident init <dir>`: writes the built-in scenario folder (scenario specs, fleet and
//! workload manifests) into a new or empty folder, to edit and run with `evident run`.

use std::path::PathBuf;
use std::process::ExitCode;

use evident_runner::builtin;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write into; created when missing, refused unless empty (nothing is overwritten).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let written = builtin::write_tree(&args.dir)?;
    for file in &written {
        println!("{}", args.dir.join(file).display());
    }
    let example = builtin::scenarios()
        .into_iter()
        .next()
        .map_or_else(|| args.dir.join("scenarios/<name>.yaml"), |scenario| args.dir.join(scenario.spec));
    eprintln!(
        "wrote {} file(s) into {}; edit the scenario (its paths are relative to it; format: docs/scenarios.md), then run: evident run {}",
        written.len(),
        args.dir.display(),
        example.display()
    );
    Ok(ExitCode::SUCCESS)
}
