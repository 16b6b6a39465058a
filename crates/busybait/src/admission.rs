//! Who gets in: the accept loops, and the limits a connection meets before it becomes
//! a session (concurrent sessions, per source, not yet logged in, the sensor-wide
//! memory cap, room in the event queue). Each admitted connection runs in a task of
//! its own, with its slots given back when it ends, even by panic.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use crate::edge::Edge;

/// Free queue slots below which listeners stop accepting: a session's worth of
/// events for every session that could still be starting.
fn queue_low_water(depth: usize) -> usize {
    (depth / 4).max(1)
}

/// Accepts connections on one listener until shutdown.
pub(crate) async fn accept_loop(
    edge: Arc<Edge>,
    listener: TcpListener,
    protocol: busybait_events::Protocol,
) {
    let mut shutdown = edge.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        if *shutdown.borrow() {
            return;
        }
        match accepted {
            Ok((stream, src)) => {
                if !wait_for_queue_room(&edge, &mut shutdown).await {
                    return;
                }
                admit(&edge, stream, src, protocol);
            }
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// While the event queue is short of room, no new session starts (and this listener
/// accepts nothing more): new bots wait in the kernel's backlog, admitted sessions
/// lose nothing. Returns false if the sensor is shutting down.
async fn wait_for_queue_room(edge: &Edge, shutdown: &mut watch::Receiver<bool>) -> bool {
    let low_water = queue_low_water(edge.recorder.depth());
    if edge.recorder.headroom() >= low_water {
        return true;
    }
    edge.stats
        .accept_paused_queue
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!("event queue nearly full: not accepting for now");
    while edge.recorder.headroom() < low_water {
        if *shutdown.borrow() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!("event queue has room again: accepting");
    true
}

/// Releases a session's slots when its task ends, even by panic.
struct SlotGuard {
    edge: Arc<Edge>,
    src: IpAddr,
    conn: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        {
            let mut per = self
                .edge
                .per_source
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per.get_mut(&self.src) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&self.src);
                }
            }
        }
        self.edge
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.conn);
        if self.edge.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.edge.all_done.notify_waiters();
        }
    }
}

fn admit(
    edge: &Arc<Edge>,
    stream: TcpStream,
    src: SocketAddr,
    protocol: busybait_events::Protocol,
) {
    let limits = &edge.config.limits;
    if edge.active.load(Ordering::SeqCst) >= limits.max_sessions {
        edge.stats
            .refused_max_sessions
            .fetch_add(1, Ordering::Relaxed);
        return; // dropping the stream closes it
    }
    if edge.memory.is_full() {
        edge.stats.refused_memory.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if edge.data.is_full() {
        // Nothing prunable is left: refusing is what keeps every admitted session's
        // events.
        edge.stats
            .refused_data_budget
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    {
        let mut per = edge.per_source.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(src.ip()).or_insert(0);
        if *n >= limits.max_sessions_per_source {
            edge.stats
                .refused_per_source
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        *n += 1;
    }
    let conn = edge.next_conn.fetch_add(1, Ordering::Relaxed);
    let evict = Arc::new(Notify::new());
    {
        let mut unauth = edge
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while unauth.len() >= limits.max_unauthenticated {
            let Some((_, oldest)) = unauth.pop_first() else {
                break;
            };
            oldest.notify_one();
            edge.stats
                .evicted_unauthenticated
                .fetch_add(1, Ordering::Relaxed);
        }
        unauth.insert(conn, evict.clone());
    }
    edge.active.fetch_add(1, Ordering::SeqCst);
    edge.stats.accepted.fetch_add(1, Ordering::Relaxed);
    let guard = SlotGuard {
        edge: edge.clone(),
        src: src.ip(),
        conn,
    };
    let edge2 = edge.clone();
    tokio::spawn(ContainPanic {
        session: Box::pin(async move {
            let _guard = guard;
            crate::connection::run_connection(edge2, stream, src, conn, evict, protocol).await;
        }),
        edge: edge.clone(),
    });
}

/// Runs a session's future and turns a panic in it into the end of that session
/// alone, counted in `session_errors` (in the task itself: a watcher task per
/// session would cost every idle session another task).
struct ContainPanic<F> {
    session: std::pin::Pin<Box<F>>,
    edge: Arc<Edge>,
}

impl<F: std::future::Future<Output = ()>> std::future::Future for ContainPanic<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let session = self.session.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                self.edge
                    .stats
                    .session_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "a session ended in an internal error; only that session was closed"
                );
                // Dropping the future (when the task ends) releases its slots.
                std::task::Poll::Ready(())
            }
        }
    }
}
