//! The Prometheus text exposition format (version 0.0.4), as GPU exporters such as NVIDIA's
//! dcgm-exporter serve it:
//!
//! ```text
//! # HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
//! # TYPE DCGM_FI_DEV_GPU_UTIL gauge
//! DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-8f1c...",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a"} 87 1718379591000
//! ```
//!
//! A sample line is `name{label="value",...} value [timestamp in ms]`; label values escape
//! `\\`, `\"` and `\n`; values may be `NaN`, `+Inf` or `-Inf`. `# HELP` and other comments are
//! skipped, `# TYPE` gives the type of the samples of a metric family.
//!
//! Invariants: [`parse`] never panics and never stops at a bad line: it keeps every good
//! sample, counts every line it could not read, and describes the first few, so one broken
//! series cannot hide the others.

use std::collections::HashMap;

/// How many bad lines are described in [`Exposition::problems`]; the rest are only counted.
pub const MAX_PROBLEMS: usize = 5;

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, e.g. `DCGM_FI_DEV_GPU_UTIL`.
    pub name: String,
    /// Labels in the order they were written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The exporter's own timestamp, ms since the Unix epoch, when it gave one.
    pub timestamp_ms: Option<i64>,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`, from the family's `# TYPE` line.
    pub metric_type: Option<String>,
}

impl Sample {
    /// The value of the first of `names` that is a non-empty label of this sample.
    pub fn label(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.labels.iter().find(|(key, value)| key == name && !value.is_empty()).map(|(_, value)| value.as_str())
        })
    }
}

/// What a scrape body held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Lines that are neither a sample, a comment nor blank.
    pub bad_lines: u64,
    /// `line <n>: <why>` for the first [`MAX_PROBLEMS`] bad lines.
    pub problems: Vec<String>,
}

/// Parses a whole scrape body. Never fails: bad lines are counted in the result.
pub fn parse(text: &str) -> Exposition {
    let mut exposition = Exposition::default();
    let mut types: HashMap<String, String> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        let outcome = match line.strip_prefix('#') {
            Some(comment) => parse_comment(comment, &mut types),
            None => parse_sample(line).map(|mut sample| {
                sample.metric_type = family_type(&types, &sample.name);
                exposition.samples.push(sample);
            }),
        };
        if let Err(why) = outcome {
            exposition.bad_lines += 1;
            if exposition.problems.len() < MAX_PROBLEMS {
                exposition.problems.push(format!("line {}: {why}", index + 1));
            }
        }
    }
    exposition
}

/// `# TYPE <name> <type>` is remembered; `# HELP` and any other comment are skipped.
fn parse_comment(comment: &str, types: &mut HashMap<String, String>) -> Result<(), String> {
    let mut words = comment.split_whitespace();
    if words.next() != Some("TYPE") {
        return Ok(());
    }
    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
        return Err("a # TYPE line needs a metric name and a type".into());
    };
    if !is_metric_name(name) {
        return Err(format!("`{name}` in # TYPE is not a metric name"));
    }
    if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
        return Err(format!("unknown metric type `{kind}` for {name}"));
    }
    types.insert(name.to_string(), kind.to_string());
    Ok(())
}

/// The type of a sample's family: histograms and summaries name their samples
/// `<family>_bucket`, `_sum` and `_count`.
fn family_type(types: &HashMap<String, String>, name: &str) -> Option<String> {
    if let Some(kind) = types.get(name) {
        return Some(kind.clone());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find_map(|family| types.get(family).cloned())
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("`{}` is not a metric name", truncate(name)));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(after_brace)?;
        labels = parsed;
        rest = after;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or_else(|| format!("{name} has no value"))?;
    let value =
        parse_value(value).ok_or_else(|| format!("{name} has the value `{}`, not a number", truncate(value)))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| format!("{name} has the timestamp `{}`", truncate(text)))?),
    };
    if fields.next().is_some() {
        return Err(format!("{name} has text after its timestamp"));
    }
    Ok(Sample { name: name.to_string(), labels, value, timestamp_ms, metric_type: None })
}

/// A sample's labels, name and value, in the order written.
type Labels = Vec<(String, String)>;

/// Parses `l="v",...}` (the text after `{`); returns the labels and the text after `}`.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let equals = rest.find('=').ok_or("a label has no `=`")?;
        let name = rest[..equals].trim_end_matches([' ', '\t']);
        if !is_label_name(name) {
            return Err(format!("`{}` is not a label name", truncate(name)));
        }
        let quoted = rest[equals + 1..].trim_start_matches([' ', '\t']);
        let quoted = quoted.strip_prefix('"').ok_or_else(|| format!("the value of label {name} is not quoted"))?;
        let (value, after) = parse_label_value(quoted).ok_or_else(|| format!("the value of label {name} is cut"))?;
        labels.push((name.to_string(), value));
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(format!("label {name} is followed by neither `,` nor `}}`"));
        }
    }
}

/// Reads an escaped label value up to its closing quote; `None` if the quote never comes or
/// an escape is not one of `\\`, `\"`, `\n`.
fn parse_label_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                _ => return None,
            },
            other => value.push(other),
        }
    }
    None
}

/// Go's `ParseFloat` spellings the format allows, including `NaN`, `+Inf` and `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) => {
            text.parse().ok()
        }
        _ => None,
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// At most 40 characters of a bad token, so a problem stays one short line.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DCGM: &str = r#"# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0a",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="kwok-gpu-a100-0",namespace="gpu-demo",pod="train-0",container="main"} 87
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-0b",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="kwok-gpu-a100-0"} 0 1718379591000
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-0a"} 40960
"#;

    #[test]
    fn reads_dcgm_samples_with_labels_types_and_timestamps() {
        let parsed = parse(DCGM);
        assert_eq!((parsed.samples.len(), parsed.bad_lines), (3, 0), "{:?}", parsed.problems);
        let first = &parsed.samples[0];
        assert_eq!(first.name, "DCGM_FI_DEV_GPU_UTIL");
        assert_eq!(first.value, 87.0);
        assert_eq!(first.timestamp_ms, None);
        assert_eq!(first.metric_type.as_deref(), Some("gauge"));
        assert_eq!(first.label(&["Hostname", "node"]), Some("kwok-gpu-a100-0"));
        assert_eq!(first.label(&["pod"]), Some("train-0"));
        assert_eq!(first.labels.len(), 8);
        assert_eq!(parsed.samples[1].timestamp_ms, Some(1_718_379_591_000));
        assert_eq!(parsed.samples[1].label(&["pod"]), None);
        assert_eq!(parsed.samples[2].metric_type.as_deref(), Some("gauge"));
    }

    #[test]
    fn label_values_unescape_and_special_values_parse() {
        let parsed = parse(
            "m{a=\"back\\\\slash\",b=\"say \\\"hi\\\"\",c=\"two\\nlines\",d=\"{,}=\",} NaN\nup +Inf\ndown -Inf\nx 1.5e3 -7\n",
        );
        assert_eq!(parsed.bad_lines, 0, "{:?}", parsed.problems);
        let labels = &parsed.samples[0].labels;
        assert_eq!(labels[0].1, "back\\slash");
        assert_eq!(labels[1].1, "say \"hi\"");
        assert_eq!(labels[2].1, "two\nlines");
        assert_eq!(labels[3].1, "{,}=");
        assert!(parsed.samples[0].value.is_nan());
        assert_eq!(parsed.samples[1].value, f64::INFINITY);
        assert_eq!(parsed.samples[2].value, f64::NEG_INFINITY);
        assert_eq!((parsed.samples[3].value, parsed.samples[3].timestamp_ms), (1500.0, Some(-7)));
    }

    #[test]
    fn histogram_samples_take_their_family_type() {
        let parsed = parse("# TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 1.2\nlat_count 3\n");
        assert!(parsed.samples.iter().all(|s| s.metric_type.as_deref() == Some("histogram")));
    }

    #[test]
    fn bad_lines_are_counted_and_the_good_ones_kept() {
        let text = "good 1\n9bad 1\nnovalue\nm{a=\"open} 1\nm{a=b} 1\nm 1 2 3\nm{a=\"\\x\"} 1\nm one\n# TYPE m\nalso_good{x=\"y\"} 2\n";
        let parsed = parse(text);
        assert_eq!(parsed.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["good", "also_good"]);
        assert_eq!(parsed.bad_lines, 8);
        assert_eq!(parsed.problems.len(), MAX_PROBLEMS);
        assert!(parsed.problems[0].starts_with("line 2: "), "{:?}", parsed.problems);
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"a_{}=\",\\ \n#01.+-eNIf\tTYPE";
        for len in 0..400 {
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize] as char
                })
                .collect();
            let parsed = parse(&text);
            assert!(parsed.samples.len() + parsed.bad_lines as usize <= text.lines().count());
        }
        let multibyte = parse("é{é=\"é\"} 1\nm{a=\"é\\");
        assert_eq!(multibyte.bad_lines, 2);
    }
}
