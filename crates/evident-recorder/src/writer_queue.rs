//! The bounded queue from a recording's watches and scrapers (tokio tasks) to its writer (one
//! OS thread, see `crate::recording`).
//!
//! Invariants:
//! - At most `capacity` items wait in the queue. A sender that finds it full waits
//!   (asynchronously: the runtime's threads stay free) until the writer takes one; the API
//!   server keeps the changes meanwhile, so a slow disk slows the watches instead of growing
//!   memory without limit. Every such wait is counted ([`WaitFigures`]).
//! - [`QueueSender::send_now`] never waits: it is for the one stop message, which must get
//!   through a full queue.
//! - Once the receiver is dropped (the writer stopped or died), every send fails at once and
//!   every waiting sender wakes with [`Closed`]: that is how the watches learn to stop.
//!
//! What a crash can lose: the items in the queue (at most `capacity`) on top of what the store
//! has not fsynced yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use evident_core::run_manifest::WriterQueue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The receiver is gone: the writer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the recorder's writer stopped")]
pub struct Closed;

/// Waits of senders on a full queue, shared by every sender and the receiver.
#[derive(Debug, Default)]
struct WaitFigures {
    waits: AtomicU64,
    waited_ns: AtomicU64,
    longest_ns: AtomicU64,
}

impl WaitFigures {
    fn record(&self, waited: Duration) {
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.waits.fetch_add(1, Ordering::Relaxed);
        // Saturating: a sum of waits cannot wrap round to a small number.
        let _ = self.waited_ns.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| Some(sum.saturating_add(ns)));
        self.longest_ns.fetch_max(ns, Ordering::Relaxed);
    }
}

type Item<T> = (T, Option<OwnedSemaphorePermit>);

/// Creates a queue holding at most `capacity` items (at least 1).
pub fn bounded<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(capacity));
    let figures = Arc::new(WaitFigures::default());
    let (sender, receiver) = mpsc::channel();
    (
        QueueSender { sender, permits: permits.clone(), figures: figures.clone() },
        QueueReceiver { receiver, permits, figures, capacity },
    )
}

/// The sending half; cheap to clone (one per watch and scraper).
#[derive(Debug)]
pub struct QueueSender<T> {
    sender: mpsc::Sender<Item<T>>,
    permits: Arc<Semaphore>,
    figures: Arc<WaitFigures>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender { sender: self.sender.clone(), permits: self.permits.clone(), figures: self.figures.clone() }
    }
}

impl<T> QueueSender<T> {
    /// Queues `item`, first waiting for room if the queue is full.
    pub async fn send(&self, item: T) -> Result<(), Closed> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(Closed),
            Err(TryAcquireError::NoPermits) => {
                let started = Instant::now();
                let permit = self.permits.clone().acquire_owned().await.map_err(|_| Closed)?;
                self.figures.record(started.elapsed());
                permit
            }
        };
        self.sender.send((item, Some(permit))).map_err(|_| Closed)
    }

    /// Queues `item` at once, even past the capacity (for the stop message only).
    pub fn send_now(&self, item: T) -> Result<(), Closed> {
        self.sender.send((item, None)).map_err(|_| Closed)
    }
}

/// The receiving half, on the writer's thread. Dropping it closes the queue.
#[derive(Debug)]
pub struct QueueReceiver<T> {
    receiver: mpsc::Receiver<Item<T>>,
    permits: Arc<Semaphore>,
    figures: Arc<WaitFigures>,
    capacity: usize,
}

impl<T> QueueReceiver<T> {
    /// The next item, waiting at most `timeout`; its place in the queue is free again.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.receiver.recv_timeout(timeout).map(|(item, _permit)| item)
    }

    /// The next item if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.receiver.try_recv().map(|(item, _permit)| item)
    }

    /// The capacity and how long senders waited so far, as `run.json` records them.
    pub fn figures(&self) -> WriterQueue {
        let ms = |ns: &AtomicU64| ns.load(Ordering::Relaxed) / 1_000_000;
        WriterQueue {
            capacity: self.capacity as u64,
            waits: self.figures.waits.load(Ordering::Relaxed),
            waited_ms: ms(&self.figures.waited_ns),
            longest_wait_ms: ms(&self.figures.longest_ns),
        }
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        // Wakes every sender waiting for room: nobody will make any.
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_makes_the_sender_wait_and_counts_the_wait() {
        let (sender, receiver) = bounded::<u32>(2);
        sender.send(1).await.unwrap();
        sender.send(2).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(100), sender.send(3)).await;
        assert!(third.is_err(), "a third item must wait while two are queued");
        assert_eq!(receiver.figures().waits, 0, "a send given up before it got room is no wait");

        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(3).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "still full");
        assert_eq!(receiver.recv_timeout(Duration::ZERO).unwrap(), 1);
        waiting.await.unwrap().unwrap();
        let figures = receiver.figures();
        assert_eq!((figures.capacity, figures.waits), (2, 1));
        assert!(figures.waited_ms >= 40 && figures.longest_wait_ms == figures.waited_ms, "{figures:?}");
        assert_eq!([receiver.try_recv().unwrap(), receiver.try_recv().unwrap()], [2, 3]);
    }

    #[tokio::test]
    async fn the_stop_message_passes_a_full_queue_and_a_dropped_receiver_wakes_waiters() {
        let (sender, receiver) = bounded::<u32>(1);
        sender.send(1).await.unwrap();
        sender.send_now(99).unwrap();
        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(receiver);
        let outcome = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").unwrap();
        assert_eq!(outcome, Err(Closed));
        assert_eq!(sender.send(3).await, Err(Closed));
        assert_eq!(sender.send_now(4), Err(Closed));
    }
}
