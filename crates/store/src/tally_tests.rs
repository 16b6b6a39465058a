//! The tallies against the rows: every window's report, counted with the tallies
//! for its whole hours, is the report counted from the rows alone.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use busybait_events::{Event, EventKind, Peer, Protocol, SessionId, SourceInfo};

use crate::report::{report, report_from_rows};
use crate::sqlite::SqliteSink;
use crate::{Record, Sink};

/// A small deterministic generator (the test must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(from.len() as u64)).unwrap();
        from[i]
    }
}

/// Three days of sessions with a bit of everything the report counts.
fn sessions() -> Vec<Event> {
    let mut rng = Lcg(7);
    let base = 1_795_000_000u64;
    let mut out = Vec::new();
    for s in 0..400u64 {
        let start = base + rng.below(3 * 86_400);
        let src = format!("127.0.{}.{}:4000", rng.below(2), rng.below(6) + 1);
        let peer = Peer {
            src: src.parse().unwrap(),
            dst: "127.0.0.1:23".parse().unwrap(),
            protocol: if s % 3 == 0 {
                Protocol::Ssh
            } else {
                Protocol::Telnet
            },
        };
        let at = |offset: u64, kind: EventKind| Event {
            time: UNIX_EPOCH + Duration::from_secs(start + offset),
            session: SessionId::from_u64(s + 1),
            peer,
            kind,
        };
        let source = match rng.below(3) {
            0 => SourceInfo::default(),
            1 => SourceInfo {
                country: Some(rng.pick(&["NL", "DE", "US"]).into()),
                asn: Some(64496),
                as_org: Some("Example AS".into()),
            },
            _ => SourceInfo {
                country: Some("NL".into()),
                asn: Some(64511),
                as_org: None,
            },
        };
        out.push(at(0, EventKind::Connect { source }));
        let user = rng.pick(&["root", "admin", "<b>x</b>"]);
        let password = rng.pick(&["xc3511", "vizxv", "admin", ""]);
        out.push(at(
            1,
            EventKind::LoginFailed {
                username: user.into(),
                password: "wrong".into(),
            },
        ));
        if rng.below(4) > 0 {
            out.push(at(
                2,
                EventKind::LoginSuccess {
                    username: user.into(),
                    password: password.into(),
                },
            ));
            // A second success (su) logs the session in once.
            if rng.below(5) == 0 {
                out.push(at(
                    3,
                    EventKind::LoginSuccess {
                        username: "root".into(),
                        password: "root".into(),
                    },
                ));
            }
            for c in 0..rng.below(4) {
                let input = rng.pick(&["enable", "system", "sh", "/bin/busybox MIRAI"]);
                out.push(at(
                    4 + c,
                    EventKind::CommandInput {
                        input: input.into(),
                    },
                ));
            }
            if rng.below(3) == 0 {
                out.push(at(9, EventKind::CommandFailed { input: "if".into() }));
            }
        }
        match rng.below(4) {
            0 => out.push(at(
                5,
                EventKind::ClientFingerprint {
                    fingerprint: rng.pick(&["t1", "t2"]).into(),
                },
            )),
            1 => {
                out.push(at(
                    5,
                    EventKind::ClientVersion {
                        version: rng.pick(&["SSH-2.0-Go", "SSH-2.0-libssh"]).into(),
                    },
                ));
                out.push(at(
                    5,
                    EventKind::ClientKex {
                        hassh: rng.pick(&["aa", "bb"]).into(),
                        hassh_algorithms: String::new(),
                        lists: Default::default(),
                    },
                ));
            }
            _ => {}
        }
        if rng.below(3) == 0 {
            let url = rng.pick(&[
                "http://127.0.0.1/bins/x86",
                "http://127.0.0.1:8080/z.sh",
                "tftp://Host.Example/t",
            ]);
            out.push(at(
                6,
                EventKind::DownloadRequest {
                    tool: "wget".into(),
                    url: url.into(),
                },
            ));
            if rng.below(2) == 0 {
                let sha = rng.pick(&[&"a".repeat(64), &"b".repeat(64)]).to_string();
                out.push(at(
                    7,
                    EventKind::FileDownload {
                        url: Some(url.into()),
                        outfile: format!("samples/{sha}"),
                        shasum: sha,
                        destfile: "/tmp/x".into(),
                        duplicate: false,
                    },
                ));
            }
        }
        if rng.below(4) == 0 {
            out.push(at(
                6,
                EventKind::HttpRequest {
                    method: "GET".into(),
                    path: rng.pick(&["/", "/shell"]).into(),
                    query: String::new(),
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                    body_len: 0,
                    body: String::new(),
                    body_sha256: String::new(),
                    status: 200,
                },
            ));
            out.push(at(
                7,
                EventKind::Exploit {
                    name: rng.pick(&["jaws-shell", "gpon"]).into(),
                    cve: rng.pick(&["", "CVE-2018-10561"]).to_string().into(),
                    command: "x".into(),
                    urls: Vec::new(),
                },
            ));
        }
        // A family label (the enricher gives each session one, at its end).
        for _ in 0..rng.below(2) {
            out.push(at(
                8,
                EventKind::SessionFamily {
                    family: rng.pick(&["mirai", "gafgyt", "unknown"]).into(),
                    sub_label: None,
                    confidence_pct: 90,
                    evidence: Vec::new(),
                },
            ));
        }
    }
    // An empty CVE is none.
    for e in &mut out {
        if let EventKind::Exploit { cve, .. } = &mut e.kind {
            if cve.as_deref() == Some("") {
                *cve = None;
            }
        }
    }
    out
}

#[test]
fn every_window_counted_with_the_tallies_is_the_rows_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::sqlite::DB_FILE);
    let mut sink = SqliteSink::open(&path).unwrap();
    let records: Vec<Arc<Record>> = sessions()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            Arc::new(Record {
                seq: u64::try_from(i).unwrap() + 1,
                event,
                json: "{}".into(),
            })
        })
        .collect();
    for batch in records.chunks(97) {
        sink.write_batch(batch).unwrap();
        // A batch written again (a restart's replay) counts once.
        sink.write_batch(batch).unwrap();
    }
    drop(sink);
    let conn = crate::sqlite::open_read_only(&path).unwrap();
    let edges = [
        None,
        Some("2026-11-18T07:00:00.000000Z"),
        Some("2026-11-18T07:33:20.000000Z"),
        Some("2026-11-19T00:00:00.000000Z"),
        Some("2026-11-19T13:59:59.999999Z"),
        Some("2026-11-19T14:00:00.000000Z"),
        Some("2026-11-19T14:20:00.000000Z"),
        Some("2026-11-20T23:00:00.000000Z"),
    ];
    let mut windows = 0;
    for since in edges {
        for until in edges {
            if let (Some(a), Some(b)) = (since, until) {
                if a >= b {
                    continue;
                }
            }
            let tallied = report(&conn, since, until).unwrap();
            let rows = report_from_rows(&conn, since, until).unwrap();
            assert_eq!(tallied, rows, "{since:?}..{until:?}");
            windows += 1;
        }
    }
    assert_eq!(windows, 36);
    let all = report(&conn, None, None).unwrap();
    assert_eq!(all.sessions, 400);
    assert!(
        all.families.len() == 3
            && all.top_hosts.len() == 2
            && all.asns.len() == 2
            && all.samples.len() == 2,
        "{all:#?}"
    );
    assert!(all
        .top_exploits
        .iter()
        .any(|e| e.value == "gpon (CVE-2018-10561)"));
    drop(conn);

    // A session labelled again: its count moves to the new label (the old label's
    // first and last sighting stay as they were: a tally cannot take one back).
    let mut sink = SqliteSink::open(&path).unwrap();
    let label = |seq: u64, family: &str| {
        let mut event = records[0].event.clone();
        event.kind = EventKind::SessionFamily {
            family: family.into(),
            sub_label: None,
            confidence_pct: 90,
            evidence: Vec::new(),
        };
        Arc::new(Record {
            seq,
            event,
            json: "{}".into(),
        })
    };
    let next = u64::try_from(records.len()).unwrap() + 1;
    sink.write_batch(&[label(next, "mirai"), label(next + 1, "gafgyt")])
        .unwrap();
    drop(sink);
    let conn = crate::sqlite::open_read_only(&path).unwrap();
    let counts = |r: crate::report::Report| -> Vec<(String, u64)> {
        r.families
            .into_iter()
            .map(|f| (f.family, f.sessions))
            .collect()
    };
    let tallied = counts(report(&conn, None, None).unwrap());
    assert_eq!(
        tallied,
        counts(report_from_rows(&conn, None, None).unwrap())
    );
    assert_ne!(tallied, counts(all));
}
