//! Summaries of a span (the overview's report, the indicators), counted at most
//! every so often and shared: counting all time on a large store is the console's
//! most expensive question, and a summary of a day moves by the minute. Requests
//! for a span while it is being counted wait for that count instead of starting
//! their own; the page says when its numbers were counted.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::WebError;

/// How long a span's summary is shown before it is counted again.
pub(crate) fn fresh_for(span: &str) -> Duration {
    match span {
        "24h" => Duration::from_secs(10),
        "7d" | "30d" => Duration::from_secs(60),
        _ => Duration::from_secs(300),
    }
}

/// The last count of one kind of summary, per span.
pub(crate) struct Counts<T> {
    spans: Mutex<HashMap<&'static str, Slot<T>>>,
}

type Slot<T> = Arc<tokio::sync::Mutex<Option<Counted<T>>>>;

impl<T> Default for Counts<T> {
    fn default() -> Self {
        Self {
            spans: Mutex::new(HashMap::new()),
        }
    }
}

/// A summary and when it was counted.
struct Counted<T> {
    value: Arc<T>,
    /// RFC 3339, for the page.
    at: String,
    counted: Instant,
}

impl<T> Counts<T> {
    /// The span's summary, counted by `count` if the last count is stale; and
    /// when it was counted.
    pub(crate) async fn get<F: Future<Output = Result<T, WebError>>>(
        &self,
        span: &'static str,
        count: impl FnOnce() -> F,
    ) -> Result<(Arc<T>, String), WebError> {
        let slot = {
            let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
            spans.entry(span).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(c) = slot
            .as_ref()
            .filter(|c| c.counted.elapsed() < fresh_for(span))
        {
            return Ok((c.value.clone(), c.at.clone()));
        }
        let value = Arc::new(count().await?);
        let at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        *slot = Some(Counted {
            value: value.clone(),
            at: at.clone(),
            counted: Instant::now(),
        });
        Ok((value, at))
    }
}
