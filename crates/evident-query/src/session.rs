//! A DataFusion session over a [`RunSet`] with every table, view and function of evident
//! registered (the list is in the crate docs).
//!
//! Each kind's table is a view: for every run, a scan of its closed segments (a Parquet
//! listing table with the schema of [`evident_core::schema::schema`], so a segment written
//! with fewer columns reads them as NULL) under a `run_id` literal, all runs concatenated with
//! `UNION ALL`. A kind with no segment in a run contributes an empty scan. The `metrics` table
//! (scraped GPU metrics, [`evident_core::metric::schema`]) is built the same way, so it exists
//! with its columns for every run, empty when the run scraped nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::{Column, DataFusionError, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{MemTable, ViewTable, provider_as_source};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::errors::ParquetError;
use evident_core::Kind;

use crate::failed_scheduling::SchedulingReasons;
use crate::node_admits::NodeAdmits;
use crate::run::Run;
use crate::run_set::RunSet;
use crate::state_at::{self, StateAt, TOMBSTONE_OPS};

/// Why a session could not be built or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Registering a run's tables failed (a segment path that is not UTF-8, a schema clash).
    #[error("cannot open the tables of run {run}: {source}")]
    Register {
        run: String,
        #[source]
        source: DataFusionError,
    },
    /// Planning or running a query failed: bad SQL, an unknown table or column, or a segment
    /// that breaks while it is read.
    #[error("{}", describe(.source))]
    Query {
        #[source]
        source: DataFusionError,
    },
    /// A segment whose footer was fine broke while its pages were read: its data is corrupt.
    #[error("Parquet segment {path} is corrupt: {source}")]
    CorruptSegment {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// Suffix of the latest-state views (`pods_latest`, ...).
pub const LATEST_SUFFIX: &str = "_latest";
/// Name of the per-run table.
pub const RUN_TABLE: &str = "run";
/// Name of the table of scraped metrics.
pub const METRICS_TABLE: &str = evident_core::metric::TABLE;

/// A DataFusion session with evident's tables, views and functions registered.
#[derive(Clone)]
pub struct Session {
    context: SessionContext,
    /// Every segment read, to name the broken one when a scan fails.
    segments: Vec<PathBuf>,
}

impl Session {
    /// Registers every table, view and function over the runs.
    pub async fn new(runs: &RunSet) -> Result<Session> {
        let config = SessionConfig::new().with_information_schema(true);
        // `SELECT * FROM 'other.parquet'` works too, to join a run with files of one's own.
        let context = SessionContext::new_with_config(config).enable_url_table();
        let mut tables: BTreeMap<Kind, Arc<dyn TableProvider>> = BTreeMap::new();
        for kind in Kind::ALL {
            let table = change_log(kind, runs.runs())?;
            register(&context, kind.table(), Arc::clone(&table), runs)?;
            tables.insert(kind, table);
        }
        for kind in Kind::ALL {
            context
                .sql(&latest_view_sql(kind))
                .await
                .map_err(|source| SessionError::Register { run: run_ids(runs), source })?;
        }
        register(&context, RUN_TABLE, run_table(runs.runs())?, runs)?;
        let metrics = runs_union(METRICS_TABLE, &metrics_schema(), runs.runs(), |run| run.metric_segments.as_slice())?;
        register(&context, METRICS_TABLE, metrics, runs)?;
        let run_starts = runs.runs().iter().map(|run| (run.id.clone(), run.started_at_ns())).collect();
        context.register_udtf(state_at::FUNCTION_NAME, Arc::new(StateAt::new(tables, run_starts)));
        context.register_udf(SchedulingReasons::udf());
        context.register_udf(NodeAdmits::udf());
        let segments = runs
            .runs()
            .iter()
            .flat_map(|run| run.segments.values().flatten().chain(&run.metric_segments).cloned())
            .collect();
        Ok(Session { context, segments })
    }

    /// Runs one SQL statement and collects its result. Statements that write (INSERT, COPY)
    /// are refused.
    pub async fn sql(&self, text: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.query(text).await?.1)
    }

    /// Runs one SQL statement; returns the result's schema (known even without rows) and rows.
    pub async fn query(&self, text: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let frame = self.dataframe(text).await?;
        let schema = frame.schema().inner().clone();
        match frame.collect().await {
            Ok(batches) => Ok((schema, batches)),
            Err(error) => Err(self.explain_failure(error).await),
        }
    }

    /// Plans one SQL statement; the caller decides how to run it (the result's schema is
    /// known even when it has no rows).
    pub async fn dataframe(&self, text: &str) -> Result<DataFrame> {
        let options = SQLOptions::new().with_allow_dml(false);
        self.context.sql_with_options(text, options).await.map_err(query_error)
    }

    /// The underlying DataFusion context, for registering more.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.context.session_id())
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Session {
    /// A scan failed after planning: if a segment is unreadable, name it (DataFusion's error
    /// does not); the full read happens only on this error path.
    async fn explain_failure(&self, error: DataFusionError) -> SessionError {
        let from_storage = matches!(
            error.find_root(),
            DataFusionError::ParquetError(_)
                | DataFusionError::ArrowError(..)
                | DataFusionError::External(_)
                | DataFusionError::IoError(_)
        );
        if from_storage {
            let segments = self.segments.clone();
            let broken = tokio::task::spawn_blocking(move || {
                segments.into_iter().find_map(|path| read_fully(&path).err().map(|e| (path, e)))
            })
            .await
            .ok()
            .flatten();
            if let Some((path, source)) = broken {
                return SessionError::CorruptSegment { path, source };
            }
        }
        query_error(error)
    }
}

fn read_fully(path: &Path) -> Result<(), ParquetError> {
    let file = std::fs::File::open(path).map_err(|error| ParquetError::External(Box::new(error)))?;
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
        batch?;
    }
    Ok(())
}

/// DataFusion's error as one line without its debug formatting: a parser error reads
/// `SQL syntax error: Expected: ..., found: ... at Line: 1, Column: 8`.
fn describe(error: &DataFusionError) -> String {
    let text = match error.find_root() {
        DataFusionError::SQL(parser_error, _) => {
            let detail = parser_error.to_string();
            format!("SQL syntax error: {}", detail.strip_prefix("sql parser error: ").unwrap_or(&detail))
        }
        _ => error.strip_backtrace(),
    };
    text.replace('\n', " ")
}

fn query_error(source: DataFusionError) -> SessionError {
    SessionError::Query { source }
}

fn run_ids(runs: &RunSet) -> String {
    runs.runs().iter().map(|run| run.id.as_str()).collect::<Vec<_>>().join(", ")
}

fn register(context: &SessionContext, name: &str, table: Arc<dyn TableProvider>, runs: &RunSet) -> Result<()> {
    context
        .register_table(name, table)
        .map(|_| ())
        .map_err(|source| SessionError::Register { run: run_ids(runs), source })
}

/// The change-log schema without evident's file metadata (results carry no stale metadata).
pub fn table_schema(kind: Kind) -> SchemaRef {
    let schema = evident_core::schema::schema(kind);
    Arc::new(Schema::new(schema.fields().clone()))
}

/// The schema of the `metrics` table without evident's file metadata.
pub fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(evident_core::metric::schema().fields().clone()))
}

fn change_log(kind: Kind, runs: &[Run]) -> Result<Arc<dyn TableProvider>> {
    runs_union(kind.table(), &table_schema(kind), runs, |run| run.segments(kind))
}

/// A view over every run's segments of one table, each under its `run_id`.
fn runs_union(
    table: &str,
    schema: &SchemaRef,
    runs: &[Run],
    files: impl Fn(&Run) -> &[PathBuf],
) -> Result<Arc<dyn TableProvider>> {
    let mut union: Option<LogicalPlanBuilder> = None;
    for (index, run) in runs.iter().enumerate() {
        let register_error = |source| SessionError::Register { run: run.id.clone(), source };
        let provider = segments_table(files(run), schema).map_err(register_error)?;
        let scan_name = format!("{table}_{index}");
        let columns = std::iter::once(lit(run.id.as_str()).alias("run_id")).chain(
            schema
                .fields()
                .iter()
                .map(|field| Expr::Column(Column::new(Some(TableReference::bare(scan_name.as_str())), field.name()))),
        );
        let plan = LogicalPlanBuilder::scan(scan_name.as_str(), provider_as_source(provider), None)
            .and_then(|scan| scan.project(columns))
            .and_then(LogicalPlanBuilder::build)
            .map_err(register_error)?;
        union = Some(match union {
            None => LogicalPlanBuilder::from(plan),
            Some(union) => union.union(plan).map_err(register_error)?,
        });
    }
    let plan: LogicalPlan = match union {
        Some(union) => union.build().map_err(|source| SessionError::Register { run: String::new(), source })?,
        None => unreachable!("a RunSet holds at least one run"),
    };
    Ok(Arc::new(ViewTable::new(plan, None)))
}

fn segments_table(files: &[std::path::PathBuf], schema: &SchemaRef) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    if files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(Arc::clone(schema))));
    }
    let urls = files.iter().map(|file| ListingTableUrl::parse(absolute_path(file)?)).collect::<Result<Vec<_>, _>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config =
        ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(Arc::clone(schema));
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn absolute_path(file: &Path) -> Result<String, DataFusionError> {
    let absolute = std::path::absolute(file).map_err(|error| DataFusionError::External(Box::new(error)))?;
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| DataFusionError::Plan(format!("segment path {} is not UTF-8", absolute.display())))
}

/// `CREATE VIEW <table>_latest`: the last row per object, unless it deleted the object.
fn latest_view_sql(kind: Kind) -> String {
    let columns = std::iter::once("run_id")
        .chain(evident_core::schema::columns(kind).iter().map(|column| column.name))
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let tombstones = TOMBSTONE_OPS.iter().map(|op| format!("'{op}'")).collect::<Vec<_>>().join(", ");
    let table = kind.table();
    format!(
        "CREATE VIEW {table}{LATEST_SUFFIX} AS SELECT {columns} FROM (\
           SELECT *, row_number() OVER (PARTITION BY run_id, uid ORDER BY seq DESC) AS latest_rank FROM {table}\
         ) AS ranked WHERE latest_rank = 1 AND op NOT IN ({tombstones})"
    )
}

/// A column of the `runs` table: its name and how to read its value from a run.
type RunColumn<T> = (&'static str, fn(&Run) -> T);

fn run_table(runs: &[Run]) -> Result<Arc<dyn TableProvider>> {
    let time = || DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let text_columns: [RunColumn<String>; 10] = [
        ("stop_reason", |r| r.manifest.stop_reason.to_string()),
        ("tool_version", |r| r.manifest.tool_version.clone()),
        ("schema_version", |r| r.manifest.schema_version.clone()),
        ("redaction_policy", |r| r.manifest.redaction_policy.clone()),
        ("context", |r| r.manifest.cluster.context.clone()),
        ("server", |r| r.manifest.cluster.server.clone()),
        ("server_version", |r| r.manifest.cluster.server_version.clone()),
        ("platform", |r| r.manifest.cluster.platform.clone()),
        ("kwok_version", |r| r.manifest.cluster.kwok_version.clone()),
        ("run_dir", |r| r.dir.display().to_string()),
    ];
    let count_columns: [RunColumn<i64>; 5] = [
        ("segments", |r| r.segments.values().map(Vec::len).sum::<usize>() as i64),
        ("gaps", |r| r.manifest.gaps.len() as i64),
        ("node_rows", |r| r.rows.get(&Kind::Node).copied().unwrap_or(0) as i64),
        ("pod_rows", |r| r.rows.get(&Kind::Pod).copied().unwrap_or(0) as i64),
        ("event_rows", |r| r.rows.get(&Kind::Event).copied().unwrap_or(0) as i64),
    ];
    let mut fields = vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("started_at", time(), true),
        Field::new("stopped_at", time(), true),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(runs.iter().map(|r| r.id.as_str()))),
        Arc::new(TimestampNanosecondArray::from_iter(runs.iter().map(Run::started_at_ns)).with_timezone("UTC")),
        Arc::new(
            TimestampNanosecondArray::from_iter(
                runs.iter().map(|r| evident_core::time::parse_rfc3339_ns(&r.manifest.stopped_at)),
            )
            .with_timezone("UTC"),
        ),
    ];
    for (name, value) in text_columns {
        fields.push(Field::new(name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from_iter(runs.iter().map(|r| Some(value(r)).filter(|v| !v.is_empty())))));
    }
    for (name, value) in count_columns {
        fields.push(Field::new(name, DataType::Int64, false));
        arrays.push(Arc::new(Int64Array::from_iter_values(runs.iter().map(value))));
    }
    let schema = Arc::new(Schema::new(fields));
    let register_error = |source| SessionError::Register {
        run: runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "),
        source,
    };
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(|e| register_error(e.into()))?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]]).map_err(register_error)?))
}
