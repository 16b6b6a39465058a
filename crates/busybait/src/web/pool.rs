//! The console's query threads: each holds its own read-only connection to the
//! store, and requests hand them work through a bounded queue. The store's reads are
//! synchronous (SQLite; the fleet's PostgreSQL client blocks on a runtime of its
//! own), so they run here, never on the threads that carry sessions or HTTP I/O;
//! when every thread is busy and the queue is full, a request is answered 503 at
//! once instead of piling up.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use busybait_store::read::ReadStore;

use super::WebError;
use crate::read::Location;

/// A query and where its answer goes.
type Job = Box<dyn FnOnce(&dyn ReadStore, &Location) + Send>;

/// Threads answering the console's queries.
pub(crate) struct QueryPool {
    jobs: SyncSender<Job>,
}

/// The test hook `BUSYBAIT_FAILPOINT=console-slow-query`: every query first waits
/// this long on its thread (the liveness test's stand-in for a slow store).
const SLOW_QUERY: std::time::Duration = std::time::Duration::from_secs(3);

impl QueryPool {
    /// Starts `threads` threads, each opening its own connection, and waits until
    /// each has (so that a wrong path fails at start, with its reason). The stores
    /// are opened on those threads: the fleet's PostgreSQL client runs a runtime of
    /// its own, which cannot start inside the console's.
    pub(crate) fn start(
        location: Arc<Location>,
        name: &str,
        threads: usize,
        queue: usize,
    ) -> anyhow::Result<Self> {
        let (jobs, queued) = sync_channel::<Job>(queue);
        let queued = Arc::new(Mutex::new(queued));
        let (opened_tx, opened) = std::sync::mpsc::channel();
        let slow = std::env::var(busybait_fleet::pg::write::FAILPOINT_ENV)
            .is_ok_and(|f| f == "console-slow-query");
        for n in 0..threads {
            let queued = queued.clone();
            let location = location.clone();
            let opened_tx = opened_tx.clone();
            std::thread::Builder::new()
                .name(format!("console-{name}-{n}"))
                .spawn(move || match location.open() {
                    Ok(store) => {
                        let _ = opened_tx.send(Ok(()));
                        drop(opened_tx);
                        answer(&*store, &location, &queued, slow);
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                })
                .context("starting a console query thread")?;
        }
        drop(opened_tx);
        for opened in opened.iter() {
            opened.context("opening the console's store")?;
        }
        Ok(Self { jobs })
    }

    /// Runs `query` on a query thread and waits for its answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&dyn ReadStore, &Location) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, WebError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store, location| {
            let _ = tx.send(query(store, location));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(WebError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(WebError::Store(anyhow::anyhow!(
                    "the console's query threads stopped"
                )))
            }
        }
        match rx.await {
            Ok(answer) => answer.map_err(WebError::Store),
            Err(_) => Err(WebError::Store(anyhow::anyhow!(
                "a console query thread stopped"
            ))),
        }
    }
}

/// A query thread: takes jobs until the pool is dropped.
fn answer(store: &dyn ReadStore, location: &Location, queued: &Mutex<Receiver<Job>>, slow: bool) {
    loop {
        let job = {
            let Ok(queue) = queued.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if slow {
            std::thread::sleep(SLOW_QUERY);
        }
        job(store, location);
    }
}
