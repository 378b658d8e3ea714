//! `evident query`: SQL over one recorded run or a folder of runs.
//!
//! `evident query "<SQL>"`, `evident query -f queries/fleet.sql` (or `-f fleet`),
//! `evident query --list`, and, with no SQL on a terminal, an interactive shell in
//! datafusion-cli's habits (`;` ends a statement, `\q` quits, history in
//! `$HOME/.cache/evident/query_history`). Without a terminal the SQL is read from stdin.
//! Output is written only after the query succeeded, so a failing query writes nothing.
//!
//! Named queries are the ones built into the binary; `--queries <dir>` replaces them file by
//! file (a `queries/` folder in the working directory does not). `-f <path>` to an existing
//! file always runs that file.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use evident_query::format::{self, OutputFormat, terminal_safe};
use evident_query::named_query::{NamedQuery, QueryOrigin};
use evident_query::{QuerySet, RunSet, Session};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Tables: nodes, pods, events (change logs), nodes_latest, pods_latest, events_latest, run, metrics (scraped GPU metrics).\n\
Functions: state_at('<kind>', '<RFC 3339 time>' | '+30s'), scheduling_reasons(message).\n\
See docs/queries.md."
)]
pub struct Args {
    /// One SQL statement to run. Without it (and without --file) a shell starts on a terminal;
    /// otherwise the statement is read from stdin.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,

    /// Run directory to query [default: the newest run under evidence/, found from the working
    /// directory upward]
    #[arg(long, value_name = "DIR", conflicts_with = "runs")]
    pub run: Option<PathBuf>,

    /// Folder of run directories to query together; every table's run_id tells them apart.
    #[arg(long, value_name = "FOLDER")]
    pub runs: Option<PathBuf>,

    /// SQL file to run, or the name of a named query (see --list), e.g. `fleet`.
    #[arg(short = 'f', long = "file", value_name = "FILE|NAME", conflicts_with = "sql")]
    pub file: Option<String>,

    /// List the named queries with a one-line description each, then exit.
    #[arg(long, conflicts_with_all = ["sql", "file"])]
    pub list: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the results to this file instead of stdout (required for parquet).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Folder of <name>.sql files to use instead of the built-in named queries of the same
    /// name (and besides them) [default: the queries built into evident, whatever the working
    /// directory holds].
    #[arg(long, value_name = "DIR", env = evident_query::named_query::QUERIES_ENV)]
    pub queries: Option<PathBuf>,
}

/// Output formats of `evident query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table with a row count.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

impl From<Format> for OutputFormat {
    fn from(format: Format) -> OutputFormat {
        match format {
            Format::Table => OutputFormat::Table,
            Format::Csv => OutputFormat::Csv,
            Format::Json => OutputFormat::Json,
            Format::Parquet => OutputFormat::Parquet,
        }
    }
}

pub async fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let queries = QuerySet::from_option(args.queries.as_deref())?;
    if args.list {
        print_list(&queries)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output <file>");
    }
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(file)) => Some(read_sql_file(file, &queries)?),
        (None, None) => None,
    };
    let interactive = sql.is_none() && std::io::stdin().is_terminal();
    let sql = match sql {
        Some(sql) => Some(sql),
        None if interactive => None,
        None => Some(read_stdin()?),
    };
    let runs = open_runs(&args)?;
    for run in runs.runs() {
        if let Some(warning) = crate::status::unrecovered_warning(&run.dir) {
            eprintln!("{warning}");
        }
    }
    let session = Session::new(&runs).await?;
    match sql {
        Some(sql) => {
            run_once(&session, &sql, args.format.into(), args.output.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => shell(&session, &runs, &queries).await,
    }
}

fn open_runs(args: &Args) -> anyhow::Result<RunSet> {
    Ok(match (&args.run, &args.runs) {
        (Some(run), _) => RunSet::open_run(run)?,
        (None, Some(folder)) => RunSet::open_runs(folder)?,
        (None, None) => RunSet::open_newest(&std::env::current_dir().context("cannot read the working directory")?)?,
    })
}

/// A path to a .sql file; else a named query by name (also `queries/<name>.sql` when no such
/// file exists here, so the embedded queries work from any directory).
fn read_sql_file(file: &str, queries: &QuerySet) -> anyhow::Result<String> {
    let path = Path::new(file);
    if path.is_file() {
        return std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"));
    }
    let name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
    let looks_named = !file.contains('/') || path.parent().is_some_and(|parent| parent.ends_with("queries"));
    if looks_named && let Ok(query) = queries.get(&name) {
        return Ok(query.sql.clone());
    }
    bail!("{file}: no such SQL file and no named query '{name}' (see `evident query --list`)")
}

fn read_stdin() -> anyhow::Result<String> {
    let mut sql = String::new();
    std::io::stdin().read_to_string(&mut sql).context("cannot read SQL from stdin")?;
    if sql.trim().is_empty() {
        bail!("no SQL given: pass a statement, --file, or pipe SQL on stdin");
    }
    Ok(sql)
}

fn print_list(queries: &QuerySet) -> anyhow::Result<()> {
    let queries: Vec<&NamedQuery> = queries.all().collect();
    let width = queries.iter().map(|query| query.name.chars().count()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for query in queries {
        let origin = match &query.origin {
            QueryOrigin::Disk(path) => format!(" (from {})", path.display()),
            QueryOrigin::Embedded => " (built in)".to_string(),
        };
        // A query file's first line is text from disk: printed with its controls made visible.
        let line = format!("{:width$}  {}{origin}", query.name, query.description);
        writeln!(out, "{}", terminal_safe(&line))?;
    }
    Ok(())
}

async fn run_once(session: &Session, sql: &str, format: OutputFormat, output: Option<&Path>) -> anyhow::Result<()> {
    // The message already holds its cause; the error chain would repeat DataFusion's debug text.
    let (schema, batches) = session.query(sql).await.map_err(|error| anyhow::anyhow!("{error}"))?;
    match (format, output) {
        (OutputFormat::Parquet, Some(path)) => format::write_parquet(path, &schema, &batches)?,
        (_, Some(path)) => {
            let mut bytes = Vec::new();
            format::render(format, &schema, &batches, &mut bytes)?;
            write_atomically(path, &bytes)?;
        }
        (_, None) => {
            let mut bytes = Vec::new();
            format::render(format, &schema, &batches, &mut bytes)?;
            // The table is terminal-safe already; CSV keeps values exact, unless it would go
            // straight to a terminal, which would obey the controls in recorded values.
            let stdout = std::io::stdout();
            if format == OutputFormat::Csv && stdout.is_terminal() {
                let text = String::from_utf8_lossy(&bytes);
                stdout.lock().write_all(format::terminal_safe_lines(&text).as_bytes())?;
            } else {
                stdout.lock().write_all(&bytes)?;
            }
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("evident-tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

const SHELL_HELP: &str = "\
End a statement with ';'. Commands:
  \\q        quit
  \\d        list tables and views
  \\l        list named queries
  \\i NAME   run a named query (or a .sql file)
  \\?        this help";

async fn shell(session: &Session, runs: &RunSet, queries: &QuerySet) -> anyhow::Result<ExitCode> {
    use rustyline::error::ReadlineError;

    let mut editor = rustyline::DefaultEditor::new().context("cannot start the interactive shell")?;
    let history = history_file();
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    let ids: Vec<&str> = runs.runs().iter().map(|run| run.id.as_str()).collect();
    println!("evident query over {} (\\? for help, \\q to quit)", ids.join(", "));
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "evident> " } else { "      -> " };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    if !shell_command(session, queries, trimmed).await {
                        break;
                    }
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if trimmed.ends_with(';') {
                    let statement = std::mem::take(&mut buffer);
                    let _ = editor.add_history_entry(statement.trim());
                    run_in_shell(session, &statement).await;
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(error).context("the interactive shell failed"),
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a backslash command; false means quit.
async fn shell_command(session: &Session, queries: &QuerySet, command: &str) -> bool {
    let (name, argument) = command.split_once(' ').map_or((command, ""), |(name, rest)| (name, rest.trim()));
    match name {
        "\\q" | "\\quit" => return false,
        "\\d" => run_in_shell(session, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name").await,
        "\\l" => {
            if let Err(error) = print_list(queries) {
                eprintln!("error: {error}");
            }
        }
        "\\i" => match read_sql_file(argument, queries) {
            Ok(sql) => run_in_shell(session, &sql).await,
            Err(error) => eprintln!("error: {error}"),
        },
        _ => println!("{SHELL_HELP}"),
    }
    true
}

async fn run_in_shell(session: &Session, sql: &str) {
    let started = Instant::now();
    match run_once(session, sql, OutputFormat::Table, None).await {
        Ok(()) => println!("Elapsed {:.3} s", started.elapsed().as_secs_f64()),
        Err(error) => eprintln!("error: {}", terminal_safe(&format!("{error:#}"))),
    }
}

/// `$HOME/.cache/evident/query_history`, the folder created if needed.
fn history_file() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("HOME")?).join(".cache/evident");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("query_history"))
}
