//! When a recording stops: a time limit, a quiet cluster, a caller's settle condition, or an
//! interrupt. `evident record` and `evident run` both follow a recording through here; the
//! binary only draws the live status line from the figures handed to its callback.
//!
//! Invariants:
//! - The conditions are checked every [`TICK`], in this order: the time limit
//!   ([`StopReason::Duration`]), then quiet. With [`follow`], quiet stops
//!   ([`StopReason::UntilQuiet`]). With [`follow_until`], quiet only asks the caller's
//!   condition (e.g. "every expectation is decidable from the recording"), and the recording
//!   stops when it holds ([`StopReason::Settled`]); while it does not, following goes on until
//!   it does or the time limit. The interrupt ([`StopReason::Signal`]) is taken as soon as it
//!   completes, also while the condition is being checked.
//! - The condition is asked again only after a new change, or [`RECHECK`] after it was last
//!   asked (what it reads, e.g. Parquet segments, may lag the live figures).
//! - A recording whose writer died stops following at once ([`StopReason::Error`]); stopping
//!   it then returns the writer's error. (The recorder cannot tell that yet: until it can, a
//!   dead writer is found when the recording is stopped, at quiet or the time limit.)
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
/// How long after a negative answer the caller's condition is asked again when nothing
/// changed meanwhile.
pub const RECHECK: Duration = Duration::from_secs(2);

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
    /// Stop (or, with [`follow_until`], ask the caller's condition) once no change was seen
    /// for this long, after every watch finished its first list. Default: off.
    pub until_quiet: Option<Duration>,
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
    on_tick: impl FnMut(&LiveStats),
) -> StopReason {
    let always = || std::future::ready(Ok::<bool, std::convert::Infallible>(true));
    let live = || (recording.stats(), recording.watch_count());
    match follow_live(live, writer_died(recording), stop, false, interrupt, on_tick, always).await {
        Ok(reason) => reason,
        Err(never) => match never {},
    }
}

/// [`follow`], except that quiet does not stop by itself: once the cluster is quiet,
/// `settled` is asked, and the recording stops as [`StopReason::Settled`] when it answers
/// true. It is asked again after each new change, or [`RECHECK`] after a negative answer, until
/// it holds, the time limit of `stop` passes or `interrupt` completes. An error of `settled`
/// ends following with that error.
pub async fn follow_until<F, E>(
    recording: &Recording,
    stop: &StopWhen,
    interrupt: impl Future<Output = ()>,
    on_tick: impl FnMut(&LiveStats),
    settled: impl FnMut() -> F,
) -> Result<StopReason, E>
where
    F: Future<Output = Result<bool, E>>,
{
    let live = || (recording.stats(), recording.watch_count());
    follow_live(live, writer_died(recording), stop, true, interrupt, on_tick, settled).await
}

/// Completes when the writer of `recording` died ([`Recording::failed`]); following then ends
/// at once as [`StopReason::Error`], and [`Recording::stop`] returns the writer's error.
fn writer_died(recording: &Recording) -> impl Future<Output = ()> + '_ {
    recording.failed()
}

/// The loop of [`follow`] and [`follow_until`] over any source of live figures (the
/// recording's `stats` and `watch_count`) and of the news that its writer died.
async fn follow_live<F, E>(
    live: impl Fn() -> (LiveStats, usize),
    died: impl Future<Output = ()>,
    stop: &StopWhen,
    gated: bool,
    interrupt: impl Future<Output = ()>,
    mut on_tick: impl FnMut(&LiveStats),
    mut settled: impl FnMut() -> F,
) -> Result<StopReason, E>
where
    F: Future<Output = Result<bool, E>>,
{
    let started = Instant::now();
    let mut interrupt = std::pin::pin!(interrupt);
    let mut died = std::pin::pin!(died);
    // The change count and time of the last negative answer of `settled`.
    let mut last_asked: Option<(u64, Instant)> = None;
    loop {
        tokio::select! {
            _ = &mut interrupt => return Ok(StopReason::Signal),
            _ = &mut died => return Ok(StopReason::Error),
            _ = tokio::time::sleep(TICK) => {}
        }
        let (stats, watch_count) = live();
        on_tick(&stats);
        match stop.check(&stats, watch_count, started.elapsed()) {
            None => continue,
            Some(StopReason::UntilQuiet) if gated => {}
            Some(reason) => return Ok(reason),
        }
        let ask = last_asked.is_none_or(|(changes, at)| changes != stats.total_changes || at.elapsed() >= RECHECK);
        if !ask {
            continue;
        }
        let answer = tokio::select! {
            _ = &mut interrupt => return Ok(StopReason::Signal),
            _ = &mut died => return Ok(StopReason::Error),
            answer = settled() => answer?,
        };
        if answer {
            return Ok(StopReason::Settled);
        }
        last_asked = Some((stats.total_changes, Instant::now()));
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
        let stop = StopWhen { duration: Some(Duration::from_secs(10)), until_quiet: Some(Duration::from_secs(1)) };
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

    /// A cluster that has listed and been quiet for a minute.
    fn quiet_cluster() -> (LiveStats, usize) {
        (stats(true, Some(Duration::from_secs(60))), 1)
    }

    use std::future::pending;

    const QUICK: StopWhen =
        StopWhen { duration: Some(Duration::from_secs(3)), until_quiet: Some(Duration::from_secs(1)) };

    #[tokio::test]
    async fn a_quiet_cluster_stops_following_at_once_without_a_condition() {
        let started = Instant::now();
        let reason =
            follow_live(quiet_cluster, pending(), &QUICK, false, pending(), |_| {}, || async { Ok::<_, ()>(false) })
                .await;
        assert_eq!(reason, Ok(StopReason::UntilQuiet));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_undecidable_run_is_followed_until_the_time_limit() {
        let asked = std::cell::Cell::new(0);
        let started = Instant::now();
        let reason = follow_live(
            quiet_cluster,
            pending(),
            &QUICK,
            true,
            pending(),
            |_| {},
            || {
                asked.set(asked.get() + 1);
                async { Ok::<_, ()>(false) }
            },
        )
        .await;
        assert_eq!(reason, Ok(StopReason::Duration), "quiet alone does not stop");
        assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
        // Nothing changed: asked once at quiet, then once per RECHECK (2 s) within the 3 s.
        assert_eq!(asked.get(), 2);
    }

    #[tokio::test]
    async fn a_run_stops_as_settled_once_the_condition_holds() {
        let asked = std::cell::Cell::new(0);
        let changes = std::cell::Cell::new(0u64);
        // A change after every tick, so the condition is asked at each quiet tick.
        let live = || {
            let (mut stats, watches) = quiet_cluster();
            changes.set(changes.get() + 1);
            stats.total_changes = changes.get();
            (stats, watches)
        };
        let reason = follow_live(
            live,
            pending(),
            &QUICK,
            true,
            pending(),
            |_| {},
            || {
                asked.set(asked.get() + 1);
                let settled = asked.get() == 3;
                async move { Ok::<_, ()>(settled) }
            },
        )
        .await;
        assert_eq!(reason, Ok(StopReason::Settled));
        assert_eq!(asked.get(), 3);
    }

    #[tokio::test]
    async fn the_condition_is_not_asked_before_the_cluster_is_quiet_and_its_error_ends_following() {
        let busy = || (stats(true, Some(Duration::ZERO)), 1);
        let reason = follow_live(
            busy,
            pending(),
            &QUICK,
            true,
            pending(),
            |_| {},
            || async { Err::<bool, _>("asked while busy") },
        )
        .await;
        assert_eq!(reason, Ok(StopReason::Duration));
        let reason = follow_live(
            quiet_cluster,
            pending(),
            &QUICK,
            true,
            pending(),
            |_| {},
            || async { Err::<bool, _>("unreadable") },
        )
        .await;
        assert_eq!(reason, Err("unreadable"));
    }

    #[tokio::test]
    async fn the_interrupt_ends_a_slow_check() {
        let reason = follow_live(
            quiet_cluster,
            pending(),
            &QUICK,
            true,
            tokio::time::sleep(Duration::from_millis(400)),
            |_| {},
            || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, ()>(true)
            },
        )
        .await;
        assert_eq!(reason, Ok(StopReason::Signal));
    }

    #[tokio::test]
    async fn a_dead_writer_ends_following_at_once_as_an_error() {
        let busy = || (stats(true, Some(Duration::ZERO)), 1);
        let started = Instant::now();
        let died = tokio::time::sleep(Duration::from_millis(600));
        let reason = follow_live(busy, died, &QUICK, true, pending(), |_| {}, || async { Ok::<_, ()>(false) }).await;
        assert_eq!(reason, Ok(StopReason::Error));
        assert!(started.elapsed() < Duration::from_secs(2), "at once, not at the time limit: {:?}", started.elapsed());
    }
}
