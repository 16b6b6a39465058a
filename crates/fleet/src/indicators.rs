//! The fleet's live indicators: what a sensor learns, published as it learns it, for
//! whoever watches the fleet (`busybait watch` on another network).
//!
//! Each indicator an acknowledged batch of events carries (an attacking address, a
//! URL a session asked for and its host, a dropped file's SHA-256, a C2 or report
//! endpoint its triage recovered) goes once on `busybait.indicators.<sensor>` as a
//! JSON object `{"type", "value", "seen"}` (`type` as `busybait export --format csv`
//! names it, plus `host`; `seen` the event's time). Core NATS, at most once: the
//! events are what is guaranteed, and every indicator is in the fleet's store for a
//! watcher that starts later (`watch --learned-from postgres://…`). A sensor may
//! publish only on its own subject; the sensor is the subject's, never the payload's.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The prefix of the per-sensor indicator subjects.
pub const INDICATORS_SUBJECT_PREFIX: &str = "busybait.indicators.";

/// Indicators a shipper remembers as published; past this it starts again (and
/// publishes some twice, which watchers absorb).
const REMEMBERED: usize = 65_536;

/// One indicator on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    /// `ip`, `url`, `host`, `sha256` or `c2`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address, URL, host name, digest or `host:port`.
    pub value: String,
    /// When the event that carried it happened (RFC 3339).
    pub seen: String,
}

/// The subject `sensor` publishes its indicators on.
pub fn subject(sensor: &str) -> String {
    format!("{INDICATORS_SUBJECT_PREFIX}{sensor}")
}

/// The events that carry indicators (most of a session's events carry none).
const CARRIERS: [&str; 6] = [
    "\"cowrie.session.connect\"",
    "\"busybait.download.request\"",
    "\"cowrie.session.file_download\"",
    "\"cowrie.session.file_upload\"",
    "\"busybait.exploit\"",
    "\"busybait.sample.triage\"",
];

/// The indicators one event line carries, in the order they appear.
pub fn of_event(json: &str) -> Vec<Indicator> {
    // Only the few events that carry one are parsed.
    if !CARRIERS.iter().any(|id| json.contains(id)) {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let text = |key: &str| v.get(key).and_then(|x| x.as_str());
    let seen = text("timestamp").unwrap_or_default().to_string();
    let mut out = Vec::new();
    let mut add = |kind: &str, value: &str| {
        if !value.is_empty() {
            out.push(Indicator {
                kind: kind.to_string(),
                value: value.to_string(),
                seen: seen.clone(),
            });
        }
    };
    let url = |add: &mut dyn FnMut(&str, &str), url: &str| {
        add("url", url);
        if let Some(host) = busybait_store::report::url_host(url) {
            add("host", &host);
        }
    };
    let list = |key: &str| -> Vec<&str> {
        v.get(key)
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
            .unwrap_or_default()
    };
    match text("eventid").unwrap_or_default() {
        "cowrie.session.connect" => add("ip", text("src_ip").unwrap_or_default()),
        "busybait.download.request" => url(&mut add, text("url").unwrap_or_default()),
        "cowrie.session.file_download" => {
            if let Some(u) = text("url") {
                url(&mut add, u);
            }
            add("sha256", text("shasum").unwrap_or_default());
        }
        "cowrie.session.file_upload" => add("sha256", text("shasum").unwrap_or_default()),
        "busybait.exploit" => {
            for u in list("urls") {
                url(&mut add, u);
            }
        }
        "busybait.sample.triage" => {
            for c2 in list("c2") {
                add("c2", c2);
            }
            for u in list("urls") {
                url(&mut add, u);
            }
        }
        _ => {}
    }
    out
}

/// A sensor's publisher: each indicator once (as far as it remembers).
#[derive(Debug, Default)]
pub(crate) struct Publisher {
    published: HashSet<(String, String)>,
}

impl Publisher {
    /// The indicators of `events` not published yet, each once.
    pub(crate) fn new_in(&mut self, events: &[(u64, String)]) -> Vec<Indicator> {
        let mut fresh = Vec::new();
        for (_, json) in events {
            for indicator in of_event(json) {
                let key = (indicator.kind.clone(), indicator.value.clone());
                if self.published.contains(&key) {
                    continue;
                }
                if self.published.len() >= REMEMBERED {
                    self.published.clear();
                }
                self.published.insert(key);
                fresh.push(indicator);
            }
        }
        fresh
    }

    /// Publishes what `events` taught that was not published yet; failures are
    /// logged (the store keeps every indicator).
    pub(crate) async fn publish(
        &mut self,
        client: &async_nats::Client,
        sensor: &str,
        events: &[(u64, String)],
    ) {
        let fresh = self.new_in(events);
        if fresh.is_empty() {
            return;
        }
        let subject = subject(sensor);
        for indicator in &fresh {
            let Ok(body) = serde_json::to_vec(indicator) else {
                continue;
            };
            if let Err(e) = client.publish(subject.clone(), body.into()).await {
                tracing::debug!(error = %e, "publishing an indicator failed");
                return;
            }
        }
        if let Err(e) = client.flush().await {
            tracing::debug!(error = %e, "publishing indicators failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_their_indicators_and_each_goes_once() {
        let events = vec![
            (1, r#"{"eventid":"cowrie.session.connect","src_ip":"203.0.113.9","timestamp":"t1"}"#.to_string()),
            (2, r#"{"eventid":"busybait.download.request","url":"http://Bad.Example:8080/x.sh","timestamp":"t2"}"#.to_string()),
            (3, r#"{"eventid":"cowrie.session.file_download","url":"http://bad.example:8080/x.sh","shasum":"ab","timestamp":"t3"}"#.to_string()),
            (4, r#"{"eventid":"busybait.sample.triage","c2":["cnc.example:23"],"urls":[],"timestamp":"t4"}"#.to_string()),
            (5, r#"{"eventid":"cowrie.session.connect","src_ip":"203.0.113.9","timestamp":"t5"}"#.to_string()),
            (6, "not json".to_string()),
        ];
        let mut publisher = Publisher::default();
        let got: Vec<(String, String, String)> = publisher
            .new_in(&events)
            .into_iter()
            .map(|i| (i.kind, i.value, i.seen))
            .collect();
        let want = [
            ("ip", "203.0.113.9", "t1"),
            ("url", "http://Bad.Example:8080/x.sh", "t2"),
            ("host", "bad.example", "t2"),
            ("url", "http://bad.example:8080/x.sh", "t3"),
            ("sha256", "ab", "t3"),
            ("c2", "cnc.example:23", "t4"),
        ];
        assert_eq!(
            got,
            want.map(|(k, v, s)| (k.to_string(), v.to_string(), s.to_string()))
        );
        assert!(publisher.new_in(&events).is_empty(), "each once");
    }
}
