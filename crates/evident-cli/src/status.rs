//! What the terminal shows of a recording: the live status line while it runs, and the one
//! line after it stops. When to stop is decided by `evident_runner::settle`; this is only
//! the drawing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use evident_core::RunManifest;
use evident_core::layout;
use evident_recorder::recording::LiveStats;
use evident_recorder::watch::WatchState;
use indicatif::{ProgressBar, ProgressStyle};

/// The spinner line on stderr, drawn only when asked for and stderr is a terminal.
#[derive(Debug)]
pub struct StatusLine {
    show: bool,
    bar: Option<ProgressBar>,
    last_total: u64,
    last_at: Instant,
    rate: f64,
}

impl StatusLine {
    /// A line that appears at the first [`StatusLine::update`] if `show` and stderr is a
    /// terminal.
    pub fn new(show: bool) -> StatusLine {
        StatusLine {
            show: show && std::io::stderr().is_terminal(),
            bar: None,
            last_total: 0,
            last_at: Instant::now(),
            rate: 0.0,
        }
    }

    /// Redraws the line from the live figures; the change rate is measured over at least 1 s.
    pub fn update(&mut self, stats: &LiveStats) {
        if !self.show {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let elapsed = self.last_at.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            self.rate = stats.total_changes.saturating_sub(self.last_total) as f64 / elapsed;
            self.last_total = stats.total_changes;
            self.last_at = Instant::now();
        }
        bar.set_message(status_line(stats, self.rate));
    }

    /// Clears the line, so the next message starts on a clean line. A later update draws it
    /// again.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `nodes 7 · pods 52 · events 133 | 12.0 changes/s | lag 2 ms | watching`
pub fn status_line(stats: &LiveStats, rate: f64) -> String {
    let kinds: Vec<String> = stats.changes_by_kind.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    let retrying = stats.watches.values().find_map(|state| match state {
        WatchState::Retrying { error } => Some(error.clone()),
        _ => None,
    });
    let state = match retrying {
        Some(error) => format!("retrying: {}", truncate(&error, 60)),
        None if stats.watches.values().all(|s| matches!(s, WatchState::Watching { .. })) => "watching".to_string(),
        None => "listing".to_string(),
    };
    let kinds = if kinds.is_empty() { "no changes yet".to_string() } else { kinds.join(" · ") };
    let gaps = if stats.gaps > 0 { format!(" | {} gap(s)", stats.gaps) } else { String::new() };
    let metrics = match (stats.metric_scrapes, stats.metric_failures) {
        (0, 0) => String::new(),
        (scrapes, 0) => format!(" | metrics {scrapes} scrapes"),
        (scrapes, failed) => format!(
            " | metrics {scrapes} scrapes, {failed} failed ({})",
            truncate(stats.last_metric_problem.as_deref().unwrap_or_default(), 50)
        ),
    };
    format!("{kinds} | {rate:.1} changes/s | lag {:.0} ms | {state}{gaps}{metrics}", stats.lag_ms.max(0.0))
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// One line after a recording: what was written where.
pub fn summary(manifest: &RunManifest, run_dir: &Path) -> String {
    let is_change_log = |table: &str| table != evident_core::metric::TABLE;
    let total: u64 = manifest.row_counts.iter().filter(|(t, _)| is_change_log(t)).map(|(_, n)| n).sum();
    let tables: Vec<String> =
        manifest.row_counts.iter().filter(|(t, _)| is_change_log(t)).map(|(t, n)| format!("{t} {n}")).collect();
    let gaps = if manifest.gaps.is_empty() {
        "no gaps".to_string()
    } else {
        format!("{} gap(s) (relists), see run.json", manifest.gaps.len())
    };
    format!(
        "recorded {total} changes ({}) into {} in {} segment(s); stopped by {}; {gaps}",
        tables.join(", "),
        run_dir.display(),
        manifest.segments.len(),
        manifest.stop_reason
    ) + &metrics_summary(manifest)
}

/// `; metrics: 96 samples from 3 scrapes, 2 failed` when endpoints were scraped.
fn metrics_summary(manifest: &RunManifest) -> String {
    let endpoints = &manifest.metrics.endpoints;
    if endpoints.is_empty() {
        return String::new();
    }
    let samples: u64 = endpoints.iter().map(|e| e.samples).sum();
    let scrapes: u64 = endpoints.iter().map(|e| e.scrapes).sum();
    let failures: u64 = endpoints.iter().map(|e| e.failures).sum();
    let bad_lines: u64 = endpoints.iter().map(|e| e.bad_lines).sum();
    let mut text = format!("; metrics: {samples} samples from {scrapes} scrapes of {} endpoint(s)", endpoints.len());
    if failures > 0 {
        text.push_str(&format!(", {failures} scrape(s) failed"));
    }
    if bad_lines > 0 {
        text.push_str(&format!(", {bad_lines} bad line(s) skipped"));
    }
    text
}

/// One `WARN` line when `run_dir` holds write-ahead log files no recording is writing: the
/// recording crashed, or stopped on a failed write, and nobody ran `evident recover`, so the
/// changes still only in the log are missing from every answer. `None` for a finished run,
/// and for one still recording (its lock is held).
pub fn unrecovered_warning(run_dir: &Path) -> Option<String> {
    let holds_wal = |dir: PathBuf| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| layout::parse_wal_file_name(&entry.file_name().to_string_lossy()).is_some())
        })
    };
    if !holds_wal(layout::wal_dir(run_dir)) && !holds_wal(layout::metrics_wal_dir(run_dir)) {
        return None;
    }
    if is_recording(run_dir) {
        return None;
    }
    let shown = run_dir.display();
    Some(format!(
        "WARN {shown} was not closed (the recording crashed or failed) and its write-ahead log was not recovered: its last changes are missing here; run `evident recover {shown}` first"
    ))
}

/// True while a recorder holds the run's lock (see `evident_recorder::lock`). Probes with a
/// shared lock on the existing file and creates nothing.
fn is_recording(run_dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(run_dir.join(evident_recorder::lock::LOCK_FILE)) else { return false };
    matches!(file.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
}
