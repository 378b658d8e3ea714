//! GPU facts: the extended resource name, how node pools are labelled, and how resource
//! quantities of whole devices are read.

/// The extended resource fake and real NVIDIA device plugins advertise.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Node labels that name a GPU pool, in order of preference. The first is the label of
/// run.ai's fake-gpu-operator, which the lesson-1 fleet uses.
pub const POOL_LABELS: [&str; 3] = ["run.ai/simulated-gpu-node-pool", "gpu.evident.dev/pool", "pool"];

/// Reads a resource quantity that counts whole devices (`"8"`). Quantities with suffixes
/// or fractions are not device counts and give `None`.
pub fn device_count(quantity: &str) -> Option<i64> {
    quantity.trim().parse().ok()
}

/// The pool named by the first known pool key that `label` finds.
pub fn pool_of<'a>(label: impl Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
    POOL_LABELS.iter().find_map(|key| label(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn device_counts() {
        assert_eq!(device_count("8"), Some(8));
        assert_eq!(device_count(" 4 "), Some(4));
        assert_eq!(device_count("500m"), None);
    }

    #[test]
    fn pool_prefers_operator_label() {
        let labels = BTreeMap::from([("pool", "x"), ("run.ai/simulated-gpu-node-pool", "a100")]);
        assert_eq!(pool_of(|key| labels.get(key).copied()), Some("a100"));
        assert_eq!(pool_of(|_| None), None);
    }
}
