//! The report's GPU metrics section over a run with a `metrics` table: the testkit's
//! synthetic lesson-1 run plus three scrapes of two fake GPUs on `kwok-gpu-a100-1` (where that
//! run binds `cuda-batch-small`), written through the recorder's own metrics store. The
//! expected numbers are worked out by hand from the scrapes below, not by the code under test.
//! Each scrape also serves a stale series, as the fake-gpu-operator's KWOK exporter does: GPU 0
//! of `kwok-gpu-a100-0` still attributed to `cuda-batch-small`, a node the recording never saw
//! that pod bound to. The report leaves it out.

use std::path::Path;

use evident_report::{Scenario, write_report};
use evident_testkit::runs::ScrapeAt;

/// Utilisation of GPU 0 (attributed to gpu-demo/cuda-batch-small) and GPU 1 (free), and the
/// framebuffer GPU 0 uses, per scrape.
const SCRAPES: [(f64, f64, f64); 3] = [(10.0, 0.0, 1000.0), (20.0, 0.0, 2000.0), (45.0, 0.0, 1500.0)];

/// The scrapes, one a second from 1 s after the start.
fn scrapes() -> Vec<ScrapeAt> {
    let gpu0 = "gpu=\"0\",UUID=\"GPU-0\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-1\",namespace=\"gpu-demo\",pod=\"cuda-batch-small\"";
    let gpu1 = "gpu=\"1\",UUID=\"GPU-1\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-1\"";
    let stale = "gpu=\"0\",UUID=\"GPU-S\",modelName=\"NVIDIA A100\",Hostname=\"kwok-gpu-a100-0\",namespace=\"gpu-demo\",pod=\"cuda-batch-small\"";
    SCRAPES
        .into_iter()
        .enumerate()
        .map(|(seq, (util0, util1, fb_used0))| ScrapeAt {
            at_ms: (seq as i64 + 1) * 1_000,
            endpoint: "http://127.0.0.1:9400/metrics".into(),
            text: format!(
                "DCGM_FI_DEV_GPU_UTIL{{{gpu0}}} {util0}\nDCGM_FI_DEV_GPU_UTIL{{{gpu1}}} {util1}\nDCGM_FI_DEV_FB_USED{{{gpu0}}} {fb_used0}\nDCGM_FI_DEV_GPU_UTIL{{{stale}}} 100\n"
            ),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn gpu_metrics_rows_and_utilisation_come_from_the_metrics_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-synthetic-lesson1-metrics");
    let manifest = evident_testkit::runs::write_lesson1_with_scrapes(&run, &scrapes()).unwrap();
    assert!(manifest.segments.iter().any(|segment| segment.table == "metrics"), "{:?}", manifest.segments);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/scenarios/lesson1.yaml");
    let written = write_report(&run, &Scenario::load(&spec).unwrap()).await.unwrap();

    let section = &written.report.gpu_metrics;
    assert_eq!(
        section.sentences[0],
        "12 metric sample(s) recorded from 3 scrape(s) of http://127.0.0.1:9400/metrics, one scrape every 1 s \
         (query: gpu_metrics; table: metrics)."
    );
    let utilisation: Vec<f64> = section.utilisation.lines["kwok-gpu-a100-1"].iter().map(|&(_, util)| util).collect();
    assert_eq!(utilisation, [5.0, 10.0, 22.5], "the mean of both GPUs at each scrape");

    let markdown = std::fs::read_to_string(run.join("report.md")).unwrap();
    for row in [
        "| kwok-gpu-a100-1 | 0 | NVIDIA A100 | gpu-demo/cuda-batch-small | 3 | 25 | 45 | 2000 | - |",
        "| kwok-gpu-a100-1 | 1 | NVIDIA A100 | - | 3 | 0 | 0 | - | - |",
    ] {
        assert!(markdown.contains(&format!("{row}\n")), "missing {row} in\n{markdown}");
    }
    assert!(!markdown.contains("| kwok-gpu-a100-0 | 0 |"), "the stale series is left out:\n{markdown}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<td>gpu-demo/cuda-batch-small</td><td>3</td><td>25</td><td>45</td><td>2000</td>"));
    assert!(html.contains("<figure id=\"plot-gpu-utilisation-figure\">"));
}
