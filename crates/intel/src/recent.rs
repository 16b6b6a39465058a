//! What each source address sent through the web door lately, across its sessions:
//! a botnet spreads by a *set* of exploits (Satori's HG532 and Realtek pair, Mozi's
//! list), one per connection, so a family shows only in what one source sent over
//! several. Shared by every session of a sensor, bounded in sources and in entries
//! per source; older than the window is forgotten.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Sources remembered; past it the one least recently heard from goes.
pub const MAX_SOURCES: usize = 4096;
/// Distinct exploits remembered per source.
pub const MAX_PER_SOURCE: usize = 32;
/// How long a source's exploits count together.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Exploit-table entries per source, with when each was last sent.
#[derive(Debug, Default)]
pub struct SourceExploits {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_source: HashMap<IpAddr, Vec<(String, SystemTime)>>,
    /// Sources, least recently heard from first.
    order: VecDeque<IpAddr>,
}

impl SourceExploits {
    /// `src` sent exploit `name` at `at`.
    pub fn record(&self, src: IpAddr, name: &str, at: SystemTime) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner { by_source, order } = &mut *inner;
        if let Some(i) = order.iter().position(|s| *s == src) {
            order.remove(i);
        }
        order.push_back(src);
        let seen = by_source.entry(src).or_default();
        if let Some(entry) = seen.iter_mut().find(|(n, _)| n == name) {
            entry.1 = at;
        } else if seen.len() < MAX_PER_SOURCE {
            seen.push((name.to_string(), at));
        }
        while order.len() > MAX_SOURCES {
            if let Some(oldest) = order.pop_front() {
                by_source.remove(&oldest);
            }
        }
    }

    /// The exploits `src` sent within [`WINDOW`] before `now`, in the order first
    /// sent.
    pub fn recent(&self, src: IpAddr, now: SystemTime) -> Vec<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .by_source
            .get(&src)
            .map(|seen| {
                seen.iter()
                    .filter(|(_, at)| now.duration_since(*at).map_or(true, |age| age <= WINDOW))
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_s_exploits_add_up_within_the_window_and_sources_are_bounded() {
        let m = SourceExploits::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a: IpAddr = "127.0.0.5".parse().unwrap();
        m.record(a, "huawei-hg532-upgrade", t0);
        m.record(
            a,
            "realtek-miniigd-portmapping",
            t0 + Duration::from_secs(60),
        );
        m.record(a, "huawei-hg532-upgrade", t0 + Duration::from_secs(120));
        assert_eq!(
            m.recent(a, t0 + Duration::from_secs(180)),
            ["huawei-hg532-upgrade", "realtek-miniigd-portmapping"]
        );
        // A day after the Realtek request only the later HG532 one still counts.
        assert_eq!(
            m.recent(a, t0 + WINDOW + Duration::from_secs(90)),
            ["huawei-hg532-upgrade"]
        );
        for i in 0..MAX_SOURCES {
            m.record(
                IpAddr::from([127, 1, (i >> 8) as u8, i as u8]),
                "jaws-shell",
                t0,
            );
        }
        assert!(m.recent(a, t0).is_empty(), "the least recent source went");
    }
}
