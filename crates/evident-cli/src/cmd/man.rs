//! `evident man`: the man page (roff), generated from the command-line definition, so it says
//! what `--help` says.

use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
#[command(after_help = "Read it with `evident man | man -l -`, or install it: \
    evident man > ~/.local/share/man/man1/evident.1")]
pub struct Args {}

pub fn execute(_args: Args, command: clap::Command) -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page).context("cannot render the man page")?;
    std::io::Write::write_all(&mut std::io::stdout(), &page).context("cannot write the man page to stdout")?;
    Ok(ExitCode::SUCCESS)
}
