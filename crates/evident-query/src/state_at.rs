//! `state_at('<kind>', '<moment>')`: every object of a kind as it was at a moment, replayed
//! from the change log.
//!
//! The moment is an RFC 3339 timestamp (`'2026-06-14T15:40:00Z'`) or an offset from the
//! run's start (`started_at` in run.json): `'+30s'`, `'30s'`, `'1500ms'`, `'2m'`, `'1m30s'`
//! (units `ns`, `us`, `ms`, `s`, `m`, `h`; a bare number is seconds). Over several runs an
//! offset is taken from each run's own start. Time is the recorder's receipt clock
//! (`observed_at`): an object's state at T is its last row observed at or before T, unless
//! that row deleted it.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, col, lit};
use evident_core::Kind;

/// Name of the SQL table function.
pub const FUNCTION_NAME: &str = "state_at";

/// Ops after which an object no longer exists.
pub const TOMBSTONE_OPS: [&str; 2] = ["DELETED", "DELETED_IN_GAP"];

/// A point in a run's time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Nanoseconds since the Unix epoch (UTC).
    At(i64),
    /// Nanoseconds after the run's start.
    AfterStart(i64),
}

/// Why a moment could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MomentError {
    /// Neither an RFC 3339 timestamp nor an offset like `+30s`.
    #[error(
        "'{0}' is neither an RFC 3339 timestamp ('2026-06-14T15:40:00Z') nor an offset from the run's start ('+30s', '1500ms')"
    )]
    Unrecognised(String),
    /// A timestamp or offset outside what a nanosecond timestamp holds (1677-09-21 to
    /// 2262-04-11).
    #[error("'{0}' is outside the times a recording can hold (1677-09-21 to 2262-04-11 UTC)")]
    OutOfRange(String),
}

/// Reads a moment: an RFC 3339 timestamp, or an offset from the run's start.
pub fn parse_moment(text: &str) -> Result<Moment, MomentError> {
    let text = text.trim();
    if let Some(ns) = evident_core::time::parse_rfc3339_ns(text) {
        return Ok(Moment::At(ns));
    }
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Err(MomentError::OutOfRange(text.to_string()));
    }
    let offset = text.strip_prefix('+').unwrap_or(text);
    match parse_offset_ns(offset) {
        Some(ns) => Ok(Moment::AfterStart(ns)),
        None if is_offset_shaped(offset) => Err(MomentError::OutOfRange(text.to_string())),
        None => Err(MomentError::Unrecognised(text.to_string())),
    }
}

/// Digits and units only: an offset, if a too large one.
fn is_offset_shaped(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'n' | 'u' | 'µ' | 'm' | 'i' | 's' | 'h'))
}

/// `1m30s` -> ns. Units: ns, us, ms, s, m, h; a bare number is seconds.
fn parse_offset_ns(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_ns(seconds, 1e9);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total = total.checked_add(seconds_to_ns(number.parse().ok()?, scale)?)?;
        rest = tail;
    }
    Some(total)
}

fn seconds_to_ns(value: f64, scale: f64) -> Option<i64> {
    let ns = (value * scale).round();
    (ns.is_finite() && ns >= 0.0 && ns < i64::MAX as f64).then_some(ns as i64)
}

/// The table function. Holds the change-log tables it replays and each run's start.
#[derive(Debug)]
pub struct StateAt {
    tables: BTreeMap<Kind, Arc<dyn TableProvider>>,
    /// (run id, started_at in ns) per run.
    run_starts: Vec<(String, Option<i64>)>,
}

impl StateAt {
    pub fn new(tables: BTreeMap<Kind, Arc<dyn TableProvider>>, run_starts: Vec<(String, Option<i64>)>) -> Self {
        StateAt { tables, run_starts }
    }

    fn cutoff(&self, moment: Moment) -> DfResult<Expr> {
        let at = |ns: i64| lit(ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into())));
        match moment {
            Moment::At(ns) => Ok(col("observed_at").lt_eq(at(ns))),
            Moment::AfterStart(offset) => {
                let mut per_run = Vec::new();
                for (run_id, started_at) in &self.run_starts {
                    let Some(started_at) = started_at else {
                        return plan_err!(
                            "{FUNCTION_NAME}: run {run_id} has no started_at in run.json; pass a timestamp instead of an offset"
                        );
                    };
                    let Some(cutoff) = started_at.checked_add(offset) else {
                        return plan_err!(
                            "{FUNCTION_NAME}: {} after the start of run {run_id} is past 2262-04-11, the last time a recording can hold; pass a smaller offset",
                            format_offset(offset)
                        );
                    };
                    per_run.push(col("run_id").eq(lit(run_id.as_str())).and(col("observed_at").lt_eq(at(cutoff))));
                }
                Ok(per_run.into_iter().reduce(Expr::or).unwrap_or(lit(false)))
            }
        }
    }
}

/// An offset in seconds, for messages.
fn format_offset(ns: i64) -> String {
    format!("{} s", ns / 1_000_000_000)
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)) | ScalarValue::Utf8View(Some(text)),
            _,
        ) => Some(text),
        _ => None,
    }
}

impl TableFunctionImpl for StateAt {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        const USAGE: &str = "usage: state_at('pods' | 'nodes' | 'events', '<RFC 3339 time>' | '+<offset>')";
        let [kind, moment] = args.exprs() else {
            return plan_err!("{USAGE}");
        };
        let (Some(kind), Some(moment)) = (string_literal(kind), string_literal(moment)) else {
            return plan_err!("{USAGE}");
        };
        let Some(kind) = Kind::ALL
            .into_iter()
            .find(|k| k.table().eq_ignore_ascii_case(kind) || k.as_str().eq_ignore_ascii_case(kind))
        else {
            return plan_err!("{FUNCTION_NAME}: unknown kind '{kind}'; {USAGE}");
        };
        let moment = match parse_moment(moment) {
            Ok(moment) => moment,
            Err(error) => return plan_err!("{FUNCTION_NAME}: {error}"),
        };
        let Some(table) = self.tables.get(&kind) else {
            return plan_err!("{FUNCTION_NAME}: no table for {}", kind.table());
        };
        let columns: Vec<Expr> = table.schema().fields().iter().map(|field| col(field.name())).collect();
        let latest_first = row_number()
            .partition_by(vec![col("run_id"), col("uid")])
            .order_by(vec![col("seq").sort(false, true)])
            .build()?
            .alias("latest_rank");
        let not_deleted = col("op").in_list(TOMBSTONE_OPS.iter().map(|op| lit(*op)).collect(), true);
        let plan = LogicalPlanBuilder::scan(kind.table(), provider_as_source(Arc::clone(table)), None)?
            .filter(self.cutoff(moment)?)?
            .window(vec![latest_first])?
            .filter(col("latest_rank").eq(lit(1u64)).and(not_deleted))?
            .project(columns)?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments() {
        assert_eq!(parse_moment("2026-06-14T15:40:00Z"), Ok(Moment::At(1_781_451_600_000_000_000)));
        assert_eq!(parse_moment("+30s"), Ok(Moment::AfterStart(30_000_000_000)));
        assert_eq!(parse_moment("30s"), Ok(Moment::AfterStart(30_000_000_000)));
        assert_eq!(parse_moment("1500ms"), Ok(Moment::AfterStart(1_500_000_000)));
        assert_eq!(parse_moment("1m30s"), Ok(Moment::AfterStart(90_000_000_000)));
        assert_eq!(parse_moment("2.5"), Ok(Moment::AfterStart(2_500_000_000)));
        assert_eq!(parse_moment("0"), Ok(Moment::AfterStart(0)));
        assert!(parse_moment("yesterday").is_err());
        assert!(parse_moment("10parsecs").is_err());
        assert!(parse_moment("-5s").is_err());
    }

    #[test]
    fn moments_a_timestamp_cannot_hold_are_refused_as_such() {
        let out_of_range = |text: &str| Err(MomentError::OutOfRange(text.to_string()));
        assert_eq!(parse_moment("1500-01-01T00:00:00Z"), out_of_range("1500-01-01T00:00:00Z"));
        assert_eq!(parse_moment("2300-01-01T00:00:00Z"), out_of_range("2300-01-01T00:00:00Z"));
        assert_eq!(parse_moment("99999999999999999999s"), out_of_range("99999999999999999999s"));
        assert_eq!(parse_moment("+200000000h"), out_of_range("+200000000h"));
        assert_eq!(parse_moment("100000000h100000000h"), out_of_range("100000000h100000000h"));
    }
}
