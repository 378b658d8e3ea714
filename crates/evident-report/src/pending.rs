//! "Why pods were Pending": the GPU pods the scheduler refused and still held back at the end
//! of the recording, one sentence per class of the `pending_classification` named query
//! (`shape`, `constraint`, `capacity`, `fragmentation`, in that order), a table of the figures
//! that decide each pod's class beside the scheduler's own words, and the fleet's free GPUs
//! against its largest free block over time (the plot shows fragmentation: free GPUs that no
//! single pod can use).
//!
//! The classes and what eligibility leaves out are documented in `docs/queries.md`; every
//! figure here is the query's, so `evident query pending_classification` shows the same.

use crate::observation::{PendingClassRow, RunObservations};
use crate::timeline::{StepSeries, secs};

/// The `moment` of the rows about the end of the recording.
pub const AT_END: &str = "end";

/// Classes in the order the report lists them; pods without a class (room for them in the
/// recorded state) come last.
const CLASS_ORDER: [&str; 4] = ["shape", "constraint", "capacity", "fragmentation"];

/// How many pod names a sentence lists before it counts the rest.
const NAMES_SHOWN: usize = 3;

/// The section of the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingSection {
    /// One sentence per class found (or one saying that no GPU pod was held back).
    pub sentences: Vec<String>,
    /// The rows at the end of the recording, in class order then by pod.
    pub rows: Vec<PendingClassRow>,
    /// `free GPUs` and `largest free block` of the fleet over time.
    pub capacity: StepSeries,
}

/// Builds the section from the run's `pending_classification` and `gpu_capacity_timeline`.
pub fn build(observations: &RunObservations) -> PendingSection {
    let mut rows: Vec<PendingClassRow> =
        observations.pending_classes.iter().filter(|row| row.moment == AT_END).cloned().collect();
    let rank = |row: &PendingClassRow| {
        row.class.as_deref().and_then(|class| CLASS_ORDER.iter().position(|c| *c == class)).unwrap_or(CLASS_ORDER.len())
    };
    rows.sort_by(|a, b| (rank(a), &a.namespace, &a.pod).cmp(&(rank(b), &b.namespace, &b.pod)));
    let mut sentences: Vec<String> = rows.chunk_by(|a, b| a.class == b.class).map(class_sentence).collect();
    if sentences.is_empty() {
        sentences.push(
            "No pod asking for nvidia.com/gpu was held back by the scheduler at the end of the recording.".into(),
        );
    }
    PendingSection { sentences, rows, capacity: capacity_series(observations) }
}

/// One sentence for the pods of one class (all of `rows` share it): the first pod's reading,
/// preceded by how many pods share the class when there are several.
fn class_sentence(rows: &[PendingClassRow]) -> String {
    let first = &rows[0];
    let label = first.class.as_deref().map_or("Not about GPUs".to_string(), capitalised);
    if rows.len() == 1 {
        return format!("{label}: {}.", describe(first));
    }
    let mut names: Vec<&str> = rows.iter().take(NAMES_SHOWN).map(|row| row.pod.as_str()).collect();
    let more = rows.len().saturating_sub(NAMES_SHOWN);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    names.dedup();
    format!("{label}, {} pods ({}{more}): for example, {}.", rows.len(), names.join(", "), describe(first))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn gpus(n: i64) -> String {
    if n == 1 { "1 GPU".to_string() } else { format!("{n} GPUs") }
}

/// What a row says, in words: `cuda-train-16gpu asks for 16 GPUs; the largest node it may use
/// has 8: no placement exists on this fleet`.
pub fn describe(row: &PendingClassRow) -> String {
    let pod = &row.pod;
    let asks = gpus(row.gpus_requested);
    match row.class.as_deref() {
        Some("shape") => format!(
            "{pod} asks for {asks}; the largest node it may use has {}: no placement exists on this fleet",
            row.largest_eligible_allocatable.unwrap_or(0)
        ),
        Some("constraint") => format!(
            "{pod} asks for {asks}, but its node selector, affinity and tolerations leave it none of the {} node(s) \
             with GPUs: no amount of free GPUs helps",
            row.gpu_nodes
        ),
        Some("capacity") if row.gpu_nodes == 0 => {
            format!("{pod} asks for {asks} while no node advertised GPUs yet: it waits for capacity")
        }
        Some("capacity") => format!(
            "{pod} asks for {asks}; {} free on the {} node(s) it may use ({} in the fleet): it waits for GPUs to be \
             released",
            row.eligible_free, row.eligible_gpu_nodes, row.fleet_free
        ),
        Some("fragmentation") => format!(
            "{pod} asks for {asks}; {} are free on the nodes it may use, but at most {} on any one of them: the free \
             GPUs are fragmented",
            row.eligible_free, row.largest_eligible_free_block
        ),
        Some(other) => format!("{pod} asks for {asks}: class {other}"),
        None => format!(
            "{pod} asks for {asks} and a node it may use had {} free: the refusal is about something the \
             classification does not model (CPU, memory, ...), or the state moved in between",
            row.largest_eligible_free_block
        ),
    }
}

/// The scheduler's reasons in its message (the per-node histogram, without the PostFilter
/// sentences), as `1 node(s) had untolerated taint(s), 6 Insufficient nvidia.com/gpu`; `-`
/// without a message.
pub fn scheduler_reasons(row: &PendingClassRow) -> String {
    let Some(message) = row.scheduler_message.as_deref() else { return "-".to_string() };
    let reasons: Vec<String> = crate::cause::parse(message)
        .reasons
        .into_iter()
        .map(|reason| match reason.nodes {
            Some(nodes) => format!("{nodes} {}", reason.reason),
            None => reason.reason,
        })
        .collect();
    if reasons.is_empty() { message.to_string() } else { reasons.join(", ") }
}

/// The fleet's free GPUs and largest free block after every change, from `gpu_capacity_timeline`.
fn capacity_series(observations: &RunObservations) -> StepSeries {
    let secs = |ns: i64| secs(observations, ns);
    let mut series = StepSeries { end_secs: secs(observations.recording_end_ns()), ..StepSeries::default() };
    let mut free = Vec::new();
    let mut block = Vec::new();
    for point in &observations.fleet_capacity {
        free.push((secs(point.observed_ns), point.free as f64));
        block.push((secs(point.observed_ns), point.largest_free_block as f64));
    }
    if !free.is_empty() {
        series.lines.insert("free GPUs".into(), free);
        series.lines.insert("largest free block".into(), block);
    }
    series
}
