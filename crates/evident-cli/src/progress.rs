//! The live status line of a recording and the decision of when to stop.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use evident_core::manifest::RunManifest;
use evident_recorder::session::{LiveStats, Recording};
use indicatif::{ProgressBar, ProgressStyle};

/// When a recording stops, besides Ctrl-C / SIGTERM.
#[derive(Debug, Clone, Default)]
pub struct StopWhen {
    pub duration: Option<Duration>,
    /// No change for this long, after every watch finished its first list.
    pub until_quiet: Option<Duration>,
    /// An extra condition checked every tick (e.g. "every expectation decidable").
    pub settled: Option<fn(&LiveStats) -> bool>,
}

/// Shows the live line until a stop condition holds; returns the stop reason.
pub async fn follow(recording: &Recording, stop: &StopWhen, show: bool) -> String {
    let bar = if show && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let started = Instant::now();
    let mut last_total = 0u64;
    let mut last_at = Instant::now();
    let mut rate = 0.0;
    let mut sigterm = sigterm_stream();
    let reason = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break "signal".to_string(),
            _ = next_sigterm(&mut sigterm) => break "signal".to_string(),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let stats = recording.stats();
        let elapsed = last_at.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            rate = (stats.total_changes - last_total) as f64 / elapsed;
            last_total = stats.total_changes;
            last_at = Instant::now();
        }
        if let Some(bar) = &bar {
            bar.set_message(status_line(&stats, rate));
        }
        if let Some(limit) = stop.duration
            && started.elapsed() >= limit
        {
            break "duration".to_string();
        }
        if let Some(quiet) = stop.until_quiet
            && stats.all_synced(recording.watch_count())
            && stats.last_change.is_none_or(|at| at.elapsed() >= quiet)
        {
            break "until-quiet".to_string();
        }
        if let Some(settled) = stop.settled
            && settled(&stats)
        {
            break "settled".to_string();
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    reason
}

/// `nodes 7 · pods 52 · events 133 | 12.0 changes/s | lag 2 ms | watching`
pub fn status_line(stats: &LiveStats, rate: f64) -> String {
    let kinds: Vec<String> = stats.changes_by_kind.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    let retrying = stats.watches.values().find_map(|state| match state {
        evident_recorder::watch::WatchState::Retrying { error } => Some(error.clone()),
        _ => None,
    });
    let state = match retrying {
        Some(error) => format!("retrying: {}", truncate(&error, 60)),
        None if stats.watches.values().all(|s| matches!(s, evident_recorder::watch::WatchState::Watching { .. })) => {
            "watching".to_string()
        }
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

#[cfg(unix)]
fn sigterm_stream() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(unix)]
async fn next_sigterm(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn sigterm_stream() -> Option<()> {
    None
}

#[cfg(not(unix))]
async fn next_sigterm(_: &mut Option<()>) {
    std::future::pending().await
}

/// Waits until every watch finished its first list.
pub async fn wait_synced(recording: &Recording, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while !recording.stats().all_synced(recording.watch_count()) {
        if started.elapsed() > timeout {
            anyhow::bail!(
                "the recorder could not list the cluster within {timeout:?}: {:?}",
                recording.stats().watches
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
