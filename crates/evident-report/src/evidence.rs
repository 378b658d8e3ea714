//! The notebook's evidence files, derived from the recording instead of copied from
//! `kubectl`: each keeps the layout of the command it replaces, so a reader who knows
//! `kubectl` reads it unchanged, and starts with a `#` line naming the recording and the
//! moment (the end of the recording) it shows.
//!
//! | file | replaces |
//! |---|---|
//! | `gpu-allocatable.txt` | `kubectl get nodes -o custom-columns=NAME:.metadata.name,GPU:.status.allocatable.nvidia\.com/gpu` |
//! | `pods-<namespace>.txt` | `kubectl get pods -n <namespace> -o wide` |
//! | `pending-pods.txt` | `kubectl get pods -A --field-selector=status.phase=Pending` |
//! | `describe-pod-<namespace>_<pod>.txt` | `kubectl describe pod -n <namespace> <pod>`, for each Pending pod |
//!
//! Ages are measured to the end of the recording. Files are written whole (temporary file,
//! then rename), so a crash leaves either the old file or the new one.
//!
//! Names come from the recording, which may hold anything: a describe file's name keeps a
//! namespace and pod name only when they are what the API server accepts (lowercase letters,
//! digits, `-`, `.`); any other name gets its other characters replaced and a hash of the
//! original appended ([`describe_file_name`]), so no name leaves the run directory and two
//! pods never share a file.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use evident_core::gpu::GPU_RESOURCE;
use serde_json::Value;

use crate::observation::{ObservedPod, RunObservations};

/// Errors of writing evidence files.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Writing a file into the run directory failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = EvidenceError> = std::result::Result<T, E>;

/// One evidence file: its name in the run directory and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFile {
    pub name: String,
    pub text: String,
}

/// Every evidence file for the given namespaces.
pub fn evidence_files(observations: &RunObservations, namespaces: &[String]) -> Vec<EvidenceFile> {
    let header = |command: &str| {
        format!(
            "# derived from recording {} at {} (end of recording); replaces: {command}\n",
            observations.run_id,
            evident_core::time::format_ns(observations.recording_end_ns())
        )
    };
    let mut files = vec![EvidenceFile {
        name: "gpu-allocatable.txt".into(),
        text: header(
            r"kubectl get nodes -o custom-columns=NAME:.metadata.name,GPU:.status.allocatable.nvidia\.com/gpu",
        ) + &gpu_allocatable(observations),
    }];
    for namespace in namespaces {
        files.push(EvidenceFile {
            name: pods_file_name(namespace),
            text: header(&format!("kubectl get pods -n {namespace} -o wide")) + &pods_wide(observations, namespace),
        });
    }
    files.push(EvidenceFile {
        name: "pending-pods.txt".into(),
        text: header("kubectl get pods -A --field-selector=status.phase=Pending") + &pending_pods(observations),
    });
    for pod in described_pods(observations, namespaces) {
        files.push(EvidenceFile {
            name: describe_file_name(&pod.namespace, &pod.name),
            text: header(&format!("kubectl describe pod -n {} {}", pod.namespace, pod.name))
                + &describe_pod(observations, pod),
        });
    }
    files
}

/// The names of the files [`evidence_files`] writes, in the same order.
pub fn file_names(observations: &RunObservations, namespaces: &[String]) -> Vec<String> {
    let mut names = vec!["gpu-allocatable.txt".to_string()];
    names.extend(namespaces.iter().map(|namespace| pods_file_name(namespace)));
    names.push("pending-pods.txt".to_string());
    names.extend(described_pods(observations, namespaces).map(|pod| describe_file_name(&pod.namespace, &pod.name)));
    names
}

/// `pods-<namespace>.txt`, made one plain file name ([`safe_file_name`]): the namespace comes
/// from the scenario.
fn pods_file_name(namespace: &str) -> String {
    safe_file_name(&format!("pods-{namespace}.txt"))
}

/// The pods that get a describe file: the Pending pods of `namespaces`.
fn described_pods<'a>(
    observations: &'a RunObservations,
    namespaces: &'a [String],
) -> impl Iterator<Item = &'a ObservedPod> + 'a {
    observations.pods.iter().filter(move |pod| namespaces.contains(&pod.namespace) && is_pending(pod))
}

/// Longest file name most file systems take (bytes).
const MAX_FILE_NAME: usize = 255;

/// `describe-pod-<namespace>_<pod>.txt`. `_` cannot occur in a namespace or pod name, so the
/// name is unambiguous. A name from the recording the API server would not have accepted
/// (other characters, empty, or too long for a file name) has its other characters replaced
/// by `-`, is shortened, and ends in `-<12 hex digits of SHA-256 of namespace/pod>`.
pub fn describe_file_name(namespace: &str, pod: &str) -> String {
    let valid = |name: &str| {
        !name.is_empty()
            && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-.".contains(&byte))
    };
    let plain = format!("describe-pod-{namespace}_{pod}.txt");
    if valid(namespace) && valid(pod) && plain.len() <= MAX_FILE_NAME {
        return plain;
    }
    let clean = |name: &str| -> String {
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c.to_ascii_lowercase() } else { '-' }).collect()
    };
    let digest = Sha256::digest(format!("{namespace}/{pod}").as_bytes());
    let hash: String = digest.iter().take(6).map(|byte| format!("{byte:02x}")).collect();
    // Room for the prefix, `_`, `-<hash>`, `.txt`: 13 + 1 + 13 + 4 bytes.
    let room = MAX_FILE_NAME - 31;
    let mut stem = format!("{}_{}", clean(namespace), clean(pod));
    stem.truncate(room);
    format!("describe-pod-{stem}-{hash}.txt")
}

/// A name made safe as one file name in the run directory: characters other than ASCII
/// letters, digits, `-`, `_` and `.` become `_`, a leading `.` becomes `_` (no hidden file, no
/// `..`), and a name longer than 200 bytes is cut and ends in a hash of the whole name, so
/// distinct long names stay distinct and every file system takes it. Kubernetes names (DNS
/// labels and subdomains) come through unchanged unless very long.
pub fn safe_file_name(name: &str) -> String {
    const MAX_BYTES: usize = 200;
    let mut safe: String = name
        .chars()
        .enumerate()
        .map(|(index, c)| match c {
            '.' if index == 0 => '_',
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '_',
        })
        .collect();
    if safe.is_empty() {
        safe.push('_');
    }
    if safe.len() > MAX_BYTES {
        let (stem, extension) = match safe.rfind('.') {
            Some(dot) if safe.len() - dot <= 8 => (&safe[..dot], &safe[dot..]),
            _ => (safe.as_str(), ""),
        };
        let digest = fnv1a(name.as_bytes());
        let keep = MAX_BYTES.saturating_sub(extension.len() + 17).min(stem.len());
        safe = format!("{}-{digest:016x}{extension}", &stem[..keep]);
    }
    safe
}

/// 64-bit FNV-1a: a stable, dependency-free hash that tells long file names apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash: u64, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

fn is_pending(pod: &ObservedPod) -> bool {
    pod.phase.as_deref() == Some("Pending")
}

fn gpu_allocatable(observations: &RunObservations) -> String {
    let mut rows = vec![vec!["NAME".to_string(), "GPU".to_string()]];
    for node in &observations.nodes {
        let gpus = node.gpu_allocatable.map(|gpus| gpus.to_string()).unwrap_or_else(|| "<none>".to_string());
        rows.push(vec![node.name.clone(), gpus]);
    }
    table(&rows)
}

fn pods_wide(observations: &RunObservations, namespace: &str) -> String {
    let mut rows = vec![
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
            .map(String::from)
            .to_vec(),
    ];
    let pods: Vec<&ObservedPod> = observations.pods.iter().filter(|pod| pod.namespace == namespace).collect();
    if pods.is_empty() {
        return format!("No resources found in {namespace} namespace.\n");
    }
    for pod in pods {
        let object = &pod.object;
        rows.push(vec![
            pod.name.clone(),
            ready(object),
            status(pod),
            restarts(object).to_string(),
            age(observations, pod.created_at_ns),
            text_at(object, "/status/podIP").unwrap_or("<none>").to_string(),
            pod.node_name.clone().unwrap_or_else(|| "<none>".into()),
            text_at(object, "/status/nominatedNodeName").unwrap_or("<none>").to_string(),
            "<none>".to_string(),
        ]);
    }
    table(&rows)
}

fn pending_pods(observations: &RunObservations) -> String {
    let mut rows = vec![["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"].map(String::from).to_vec()];
    for pod in observations.pods.iter().filter(|pod| is_pending(pod)) {
        rows.push(vec![
            pod.namespace.clone(),
            pod.name.clone(),
            ready(&pod.object),
            status(pod),
            restarts(&pod.object).to_string(),
            age(observations, pod.created_at_ns),
        ]);
    }
    if rows.len() == 1 {
        return "No resources found\n".to_string();
    }
    table(&rows)
}

/// `kubectl describe pod`: the pod's fields, containers, conditions, scheduling constraints
/// and events, in kubectl's order and layout.
fn describe_pod(observations: &RunObservations, pod: &ObservedPod) -> String {
    let mut out = String::new();
    describe_fields(&mut out, pod);
    out.push_str("Containers:\n");
    for container in pod.object.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        describe_container(&mut out, container);
    }
    describe_conditions(&mut out, &pod.object);
    out.push_str("Volumes:            <none>\n");
    describe_scheduling(&mut out, &pod.object);
    describe_events(&mut out, observations, pod);
    out
}

/// The header fields, from Name to IPs, names padded to 18 columns; labels and annotations
/// one per line.
fn describe_fields(out: &mut String, pod: &ObservedPod) {
    let object = &pod.object;
    // A value continuing the previous field (a second label) is indented to the values' column.
    let mut field = |name: &str, value: &str| {
        let name = if name.is_empty() { String::new() } else { format!("{name}:") };
        out.push_str(&format!("{name:<18}{value}\n"));
    };
    field("Name", &pod.name);
    field("Namespace", &pod.namespace);
    field("Priority", &object.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0).to_string());
    field("Service Account", text_at(object, "/spec/serviceAccountName").unwrap_or("default"));
    field("Node", pod.node_name.as_deref().unwrap_or("<none>"));
    let labels = key_values(object.pointer("/metadata/labels"), "=");
    field("Labels", labels.first().map(String::as_str).unwrap_or("<none>"));
    for label in labels.iter().skip(1) {
        field("", label);
    }
    let annotations = key_values(object.pointer("/metadata/annotations"), ": ");
    field("Annotations", annotations.first().map(String::as_str).unwrap_or("<none>"));
    for annotation in annotations.iter().skip(1) {
        field("", annotation);
    }
    field("Status", pod.phase.as_deref().unwrap_or("Unknown"));
    field("IP", text_at(object, "/status/podIP").unwrap_or(""));
    field("IPs", if text_at(object, "/status/podIP").is_some() { "" } else { "<none>" });
    if let Some(controller) = controlled_by(object) {
        field("Controlled By", &controller);
    }
}

/// `Kind/name` of the controlling owner reference, as kubectl's `Controlled By:`.
fn controlled_by(object: &Value) -> Option<String> {
    let owners = object.pointer("/metadata/ownerReferences")?.as_array()?;
    let controller = owners.iter().find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))?;
    Some(format!("{}/{}", text_at(controller, "/kind")?, text_at(controller, "/name")?))
}

/// One container: image, ports, limits and requests, environment, mounts.
fn describe_container(out: &mut String, container: &Value) {
    out.push_str(&format!("  {}:\n", text_at(container, "/name").unwrap_or("?")));
    out.push_str(&format!("    Image:      {}\n", text_at(container, "/image").unwrap_or("")));
    out.push_str("    Port:       <none>\n    Host Port:  <none>\n");
    for (title, key) in [("Limits", "limits"), ("Requests", "requests")] {
        describe_resources(out, container, title, key);
    }
    describe_environment(out, container);
    out.push_str("    Mounts:       <none>\n");
}

/// A container's `Limits:` or `Requests:` (`key`), sorted by resource; nothing when empty.
fn describe_resources(out: &mut String, container: &Value, title: &str, key: &str) {
    let resources = container.pointer(&format!("/resources/{key}")).and_then(Value::as_object);
    let mut entries: Vec<(String, String)> =
        resources.into_iter().flatten().map(|(name, value)| (name.clone(), quantity(value))).collect();
    // The API server copies an extended resource's limit into requests; show what
    // the scheduler saw even if the recorded object predates defaulting.
    if key == "requests"
        && !entries.iter().any(|(name, _)| name == GPU_RESOURCE)
        && let Some(limit) = container.pointer("/resources/limits").and_then(|l| l.get(GPU_RESOURCE))
    {
        entries.push((GPU_RESOURCE.to_string(), quantity(limit)));
    }
    entries.sort();
    if entries.is_empty() {
        return;
    }
    out.push_str(&format!("    {title}:\n"));
    let width = entries.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 3;
    for (name, value) in entries {
        out.push_str(&format!("      {:<width$}{value}\n", format!("{name}:")));
    }
}

/// A container's environment: names with their (redacted) values, or `<none>`.
fn describe_environment(out: &mut String, container: &Value) {
    let env: Vec<String> = container
        .pointer("/env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|var| {
            let value = text_at(var, "/value").unwrap_or("<set from a reference>");
            format!("      {}:  {value} (redacted by the recorder)", text_at(var, "/name").unwrap_or("?"))
        })
        .collect();
    if env.is_empty() {
        out.push_str("    Environment:  <none>\n");
        return;
    }
    out.push_str("    Environment:\n");
    for line in env {
        out.push_str(&line);
        out.push('\n');
    }
}

/// `Conditions:`, a Type/Status table.
fn describe_conditions(out: &mut String, object: &Value) {
    out.push_str("Conditions:\n");
    // describe writes each condition cell with a trailing space, hence 3 spaces between.
    let mut rows = vec![vec!["Type ".to_string(), "Status".to_string()]];
    rows.extend(object.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().map(
        |condition| {
            vec![
                format!("{} ", text_at(condition, "/type").unwrap_or("")),
                text_at(condition, "/status").unwrap_or("").to_string(),
            ]
        },
    ));
    out.push_str(&indent(&describe_table(&rows), "  "));
}

/// QoS class, node selectors and tolerations, names padded to 29 columns, one value a line.
fn describe_scheduling(out: &mut String, object: &Value) {
    let mut wide = |name: &str, values: Vec<String>| {
        let first = values.first().cloned().unwrap_or_else(|| "<none>".into());
        out.push_str(&format!("{:<29}{first}\n", format!("{name}:")));
        for value in values.iter().skip(1) {
            out.push_str(&format!("{:<29}{value}\n", ""));
        }
    };
    wide("QoS Class", vec![text_at(object, "/status/qosClass").unwrap_or("BestEffort").to_string()]);
    wide("Node-Selectors", key_values(object.pointer("/spec/nodeSelector"), "="));
    wide("Tolerations", tolerations(object));
}

/// `Events:` about the pod, oldest first, ages to the end of the recording.
fn describe_events(out: &mut String, observations: &RunObservations, pod: &ObservedPod) {
    let events: Vec<_> = observations.events_of(pod).collect();
    if events.is_empty() {
        out.push_str("Events:                      <none>\n");
        return;
    }
    out.push_str("Events:\n");
    let mut rows = vec![["Type", "Reason", "Age", "From", "Message"].map(String::from).to_vec()];
    rows.push(["----", "------", "----", "----", "-------"].map(String::from).to_vec());
    for event in events {
        let last = age(observations, Some(event.last_at_ns));
        let count = event.count.unwrap_or(1);
        let age_text = if count > 1 {
            format!("{last} (x{count} over {})", age(observations, Some(event.first_at_ns)))
        } else {
            last
        };
        rows.push(vec![
            event.event_type.clone().unwrap_or_default(),
            event.reason.clone().unwrap_or_default(),
            age_text,
            event.source_component.clone().unwrap_or_default(),
            event.message.clone().unwrap_or_default(),
        ]);
    }
    out.push_str(&indent(&describe_table(&rows), "  "));
}

fn tolerations(object: &Value) -> Vec<String> {
    object
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|toleration| {
            let key = text_at(toleration, "/key").unwrap_or("");
            let effect = text_at(toleration, "/effect").map(|e| format!(":{e}")).unwrap_or_default();
            let operator = text_at(toleration, "/operator").unwrap_or("Equal");
            let value = text_at(toleration, "/value").map(|v| format!("={v}")).unwrap_or_default();
            let seconds = toleration
                .pointer("/tolerationSeconds")
                .and_then(Value::as_i64)
                .map(|s| format!(" for {s}s"))
                .unwrap_or_default();
            if operator == "Exists" {
                format!("{key}{effect} op=Exists{seconds}")
            } else {
                format!("{key}{value}{effect}{seconds}")
            }
        })
        .collect()
}

fn ready(object: &Value) -> String {
    let total = object.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let ready = object
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|status| status.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    format!("{ready}/{total}")
}

fn restarts(object: &Value) -> i64 {
    object
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|status| status.get("restartCount").and_then(Value::as_i64))
        .sum()
}

/// The STATUS column: the pod's reason when it has one (`Evicted`), else its phase.
fn status(pod: &ObservedPod) -> String {
    text_at(&pod.object, "/status/reason")
        .map(str::to_string)
        .or_else(|| pod.phase.clone())
        .unwrap_or_else(|| "Unknown".into())
}

fn age(observations: &RunObservations, since_ns: Option<i64>) -> String {
    match since_ns {
        Some(since) => human_duration(observations.recording_end_ns().saturating_sub(since) / 1_000_000_000),
        None => "<unknown>".into(),
    }
}

/// kubectl's AGE format: `45s`, `2m5s`, `12m`, `3h4m`, `20h`, `3d4h`, `30d`, `2y10d`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        match seconds % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        }
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d{rest}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        match days % 365 {
            0 => format!("{}y", days / 365),
            rest => format!("{}y{rest}d", days / 365),
        }
    } else {
        format!("{}y", days / 365)
    }
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer)?.as_str().filter(|text| !text.is_empty())
}

fn quantity(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn key_values(map: Option<&Value>, separator: &str) -> Vec<String> {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}{separator}{}", quantity(value)))
        .collect();
    pairs.sort();
    pairs
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|line| format!("{prefix}{line}\n")).collect()
}

/// Columns padded like `kubectl get`'s tab writer: each as wide as its widest cell plus 3
/// spaces, the last one unpadded.
pub fn table(rows: &[Vec<String>]) -> String {
    padded_table(rows, 3)
}

/// `kubectl describe` pads its tables with 2 spaces.
fn describe_table(rows: &[Vec<String>]) -> String {
    padded_table(rows, 2)
}

fn padded_table(rows: &[Vec<String>], padding: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| rows.iter().filter_map(|row| row.get(column)).map(|cell| cell.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(column).copied().unwrap_or(0) + padding;
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 240, "3h4m"),
            (20 * 3600, "20h"),
            (3 * 86_400 + 4 * 3600, "3d4h"),
            (30 * 86_400, "30d"),
        ];
        for (seconds, text) in cases {
            assert_eq!(human_duration(seconds), text, "{seconds}s");
        }
    }

    #[test]
    fn columns_align_with_three_spaces() {
        let rows = vec![vec!["NAME".into(), "GPU".into()], vec!["kwok-gpu-a100-0".into(), "8".into()]];
        assert_eq!(table(&rows), "NAME              GPU\nkwok-gpu-a100-0   8\n");
    }
}
