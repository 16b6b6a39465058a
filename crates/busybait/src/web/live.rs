//! `/live/sessions`: server-sent events with each session that starts after the
//! list was shown (the list's own filters apply), so the console's session list
//! grows without a reload. The store is asked once a second per open stream, on the
//! console's query threads; at most [`MAX_STREAMS`] streams are open at once.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use busybait_store::read::{SessionFilter, SessionRow};
use tokio::sync::OwnedSemaphorePermit;

use super::layout::{self, cell};
use super::sessions::Params;
use super::{Console, WebError};

/// Streams open at once (each asks the store once a second).
pub(crate) const MAX_STREAMS: usize = 16;
/// How often a stream asks for new sessions.
const POLL: Duration = Duration::from_secs(1);
/// Most sessions one poll takes (the rest come with the next).
const BATCH: usize = 100;

/// A session as the list's script adds it: every attacker-chosen value already
/// made visible ([`layout::cell`]); the script sets them as text, never as markup.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    started: String,
    src: String,
    /// ` NL AS64496`, or empty.
    origin: String,
    protocol: String,
    login: String,
    commands: i64,
    family: String,
    duration: String,
}

impl From<&SessionRow> for Row {
    fn from(r: &SessionRow) -> Self {
        Self {
            id: r.session.clone(),
            started: layout::time(&r.start_time),
            src: cell(&r.src_ip),
            origin: super::sessions::origin_text(r),
            protocol: cell(&r.protocol),
            login: super::sessions::login_text(r).unwrap_or_else(|| "—".to_string()),
            commands: r.commands,
            family: match (&r.family, &r.family_label) {
                (Some(f), Some(l)) => format!("{} {}", cell(f), cell(l)),
                (Some(f), None) => cell(f),
                _ => "—".to_string(),
            },
            duration: layout::duration(r.duration_ms),
        }
    }
}

/// One stream's state.
struct Follow {
    console: Arc<Console>,
    filter: SessionFilter,
    pending: VecDeque<SessionRow>,
    first: bool,
    _permit: OwnedSemaphorePermit,
}

/// `GET /live/sessions?…` with the list's filters.
pub(crate) async fn sessions(
    State(console): State<Arc<Console>>,
    Query(params): Query<Params>,
) -> Result<Response, WebError> {
    let mut filter = params.filter()?;
    let Ok(permit) = console.live.clone().try_acquire_owned() else {
        return Err(WebError::Busy);
    };
    // From the newest session the list could show now: only what comes after it.
    filter.before = None;
    let newest = {
        let filter = filter.clone();
        console
            .pages
            .run(move |store, _| Ok(store.sessions(&filter, 1)?))
            .await?
    };
    filter.after = newest
        .first()
        .map(|r| (r.start_time.clone(), r.session.clone()))
        .or_else(|| Some((String::new(), String::new())));
    let follow = Follow {
        console,
        filter,
        pending: VecDeque::new(),
        first: true,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(row) = f.pending.pop_front() {
                let data = serde_json::to_string(&Row::from(&row)).unwrap_or_default();
                let event = Event::default().event("session").data(data);
                return Some((Ok::<Event, Infallible>(event), f));
            }
            if f.first {
                // Tells the page the stream is open (and tests when to go on); an event
                // without data is never dispatched.
                f.first = false;
                return Some((Ok(Event::default().event("ready").data("ready")), f));
            }
            tokio::time::sleep(POLL).await;
            let filter = f.filter.clone();
            match f
                .console
                .pages
                .run(move |store, _| Ok(store.sessions(&filter, BATCH)?))
                .await
            {
                Ok(rows) => {
                    if let Some(last) = rows.last() {
                        f.filter.after = Some((last.start_time.clone(), last.session.clone()));
                    }
                    f.pending.extend(rows);
                }
                Err(WebError::Busy) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "live sessions: the store could not be read");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
