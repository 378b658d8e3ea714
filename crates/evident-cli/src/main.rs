use std::process::ExitCode;

fn main() -> ExitCode {
    evident_cli::run()
}
