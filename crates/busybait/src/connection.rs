//! One connection through any door: the loop that feeds the door's sans-IO session
//! (see [`crate::door::Door`]) and carries out what it asks for. Read → `handle_input` → write what `poll_transmit` gives → record
//! what `poll_event` gives (through the session's [`Enricher`]) → stage and store the
//! files it finished → sleep until `poll_timeout`; a computing line gets its next slice
//! after every other session has had a turn. Everything the attacker sees is decided
//! by the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use busybait_device::shell::FetchResult;
use busybait_device::terminal::FetchId;
use busybait_device::vfs::StagedBytes;
use busybait_device::Now;
use busybait_events::{CloseReason, EventKind, Peer, Protocol, SessionId};
use busybait_intel::enrich::Enricher;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::capture::{
    flush_recording, record_io, record_piece, stage, start_recording, store_sample, RecordingPlan,
};
use crate::door::Door;
use crate::edge::{record_event, Edge};

/// A recording's buffered bytes go to disk once its session has been quiet this long.
const RECORDING_QUIET_FLUSH: Duration = Duration::from_secs(1);

fn new_session_id() -> SessionId {
    SessionId::from_u64(uuid::Uuid::new_v4().as_u64_pair().0)
}

/// Runs one accepted connection through `protocol`'s door until it ends.
pub(crate) async fn run_connection(
    edge: Arc<Edge>,
    stream: TcpStream,
    src: SocketAddr,
    conn: u64,
    evict: Arc<Notify>,
    protocol: Protocol,
) {
    let dst = stream.local_addr().unwrap_or(src);
    let _ = stream.set_nodelay(true);
    // Best effort: the kernel may round it; failing to set it only loses the bound.
    let _ =
        socket2::SockRef::from(&stream).set_send_buffer_size(edge.config.limits.send_buffer_bytes);
    let id = new_session_id();
    let peer = Peer { src, dst, protocol };
    match protocol {
        Protocol::Telnet => {
            let config = edge.session_config.clone();
            let session = busybait_telnet::Session::new(config, id, peer, Now::system());
            run_session(edge, stream, peer, conn, evict, session).await
        }
        Protocol::Ssh => {
            let Some(config) = edge.ssh.clone() else {
                return;
            };
            let mut seed = [0u8; 32];
            if let Err(e) = getrandom::fill(&mut seed) {
                tracing::error!(error = %e, "no randomness for an SSH session; refused");
                return;
            }
            let session =
                busybait_ssh::session::Session::new(config, id, peer, Now::system(), seed);
            run_session(edge, stream, peer, conn, evict, session).await
        }
        Protocol::Http => {
            let Some(config) = edge.http.clone() else {
                return;
            };
            let session = busybait_http::session::Session::new(config, id, peer, Now::system());
            run_session(edge, stream, peer, conn, evict, session).await
        }
    }
}

/// Runs one session until it ends.
async fn run_session<S: Door>(
    edge: Arc<Edge>,
    mut stream: TcpStream,
    peer: Peer,
    conn: u64,
    evict: Arc<Notify>,
    mut session: S,
) {
    let Peer { src, dst, .. } = peer;
    let limits = &edge.config.limits;
    let started = std::time::Instant::now();
    let id = session.id();
    let wire_is_terminal = session.wire_is_terminal();
    let plan = RecordingPlan {
        data_dir: &edge.config.data_dir,
        max_bytes: edge.config.store.max_recording_bytes,
        blobs: edge.blobs.as_ref(),
    };
    // A telnet session's wire is its terminal: recorded from the first byte. A door
    // whose terminal is inside (SSH) starts its recording with the terminal's first
    // byte: the many connections that never get a shell leave no files.
    let mut recording_pending = edge.config.store.recordings && !wire_is_terminal;
    let mut recording = if edge.config.store.recordings && wire_is_terminal {
        start_recording(&plan, id, src, true)
    } else {
        None
    };
    let mut staging = Some(edge.staging.session(&id.to_string(), src, dst));
    let mut shutdown = edge.shutdown.clone();
    let pool = PoolMembership::join(&edge, conn);
    let mut registered_auth = false;
    let mut enricher = Enricher::new(&edge.enrich);
    // A session waits on one download at a time; answers come back here. Made on the
    // first download: most sessions have none.
    let mut fetches: Option<FetchChannel> = None;
    loop {
        // Record first: if the queue is full we wait here and stop reading the socket.
        // Boxed: the events it holds would otherwise take room in every idle session.
        if Box::pin(record_session_output(
            &edge,
            &mut session,
            &mut enricher,
            peer,
        ))
        .await
        .is_err()
        {
            return;
        }
        let staged: Vec<StagedBytes> = std::iter::from_fn(|| session.poll_staged()).collect();
        if !staged.is_empty() {
            staging = Box::pin(stage(staging, staged)).await;
        }
        while let Some((fetch_id, request)) = session.poll_fetch() {
            let (answers, _) =
                fetches.get_or_insert_with(|| tokio::sync::mpsc::channel(FETCHES_IN_FLIGHT));
            start_fetch(&edge, answers, fetch_id, request);
        }
        if !registered_auth && session.is_authenticated() {
            registered_auth = true;
            edge.unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&conn);
        }
        // Each piece as the session hands it out (its own buffer, or bytes shared by
        // every session, written and recorded without a copy).
        let mut write_failed = None;
        while let Some((input, bytes)) = session.poll_terminal() {
            if recording_pending {
                recording_pending = false;
                recording = start_recording(&plan, id, src, false);
            }
            record_io(&mut recording, started, input, &bytes);
        }
        while let Some(piece) = session.poll_transmit_piece() {
            if wire_is_terminal {
                record_piece(&mut recording, started, &piece);
            }
            let write = stream.write_all(piece.as_slice());
            match tokio::time::timeout(limits.idle_timeout, write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    write_failed = Some(false);
                    break;
                }
                Err(_) => {
                    write_failed = Some(true);
                    break;
                }
            }
        }
        match write_failed {
            Some(false) => {
                session.close(Now::system(), CloseReason::IoError);
                continue;
            }
            Some(true) => {
                session.close_for_limit(
                    Now::system(),
                    "write_stall",
                    limits.idle_timeout.as_secs(),
                );
                continue;
            }
            None => {}
        }
        if session.is_closed() {
            break;
        }
        edge.memory.report(&pool.member, session.memory_used());
        if session.is_computing() {
            // A long command line goes on in slices; other sessions run in between.
            tokio::task::yield_now().await;
        }
        let mut deadline = session
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let flush_recording_at = recording
            .as_ref()
            .filter(|r| r.buffered())
            .map(|_| tokio::time::Instant::now() + RECORDING_QUIET_FLUSH);
        if let Some(at) = flush_recording_at {
            deadline = deadline.min(at);
        }
        tokio::select! {
            r = stream.readable() => match r {
                Ok(()) => read_now(&stream, limits.read_buffer_bytes, |read| match read {
                    Ok(Some([])) => session.close(Now::system(), CloseReason::ClientClosed),
                    Ok(Some(input)) => {
                        if wire_is_terminal {
                            record_io(&mut recording, started, true, input);
                        }
                        session.handle_input(Now::system(), input);
                    }
                    Ok(None) => {}
                    Err(_) => session.close(Now::system(), CloseReason::IoError),
                }),
                Err(_) => session.close(Now::system(), CloseReason::IoError),
            },
            Some((fetch_id, result)) = next_fetch_answer(&mut fetches) => {
                session.handle_fetch_result(Now::system(), fetch_id, result)
            }
            _ = tokio::time::sleep_until(deadline) => {
                if flush_recording_at.is_some_and(|at| at <= deadline) {
                    flush_recording(&mut recording);
                }
                session.handle_timeout(Now::system())
            }
            _ = evict.notified() => session.close(Now::system(), CloseReason::Evicted),
            _ = pool.member.fail.notified() => {
                let cap = edge.memory.cap() as u64;
                session.fail_for_memory(Now::system(), "memory_cap_bytes", cap);
            }
            _ = shutdown.changed() => session.close(Now::system(), CloseReason::Shutdown),
        }
    }
    if session.wants_reset() {
        // Input the device never read: the kernel answers the close with a reset.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    }
    // Every file is a sample now; the staged copies are no longer needed.
    // A directory of a few small files: removed here rather than via the blocking pool.
    if let Some(staging) = staging {
        if let Err(e) = staging.remove() {
            tracing::warn!(error = %e, "cannot remove a session's staging");
        }
    }
    if let Some(rec) = recording {
        if let Err(e) = rec.finish() {
            tracing::warn!(error = %e, "could not finish a session recording");
        }
    }
}

/// A session's place in the memory pool, given back when its task ends (even by
/// panic).
struct PoolMembership {
    edge: Arc<Edge>,
    conn: u64,
    member: Arc<crate::memory::Member>,
}

impl PoolMembership {
    fn join(edge: &Arc<Edge>, conn: u64) -> Self {
        Self {
            edge: edge.clone(),
            conn,
            member: edge.memory.join(conn),
        }
    }
}

impl Drop for PoolMembership {
    fn drop(&mut self) {
        self.edge.memory.leave(self.conn, &self.member);
    }
}

/// Downloads one session may have waiting for an answer.
const FETCHES_IN_FLIGHT: usize = 4;

type FetchChannel = (
    tokio::sync::mpsc::Sender<(FetchId, FetchResult)>,
    tokio::sync::mpsc::Receiver<(FetchId, FetchResult)>,
);

/// The next download answer, or never if the session has not asked for one.
async fn next_fetch_answer(fetches: &mut Option<FetchChannel>) -> Option<(FetchId, FetchResult)> {
    match fetches {
        Some((_, answers)) => answers.recv().await,
        None => std::future::pending().await,
    }
}

thread_local! {
    /// One read buffer per runtime thread rather than one per session: a read is
    /// handed to its session before the task yields, so 20,000 idle sessions hold
    /// no buffers.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads what a readable socket has, up to `max` bytes, and hands it to `handle`:
/// `Ok(Some(bytes))` (empty at end of stream), `Ok(None)` if the readiness was
/// spurious, or the error.
fn read_now(stream: &TcpStream, max: usize, handle: impl FnOnce(std::io::Result<Option<&[u8]>>)) {
    READ_BUFFER.with(|cell| {
        let mut own = Vec::new();
        let mut shared = cell.try_borrow_mut();
        // Re-entry cannot happen (nothing awaits in between); fall back rather than panic.
        let buf = match shared.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut own,
        };
        if buf.len() < max {
            buf.resize(max, 0);
        }
        let buf = buf.get_mut(..max).unwrap_or_default();
        match stream.try_read(buf) {
            Ok(n) => handle(Ok(Some(buf.get(..n).unwrap_or_default()))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => handle(Ok(None)),
            Err(e) => handle(Err(e)),
        }
    });
}

/// The event recorder has stopped: the session cannot record and must end.
struct RecorderGone;

/// Records a session's new events with what the enricher adds to them, and stores
/// the files it finished as samples. Files finished as the session ends are stored
/// (and labelled) before its end is recorded: its last events are its last.
async fn record_session_output(
    edge: &Arc<Edge>,
    session: &mut impl Door,
    enricher: &mut Enricher,
    peer: Peer,
) -> Result<(), RecorderGone> {
    while let Some(event) = session.poll_event() {
        if matches!(event.kind, EventKind::SessionEnd { .. }) {
            record_samples(edge, session, enricher, peer).await?;
        }
        for e in enricher.event(event) {
            record(edge, e).await?;
        }
    }
    record_samples(edge, session, enricher, peer).await
}

/// Dropped files become samples, then a `cowrie.session.file_download` (or, sent
/// with `scp`, `cowrie.session.file_upload`) event, and a triage event for new bytes.
async fn record_samples(
    edge: &Arc<Edge>,
    session: &mut impl Door,
    enricher: &mut Enricher,
    peer: Peer,
) -> Result<(), RecorderGone> {
    while let Some(file) = session.poll_sample() {
        let (stored, triage) = store_sample(edge.samples.clone(), file.data.clone()).await;
        let at = (std::time::SystemTime::now(), session.id(), peer);
        for e in enricher.file(at, &file.path, &file.data, file.origin, stored, triage) {
            record(edge, e).await?;
        }
    }
    Ok(())
}

async fn record(edge: &Edge, event: busybait_events::Event) -> Result<(), RecorderGone> {
    record_event(edge, event).await.map_err(|_| {
        tracing::error!("event recorder stopped; closing session");
        RecorderGone
    })
}

/// Downloads for a session in a task of its own; the answer comes back on `answers`.
/// Without a fetcher (fetching off) the download is refused at once.
fn start_fetch(
    edge: &Arc<Edge>,
    answers: &tokio::sync::mpsc::Sender<(FetchId, FetchResult)>,
    id: FetchId,
    request: busybait_device::shell::FetchRequest,
) {
    let fetcher = edge.fetcher.clone();
    let answers = answers.clone();
    tokio::spawn(async move {
        let result = match fetcher {
            Some(f) => match f.fetch(&request.url, request.password.as_deref()).await {
                Some(body) => FetchResult::Data(body.as_ref().clone()),
                None => FetchResult::Refused,
            },
            None => FetchResult::Refused,
        };
        // The session may have ended meanwhile; then nobody wants the answer.
        let _ = answers.send((id, result)).await;
    });
}
