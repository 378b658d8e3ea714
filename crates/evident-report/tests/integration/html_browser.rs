//! Renders report.html in headless Chromium and checks the plots in the DOM it built.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`); `apt-get install -y chromium` provides it.
//! Without a browser the test fails, unless `EVIDENT_SKIP_BROWSER=1` says to skip it.

use std::path::{Path, PathBuf};
use std::process::Command;

use evident_report::{Scenario, html::PLOT_IDS, write_report};

fn chromium() -> Option<PathBuf> {
    let candidate =
        std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    candidate.is_file().then_some(candidate)
}

#[tokio::test(flavor = "multi_thread")]
async fn plots_render_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("EVIDENT_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("skipped: EVIDENT_SKIP_BROWSER=1 and no Chromium at /usr/bin/chromium or $CHROMIUM");
            return;
        }
        panic!(
            "no Chromium at /usr/bin/chromium or $CHROMIUM: install it (apt-get install -y chromium) \
             or set EVIDENT_SKIP_BROWSER=1 to skip this test"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("k8s-synthetic-lesson1");
    evident_testkit::runs::write_lesson1(&run).unwrap();
    let spec = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo"))
        .join("../../manifests/scenarios/lesson1.yaml");
    write_report(&run, &Scenario::load(&spec).unwrap()).await.unwrap();

    let profile = tempfile::tempdir().unwrap();
    let page = format!("file://{}", run.join("report.html").display());
    let output = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&page)
        .output()
        .expect("start chromium");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    let dom = String::from_utf8(output.stdout).unwrap();
    assert!(dom.contains("<table id=\"results\">"), "the page rendered: {}", &dom[..dom.len().min(500)]);

    for id in PLOT_IDS {
        let start = dom.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no <svg id=\"{id}\"> in the DOM"));
        let end = start + dom[start..].find("</svg>").expect("closed svg");
        let svg = &dom[start..end];
        assert!(svg.contains(&format!("<title id=\"{id}-title\">")), "{id} has a title");
        let drawn = svg
            .split("<path ")
            .skip(1)
            .filter(|path| path.contains("class=\"series\"") || path.contains("class=\"stamp-wait\""))
            .filter_map(|path| path.split(" d=\"").nth(1)?.split('"').next())
            .filter(|d| d.len() > 10 && d.starts_with('M'))
            .count();
        assert!(drawn > 0, "{id} drew no data path: {svg}");
    }
    let phases = &dom[dom.find("<svg id=\"plot-pods-by-phase\"").unwrap()..];
    assert!(phases.contains("data-label=\"Running\"") && phases.contains("data-label=\"Pending\""));
    let gpus = &dom[dom.find("<svg id=\"plot-gpu-allocation\"").unwrap()..];
    for pool in ["a100", "h100", "l40s"] {
        assert!(gpus.contains(&format!("data-label=\"{pool}\"")), "GPU plot has pool {pool}");
    }
    let stamping = &dom[dom.find("<svg id=\"plot-node-version-stamping\"").unwrap()..];
    assert_eq!(
        stamping[..stamping.find("</svg>").unwrap()].matches("class=\"stamp\"").count(),
        7,
        "one stamp per KWOK node"
    );
}
