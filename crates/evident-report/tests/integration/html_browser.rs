//! Renders report.html in headless Chromium and checks the plots in the DOM it built.
//!
//! Every coordinate of every drawn path and dot must be a finite number inside the plot's
//! viewBox: a `NaN` or an infinite value draws nothing in a browser, silently.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`); `apt-get install -y chromium` provides it.
//! Without a browser the test fails, unless `EVIDENT_SKIP_BROWSER=1` says to skip it (a visible
//! skip, see `evident_testkit::skip`).

use std::path::{Path, PathBuf};
use std::process::Command;

use evident_report::html::{CAPACITY_PLOT_ID, PLOT_IDS};
use evident_report::{Scenario, write_report};

fn chromium() -> Option<PathBuf> {
    let candidate =
        std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    candidate.is_file().then_some(candidate)
}

#[tokio::test(flavor = "multi_thread")]
async fn plots_render_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("EVIDENT_SKIP_BROWSER").as_deref() == Ok("1") {
            evident_testkit::skip::skip(
                "html_browser::plots_render_in_headless_chromium",
                "EVIDENT_SKIP_BROWSER=1 and no Chromium at /usr/bin/chromium or $CHROMIUM",
            );
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

    for id in PLOT_IDS.into_iter().chain([CAPACITY_PLOT_ID]) {
        let start = dom.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no <svg id=\"{id}\"> in the DOM"));
        let end = start + dom[start..].find("</svg>").expect("closed svg");
        let svg = &dom[start..end];
        assert!(svg.contains(&format!("<title id=\"{id}-title\">")), "{id} has a title");
        if let Err(problem) = check_coordinates(svg) {
            panic!("{id}: {problem}\n{svg}");
        }
        let drawn = svg
            .split("<path ")
            .skip(1)
            .filter(|path| path.contains("class=\"series\"") || path.contains("class=\"stamp-wait\""))
            .filter_map(|path| path.split(" d=\"").nth(1)?.split('"').next())
            .filter(|d| d.starts_with('M') && path_numbers(d).is_ok_and(|numbers| numbers.len() >= 3))
            .count();
        assert!(drawn > 0, "{id} drew no data path: {svg}");
    }
    let phases = &dom[dom.find("<svg id=\"plot-pods-by-phase\"").unwrap()..];
    assert!(phases.contains("data-label=\"Running\"") && phases.contains("data-label=\"Pending\""));
    let gpus = &dom[dom.find("<svg id=\"plot-gpu-allocation\"").unwrap()..];
    for pool in ["a100", "h100", "l40s"] {
        assert!(gpus.contains(&format!("data-label=\"{pool}\"")), "GPU plot has pool {pool}");
    }
    let capacity = &dom[dom.find(&format!("<svg id=\"{CAPACITY_PLOT_ID}\"")).unwrap()..];
    for line in ["free GPUs", "largest free block"] {
        assert!(capacity.contains(&format!("data-label=\"{line}\"")), "capacity plot draws {line}");
    }
    let stamping = &dom[dom.find("<svg id=\"plot-node-version-stamping\"").unwrap()..];
    assert_eq!(
        stamping[..stamping.find("</svg>").unwrap()].matches("class=\"stamp\"").count(),
        7,
        "one stamp per KWOK node"
    );
}

/// The value of attribute `name` in the start tag `tag` (the text after `<element `).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    tag.split(&format!(" {name}=\"")).nth(1)?.split('"').next()
}

/// The numbers of an SVG path's `d`, each with the axis it is on when the command says so
/// (absolute `M`/`L`/`T` take x,y pairs, `H` x, `V` y); an error names the first token that is
/// not a finite number.
fn path_numbers(d: &str) -> Result<Vec<(Option<char>, f64)>, String> {
    const COMMANDS: &str = "MmLlHhVvCcSsQqTtAaZz";
    let mut numbers = Vec::new();
    let mut command = None;
    let mut index_in_command = 0;
    let mut token = String::new();
    let mut flush = |token: &mut String, command: Option<char>, index: &mut usize| -> Result<(), String> {
        if token.is_empty() {
            return Ok(());
        }
        let value: f64 = token.parse().map_err(|_| format!("{token:?} in d=\"{d}\" is not a number"))?;
        if !value.is_finite() {
            return Err(format!("{token:?} in d=\"{d}\" is not finite"));
        }
        let axis = match command {
            Some('M' | 'L' | 'T') => Some(if index.is_multiple_of(2) { 'x' } else { 'y' }),
            Some('H') => Some('x'),
            Some('V') => Some('y'),
            _ => None,
        };
        numbers.push((axis, value));
        *index += 1;
        token.clear();
        Ok(())
    };
    for c in d.chars() {
        if COMMANDS.contains(c) {
            flush(&mut token, command, &mut index_in_command)?;
            command = Some(c);
            index_in_command = 0;
        } else if c == ',' || c.is_whitespace() {
            flush(&mut token, command, &mut index_in_command)?;
        } else if c == '-' && !token.is_empty() && !token.ends_with(['e', 'E']) {
            // "10-5" is two numbers.
            flush(&mut token, command, &mut index_in_command)?;
            token.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, command, &mut index_in_command)?;
    Ok(numbers)
}

/// Every `<path d>` and `<circle cx cy>` of `svg` is finite and inside its viewBox.
fn check_coordinates(svg: &str) -> Result<(), String> {
    let view_box = attribute(svg.trim_start_matches("<svg "), "viewBox").ok_or("no viewBox")?;
    let bounds: Vec<f64> = view_box.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let [x0, y0, width, height] = bounds[..] else { return Err(format!("viewBox {view_box:?}")) };
    let inside = |axis: char, value: f64| match axis {
        'x' => (x0..=x0 + width).contains(&value),
        _ => (y0..=y0 + height).contains(&value),
    };
    for path in svg.split("<path ").skip(1) {
        let d = attribute(path, "d").ok_or("a path without d")?;
        for (axis, value) in path_numbers(d)? {
            if let Some(axis) = axis.filter(|axis| !inside(*axis, value)) {
                return Err(format!("{axis} = {value} in d=\"{d}\" is outside the viewBox {view_box}"));
            }
        }
    }
    for circle in svg.split("<circle ").skip(1) {
        for (name, axis) in [("cx", 'x'), ("cy", 'y')] {
            let text = attribute(circle, name).ok_or(format!("a circle without {name}"))?;
            let value: f64 = text.parse().map_err(|_| format!("{name}={text:?} is not a number"))?;
            if !value.is_finite() || !inside(axis, value) {
                return Err(format!("{name}={text:?} is not a finite coordinate inside the viewBox {view_box}"));
            }
        }
    }
    Ok(())
}

#[test]
fn coordinates_must_be_finite_and_inside_the_plot() {
    let svg = |body: &str| format!("<svg id=\"p\" viewBox=\"0 0 720 300\" width=\"720\">{body}</svg>");
    let good = svg(
        r#"<path class="series" d="M64.0,250.5H100.0V20.0L700,10"/><circle class="stamp" cx="64.0" cy="40.0" r="4"/>"#,
    );
    assert_eq!(check_coordinates(&good), Ok(()));
    for (body, problem) in [
        (r#"<path class="series" d="M64.0,NaNH100.0V20.0"/>"#, "is not a number"),
        (r#"<path class="series" d="M64.0,250.5HNaNV20.0"/>"#, "is not a number"),
        (r#"<path class="series" d="M64.0,250.5H1e999"/>"#, "not finite"),
        (r#"<path class="series" d="M64.0,250.5Hinf"/>"#, "not finite"),
        (r#"<path class="series" d="M64.0,250.5H900.0"/>"#, "outside the viewBox"),
        (r#"<path class="series" d="M-3.0,250.5H90.0"/>"#, "outside the viewBox"),
        (r#"<circle class="stamp" cx="NaN" cy="40.0" r="4"/>"#, "cx=\"NaN\""),
    ] {
        let error = check_coordinates(&svg(body)).unwrap_err();
        assert!(error.contains(problem), "{body}: {error}");
    }
    assert_eq!(path_numbers("M1,2L3-4").unwrap().len(), 4, "a minus sign starts a number");
}
