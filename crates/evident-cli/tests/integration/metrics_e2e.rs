//! `evident record --metrics` against the real local control plane, scraping a Prometheus
//! text endpoint this test serves itself on 127.0.0.1: DCGM-shaped series for every GPU the
//! fleet's nodes advertise (32 fake GPUs on KWOK nodes), plus an endpoint nobody listens on.
//! The run must hold a metrics segment per roll, listed in run.json; the `gpu_metrics` named
//! query must give one row per fake GPU with the samples and utilisation served; the dead
//! endpoint must be counted as failing without stopping the recording; and the report must
//! call the metrics synthetic.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use evident_e2e::{client, ensure_fleet, exclusive, kubeconfig, repo_root};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

/// One GPU the endpoint reports, with the constant values it serves for it.
#[derive(Debug, Clone)]
struct Gpu {
    node: String,
    index: u32,
    model: String,
    util: u32,
    fb_used_mib: u32,
    /// (namespace, pod, container) for the GPUs the endpoint says are allocated.
    pod: Option<(String, String, String)>,
}

const FB_TOTAL_MIB: u32 = 81_920;

/// Every GPU the nodes advertise (`nvidia.com/gpu` allocatable), read from the cluster.
async fn fleet_gpus(client: &kube::Client) -> anyhow::Result<Vec<Gpu>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut gpus = Vec::new();
    let mut listed = nodes.list(&ListParams::default()).await?.items;
    listed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for (node_index, node) in listed.iter().enumerate() {
        let name = node.metadata.name.clone().unwrap_or_default();
        let count: u32 = node
            .status
            .as_ref()
            .and_then(|status| status.allocatable.as_ref())
            .and_then(|allocatable| allocatable.get("nvidia.com/gpu"))
            .and_then(|quantity| quantity.0.parse().ok())
            .unwrap_or(0);
        let model = node
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("nvidia.com/gpu.product").cloned())
            .unwrap_or_else(|| "NVIDIA-FAKE-GPU".to_string());
        for index in 0..count {
            let pod =
                (index == 0).then(|| ("evident-metrics".to_string(), format!("train-{name}"), "main".to_string()));
            gpus.push(Gpu {
                node: name.clone(),
                index,
                model: model.clone(),
                util: (node_index as u32 * 7 + index * 11) % 101,
                fb_used_mib: 1024 * (index + 1),
                pod,
            });
        }
    }
    Ok(gpus)
}

/// A metric family the endpoint serves: its name, its help text and each GPU's value.
type Family = (&'static str, &'static str, fn(&Gpu) -> u32);

/// The exposition text dcgm-exporter would serve for these GPUs.
fn exposition(gpus: &[Gpu]) -> String {
    let mut text = String::new();
    let families: [Family; 3] = [
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", |gpu| gpu.util),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", |gpu| gpu.fb_used_mib),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", |gpu| FB_TOTAL_MIB - gpu.fb_used_mib),
    ];
    for (name, help, value) in families {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for gpu in gpus {
            let mut labels = format!(
                "gpu=\"{}\",UUID=\"GPU-{}-{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"",
                gpu.index, gpu.node, gpu.index, gpu.index, gpu.model, gpu.node
            );
            if let Some((namespace, pod, container)) = &gpu.pod {
                labels.push_str(&format!(",namespace=\"{namespace}\",pod=\"{pod}\",container=\"{container}\""));
            }
            text.push_str(&format!("{name}{{{labels}}} {}\n", value(gpu)));
        }
    }
    text
}

/// Serves `body` to every GET on 127.0.0.1 (every other answer chunked, so both ways of
/// delimiting a body are scraped); returns the URL and the count of answers sent.
fn serve(body: String) -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let served = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let chunked = counter.load(Ordering::SeqCst) % 2 == 1;
            if answer(stream, &body, chunked).is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((url, served))
}

fn answer(mut stream: TcpStream, body: &str, chunked: bool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n";
    if chunked {
        let (first, second) = body.split_at(body.len() / 2);
        write!(stream, "{head}Transfer-Encoding: chunked\r\n\r\n")?;
        for part in [first, second] {
            write!(stream, "{:x}\r\n{part}\r\n", part.len())?;
        }
        write!(stream, "0\r\n\r\n")?;
    } else {
        write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len())?;
    }
    stream.flush()
}

/// A URL on a port nothing listens on.
fn dead_url() -> anyhow::Result<String> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("http://127.0.0.1:{port}/metrics"))
}

fn text_at(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = cast(batch.column_by_name(column)?, &DataType::Utf8).ok()?;
    (!array.is_null(row)).then(|| array.as_string::<i32>().value(row).to_string())
}

fn number_at(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let array = cast(batch.column_by_name(column)?, &DataType::Float64).ok()?;
    (!array.is_null(row)).then(|| array.as_primitive::<Float64Type>().value(row))
}

fn count_at(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let array = cast(batch.column_by_name(column)?, &DataType::Int64).ok()?;
    (!array.is_null(row)).then(|| array.as_primitive::<Int64Type>().value(row))
}

/// Every metrics segment opens and decodes; returns their relative paths.
async fn metrics_segments(run_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(run_dir.join("metrics")).context("no metrics/ directory")? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        ensure!(name.starts_with("part-") && name.ends_with(".parquet"), "unexpected file metrics/{name}");
        let ctx = SessionContext::new();
        let options = ParquetReadOptions::default().file_extension(".parquet");
        let frame = ctx.read_parquet(path.to_string_lossy().as_ref(), options).await?;
        frame.collect().await.with_context(|| format!("reading {}", path.display()))?;
        names.push(format!("metrics/{name}"));
    }
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcgm_samples_for_every_fake_gpu_are_recorded_and_summarised() -> anyhow::Result<()> {
    let _guard = exclusive().await;
    let client = client().await?;
    ensure_fleet(&client).await?;
    let gpus = fleet_gpus(&client).await?;
    ensure!(gpus.len() == 32, "the fleet advertises {} GPUs, expected 32", gpus.len());
    let (live_url, served) = serve(exposition(&gpus))?;
    let dead = dead_url()?;
    let out = tempfile::tempdir()?;

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evident"))
        .args(["record", "--quiet", "--run-id", "metrics", "-n", "evident-metrics", "--duration", "6s"])
        .args(["--segment-age", "2s", "--metrics-interval", "1s", "--metrics", &live_url, "--metrics", &dead])
        .arg("--kubeconfig")
        .arg(kubeconfig()?)
        .arg("--out")
        .arg(out.path())
        .current_dir(repo_root())
        .env("EVIDENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting evident record")?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            child.kill()?;
            bail!("evident record --duration 6s did not exit within 90s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child.stderr.take().context("stderr")?.read_to_string(&mut stderr)?;
    ensure!(status.success(), "evident record exited {status}: {stderr}");
    assert!(
        stderr.contains("metrics scrape failed") && stderr.contains(&dead),
        "the dead endpoint is logged: {stderr}"
    );

    let run_dir = out.path().join("metrics");
    assert!(!run_dir.join("wal-metrics").exists(), "the metrics WAL is deleted at a clean stop");
    let files = metrics_segments(&run_dir).await?;
    let manifest: evident_core::run_manifest::RunManifest =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json"))?)?;
    let mut listed: Vec<String> =
        manifest.segments.iter().filter(|segment| segment.table == "metrics").map(|s| s.path.clone()).collect();
    listed.sort();
    assert!(!files.is_empty(), "metrics segments were written");
    assert_eq!(listed, files, "run.json lists every metrics segment");

    let endpoints: BTreeMap<&str, &evident_core::run_manifest::EndpointStats> =
        manifest.metrics.endpoints.iter().map(|endpoint| (endpoint.url.as_str(), endpoint)).collect();
    let live = endpoints[live_url.as_str()];
    let scrapes = live.scrapes;
    assert!(scrapes >= 3, "1s scrapes over 6s: {live:?}");
    assert!(scrapes <= served.load(Ordering::SeqCst), "no more scrapes recorded than answers sent");
    assert_eq!((live.failures, live.bad_lines, live.samples), (0, 0, scrapes * 3 * gpus.len() as u64), "{live:?}");
    let failing = endpoints[dead.as_str()];
    assert_eq!(failing.scrapes, 0);
    assert!(failing.failures >= 3, "the dead endpoint kept being tried: {failing:?}");
    assert!(!failing.last_problem.is_empty());
    assert_eq!(manifest.row_counts["metrics"], live.samples);

    let runs = evident_query::RunSet::open_run(&run_dir)?;
    let session = evident_query::Session::new(&runs).await?;
    let query = evident_query::named_query("gpu_metrics")?;
    let batches = session.sql(&query.sql).await?;
    let mut summarised = 0;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            summarised += 1;
            let node = text_at(batch, "node", row).context("node")?;
            let index: u32 = text_at(batch, "gpu", row).context("gpu")?.parse()?;
            let gpu = gpus.iter().find(|gpu| gpu.node == node && gpu.index == index).context("an unknown GPU")?;
            assert_eq!(text_at(batch, "uuid", row), Some(format!("GPU-{node}-{index}")));
            assert_eq!(text_at(batch, "model", row).as_deref(), Some(gpu.model.as_str()));
            assert_eq!(text_at(batch, "pod", row), gpu.pod.as_ref().map(|(_, pod, _)| pod.clone()), "{node}/{index}");
            assert_eq!(count_at(batch, "samples", row), Some(scrapes as i64), "{node}/{index}");
            assert_eq!(number_at(batch, "avg_gpu_util", row), Some(f64::from(gpu.util)), "{node}/{index}");
            assert_eq!(number_at(batch, "max_gpu_util", row), Some(f64::from(gpu.util)), "{node}/{index}");
            assert_eq!(number_at(batch, "max_fb_used_mib", row), Some(f64::from(gpu.fb_used_mib)));
            assert_eq!(number_at(batch, "max_fb_free_mib", row), Some(f64::from(FB_TOTAL_MIB - gpu.fb_used_mib)));
        }
    }
    assert_eq!(summarised, gpus.len(), "one gpu_metrics row per fake GPU");

    let spec = evident_report::Scenario::load(&repo_root().join("manifests/scenarios/lesson1.yaml"))
        .map_err(|error| anyhow::anyhow!(error.lines().join("; ")))?;
    evident_report::write_report(&run_dir, &spec).await?;
    let markdown = std::fs::read_to_string(run_dir.join("report.md"))?;
    assert!(markdown.contains("## GPU metrics"), "{markdown}");
    assert!(
        markdown.contains("These metrics are synthetic: all 32 GPUs with metrics are on KWOK-managed nodes"),
        "{markdown}"
    );
    assert!(markdown.contains(&format!("{dead}: {} of {} scrape(s) failed", failing.failures, failing.failures)));
    let html = std::fs::read_to_string(run_dir.join("report.html"))?;
    assert!(html.contains("<table id=\"gpu-metrics-table\">"));
    let plot = &html[html.find("<svg id=\"plot-gpu-utilisation\"").context("no utilisation plot")?..];
    let plot = &plot[..plot.find("</svg>").context("closed svg")?];
    let lines = plot.matches("class=\"series\"").count();
    assert_eq!(lines, gpus.iter().map(|gpu| &gpu.node).collect::<std::collections::BTreeSet<_>>().len());
    Ok(())
}
