//! One module per subcommand: its arguments and how it drives the libraries.

pub mod completions;
pub mod init;
pub mod man;
pub mod query;
pub mod record;
pub mod recover;
pub mod report;
pub mod run;
pub mod scenarios;
