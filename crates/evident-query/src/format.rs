//! Query results as text (an aligned table with a row count, CSV, JSON) or as a Parquet file.
//!
//! Text renderers return bytes and never write; [`write_parquet`] writes to a temporary file
//! beside the target and renames it into place, so a failure leaves nothing behind.
//!
//! Observed text (event messages, labels, exporter output) is hostile: the table format shows
//! every value through [`terminal_safe`], so an escape sequence in a recorded value is printed
//! as visible text (`^[[31m`) instead of driving the terminal (the class of kubectl's
//! CVE-2021-25743). CSV and JSON keep values exact: they are data for programs (JSON escapes
//! every C0 control itself).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::JsonArray;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;

/// Why results could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Arrow could not encode a value.
    #[error("cannot render the results: {0}")]
    Render(#[source] ArrowError),
    /// Writing the Parquet output failed.
    #[error("cannot write {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    /// Creating, writing or renaming the output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// How query results are presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned table followed by a row count; NULL shown as `NULL`.
    #[default]
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects, NULLs written out.
    Json,
    /// A Parquet file (needs a path).
    Parquet,
}

/// An aligned table of the results followed by `N rows`; the header is shown even when the
/// result is empty. Every value and column name is shown through [`terminal_safe`], one line
/// per row.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let options = FormatOptions::default().with_null("NULL").with_display_error(true);
    let shown = if batches.is_empty() {
        vec![RecordBatch::new_empty(displayed_schema(schema))]
    } else {
        batches.iter().map(|batch| displayed_batch(batch, &options)).collect::<Result<Vec<_>>>()?
    };
    let table = pretty_format_batches_with_options(&shown, &options).map_err(FormatError::Render)?;
    let noun = if rows == 1 { "row" } else { "rows" };
    Ok(format!("{table}\n{rows} {noun}\n"))
}

/// The schema of [`displayed_batch`]: every column as text, its name made terminal-safe.
fn displayed_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> =
        schema.fields().iter().map(|field| Field::new(terminal_safe(field.name()), DataType::Utf8, true)).collect();
    Arc::new(Schema::new(fields))
}

/// Every value of `batch` as the table would show it, made terminal-safe, so the table's
/// alignment counts the visible escapes and a newline in a value cannot start a new row.
fn displayed_batch(batch: &RecordBatch, options: &FormatOptions<'_>) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        let formatter = ArrayFormatter::try_new(column.as_ref(), options).map_err(FormatError::Render)?;
        let mut values = Vec::with_capacity(column.len());
        for row in 0..column.len() {
            let mut value = String::new();
            write!(value, "{}", formatter.value(row)).map_err(|_| {
                FormatError::Render(ArrowError::ComputeError(format!("cannot display row {row} of the results")))
            })?;
            values.push(terminal_safe(&value).into_owned());
        }
        columns.push(Arc::new(StringArray::from(values)));
    }
    RecordBatch::try_new(displayed_schema(&batch.schema()), columns).map_err(FormatError::Render)
}

/// Text made safe to print on a terminal, on one line: every control character (C0, DEL, C1)
/// and every Unicode bidirectional override is replaced by a visible escape, as kubectl does
/// since CVE-2021-25743: ESC as `^[`, `\r` `\n` `\t` as written here, others as `\u{9b}`.
/// Text without them is returned as it is. The replacement cannot be undone (a recorded `^[`
/// reads the same): it is for people, not programs.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, false)
}

/// [`terminal_safe`] for multi-line text: newlines are kept, everything else is escaped.
pub fn terminal_safe_lines(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, true)
}

fn escape_for_terminal(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(keep_newlines && c == '\n')) || is_bidi_control(c);
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\u{1b}' => out.push_str("^["),
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters that reorder how a line is displayed (the "Trojan Source" class): a recorded
/// value could make a terminal show text other than what was recorded.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// CSV with a header row.
pub fn render_csv(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
        if batches.is_empty() {
            writer.write(&RecordBatch::new_empty(schema.clone())).map_err(FormatError::Render)?;
        }
        for batch in batches {
            writer.write(batch).map_err(FormatError::Render)?;
        }
    }
    Ok(out)
}

/// A JSON array of row objects, with NULLs written out.
pub fn render_json(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer =
            datafusion::arrow::json::WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut out);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        writer.write_batches(&refs).map_err(FormatError::Render)?;
        writer.finish().map_err(FormatError::Render)?;
    }
    if out.is_empty() {
        out.extend_from_slice(b"[]");
    }
    out.push(b'\n');
    Ok(out)
}

/// Writes the results as one Parquet file (zstd), atomically: `<path>.tmp` then rename.
pub fn write_parquet(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into())
    ));
    let io_error = |source| FormatError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::create(&tmp).map_err(io_error)?;
    let written = (|| {
        let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.close().map(|_| ())
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(FormatError::Parquet { path: path.to_path_buf(), source });
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        io_error(source)
    })
}

/// Renders text formats into `out`; Parquet needs [`write_parquet`].
pub fn render(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch], out: &mut impl Write) -> Result<()> {
    let bytes = match format {
        OutputFormat::Table => render_table(schema, batches)?.into_bytes(),
        OutputFormat::Csv => render_csv(schema, batches)?,
        OutputFormat::Json => render_json(batches)?,
        OutputFormat::Parquet => {
            return Err(FormatError::Io {
                path: PathBuf::from("-"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "Parquet output needs a file path"),
            });
        }
    };
    out.write_all(&bytes).map_err(|source| FormatError::Io { path: PathBuf::from("-"), source })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    use super::*;

    fn batch() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("node", DataType::Utf8, true),
            Field::new("gpus", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a100-0"), None])),
                Arc::new(Int64Array::from(vec![Some(8), None])),
            ],
        )
        .unwrap();
        (schema, batch)
    }

    #[test]
    fn table_shows_nulls_and_counts_rows() {
        let (schema, batch) = batch();
        let text = render_table(&schema, &[batch]).unwrap();
        assert!(text.contains("| a100-0 | 8    |"), "{text}");
        assert!(text.contains("| NULL   | NULL |"), "{text}");
        assert!(text.ends_with("\n2 rows\n"));
        let empty = render_table(&schema, &[]).unwrap();
        assert!(empty.contains("| node | gpus |") && empty.ends_with("\n0 rows\n"), "{empty}");
    }

    #[test]
    fn terminal_text_shows_controls_as_visible_escapes() {
        assert_eq!(terminal_safe("plain text, ü"), "plain text, ü");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("\u{1b}[31mred\u{1b}[0m"), "^[[31mred^[[0m");
        assert_eq!(
            terminal_safe("a\r\nb\tc\u{7}\u{7f}\u{9b}2J\u{202e}"),
            "a\\r\\nb\\tc\\u{7}\\u{7f}\\u{9b}2J\\u{202e}"
        );
        assert_eq!(terminal_safe_lines("one\ntwo\u{1b}]0;title\u{7}"), "one\ntwo^[]0;title\\u{7}");
    }

    #[test]
    fn table_values_with_controls_stay_on_one_aligned_line() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("message", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let hostile = "x\u{1b}[2J\r\n| fake | row |";
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some(hostile), None])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let text = render_table(&schema, &[batch]).unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        // border, header, border, two rows, border, count
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[3].starts_with("| x^[[2J\\r\\n| fake | row | | 1 "), "{text}");
        assert!(lines[4].starts_with("| NULL "), "{text}");
        let widths: Vec<usize> = lines[..6].iter().map(|line| line.chars().count()).collect();
        assert!(widths.iter().all(|&width| width == widths[0]), "aligned: {text}");
    }

    #[test]
    fn csv_and_json() {
        let (schema, batch) = batch();
        assert_eq!(
            String::from_utf8(render_csv(&schema, std::slice::from_ref(&batch)).unwrap()).unwrap(),
            "node,gpus\na100-0,8\n,\n"
        );
        assert_eq!(
            String::from_utf8(render_json(&[batch]).unwrap()).unwrap(),
            "[{\"node\":\"a100-0\",\"gpus\":8},{\"node\":null,\"gpus\":null}]\n"
        );
        assert_eq!(render_json(&[]).unwrap(), b"[]\n");
    }

    #[test]
    fn parquet_is_written_atomically() {
        let (schema, batch) = batch();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        write_parquet(&path, &schema, &[batch]).unwrap();
        assert!(path.is_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
        let missing = dir.path().join("absent/out.parquet");
        assert!(write_parquet(&missing, &schema, &[]).is_err());
        assert!(!missing.exists());
    }
}
