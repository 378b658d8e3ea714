//! When a recording stops: a time limit, a quiet cluster, a caller's settle condition, or an
//! interrupt. `evident record` and `evident run` both follow a recording through here; the
//! binary only draws the live status line from the figures handed to its callback.
//!
//! Invariants:
//! - The conditions are checked every [`TICK`], in this order: the time limit
//!   ([`StopReason::Duration`]), quiet ([`StopReason::UntilQuiet`]), the caller's condition
//!   ([`StopReason::Settled`]); the interrupt ([`StopReason::Signal`]) is taken as soon as
//!   it completes.
//! - A cluster is quiet only once every watch finished its first list: the initial list of a
//!   big cluster is never mistaken for silence.
//! - The interrupt is a future the caller hands in (the binary passes Ctrl-C or SIGTERM), so
//!   this library installs no process-wide signal handler.

use std::future::Future;
use std::time::{Duration, Instant};

use evident_core::StopReason;
use evident_recorder::recording::{LiveStats, Recording};

/// How often the stop conditions are checked and the callback is given the live figures.
pub const TICK: Duration = Duration::from_millis(250);

/// Errors of waiting for a recording.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The watches did not finish their first list in time.
    #[error("the recorder could not list the cluster within {timeout:?}: {watches}")]
    NotSynced { timeout: Duration, watches: String },
}

pub type Result<T, E = SettleError> = std::result::Result<T, E>;

/// When a recording stops, besides the interrupt. Default: never (only the interrupt).
#[derive(Debug, Clone, Default)]
pub struct StopWhen {
    /// Stop once this long has passed since following started. Default: no limit.
    pub duration: Option<Duration>,
    /// Stop once no change was seen for this long, after every watch finished its first
    /// list. Default: off.
    pub until_quiet: Option<Duration>,
    /// An extra condition checked every tick (e.g. "every expectation decidable"). Default:
    /// none.
    pub settled: Option<fn(&LiveStats) -> bool>,
}

impl StopWhen {
    /// Why to stop now, `elapsed` after following started with `watch_count` watches; `None`
    /// to go on.
    pub fn check(&self, stats: &LiveStats, watch_count: usize, elapsed: Duration) -> Option<StopReason> {
        if self.duration.is_some_and(|limit| elapsed >= limit) {
            return Some(StopReason::Duration);
        }
        if let Some(quiet) = self.until_quiet
            && stats.all_synced(watch_count)
            && stats.last_change.is_none_or(|at| at.elapsed() >= quiet)
        {
            return Some(StopReason::UntilQuiet);
        }
        if self.settled.is_some_and(|settled| settled(stats)) {
            return Some(StopReason::Settled);
        }
        None
    }
}

/// Follows `recording` until a condition of `stop` holds or `interrupt` completes, handing
/// the live figures to `on_tick` every [`TICK`]. Returns why it stopped; the recording itself
/// is left running for the caller to stop with that reason.
pub async fn follow(
    recording: &Recording,
    stop: &StopWhen,
    interrupt: impl Future<Output = ()>,
    mut on_tick: impl FnMut(&LiveStats),
) -> StopReason {
    let started = Instant::now();
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        tokio::select! {
            _ = &mut interrupt => return StopReason::Signal,
            _ = tokio::time::sleep(TICK) => {}
        }
        let stats = recording.stats();
        on_tick(&stats);
        if let Some(reason) = stop.check(&stats, recording.watch_count(), started.elapsed()) {
            return reason;
        }
    }
}

/// Waits until every watch of `recording` finished its first list.
pub async fn wait_synced(recording: &Recording, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    while !recording.stats().all_synced(recording.watch_count()) {
        if started.elapsed() > timeout {
            let watches = format!("{:?}", recording.stats().watches);
            return Err(SettleError::NotSynced { timeout, watches });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use evident_recorder::watch::WatchState;

    use super::*;

    fn stats(synced: bool, quiet_for: Option<Duration>) -> LiveStats {
        let mut stats = LiveStats::default();
        let state = if synced { WatchState::Watching { epoch: 1 } } else { WatchState::Listing { epoch: 1 } };
        stats.watches.insert("pods/all".into(), state);
        stats.last_change = quiet_for.map(|quiet| Instant::now().checked_sub(quiet).expect("uptime over a minute"));
        stats
    }

    #[test]
    fn nothing_set_never_stops() {
        let stop = StopWhen::default();
        assert_eq!(stop.check(&stats(true, None), 1, Duration::from_secs(3600)), None);
    }

    #[test]
    fn the_time_limit_comes_first() {
        let stop = StopWhen {
            duration: Some(Duration::from_secs(10)),
            until_quiet: Some(Duration::from_secs(1)),
            settled: Some(|_| true),
        };
        let quiet = stats(true, Some(Duration::from_secs(5)));
        assert_eq!(stop.check(&quiet, 1, Duration::from_secs(10)), Some(StopReason::Duration));
        assert_eq!(stop.check(&quiet, 1, Duration::from_secs(9)), Some(StopReason::UntilQuiet));
    }

    #[test]
    fn quiet_needs_every_watch_listed_and_the_quiet_period() {
        let stop = StopWhen { until_quiet: Some(Duration::from_secs(3)), ..StopWhen::default() };
        let elapsed = Duration::from_secs(60);
        assert_eq!(stop.check(&stats(false, None), 1, elapsed), None, "still listing");
        assert_eq!(stop.check(&stats(true, None), 2, elapsed), None, "a watch has not reported yet");
        assert_eq!(stop.check(&stats(true, Some(Duration::from_secs(1))), 1, elapsed), None, "a change 1s ago");
        assert_eq!(stop.check(&stats(true, Some(Duration::from_secs(4))), 1, elapsed), Some(StopReason::UntilQuiet));
        assert_eq!(stop.check(&stats(true, None), 1, elapsed), Some(StopReason::UntilQuiet), "no change at all");
    }

    #[test]
    fn the_callers_condition_stops_as_settled() {
        let stop = StopWhen { settled: Some(|stats| stats.gaps == 0), ..StopWhen::default() };
        assert_eq!(stop.check(&stats(false, None), 1, Duration::ZERO), Some(StopReason::Settled));
    }
}
