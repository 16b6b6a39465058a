//! Which credentials the emulated device accepts.
//!
//! The default, [`AuthMode::Sticky`], makes every attacker see one consistent device:
//! a source's first attempt with a credential from the accepted set (Mirai's table
//! plus the profile's vendor defaults) succeeds, and from then on, for that source and
//! for the retention time, only that credential works. The state per source address is
//! bounded ([`AuthPolicy::max_sources`]); the oldest entries are dropped first.
//!
//! The policy is shared by all sessions (behind a mutex); it does no I/O and takes the
//! time as an argument, so it stays deterministic.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Mirai's 62-entry scanner table, `user<TAB>pass` per line.
pub const MIRAI_CREDENTIALS_TSV: &str = include_str!("../../../profiles/credentials/mirai.tsv");

/// A user name and password, as raw bytes.
pub type Credential = (Vec<u8>, Vec<u8>);

/// Parses `user<TAB>pass` lines (`#` comments and blank lines skipped).
pub fn parse_credential_table(text: &str) -> Vec<Credential> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.split('\t');
            let user = f.next()?;
            let pass = f.next().unwrap_or("");
            Some((user.as_bytes().to_vec(), pass.as_bytes().to_vec()))
        })
        .collect()
}

/// One allow/deny pattern; `None` matches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialPattern {
    /// User name, or any.
    pub user: Option<Vec<u8>>,
    /// Password, or any.
    pub pass: Option<Vec<u8>>,
}

impl CredentialPattern {
    /// Parses `user:pass`, where either side may be `*`.
    pub fn parse(s: &str) -> Option<Self> {
        let (user, pass) = s.split_once(':')?;
        let field = |f: &str| (f != "*").then(|| f.as_bytes().to_vec());
        Some(Self {
            user: field(user),
            pass: field(pass),
        })
    }

    fn matches(&self, user: &[u8], pass: &[u8]) -> bool {
        self.user.as_deref().is_none_or(|u| u == user)
            && self.pass.as_deref().is_none_or(|p| p == pass)
    }
}

/// How login attempts are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// First accepted credential per source wins and sticks (default).
    Sticky,
    /// Accept once a source has failed this many times (counted across reconnects).
    AcceptAfter(u32),
    /// Accept what an allow pattern matches and no deny pattern matches.
    Lists {
        /// Accept these...
        allow: Vec<CredentialPattern>,
        /// ...unless one of these matches.
        deny: Vec<CredentialPattern>,
    },
    /// Accept every attempt.
    AcceptAll,
}

#[derive(Debug, Clone)]
struct SourceState {
    sticky: Option<Credential>,
    failures: u32,
    last_seen: Instant,
}

/// The sensor-wide credential policy.
#[derive(Debug)]
pub struct AuthPolicy {
    mode: AuthMode,
    accepted: HashSet<Credential>,
    retention: Duration,
    max_sources: usize,
    sources: Mutex<HashMap<IpAddr, SourceState>>,
}

impl AuthPolicy {
    /// A policy accepting `accepted` in `mode`, remembering sources for `retention`,
    /// and at most `max_sources` of them.
    pub fn new(
        mode: AuthMode,
        accepted: impl IntoIterator<Item = Credential>,
        retention: Duration,
        max_sources: usize,
    ) -> Self {
        Self {
            mode,
            accepted: accepted.into_iter().collect(),
            retention,
            max_sources: max_sources.max(1),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// How many sources may be remembered at once.
    pub fn max_sources(&self) -> usize {
        self.max_sources
    }

    /// Forgets sources not seen within the retention; returns how many are left.
    pub fn expire(&self, now: Instant) -> usize {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let retention = self.retention;
        sources.retain(|_, s| now.saturating_duration_since(s.last_seen) < retention);
        if sources.is_empty() {
            *sources = Default::default();
        }
        sources.len()
    }

    /// The credential `src` got in with (sticky), while it is remembered.
    pub fn credential_of(&self, src: IpAddr, now: Instant) -> Option<Credential> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let state = sources.get(&src)?;
        (now.saturating_duration_since(state.last_seen) < self.retention)
            .then(|| state.sticky.clone())
            .flatten()
    }

    /// Judges one attempt and updates the source's state.
    pub fn check(&self, now: Instant, src: IpAddr, user: &[u8], pass: &[u8]) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let retention = self.retention;
        let live = |s: &SourceState| now.saturating_duration_since(s.last_seen) < retention;
        if !sources.contains_key(&src) && sources.len() >= self.max_sources {
            sources.retain(|_, s| live(s));
            if sources.len() >= self.max_sources {
                if let Some(oldest) = sources
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(ip, _)| *ip)
                {
                    sources.remove(&oldest);
                }
            }
        }
        let state = sources.entry(src).or_insert(SourceState {
            sticky: None,
            failures: 0,
            last_seen: now,
        });
        if !live(state) {
            *state = SourceState {
                sticky: None,
                failures: 0,
                last_seen: now,
            };
        }
        state.last_seen = now;
        let ok = match &self.mode {
            AuthMode::Sticky => match &state.sticky {
                Some((u, p)) => u == user && p == pass,
                None => {
                    let cred = (user.to_vec(), pass.to_vec());
                    let ok = self.accepted.contains(&cred);
                    if ok {
                        state.sticky = Some(cred);
                    }
                    ok
                }
            },
            AuthMode::AcceptAfter(n) => state.failures >= *n,
            AuthMode::Lists { allow, deny } => {
                allow.iter().any(|p| p.matches(user, pass))
                    && !deny.iter().any(|p| p.matches(user, pass))
            }
            AuthMode::AcceptAll => true,
        };
        if !ok {
            state.failures = state.failures.saturating_add(1);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mirai_table_has_62_entries_61_distinct() {
        let t = parse_credential_table(MIRAI_CREDENTIALS_TSV);
        assert_eq!(t.len(), 62);
        assert_eq!(t.iter().collect::<HashSet<_>>().len(), 61);
        assert_eq!(t[0], (b"root".to_vec(), b"xc3511".to_vec()));
        assert!(t.contains(&(b"root".to_vec(), Vec::new())));
    }

    #[test]
    fn sticky_first_accepted_credential_wins() {
        let p = AuthPolicy::new(
            AuthMode::Sticky,
            parse_credential_table(MIRAI_CREDENTIALS_TSV),
            Duration::from_secs(60),
            10,
        );
        let t0 = Instant::now();
        let a = ip("127.0.0.2");
        assert!(!p.check(t0, a, b"root", b"nope"));
        assert!(p.check(t0, a, b"root", b"vizxv"));
        assert!(
            !p.check(t0, a, b"root", b"xc3511"),
            "a second table credential is refused"
        );
        assert!(p.check(t0, a, b"root", b"vizxv"));
        assert!(p.check(t0, ip("127.0.0.3"), b"root", b"xc3511"));
        // After the retention time the source starts afresh.
        assert!(p.check(t0 + Duration::from_secs(61), a, b"root", b"xc3511"));
    }

    #[test]
    fn accept_after_counts_failures_across_calls() {
        let p = AuthPolicy::new(AuthMode::AcceptAfter(2), [], Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let a = ip("127.0.0.2");
        assert!(!p.check(t0, a, b"a", b"b"));
        assert!(!p.check(t0, a, b"a", b"b"));
        assert!(p.check(t0, a, b"x", b"y"));
        // Past the retention the sweep forgets the source: it starts afresh.
        assert_eq!(p.expire(t0 + Duration::from_secs(59)), 1);
        assert_eq!(p.expire(t0 + Duration::from_secs(60)), 0);
        assert!(!p.check(t0 + Duration::from_secs(61), a, b"x", b"y"));
    }

    #[test]
    fn lists_and_accept_all() {
        let allow = vec![CredentialPattern::parse("root:*").unwrap()];
        let deny = vec![CredentialPattern::parse("*:root").unwrap()];
        let p = AuthPolicy::new(
            AuthMode::Lists { allow, deny },
            [],
            Duration::from_secs(1),
            10,
        );
        let t0 = Instant::now();
        assert!(p.check(t0, ip("127.0.0.2"), b"root", b"x"));
        assert!(!p.check(t0, ip("127.0.0.2"), b"root", b"root"));
        assert!(!p.check(t0, ip("127.0.0.2"), b"admin", b"x"));
        let p = AuthPolicy::new(AuthMode::AcceptAll, [], Duration::from_secs(1), 10);
        assert!(p.check(t0, ip("127.0.0.2"), b"", b""));
    }

    #[test]
    fn source_table_is_bounded() {
        let p = AuthPolicy::new(AuthMode::AcceptAfter(1), [], Duration::from_secs(600), 2);
        let t0 = Instant::now();
        for i in 0..10u8 {
            p.check(
                t0 + Duration::from_secs(u64::from(i)),
                IpAddr::from([127, 0, 0, i]),
                b"a",
                b"b",
            );
        }
        assert_eq!(p.sources.lock().unwrap().len(), 2);
    }
}
