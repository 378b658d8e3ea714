//! Hostile text from the cluster (an Event message, a node's pool label, a workload name, a pod
//! name that is a path, a GPU exporter's labels) through the real store into every sink of the
//! report: each sink must show it as text of its format, never as its markup, and never as a
//! second verdict line, an extra table cell, raw HTML, a character its format forbids, a
//! terminal control, or a file outside the run directory.

use std::path::{Path, PathBuf};

use datafusion::parquet::arrow::ArrowWriter;
use evident_core::metric::MetricBatchBuilder;
use evident_report::scenario::{Expectation, ScenarioCase};
use evident_report::{Scenario, write_report};
use evident_testkit::hostile::{HOSTILE, HOSTILE_POD, write_lesson1_hostile};

fn lesson1_spec() -> Scenario {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/scenarios/lesson1.yaml");
    let mut scenario = Scenario::load(&spec).expect("the committed lesson1 spec is valid");
    scenario.scenarios.push(ScenarioCase {
        number: 5,
        name: "hostile".into(),
        title: "hostile pod".into(),
        expected: "Pending: Insufficient nvidia.com/gpu".into(),
        evidence: vec![format!("describe-pod-{HOSTILE_POD}.txt")],
        expectations: vec![Expectation::PodPendingWithCause {
            namespace: "gpu-demo".into(),
            pod: HOSTILE_POD.into(),
            cause: "Insufficient nvidia.com/gpu".into(),
        }],
    });
    scenario
}

/// One scrape of a GPU whose exporter labels are hostile, where the recorder puts scrapes.
fn write_hostile_metrics(run: &Path, start_ns: i64) {
    let escaped = HOSTILE.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let text = format!(
        "DCGM_FI_DEV_GPU_UTIL{{gpu=\"0\",UUID=\"GPU-0\",modelName=\"{escaped}\",Hostname=\"kwok-gpu-hostile-0\",namespace=\"gpu-demo\",pod=\"{escaped}\"}} 50\n"
    );
    let samples = evident_core::exposition::parse(&text).samples;
    assert_eq!(samples.len(), 1, "the exposition parser takes the hostile labels");
    let mut builder = MetricBatchBuilder::new();
    builder.append(0, start_ns + 1_000_000_000, "http://127.0.0.1:9400/metrics", &samples[0]);
    let batch = builder.finish().unwrap();
    std::fs::create_dir_all(run.join("metrics")).unwrap();
    let file = std::fs::File::create(run.join("metrics/part-00000000000000000000.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

async fn hostile_report(root: &Path) -> (PathBuf, evident_report::Written) {
    let run = root.join("k8s-synthetic-hostile");
    let manifest = write_lesson1_hostile(&run).unwrap();
    let start_ns = evident_core::time::parse_rfc3339_ns(&manifest.started_at).unwrap();
    write_hostile_metrics(&run, start_ns);
    let written = write_report(&run, &lesson1_spec()).await.expect("a hostile recording still gets its report");
    (run, written)
}

fn read(run: &Path, name: &str) -> String {
    std::fs::read_to_string(run.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Characters no sink may pass through: ESC, C1 CSI, BEL, CR, XML's forbidden U+FFFE/U+FFFF,
/// SOH.
const FORBIDDEN: [char; 7] = ['\u{1b}', '\u{9b}', '\u{7}', '\r', '\u{fffe}', '\u{ffff}', '\u{1}'];

fn assert_no_forbidden(name: &str, text: &str) {
    for c in FORBIDDEN {
        assert!(!text.contains(c), "{name} contains {c:?}");
    }
}

/// The cells of a Markdown table row: split at `|` not escaped by a backslash.
fn cells(row: &str) -> usize {
    let mut pipes = 0;
    let mut escaped = false;
    for c in row.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => pipes += 1,
            _ => {}
        }
    }
    pipes - 1
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_text_reaches_the_report_as_text_only() {
    let dir = tempfile::tempdir().unwrap();
    let (run, written) = hostile_report(dir.path()).await;
    let report = &written.report;

    // The hostile text reached the model: in a table cell, the namespace totals sentence and
    // the fleet sentence, so what follows checks the sinks, not an absent input.
    let hostile_row = report.rows.iter().find(|row| row.number == 5).unwrap();
    assert!(hostile_row.observed.contains("<img src=x"), "{}", hostile_row.observed);
    assert!(!hostile_row.passed());
    assert!(report.namespace_totals[0].contains("evil <img"), "{}", report.namespace_totals[0]);
    // The hostile node is outside the scenario's fleet (its pool is hostile): the fleet sentence
    // names it.
    assert!(report.fleet.outside.iter().any(|node| node == "kwok-gpu-hostile-0"), "{:?}", report.fleet.outside);
    assert!(report.gpu_metrics.rows.iter().any(|row| row.model.as_deref() == Some(HOSTILE)));

    let markdown = read(&run, "report.md");
    let results: Vec<&str> = markdown.lines().filter(|line| line.contains("**Result:")).collect();
    // One verdict line, and it is the report's own: the hostile row fails (the extra hostile
    // node also makes the lesson-1 cause checks undecidable, as 0/7 in their messages is not the
    // 8 nodes recorded), so a forged PASS line would stand out.
    let verdict = format!(
        "**Result: FAIL** — {} of 7 expectations passed.",
        report.rows.iter().flat_map(|row| &row.checks).filter(|check| check.outcome.passed).count()
    );
    assert_eq!(results, [verdict.as_str()], "exactly one verdict line");
    assert!(!markdown.contains("<img"), "no raw HTML in report.md");
    assert!(markdown.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert_no_forbidden("report.md", &markdown);
    let lines: Vec<&str> = markdown.lines().collect();
    let mut tables = 0;
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with('|') && !lines[index.saturating_sub(1)].starts_with('|') {
            tables += 1;
            let columns = cells(line);
            for row in lines[index..].iter().take_while(|row| row.starts_with('|')) {
                assert_eq!(cells(row), columns, "row of the table headed {line}:\n{row}");
            }
        }
    }
    assert_eq!(tables, 5, "environment, fleet, results, why pods were Pending, GPU metrics");
    for line in &lines {
        assert!(!line.starts_with("| forged"), "no forged row: {line}");
    }

    let html = read(&run, "report.html");
    assert!(!html.contains("<img"), "no raw HTML in report.html");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert_no_forbidden("report.html", &html);
    assert_eq!(html.matches("id=\"verdict\"").count(), 1);

    let junit = read(&run, "junit.xml");
    assert_no_forbidden("junit.xml", &junit);
    let document = roxmltree::Document::parse(&junit).expect("junit.xml is well-formed XML");
    let cases: Vec<_> = document.descendants().filter(|node| node.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 7);
    let failure = document
        .descendants()
        .filter(|node| node.has_tag_name("failure"))
        .find(|node| node.attribute("message").is_some_and(|message| message.contains("img src=x")))
        .expect("the hostile row fails");
    let message = failure.attribute("message").unwrap();
    assert!(message.contains("<img src=x onerror=alert(1)>"), "the text survives, as text: {message}");
    assert!(message.contains("\n**Result: PASS**"), "line breaks survive in the attribute: {message:?}");

    // The pod's name is a path out of the run directory: its describe file stays inside.
    let describe = read(&run, &evident_report::evidence::describe_file_name("gpu-demo", HOSTILE_POD));
    assert!(!dir.path().join("hostile-pod.txt").exists());
    for c in ['\u{1b}', '\u{9b}', '\u{7}', '\r'] {
        assert!(!describe.contains(c), "the describe file, read on terminals, holds {c:?}");
    }
    assert!(describe.contains("^[[2J"), "escape sequences shown, not obeyed");
    for entry in std::fs::read_dir(&run).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains("tmp-evident"), "no temporary file left: {name}");
    }
}
