//! The SQL function `node_admits(pod_object, node_object)`: whether a pod, as recorded, may be
//! placed on a node, as recorded, by its node selector, required node affinity, tolerations
//! of the node's `NoSchedule`/`NoExecute` taints, and the node's cordon. The model is
//! [`evident_core::placement`] (what it leaves out is listed there and in `docs/queries.md`);
//! resources are not part of it.
//!
//! `queries/duckdb/pending_classification.sql` restates the same rules with DuckDB's JSON
//! functions; keep the two in step (the parity test compares their output).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanBuilder, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;

/// Name of the SQL function.
pub const FUNCTION_NAME: &str = "node_admits";

/// `node_admits(pod_object, node_object) -> boolean`: NULL when either argument is NULL or not
/// a JSON object.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NodeAdmits {
    signature: Signature,
}

impl NodeAdmits {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(NodeAdmits { signature: Signature::string(2, Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for NodeAdmits {
    fn name(&self) -> &str {
        FUNCTION_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [pods, nodes] = args.args.as_slice() else {
            return exec_err!("{FUNCTION_NAME} takes two arguments, the pod's object and the node's object");
        };
        let pods = cast(&pods.to_array(args.number_rows)?, &DataType::Utf8)?;
        let nodes = cast(&nodes.to_array(args.number_rows)?, &DataType::Utf8)?;
        let (Some(pods), Some(nodes)) =
            (pods.as_any().downcast_ref::<StringArray>(), nodes.as_any().downcast_ref::<StringArray>())
        else {
            return exec_err!("{FUNCTION_NAME} expects two strings");
        };
        let object = |text: &str| serde_json::from_str::<Value>(text).ok().filter(Value::is_object);
        let mut admitted = BooleanBuilder::with_capacity(pods.len());
        // A pod is judged against every node, and every pod against the same nodes: each
        // distinct text is parsed once per batch, not once per row.
        let mut parsed: HashMap<&str, Option<Value>> = HashMap::new();
        for (pod, node) in pods.iter().zip(nodes.iter()) {
            let (Some(pod), Some(node)) = (pod, node) else {
                admitted.append_null();
                continue;
            };
            for text in [pod, node] {
                parsed.entry(text).or_insert_with(|| object(text));
            }
            match (&parsed[pod], &parsed[node]) {
                (Some(pod), Some(node)) => admitted.append_value(evident_core::placement::node_admits(pod, node)),
                _ => admitted.append_null(),
            }
        }
        let array: ArrayRef = Arc::new(admitted.finish());
        Ok(ColumnarValue::Array(array))
    }
}
