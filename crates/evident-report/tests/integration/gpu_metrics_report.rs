//! The report's GPU metrics section over a run with a `metrics` table: evident-query's
//! synthetic lesson-1 run plus three scrapes of two fake GPUs on `kwok-gpu-a100-0`, written
//! where the recorder puts them (`metrics/part-<first scrape seq>.parquet`). The expected
//! numbers are worked out by hand from the scrapes below, not by the code under test.

use std::path::Path;

use datafusion::parquet::arrow::ArrowWriter;
use evident_core::metric::MetricBatchBuilder;
use evident_report::{Scenario, write_report};

/// Utilisation of GPU 0 (attributed to gpu-demo/cuda-batch-small) and GPU 1 (free), and the
/// framebuffer GPU 0 uses, per scrape.
const SCRAPES: [(f64, f64, f64); 3] = [(10.0, 0.0, 1000.0), (20.0, 0.0, 2000.0), (45.0, 0.0, 1500.0)];

fn write_metrics(run: &Path, start_ns: i64) {
    let mut builder = MetricBatchBuilder::new();
    for (seq, (util0, util1, fb_used0)) in SCRAPES.into_iter().enumerate() {
        let gpu0 = "gpu=\"0\",UUID=\"GPU-0\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-0\",namespace=\"gpu-demo\",pod=\"cuda-batch-small\"";
        let gpu1 = "gpu=\"1\",UUID=\"GPU-1\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-0\"";
        let text = format!(
            "DCGM_FI_DEV_GPU_UTIL{{{gpu0}}} {util0}\nDCGM_FI_DEV_GPU_UTIL{{{gpu1}}} {util1}\nDCGM_FI_DEV_FB_USED{{{gpu0}}} {fb_used0}\n"
        );
        let scraped_at = start_ns + (seq as i64 + 1) * 1_000_000_000;
        for sample in &evident_core::exposition::parse(&text).samples {
            builder.append(seq as u64, scraped_at, "http://127.0.0.1:9400/metrics", sample);
        }
    }
    let batch = builder.finish().unwrap();
    std::fs::create_dir_all(run.join("metrics")).unwrap();
    let file = std::fs::File::create(run.join("metrics/part-00000000000000000000.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn gpu_metrics_rows_and_utilisation_come_from_the_metrics_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-synthetic-lesson1-metrics");
    let manifest = evident_testkit::runs::write_lesson1(&run).unwrap();
    let start_ns = evident_core::time::parse_rfc3339_ns(&manifest.started_at).unwrap();
    write_metrics(&run, start_ns);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/scenarios/lesson1.yaml");
    let written = write_report(&run, &Scenario::load(&spec).unwrap()).await.unwrap();

    let section = &written.report.gpu_metrics;
    assert_eq!(section.sentences[0], "9 metric sample(s) recorded (query: gpu_metrics; table: metrics).");
    let utilisation: Vec<f64> = section.utilisation.lines["kwok-gpu-a100-0"].iter().map(|&(_, util)| util).collect();
    assert_eq!(utilisation, [5.0, 10.0, 22.5], "the mean of both GPUs at each scrape");

    let markdown = std::fs::read_to_string(run.join("report.md")).unwrap();
    for row in [
        "| kwok-gpu-a100-0 | 0 | NVIDIA A100 | gpu-demo/cuda-batch-small | 3 | 25 | 45 | 2000 | - |",
        "| kwok-gpu-a100-0 | 1 | NVIDIA A100 | - | 3 | 0 | 0 | - | - |",
    ] {
        assert!(markdown.contains(&format!("{row}\n")), "missing {row} in\n{markdown}");
    }
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<td>gpu-demo/cuda-batch-small</td><td>3</td><td>25</td><td>45</td><td>2000</td>"));
    assert!(html.contains("<figure id=\"plot-gpu-utilisation-figure\">"));
}
