//! `evident completions <shell>`: the shell completion script, generated from the command-line
//! definition, so it never lags behind a flag.

use std::process::ExitCode;

use clap_complete::Shell;

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  \
    bash:  evident completions bash > ~/.local/share/bash-completion/completions/evident\n  \
    zsh:   evident completions zsh > \"${fpath[1]}/_evident\"\n  \
    fish:  evident completions fish > ~/.config/fish/completions/evident.fish")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

pub fn execute(args: Args, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
