//! `evident scenarios`: the scenarios built into evident, by name, for `evident run <name>`.

use std::process::ExitCode;

use evident_query::format::terminal_safe;
use evident_runner::builtin;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn execute(_args: Args) -> anyhow::Result<ExitCode> {
    let scenarios = builtin::scenarios();
    let width = scenarios.iter().map(|scenario| scenario.name.len()).max().unwrap_or(0);
    for scenario in &scenarios {
        println!("{:<width$}  {}", scenario.name, terminal_safe(&scenario.title));
    }
    eprintln!(
        "{} built-in scenario(s); run one with `evident run <name>`, or write one out to edit with `evident init <dir>`",
        scenarios.len()
    );
    Ok(ExitCode::SUCCESS)
}
