//! Query results decoded into Rust structs by column name: a struct says once how one row
//! builds it ([`FromRow`]), reading each field with [`Row::get`], and [`decode`] turns every
//! row of a result into one value.
//!
//! The field's type decides the conversion: the column is cast with Arrow's `cast` (once per
//! batch and column) to that type's Arrow type ([`FromCell::arrow_type`]), so an `Int32` count
//! reads into an `i64` and a dictionary or view string into a `String`.
//!
//! Invariants:
//! - Asking for a column the result lacks, or one whose type Arrow cannot cast to the field's,
//!   is an error naming the column (and both types). Columns are looked up as rows are read,
//!   so a result without rows decodes to nothing without checking any.
//! - A null cell reads as `None` into an `Option` field and as the type's default (`""`, `0`,
//!   `0.0`, `false`) into any other: a field whose absence means something is an `Option`.
//! - A value the cast cannot convert (text `"x"` read as `i64`) reads as null, as Arrow's safe
//!   cast makes it.
//! - Values come out in the order of the batches and of the rows within them, which is the
//!   query's `ORDER BY`.

use std::cell::RefCell;
use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};

/// Errors of decoding a query result.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The result has no column of that name.
    #[error("no column `{column}`")]
    MissingColumn { column: &'static str },
    /// The column's type cannot be cast to the Arrow type of the field it is read into.
    #[error("column `{column}` is {found}, which cannot be read as {wanted}")]
    WrongType { column: &'static str, found: DataType, wanted: DataType },
}

pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// A value built from one row of a query result.
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> Result<Self>;
}

/// A type one cell is read into.
pub trait FromCell: Sized {
    /// The Arrow type the column is cast to before reading.
    fn arrow_type() -> DataType;
    /// Reads cell `index` of a column already cast to [`FromCell::arrow_type`].
    fn from_cell(column: &dyn Array, index: usize) -> Self;
}

/// A non-null value of one Arrow type; reads null as its `Default`, or as `None` inside an
/// `Option`.
pub trait Scalar: Default {
    const ARROW_TYPE: DataType;
    /// Reads the non-null cell `index` of a column of type [`Scalar::ARROW_TYPE`].
    fn value(column: &dyn Array, index: usize) -> Self;
}

impl<T: Scalar> FromCell for T {
    fn arrow_type() -> DataType {
        T::ARROW_TYPE
    }

    fn from_cell(column: &dyn Array, index: usize) -> Self {
        if column.is_null(index) { T::default() } else { T::value(column, index) }
    }
}

impl<T: Scalar> FromCell for Option<T> {
    fn arrow_type() -> DataType {
        T::ARROW_TYPE
    }

    fn from_cell(column: &dyn Array, index: usize) -> Self {
        (!column.is_null(index)).then(|| T::value(column, index))
    }
}

impl Scalar for String {
    const ARROW_TYPE: DataType = DataType::Utf8;
    fn value(column: &dyn Array, index: usize) -> Self {
        column.as_string::<i32>().value(index).to_string()
    }
}

impl Scalar for i64 {
    const ARROW_TYPE: DataType = DataType::Int64;
    fn value(column: &dyn Array, index: usize) -> Self {
        column.as_primitive::<Int64Type>().value(index)
    }
}

impl Scalar for f64 {
    const ARROW_TYPE: DataType = DataType::Float64;
    fn value(column: &dyn Array, index: usize) -> Self {
        column.as_primitive::<Float64Type>().value(index)
    }
}

impl Scalar for bool {
    const ARROW_TYPE: DataType = DataType::Boolean;
    fn value(column: &dyn Array, index: usize) -> Self {
        column.as_boolean().value(index)
    }
}

/// Every row of `batches`, decoded in order.
pub fn decode<T: FromRow>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    let mut values = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        let columns = CastColumns { batch, cast: RefCell::default() };
        for index in 0..batch.num_rows() {
            values.push(T::from_row(&Row { columns: &columns, index })?);
        }
    }
    Ok(values)
}

/// One row of a result, read by column name.
#[derive(Debug)]
pub struct Row<'a> {
    columns: &'a CastColumns<'a>,
    index: usize,
}

impl Row<'_> {
    /// The cell of `column` in this row, as a `T` (see the module doc for nulls and casts).
    pub fn get<T: FromCell>(&self, column: &'static str) -> Result<T> {
        let array = self.columns.cast(column, T::arrow_type())?;
        Ok(T::from_cell(array.as_ref(), self.index))
    }
}

/// A batch's columns, each cast once per Arrow type it is read as.
#[derive(Debug)]
struct CastColumns<'a> {
    batch: &'a RecordBatch,
    cast: RefCell<HashMap<(&'static str, DataType), ArrayRef>>,
}

impl CastColumns<'_> {
    fn cast(&self, column: &'static str, wanted: DataType) -> Result<ArrayRef> {
        let key = (column, wanted);
        if let Some(array) = self.cast.borrow().get(&key) {
            return Ok(array.clone());
        }
        let original = self.batch.column_by_name(column).ok_or(DecodeError::MissingColumn { column })?;
        let array = cast(original, &key.1).map_err(|_| DecodeError::WrongType {
            column,
            found: original.data_type().clone(),
            wanted: key.1.clone(),
        })?;
        self.cast.borrow_mut().insert(key, array.clone());
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{BooleanArray, Float64Array, Int32Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Pod {
        name: String,
        gpus: Option<i64>,
        restarts: i64,
        ready: bool,
        util: Option<f64>,
    }

    impl FromRow for Pod {
        fn from_row(row: &Row<'_>) -> Result<Self> {
            Ok(Pod {
                name: row.get("name")?,
                gpus: row.get("gpus")?,
                restarts: row.get("restarts")?,
                ready: row.get("ready")?,
                util: row.get("util")?,
            })
        }
    }

    fn batch(names: Vec<Option<&str>>, gpus: Vec<Option<i32>>) -> RecordBatch {
        let rows = names.len();
        RecordBatch::try_from_iter([
            ("name", Arc::new(StringArray::from(names)) as ArrayRef),
            ("gpus", Arc::new(Int32Array::from(gpus)) as ArrayRef),
            ("restarts", Arc::new(Int32Array::from(vec![None; rows])) as ArrayRef),
            ("ready", Arc::new(BooleanArray::from(vec![Some(true); rows])) as ArrayRef),
            ("util", Arc::new(Float64Array::from(vec![Some(0.5); rows])) as ArrayRef),
            ("unused", Arc::new(StringArray::from(vec!["x"; rows])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn rows_of_every_batch_decode_in_order_with_casts_and_nulls() {
        let batches = [
            batch(vec![Some("a"), None], vec![Some(8), None]),
            batch(vec![], vec![]),
            batch(vec![Some("c")], vec![Some(4)]),
        ];
        let pods: Vec<Pod> = decode(&batches).unwrap();
        let pod = |name: &str, gpus| Pod { name: name.into(), gpus, restarts: 0, ready: true, util: Some(0.5) };
        assert_eq!(pods, [pod("a", Some(8)), pod("", None), pod("c", Some(4))]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = batch(vec![Some("a")], vec![Some(1)]);
        let without_util = batch.project(&[0, 1, 2, 3]).unwrap();
        let error = decode::<Pod>(&[without_util]).unwrap_err();
        assert_eq!(error.to_string(), "no column `util`");
    }

    #[test]
    fn a_column_that_cannot_be_cast_is_named_with_both_types() {
        let gpus = ListArray::from_iter_primitive::<Int32Type, _, _>([Some(vec![Some(1)])]);
        let batch = RecordBatch::try_from_iter([
            ("name", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
            ("gpus", Arc::new(gpus) as ArrayRef),
        ])
        .unwrap();
        let error = decode::<Pod>(&[batch]).unwrap_err();
        assert!(matches!(error, DecodeError::WrongType { column: "gpus", wanted: DataType::Int64, .. }), "{error:?}");
        assert!(error.to_string().starts_with("column `gpus` is List("), "{error}");
        assert!(error.to_string().ends_with(", which cannot be read as Int64"), "{error}");
    }

    #[test]
    fn no_rows_decode_to_nothing_without_reading_columns() {
        let empty =
            RecordBatch::try_from_iter([("other", Arc::new(StringArray::from(Vec::<&str>::new())) as ArrayRef)])
                .unwrap();
        assert_eq!(decode::<Pod>(&[empty]).unwrap(), []);
        assert_eq!(decode::<Pod>(&[]).unwrap(), []);
    }
}
