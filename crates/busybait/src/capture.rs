//! What sessions leave on disk besides their events: files still being written
//! (staged as they grow, so a crash loses nothing), finished files (samples, with
//! their triage), and recordings. Every function takes the store it writes to, not
//! the whole edge.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use busybait_device::vfs::StagedBytes;
use busybait_events::{Event, Peer, SessionId};
use busybait_intel::enrich::{Enricher, Stored};
use busybait_intel::triage::Triage;
use busybait_store::recording::{Blobs, Recording};
use busybait_store::samples::{SampleError, SampleStore};
use busybait_store::staging::{SessionStaging, Staging};

/// Staged batches up to this size are written on the session's own thread: a few
/// kilobytes into the page cache cost less than handing them to the blocking pool
/// (an echo loader stages ten 128-byte lines per session).
const STAGE_INLINE_BYTES: usize = 64 * 1024;

/// Writes a session's new bytes to its staging area (large batches off the async
/// threads). On a disk error staging stops for the session (logged); capture at the
/// end is unaffected.
pub async fn stage(
    staging: Option<SessionStaging>,
    batch: Vec<StagedBytes>,
) -> Option<SessionStaging> {
    let mut staging = staging?;
    let size: usize = batch.iter().map(|b| b.data.len()).sum();
    let write_all = move || {
        for b in &batch {
            staging.write(&b.path, b.offset, &b.data)?;
        }
        Ok::<_, busybait_store::StoreError>(staging)
    };
    let work = if size <= STAGE_INLINE_BYTES {
        Ok(write_all())
    } else {
        tokio::task::spawn_blocking(write_all).await
    };
    match work {
        Ok(Ok(staging)) => Some(staging),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "staging stopped for a session");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "staging task failed");
            None
        }
    }
}

/// Stores a finished file and, when its bytes are new, triages them, off the async
/// threads (the bytes can be megabytes).
pub async fn store_sample(
    samples: Arc<SampleStore>,
    data: Arc<Vec<u8>>,
) -> (Stored, Option<Triage>) {
    let work = tokio::task::spawn_blocking(move || {
        let stored = samples.store(&data);
        let triage =
            matches!(&stored, Ok(s) if !s.duplicate).then(|| busybait_intel::triage::triage(&data));
        (stored, triage)
    })
    .await;
    match work {
        Ok((Ok(s), triage)) => (
            Stored::Sample {
                sha256: s.sha256,
                outfile: s.outfile,
                duplicate: s.duplicate,
            },
            triage,
        ),
        Ok((Err(SampleError::Quota(q)), _)) => (Stored::OverQuota(q), None),
        Ok((Err(e), _)) => {
            tracing::error!(error = %e, "cannot store a sample");
            (Stored::Failed, None)
        }
        Err(_) => (Stored::Failed, None),
    }
}

/// What sessions of a crashed run were writing, stored as samples now: the events
/// that report them (each under its session's id), to record before serving.
pub async fn recover_staged(
    staging: &Staging,
    samples: &Arc<SampleStore>,
    context: &busybait_intel::enrich::Context,
) -> anyhow::Result<Vec<Event>> {
    use anyhow::Context;
    let staging = staging.clone();
    let recovered = tokio::task::spawn_blocking(move || staging.recover())
        .await
        .context("staging recovery task")?
        .context("recovering staged files")?;
    if !recovered.is_empty() {
        tracing::warn!(
            files = recovered.len(),
            "storing files that sessions were writing when the sensor stopped"
        );
    }
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut events = Vec::new();
    for r in recovered {
        let (src, dst) = r.peer.unwrap_or((unknown, unknown));
        let data = Arc::new(r.data);
        let (stored, triage) = store_sample(samples.clone(), data.clone()).await;
        let at = (
            std::time::SystemTime::now(),
            SessionId::parse(&r.session).unwrap_or(SessionId::from_u64(0)),
            Peer {
                src,
                dst,
                protocol: busybait_events::Protocol::Telnet,
            },
        );
        events.extend(Enricher::new(context).file(
            at,
            &r.path,
            &data,
            busybait_events::FileOrigin::Written,
            stored,
            triage,
        ));
    }
    Ok(events)
}

/// How a session is recorded.
pub struct RecordingPlan<'a> {
    /// The data dir (`sessions/` in it).
    pub data_dir: &'a Path,
    /// Most bytes one recording may add to the disk.
    pub max_bytes: u64,
    /// Long output kept once by content.
    pub blobs: Option<&'a Arc<Blobs>>,
}

/// Opens `sessions/<id>.cast` and `.raw`; a failure only loses the recording.
pub fn start_recording(
    plan: &RecordingPlan<'_>,
    id: SessionId,
    src: SocketAddr,
    telnet: bool,
) -> Option<Recording> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let title = format!("busybait session {id} from {src}");
    match Recording::create(
        plan.data_dir,
        &id.to_string(),
        &title,
        80,
        24,
        now,
        plan.max_bytes,
    ) {
        Ok(r) => {
            let r = if telnet { r } else { r.without_telnet() };
            Some(match plan.blobs {
                Some(blobs) => r.with_blobs(blobs.clone()),
                None => r,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a session");
            None
        }
    }
}

/// Appends to a recording; on a write error the recording stops, the session goes on.
pub fn record_io(
    recording: &mut Option<Recording>,
    started: std::time::Instant,
    input: bool,
    data: &[u8],
) {
    if let Some(rec) = recording {
        if let Err(e) = rec.record(started.elapsed(), input, data) {
            tracing::warn!(error = %e, "session recording stopped");
            *recording = None;
        }
    }
}

/// Appends a piece of output: a shared one by reference.
pub fn record_piece(
    recording: &mut Option<Recording>,
    started: std::time::Instant,
    piece: &busybait_device::terminal::Outgoing,
) {
    use busybait_device::terminal::Outgoing;
    if let Some(rec) = recording {
        let at = started.elapsed();
        let result = match piece {
            Outgoing::Bytes(bytes) => rec.record(at, false, bytes),
            Outgoing::Shared(bytes, from) => rec.record_shared(at, bytes, *from),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "session recording stopped");
            *recording = None;
        }
    }
}

/// Writes out a quiet session's recording; on a write error the recording stops.
pub fn flush_recording(recording: &mut Option<Recording>) {
    if let Some(rec) = recording {
        if let Err(e) = rec.flush() {
            tracing::warn!(error = %e, "session recording stopped");
            *recording = None;
        }
    }
}
