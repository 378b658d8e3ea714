//! One module per subcommand: its arguments and how it drives the libraries.

pub mod query;
pub mod record;
pub mod recover;
pub mod report;
pub mod run;
