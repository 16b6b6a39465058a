//! What one batch of new events changes in the derived tables, gathered per table
//! so that the writer sends each table one statement (`UNNEST` of column arrays)
//! instead of one per event.
//!
//! Everything here is a delta that gives the same result in any order of arrival:
//! rows keyed by (sensor, seq) are inserted once; a session's columns fill in from
//! whichever of its events come (`COALESCE`), its counters add up, and its family
//! label is the one with the highest `seq`; samples keep their first and last
//! sighting and add up their count; per-day counts add up.

use std::collections::{BTreeMap, BTreeSet};

use crate::pg::write::Incoming;

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The columns every per-event table starts with.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    pub sensor: Vec<String>,
    pub seq: Vec<i64>,
    pub session: Vec<String>,
    pub timestamp: Vec<String>,
}

impl Keys {
    fn push(&mut self, e: &Incoming) {
        self.sensor.push(e.sensor.clone());
        self.seq.push(i64_of(e.line.seq));
        self.session.push(e.line.session.clone());
        self.timestamp.push(e.line.timestamp.clone());
    }
}

/// `logins` rows.
#[derive(Debug, Default)]
pub(crate) struct Logins {
    pub keys: Keys,
    pub username: Vec<String>,
    pub password: Vec<String>,
    pub success: Vec<i32>,
}

/// `commands` rows.
#[derive(Debug, Default)]
pub(crate) struct Commands {
    pub keys: Keys,
    pub input: Vec<String>,
    pub failed: Vec<i32>,
}

/// `download_requests` rows.
#[derive(Debug, Default)]
pub(crate) struct Downloads {
    pub keys: Keys,
    pub tool: Vec<String>,
    pub url: Vec<String>,
}

/// `files` rows.
#[derive(Debug, Default)]
pub(crate) struct Files {
    pub keys: Keys,
    pub sha256: Vec<String>,
    pub destfile: Vec<String>,
    pub url: Vec<Option<String>>,
    pub duplicate: Vec<i32>,
}

/// `http_requests` rows.
#[derive(Debug, Default)]
pub(crate) struct HttpRequests {
    pub keys: Keys,
    pub method: Vec<String>,
    pub path: Vec<String>,
    pub status: Vec<i32>,
}

/// `exploits` rows.
#[derive(Debug, Default)]
pub(crate) struct Exploits {
    pub keys: Keys,
    pub exploit: Vec<String>,
    pub cve: Vec<Option<String>>,
    pub input: Vec<String>,
}

/// One session's changes in a batch.
#[derive(Debug, Default)]
pub(crate) struct SessionDelta {
    pub connect: Option<(String, String, i32, String, i32, String)>,
    /// Where the source was: country, ASN, organisation (from the connect).
    pub source: Option<(Option<String>, Option<i64>, Option<String>)>,
    pub closed: Option<(String, Option<i64>)>,
    pub end_reason: Option<String>,
    /// The accepted login with the highest seq.
    pub login: Option<(u64, String, String)>,
    pub login_failures: i64,
    pub commands: i64,
    pub fingerprint: Option<String>,
    /// The label with the highest seq.
    pub family: Option<FamilyLabel>,
    pub client_version: Option<String>,
    pub hassh: Option<String>,
}

/// A session's family label and the seq of its event.
#[derive(Debug)]
pub(crate) struct FamilyLabel {
    pub seq: u64,
    pub family: Option<String>,
    pub sub_label: Option<String>,
    pub confidence: Option<f64>,
}

/// One day's counts of one sensor in a batch.
#[derive(Debug, Default)]
pub(crate) struct DayDelta {
    pub sessions: i64,
    pub logins_tried: i64,
    pub logins_accepted: i64,
}

/// A triage row.
#[derive(Debug)]
pub(crate) struct Triage {
    pub kind: String,
    pub arch: Option<String>,
    pub size: i64,
    pub mirai_key: Option<i32>,
    pub json: String,
}

/// Everything a batch's new events change besides `events`.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub logins: Logins,
    pub commands: Commands,
    pub downloads: Downloads,
    pub files: Files,
    pub http_requests: HttpRequests,
    pub exploits: Exploits,
    pub sessions: BTreeMap<(String, String), SessionDelta>,
    /// (first seen, last seen, sightings) by SHA-256.
    pub samples: BTreeMap<String, (String, String, i64)>,
    pub triage: BTreeMap<String, Triage>,
    pub days: BTreeMap<(String, String), DayDelta>,
    pub sources: BTreeSet<(String, String, String)>,
    /// (name, first event, last event, highest seq) by sensor.
    pub sensors: BTreeMap<String, (String, String, String, u64)>,
}

/// The day of a timestamp checked by [`crate::line::month_of`].
fn day_of(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_string()
}

impl Rows {
    /// Adds one new event.
    pub(crate) fn add(&mut self, e: &Incoming) {
        let l = &e.line;
        let ts = &l.timestamp;
        let seq = l.seq;
        self.sensors
            .entry(e.sensor.clone())
            .and_modify(|(_, first, last, high)| {
                if ts < first {
                    first.clone_from(ts);
                }
                if ts > last {
                    last.clone_from(ts);
                }
                *high = (*high).max(seq);
            })
            .or_insert_with(|| (l.sensor.clone(), ts.clone(), ts.clone(), seq));
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let session = || (e.sensor.clone(), l.session.clone());
        let day = || (e.sensor.clone(), day_of(ts));
        match l.eventid.as_str() {
            "cowrie.session.connect" => {
                let s = self.sessions.entry(session()).or_default();
                s.connect = Some((
                    l.protocol.clone(),
                    l.src_ip.clone(),
                    i32::from(l.src_port),
                    l.dst_ip.clone(),
                    i32::from(l.dst_port),
                    ts.clone(),
                ));
                s.source = Some((
                    l.src_country.clone(),
                    l.src_asn.map(i64::from),
                    l.src_as_org.clone(),
                ));
                self.days.entry(day()).or_default().sessions += 1;
                self.sources
                    .insert((e.sensor.clone(), day_of(ts), l.src_ip.clone()));
            }
            id @ ("cowrie.login.success" | "cowrie.login.failed") => {
                let success = id == "cowrie.login.success";
                self.logins.keys.push(e);
                self.logins.username.push(text(&l.username));
                self.logins.password.push(text(&l.password));
                self.logins.success.push(i32::from(success));
                let d = self.days.entry(day()).or_default();
                d.logins_tried += 1;
                d.logins_accepted += i64::from(success);
                let s = self.sessions.entry(session()).or_default();
                if !success {
                    s.login_failures += 1;
                } else if s.login.as_ref().is_none_or(|(at, _, _)| *at < seq) {
                    s.login = Some((seq, text(&l.username), text(&l.password)));
                }
            }
            id @ ("cowrie.command.input" | "cowrie.command.failed") => {
                let failed = id == "cowrie.command.failed";
                self.commands.keys.push(e);
                self.commands.input.push(text(&l.input));
                self.commands.failed.push(i32::from(failed));
                if !failed {
                    self.sessions.entry(session()).or_default().commands += 1;
                }
            }
            "busybait.sample.triage" => {
                self.triage.insert(
                    text(&l.shasum),
                    Triage {
                        kind: text(&l.kind),
                        arch: l.arch.clone(),
                        size: i64_of(l.size.unwrap_or(0)),
                        mirai_key: l.mirai_key.map(|k| i32::try_from(k).unwrap_or(i32::MAX)),
                        json: e.json.clone(),
                    },
                );
            }
            "busybait.session.family" => {
                let s = self.sessions.entry(session()).or_default();
                if s.family.as_ref().is_none_or(|f| f.seq < seq) {
                    s.family = Some(FamilyLabel {
                        seq,
                        family: l.family.clone(),
                        sub_label: l.sub_label.clone(),
                        confidence: l.confidence,
                    });
                }
            }
            "busybait.http.request" => {
                self.http_requests.keys.push(e);
                self.http_requests.method.push(text(&l.method));
                self.http_requests.path.push(text(&l.path));
                self.http_requests
                    .status
                    .push(i32::from(l.status.unwrap_or(0)));
            }
            "busybait.exploit" => {
                self.exploits.keys.push(e);
                self.exploits.exploit.push(text(&l.exploit));
                self.exploits.cve.push(l.cve.clone());
                self.exploits.input.push(text(&l.input));
            }
            "busybait.download.request" => {
                self.downloads.keys.push(e);
                self.downloads.tool.push(text(&l.tool));
                self.downloads.url.push(text(&l.url));
            }
            id @ ("cowrie.session.file_download" | "cowrie.session.file_upload") => {
                let sha = text(&l.shasum);
                self.files.keys.push(e);
                self.files.sha256.push(sha.clone());
                self.files.destfile.push(text(&l.destfile));
                // Only a download has a URL; an upload is the client's.
                self.files
                    .url
                    .push(if id == "cowrie.session.file_download" {
                        l.url.clone()
                    } else {
                        None
                    });
                self.files
                    .duplicate
                    .push(i32::from(l.duplicate.unwrap_or(false)));
                self.samples
                    .entry(sha)
                    .and_modify(|(first, last, n)| {
                        if ts < first {
                            first.clone_from(ts);
                        }
                        if ts > last {
                            last.clone_from(ts);
                        }
                        *n += 1;
                    })
                    .or_insert_with(|| (ts.clone(), ts.clone(), 1));
            }
            "cowrie.client.version" => {
                self.sessions.entry(session()).or_default().client_version = l.version.clone();
            }
            "cowrie.client.kex" => {
                self.sessions.entry(session()).or_default().hassh = l.hassh.clone();
            }
            "busybait.client.fingerprint" => {
                self.sessions.entry(session()).or_default().fingerprint = l.fingerprint.clone();
            }
            "busybait.session.end" => {
                self.sessions.entry(session()).or_default().end_reason = l.reason.clone();
            }
            "cowrie.session.closed" => {
                self.sessions.entry(session()).or_default().closed =
                    Some((ts.clone(), l.duration_ms.map(i64_of)));
            }
            _ => {}
        }
    }
}
