//! The scenario spec: a YAML file under `manifests/scenarios/` naming the fleet, the
//! workloads, how to decide that the cluster settled, and the expectations the report checks.
//!
//! The format is documented in `docs/scenarios.md`. A spec is validated once, on load, and
//! every problem found is reported (not only the first): unknown fields, missing manifest
//! files, malformed expectations. Manifest paths are relative to the directory of the spec
//! file, so a scenario folder works wherever it is copied, with no repository around it. The
//! copy `evident run` stores in a run directory (`<run>/scenario.yaml`) is read with
//! [`Scenario::load_recorded`]: its manifest files are not checked, because the report never
//! reads them (the fleet's node names are stored in the copy).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// File name under which `evident run` stores the spec inside a run directory.
pub const RUN_SCENARIO_FILE: &str = "scenario.yaml";

/// Why a GPU pod is Pending, as the `pending_classification` query classifies it (see
/// `docs/queries.md`): the classes a `pending_class` expectation may name.
pub const PENDING_CLASSES: [&str; 4] = ["shape", "fragmentation", "capacity", "constraint"];

/// Pod phases an expectation may count.
pub const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// Errors of loading a scenario spec.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The spec file could not be read.
    #[error("cannot read scenario spec {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The spec was read but is not valid; `problems` holds one line per problem.
    #[error("scenario spec {origin} is invalid ({} problem(s)): {}", .problems.len(), .problems.join("; "))]
    Invalid { origin: String, problems: Vec<String> },
}

impl ScenarioError {
    /// One line per problem, each naming the spec, for a terminal.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ScenarioError::Invalid { origin, problems } => {
                problems.iter().map(|problem| format!("{origin}: {problem}")).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// A validated scenario spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Short identifier (`lesson1`); names the JUnit suite.
    pub name: String,
    /// Title of the report.
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Fleet manifests (files or directories), relative to the spec file's directory.
    #[serde(default)]
    pub fleet: Vec<String>,
    /// Names of the Nodes the fleet manifests create: the report's fleet. Read from the
    /// manifests on load when they can be found (so the copy `evident run` stores in the run
    /// directory keeps them); a spec may list them itself. Empty: every recorded node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleet_nodes: Vec<String>,
    /// Workload manifests, applied in this order, relative to the spec file's directory.
    #[serde(default)]
    pub workloads: Vec<String>,
    #[serde(default)]
    pub settle: Settle,
    /// What the run proves, in the notebook's words.
    #[serde(default)]
    pub proves: Vec<String>,
    /// What the run does not prove.
    #[serde(default)]
    pub does_not_prove: Vec<String>,
    /// Which layer advertises GPUs, as the author describes it; the report adds what the
    /// recording shows.
    #[serde(default)]
    pub gpu_layer: String,
    pub scenarios: Vec<ScenarioCase>,
}

/// How `evident run` decides that the cluster has settled and recording can stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settle {
    /// Stop after this many seconds without any recorded change. Default 5.
    #[serde(default = "default_quiet_secs")]
    pub quiet_secs: u64,
    /// Give up (and report what was recorded) after this many seconds. Default 300.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Also wait until every expectation is decidable from the recording. Default false.
    #[serde(default)]
    pub decidable: bool,
}

fn default_quiet_secs() -> u64 {
    5
}

fn default_timeout_secs() -> u64 {
    300
}

impl Default for Settle {
    fn default() -> Self {
        Settle { quiet_secs: default_quiet_secs(), timeout_secs: default_timeout_secs(), decidable: false }
    }
}

/// One numbered row of the report's results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioCase {
    pub number: u32,
    pub name: String,
    /// As shown in the Scenario column, e.g. `cuda-batch-small (1 GPU, a100 pool)`.
    pub title: String,
    /// The Expected column, word for word.
    pub expected: String,
    /// Evidence files (names inside the run directory) backing the row.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Written as one-key mappings (`- pod_running_in_pool: {...}`), not YAML tags.
    #[serde(with = "serde_yaml::with::singleton_map_recursive")]
    pub expectations: Vec<Expectation>,
}

/// A machine-checkable expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The pod is Running on a node of the pool.
    PodRunningInPool { namespace: String, pod: String, pool: String },
    /// The pod is Pending and a FailedScheduling reason contains `cause`.
    PodPendingWithCause { namespace: String, pod: String, cause: String },
    /// The pod is Pending at the end of the recording, refused by the scheduler, and the
    /// `pending_classification` query puts it in `class` (one of [`PENDING_CLASSES`]).
    PendingClass { namespace: String, pod: String, class: String },
    /// Pods of the workload per phase, each within `tolerance`.
    PhaseCounts {
        namespace: String,
        workload: String,
        counts: BTreeMap<String, u64>,
        #[serde(default)]
        tolerance: u64,
    },
}

impl Expectation {
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::PodRunningInPool { .. } => "pod_running_in_pool",
            Expectation::PodPendingWithCause { .. } => "pod_pending_with_cause",
            Expectation::PendingClass { .. } => "pending_class",
            Expectation::PhaseCounts { .. } => "phase_counts",
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            Expectation::PodRunningInPool { namespace, .. }
            | Expectation::PodPendingWithCause { namespace, .. }
            | Expectation::PendingClass { namespace, .. }
            | Expectation::PhaseCounts { namespace, .. } => namespace,
        }
    }

    /// The pod an expectation is about, if it names one.
    pub fn pod(&self) -> Option<&str> {
        match self {
            Expectation::PodRunningInPool { pod, .. }
            | Expectation::PodPendingWithCause { pod, .. }
            | Expectation::PendingClass { pod, .. } => Some(pod),
            Expectation::PhaseCounts { .. } => None,
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::PodRunningInPool { namespace, pod, pool } => {
                write!(f, "pod {namespace}/{pod} Running in pool {pool}")
            }
            Expectation::PodPendingWithCause { namespace, pod, cause } => {
                write!(f, "pod {namespace}/{pod} Pending: {cause}")
            }
            Expectation::PendingClass { namespace, pod, class } => {
                write!(f, "pod {namespace}/{pod} Pending, class {class}")
            }
            Expectation::PhaseCounts { namespace, workload, counts, tolerance } => {
                let mut counts: Vec<(&String, &u64)> = counts.iter().collect();
                counts.sort_by_key(|(phase, _)| phase_rank(phase));
                let counts: Vec<String> = counts.iter().map(|(phase, n)| format!("{n} {phase}")).collect();
                write!(f, "workload {namespace}/{workload}: {} (±{tolerance})", counts.join(", "))
            }
        }
    }
}

/// Where a phase is listed when counts are shown: Running first, as the notebook does.
pub fn phase_rank(phase: &str) -> usize {
    ["Running", "Pending", "Succeeded", "Failed", "Unknown"].iter().position(|p| *p == phase).unwrap_or(usize::MAX)
}

const TOP_FIELDS: &[&str] = &[
    "name",
    "title",
    "description",
    "fleet",
    "fleet_nodes",
    "workloads",
    "settle",
    "proves",
    "does_not_prove",
    "gpu_layer",
    "scenarios",
];
const SETTLE_FIELDS: &[&str] = &["quiet_secs", "timeout_secs", "decidable"];
const CASE_FIELDS: &[&str] = &["number", "name", "title", "expected", "evidence", "expectations"];
const EXPECTATION_FIELDS: &[(&str, &[&str])] = &[
    ("pod_running_in_pool", &["namespace", "pod", "pool"]),
    ("pod_pending_with_cause", &["namespace", "pod", "cause"]),
    ("pending_class", &["namespace", "pod", "class"]),
    ("phase_counts", &["namespace", "workload", "counts", "tolerance"]),
];

impl Scenario {
    /// Reads and validates a spec file; its fleet and workload paths are relative to the
    /// file's directory ([`Scenario::base_dir`]) and must exist there.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = read(path)?;
        Scenario::parse(&text, &path.display().to_string(), Some(&Scenario::base_dir(path)))
    }

    /// Reads and validates the copy of a spec stored in a run directory: its manifest paths
    /// were relative to the original spec's folder, so they are kept but not checked.
    pub fn load_recorded(path: &Path) -> Result<Scenario> {
        let text = read(path)?;
        Scenario::parse(&text, &path.display().to_string(), None)
    }

    /// Reads a spec for `evident report --scenario`. The report reads no manifest, so a spec
    /// (a run's stored copy, edited anywhere) is valid without its manifest files; they are
    /// read, relative to the file, only to name the fleet's nodes when the spec lists no
    /// `fleet_nodes`. Without them the fleet is every recorded node, and a warning says so.
    pub fn load_for_report(path: &Path) -> Result<Scenario> {
        let text = read(path)?;
        let origin = path.display().to_string();
        let scenario = Scenario::parse(&text, &origin, None)?;
        if !scenario.fleet_nodes.is_empty() || scenario.fleet.is_empty() {
            return Ok(scenario);
        }
        match Scenario::parse(&text, &origin, Some(&Scenario::base_dir(path))) {
            Ok(with_fleet) => Ok(with_fleet),
            Err(error) => {
                tracing::warn!(
                    spec = %origin,
                    problems = %error.lines().join("; "),
                    "the fleet manifests are not found relative to the spec; the report's fleet is every recorded node"
                );
                Ok(scenario)
            }
        }
    }

    /// The directory a spec file's fleet and workload paths are relative to: the file's own
    /// (`.` for a bare file name).
    pub fn base_dir(spec: &Path) -> PathBuf {
        match spec.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Parses and validates spec text. `origin` names it in errors; with `manifests_root` (the
    /// directory the spec's paths are relative to), every fleet and workload path must exist
    /// below it, and the fleet's node names are read from its manifests.
    pub fn parse(text: &str, origin: &str, manifests_root: Option<&Path>) -> Result<Scenario> {
        let invalid = |problems: Vec<String>| ScenarioError::Invalid { origin: origin.to_string(), problems };
        let value: Value = serde_yaml::from_str(text).map_err(|error| invalid(vec![format!("not YAML: {error}")]))?;
        let mut problems = Vec::new();
        check_structure(&value, &mut problems);
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let mut scenario: Scenario = serde_yaml::from_value(value).map_err(|error| invalid(vec![error.to_string()]))?;
        scenario.check_semantics(manifests_root, &mut problems);
        if let Some(root) = manifests_root
            && scenario.fleet_nodes.is_empty()
            && problems.is_empty()
        {
            scenario.fleet_nodes = fleet_node_names(root, &scenario.fleet, &mut problems);
        }
        if problems.is_empty() { Ok(scenario) } else { Err(invalid(problems)) }
    }

    /// The spec as YAML (what `evident run` copies into the run directory).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// Every expectation with the case it belongs to, in report order.
    pub fn expectations(&self) -> impl Iterator<Item = (&ScenarioCase, &Expectation)> {
        self.scenarios.iter().flat_map(|case| case.expectations.iter().map(move |e| (case, e)))
    }

    /// Namespaces the expectations look at, sorted.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.expectations().map(|(_, e)| e.namespace().to_string()).collect()
    }

    fn check_semantics(&self, root: Option<&Path>, problems: &mut Vec<String>) {
        if self.name.trim().is_empty() {
            problems.push("`name` is empty".into());
        }
        if self.title.trim().is_empty() {
            problems.push("`title` is empty".into());
        }
        if self.scenarios.is_empty() {
            problems.push("`scenarios` is empty: a report needs at least one".into());
        }
        if self.settle.timeout_secs == 0 {
            problems.push("`settle.timeout_secs` must be above 0".into());
        }
        if let Some(root) = root {
            for (field, paths) in [("fleet", &self.fleet), ("workloads", &self.workloads)] {
                for path in paths {
                    if !root.join(path).exists() {
                        problems.push(format!(
                            "`{field}`: file {path} does not exist in {} (paths are relative to the spec's folder)",
                            root.display()
                        ));
                    }
                }
            }
        }
        let mut numbers = BTreeSet::new();
        for (index, case) in self.scenarios.iter().enumerate() {
            let at = format!("scenarios[{index}]");
            if !numbers.insert(case.number) {
                problems.push(format!("{at}: number {} is used twice", case.number));
            }
            for (field, text) in [("name", &case.name), ("title", &case.title), ("expected", &case.expected)] {
                if text.trim().is_empty() {
                    problems.push(format!("{at}: `{field}` is empty"));
                }
            }
            if case.expectations.is_empty() {
                problems.push(format!("{at}: `expectations` is empty: nothing would be checked"));
            }
            for evidence in &case.evidence {
                if !is_evidence_file_name(evidence) {
                    problems.push(format!(
                        "{at}: evidence {evidence:?} is not a file the report writes \
                         (gpu-allocatable.txt, pending-pods.txt, pods-<namespace>.txt, describe-pod-<namespace>_<pod>.txt)"
                    ));
                }
            }
            for (position, expectation) in case.expectations.iter().enumerate() {
                check_expectation(expectation, &format!("{at}.expectations[{position}]"), problems);
            }
        }
    }
}

fn check_expectation(expectation: &Expectation, at: &str, problems: &mut Vec<String>) {
    let kind = expectation.kind();
    let mut require = |field: &str, value: &str| {
        if value.trim().is_empty() {
            problems.push(format!("{at}: {kind}: `{field}` is empty"));
        }
    };
    match expectation {
        Expectation::PodRunningInPool { namespace, pod, pool } => {
            require("namespace", namespace);
            require("pod", pod);
            require("pool", pool);
        }
        Expectation::PodPendingWithCause { namespace, pod, cause } => {
            require("namespace", namespace);
            require("pod", pod);
            require("cause", cause);
        }
        Expectation::PendingClass { namespace, pod, class } => {
            require("namespace", namespace);
            require("pod", pod);
            if !PENDING_CLASSES.contains(&class.as_str()) {
                problems.push(format!("{at}: {kind}: `class` {class:?} is not one of {}", PENDING_CLASSES.join(", ")));
            }
        }
        Expectation::PhaseCounts { namespace, workload, counts, .. } => {
            require("namespace", namespace);
            require("workload", workload);
            if counts.is_empty() {
                problems.push(format!("{at}: {kind}: `counts` is empty"));
            }
        }
    }
}

/// Whether `name` is one of the evidence files the report writes.
pub fn is_evidence_file_name(name: &str) -> bool {
    let plain = !name.contains('/') && name.ends_with(".txt");
    plain
        && (name == "gpu-allocatable.txt"
            || name == "pending-pods.txt"
            || name.strip_prefix("pods-").is_some_and(|rest| rest.len() > 4)
            || name.strip_prefix("describe-pod-").is_some_and(|rest| rest.len() > 4))
}

/// Checks field names and the shape of each expectation before typed deserialization, so
/// that every unknown field is reported, not only the first serde meets.
fn check_structure(value: &Value, problems: &mut Vec<String>) {
    let Some(top) = value.as_mapping() else {
        problems.push("the spec must be a YAML mapping".into());
        return;
    };
    check_keys(top, "", TOP_FIELDS, problems);
    for required in ["name", "title", "scenarios"] {
        if !top.contains_key(required) {
            problems.push(format!("missing field `{required}`"));
        }
    }
    if let Some(settle) = top.get("settle") {
        match settle.as_mapping() {
            Some(settle) => check_keys(settle, "settle.", SETTLE_FIELDS, problems),
            None => problems.push("`settle` must be a mapping".into()),
        }
    }
    let Some(cases) = top.get("scenarios") else { return };
    let Some(cases) = cases.as_sequence() else {
        problems.push("`scenarios` must be a list".into());
        return;
    };
    for (index, case) in cases.iter().enumerate() {
        let at = format!("scenarios[{index}]");
        let Some(case) = case.as_mapping() else {
            problems.push(format!("{at} must be a mapping"));
            continue;
        };
        check_keys(case, &format!("{at}."), CASE_FIELDS, problems);
        for required in ["number", "name", "title", "expected", "expectations"] {
            if !case.contains_key(required) {
                problems.push(format!("{at}: missing field `{required}`"));
            }
        }
        let Some(expectations) = case.get("expectations").and_then(Value::as_sequence) else { continue };
        for (position, expectation) in expectations.iter().enumerate() {
            check_expectation_shape(expectation, &format!("{at}.expectations[{position}]"), problems);
        }
    }
}

fn check_expectation_shape(value: &Value, at: &str, problems: &mut Vec<String>) {
    let known: Vec<&str> = EXPECTATION_FIELDS.iter().map(|(kind, _)| *kind).collect();
    let Some(map) = value.as_mapping().filter(|map| map.len() == 1) else {
        problems.push(format!("{at}: must be a mapping with one key, the kind ({})", known.join(", ")));
        return;
    };
    let (kind, body) = map.iter().next().expect("one entry");
    let kind = kind.as_str().unwrap_or_default();
    let Some((_, fields)) = EXPECTATION_FIELDS.iter().find(|(name, _)| *name == kind) else {
        problems.push(format!("{at}: unknown expectation kind {kind:?} (one of {})", known.join(", ")));
        return;
    };
    let Some(body) = body.as_mapping() else {
        problems.push(format!("{at}: {kind} must be a mapping of {}", fields.join(", ")));
        return;
    };
    check_keys(body, &format!("{at}.{kind}."), fields, problems);
    for field in fields.iter().filter(|field| **field != "tolerance") {
        if !body.contains_key(*field) {
            problems.push(format!("{at}: {kind}: missing field `{field}`"));
        }
    }
    if kind == "phase_counts"
        && let Some(counts) = body.get("counts")
    {
        let well_formed = counts
            .as_mapping()
            .is_some_and(|map| map.iter().all(|(phase, n)| phase.is_string() && n.as_u64().is_some()));
        if !well_formed {
            problems.push(format!("{at}: phase_counts: `counts` must map phases to whole numbers (Running: 32)"));
        }
        for phase in counts.as_mapping().into_iter().flat_map(|map| map.keys()).filter_map(Value::as_str) {
            if !PHASES.contains(&phase) {
                problems.push(format!("{at}: phase_counts: unknown phase {phase:?} (one of {})", PHASES.join(", ")));
            }
        }
    }
}

fn check_keys(map: &serde_yaml::Mapping, prefix: &str, allowed: &[&str], problems: &mut Vec<String>) {
    for key in map.keys() {
        let name = key.as_str().map(str::to_string).unwrap_or_else(|| format!("{key:?}"));
        if !allowed.contains(&name.as_str()) {
            problems.push(format!("unknown field `{prefix}{name}` (expected one of: {})", allowed.join(", ")));
        }
    }
}

/// The names of the Nodes in the fleet manifests (`paths` under `root`; a directory stands
/// for its `.yaml`, `.yml` and `.json` files, in name order), each once.
fn fleet_node_names(root: &Path, paths: &[String], problems: &mut Vec<String>) -> Vec<String> {
    let mut files = Vec::new();
    for path in paths {
        let path = root.join(path);
        if !path.is_dir() {
            files.push(path);
            continue;
        }
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|file| file.extension().is_some_and(|ext| ext == "yaml" || ext == "yml" || ext == "json"))
                    .collect();
                found.sort();
                files.extend(found);
            }
            Err(error) => problems.push(format!("`fleet`: cannot list {}: {error}", path.display())),
        }
    }
    let mut names: Vec<String> = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                problems.push(format!("`fleet`: cannot read {}: {error}", file.display()));
                continue;
            }
        };
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = match Value::deserialize(document) {
                Ok(value) => value,
                Err(error) => {
                    problems.push(format!("`fleet`: {} is not YAML: {error}", file.display()));
                    break;
                }
            };
            let field = |name: &str| value.get(name).and_then(Value::as_str);
            let name = value.get("metadata").and_then(|metadata| metadata.get("name")).and_then(Value::as_str);
            if field("kind") == Some("Node")
                && let Some(name) = name
                && !names.iter().any(|known| known == name)
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name: demo
title: Demo report
scenarios:
  - number: 1
    name: small
    title: small (1 GPU)
    expected: Running on a100 node
    evidence: [pods-gpu-demo.txt]
    expectations:
      - pod_running_in_pool: {namespace: gpu-demo, pod: small, pool: a100}
      - phase_counts: {namespace: gpu-demo, workload: q, counts: {Running: 32, Pending: 8}, tolerance: 1}
"#;

    fn problems(text: &str) -> Vec<String> {
        match Scenario::parse(text, "spec.yaml", None) {
            Err(ScenarioError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_minimal_spec_with_defaults() {
        let scenario = Scenario::parse(MINIMAL, "spec.yaml", None).unwrap();
        assert_eq!(scenario.settle, Settle::default());
        assert_eq!(scenario.scenarios[0].expectations.len(), 2);
        assert_eq!(
            scenario.scenarios[0].expectations[1],
            Expectation::PhaseCounts {
                namespace: "gpu-demo".into(),
                workload: "q".into(),
                counts: [("Pending".to_string(), 8), ("Running".to_string(), 32)].into_iter().collect(),
                tolerance: 1,
            }
        );
        let again = Scenario::parse(&scenario.to_yaml(), "copy", None).unwrap();
        assert_eq!(again, scenario, "a spec survives its YAML round trip (the copy in the run dir)");
    }

    #[test]
    fn reports_every_unknown_field_on_its_own_line() {
        let text = MINIMAL
            .replace("title: Demo report", "title: Demo report\ncolour: red\nsettle: {quiet: 3}")
            .replace("pool: a100}", "pool: a100, zone: x}");
        let found = problems(&text);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("unknown field `colour`"), "{found:#?}");
        assert!(found[1].contains("unknown field `settle.quiet`"), "{found:#?}");
        assert!(found[2].contains("unknown field `scenarios[0].expectations[0].pod_running_in_pool.zone`"));
    }

    #[test]
    fn rejects_bad_expectations() {
        let text = MINIMAL
            .replace("pod_running_in_pool: {namespace: gpu-demo, pod: small, pool: a100}", "pod_flying: {pod: x}")
            .replace("counts: {Running: 32, Pending: 8}", "counts: {Runing: 32}");
        let found = problems(&text);
        assert!(found.iter().any(|p| p.contains("unknown expectation kind \"pod_flying\"")), "{found:#?}");
        assert!(found.iter().any(|p| p.contains("unknown phase \"Runing\"")), "{found:#?}");
        let missing = MINIMAL.replace("pod: small, ", "");
        let found = problems(&missing);
        assert_eq!(found, vec!["scenarios[0].expectations[0]: pod_running_in_pool: missing field `pod`"]);
    }

    #[test]
    fn pending_class_names_one_of_the_four_classes() {
        let with = |class: &str| {
            MINIMAL.replace(
                "- phase_counts:",
                &format!("- pending_class: {{namespace: gpu-demo, pod: big, class: {class}}}\n      - phase_counts:"),
            )
        };
        let scenario = Scenario::parse(&with("shape"), "spec.yaml", None).unwrap();
        assert_eq!(
            scenario.scenarios[0].expectations[1],
            Expectation::PendingClass { namespace: "gpu-demo".into(), pod: "big".into(), class: "shape".into() }
        );
        let found = problems(&with("fragmented"));
        assert_eq!(
            found,
            vec![
                "scenarios[0].expectations[1]: pending_class: `class` \"fragmented\" is not one of shape, fragmentation, \
                 capacity, constraint"
            ]
        );
    }

    #[test]
    fn rejects_missing_manifest_files_and_unknown_evidence() {
        let root = std::env::temp_dir().join(format!("evident-spec-{}", std::process::id()));
        std::fs::create_dir_all(root.join("manifests/fleet")).unwrap();
        let text = MINIMAL
            .replace(
                "scenarios:\n",
                "fleet: [manifests/fleet/]\nworkloads: [manifests/workloads/none.yaml]\nscenarios:\n",
            )
            .replace("[pods-gpu-demo.txt]", "[pods-gpu-demo.txt, notes.md]");
        let found = match Scenario::parse(&text, "spec.yaml", Some(&root)) {
            Err(ScenarioError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid, got {other:?}"),
        };
        std::fs::remove_dir_all(&root).ok();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("`workloads`: file manifests/workloads/none.yaml does not exist"));
        assert!(found[1].contains("evidence \"notes.md\""));
    }

    #[test]
    fn fleet_nodes_are_read_from_the_fleet_manifests_and_a_bad_one_is_named() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("manifests/fleet")).unwrap();
        let nodes = "kind: Node\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: ns}\n---\nkind: Node\nmetadata: {name: b}\n";
        std::fs::write(root.path().join("manifests/fleet/10-nodes.yaml"), nodes).unwrap();
        std::fs::write(root.path().join("manifests/fleet/README.md"), "not a manifest").unwrap();
        let text = MINIMAL.replace("scenarios:\n", "fleet: [manifests/fleet/]\nscenarios:\n");
        let scenario = Scenario::parse(&text, "spec.yaml", Some(root.path())).unwrap();
        assert_eq!(scenario.fleet_nodes, ["a", "b"]);
        let copy = Scenario::parse(&scenario.to_yaml(), "copy", None).unwrap();
        assert_eq!(copy.fleet_nodes, ["a", "b"], "the copy in a run directory keeps them");

        std::fs::write(root.path().join("manifests/fleet/20-broken.yaml"), "kind: Node\nmetadata: {name: [\n").unwrap();
        let found = match Scenario::parse(&text, "spec.yaml", Some(root.path())) {
            Err(ScenarioError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("`fleet`: ") && found[0].contains("20-broken.yaml is not YAML"), "{found:#?}");
    }

    #[test]
    fn paths_resolve_against_the_spec_files_folder_wherever_it_is() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder.path().join("scenarios")).unwrap();
        std::fs::create_dir_all(folder.path().join("fleet")).unwrap();
        std::fs::write(folder.path().join("fleet/nodes.yaml"), "kind: Node\nmetadata: {name: a}\n").unwrap();
        let text = MINIMAL.replace("scenarios:\n", "fleet: [../fleet/]\nscenarios:\n");
        let spec = folder.path().join("scenarios/spec.yaml");
        std::fs::write(&spec, &text).unwrap();
        assert_eq!(Scenario::load(&spec).unwrap().fleet_nodes, ["a"], "../fleet/ next to scenarios/");

        // The same spec one folder up: ../fleet/ is outside the folder and does not exist.
        let moved = folder.path().join("spec.yaml");
        std::fs::write(&moved, &text).unwrap();
        let lines = Scenario::load(&moved).unwrap_err().lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("`fleet`: file ../fleet/ does not exist in"), "{lines:#?}");
        // As the copy stored in a run directory, its paths are not checked.
        assert_eq!(Scenario::load_recorded(&moved).unwrap().fleet, ["../fleet/"]);
        // Given to `evident report`: the manifests are needed only to name the fleet's nodes.
        assert!(Scenario::load_for_report(&spec).unwrap().fleet_nodes == ["a"]);
        assert!(Scenario::load_for_report(&moved).unwrap().fleet_nodes.is_empty(), "no manifests: every node");
        let stored = Scenario::load(&spec).unwrap().to_yaml();
        std::fs::write(&moved, stored).unwrap();
        assert_eq!(Scenario::load_for_report(&moved).unwrap().fleet_nodes, ["a"], "a stored copy, moved");
        assert_eq!(Scenario::base_dir(Path::new("spec.yaml")), Path::new("."));
    }

    #[test]
    fn error_lines_name_the_spec() {
        let error = Scenario::parse("name: x\n", "s.yaml", None).unwrap_err();
        let lines = error.lines();
        assert_eq!(lines, vec!["s.yaml: missing field `title`", "s.yaml: missing field `scenarios`"]);
        assert!(error.to_string().starts_with("scenario spec s.yaml is invalid (2 problem(s))"));
    }
}
