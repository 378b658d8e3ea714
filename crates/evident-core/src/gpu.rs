//! GPU facts: the extended resource name, how node pools are labelled, and how resource
//! quantities of whole devices are read.

use serde_json::Value;

/// The extended resource fake and real NVIDIA device plugins advertise.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Node labels that name a GPU pool, in order of preference. The first is the label of
/// run.ai's fake-gpu-operator, which the lesson-1 fleet uses.
pub const POOL_LABELS: [&str; 3] = ["run.ai/simulated-gpu-node-pool", "gpu.evident.dev/pool", "pool"];

/// Reads a resource quantity that counts whole devices (`"8"`, `8`).
/// Quantities with suffixes or fractions are not device counts and give `None`.
pub fn device_count(quantity: &Value) -> Option<i64> {
    match quantity {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

/// The pool named by the first known pool key present in `labels` (a JSON map).
pub fn pool_of(labels: Option<&Value>) -> Option<&str> {
    let labels = labels?.as_object()?;
    POOL_LABELS.iter().find_map(|key| labels.get(*key)?.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn device_counts() {
        assert_eq!(device_count(&json!("8")), Some(8));
        assert_eq!(device_count(&json!(4)), Some(4));
        assert_eq!(device_count(&json!("500m")), None);
    }

    #[test]
    fn pool_prefers_operator_label() {
        let labels = json!({"pool": "x", "run.ai/simulated-gpu-node-pool": "a100"});
        assert_eq!(pool_of(Some(&labels)), Some("a100"));
        assert_eq!(pool_of(Some(&json!({"other": "y"}))), None);
    }
}
