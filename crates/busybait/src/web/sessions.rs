//! `/sessions`: the sessions a filter lets through, newest first, a page at a time;
//! `/sessions/{id}`: one session, its logins, commands, downloads and every event,
//! and the same source's other sessions.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use busybait_events::SessionId;
use busybait_store::read::{SessionFilter, SessionRow};
use maud::{html, Markup};

use super::layout::{self, cell, link, shown, Nav};
use super::{Console, WebError};

/// Sessions a page shows unless `?limit=` says otherwise.
const PAGE: usize = 50;
/// Most sessions one page may show.
const MAX_PAGE: usize = 200;
/// The same source's other sessions shown on a session's page.
const SAME_SOURCE: usize = 20;
/// Longest filter value accepted (longer ones match nothing a sensor stores in a
/// list's columns anyway, and would only make long URLs).
const MAX_FILTER_CHARS: usize = 512;

/// The list's filters, as the URL carries them.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Params {
    since: Option<String>,
    until: Option<String>,
    src: Option<String>,
    protocol: Option<String>,
    family: Option<String>,
    user: Option<String>,
    password: Option<String>,
    hassh: Option<String>,
    country: Option<String>,
    /// `AS64496` or `64496`.
    asn: Option<String>,
    sha256: Option<String>,
    exploit: Option<String>,
    /// A sensor's id (a fleet's store).
    sensor: Option<String>,
    download: Option<String>,
    /// `TIME SESSION` of the last row of the page before.
    before: Option<String>,
    limit: Option<usize>,
}

impl Params {
    /// The store's filter; empty values mean "any".
    pub(crate) fn filter(&self) -> Result<SessionFilter, WebError> {
        let text = |v: &Option<String>| -> Result<Option<String>, WebError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) if v.chars().count() > MAX_FILTER_CHARS => Err(WebError::BadRequest(
                    format!("a filter value is longer than {MAX_FILTER_CHARS} characters"),
                )),
                Some(v) => Ok(Some(v.to_string())),
            }
        };
        let now = std::time::SystemTime::now();
        let edge = |v: &Option<String>| -> Result<Option<String>, WebError> {
            text(v)?
                .map(|t| crate::spans::window_edge(&t, now))
                .transpose()
                .map_err(|e| WebError::BadRequest(e.to_string()))
        };
        let before = match text(&self.before)? {
            None => None,
            Some(b) => Some(
                b.split_once(' ')
                    .map(|(t, s)| (t.to_string(), s.to_string()))
                    .ok_or_else(|| WebError::BadRequest("before must be `TIME SESSION`".into()))?,
            ),
        };
        Ok(SessionFilter {
            since: edge(&self.since)?,
            until: edge(&self.until)?,
            session: None,
            src_ip: text(&self.src)?,
            protocol: text(&self.protocol)?,
            family: text(&self.family)?,
            username: text(&self.user)?,
            password: text(&self.password)?,
            hassh: text(&self.hassh)?,
            country: text(&self.country)?.map(|c| c.to_ascii_uppercase()),
            asn: match text(&self.asn)? {
                None => None,
                Some(a) => Some(
                    a.trim_start_matches(['A', 'S', 'a', 's'])
                        .parse()
                        .map_err(|_| {
                            WebError::BadRequest("asn must be a number (AS64496)".into())
                        })?,
                ),
            },
            with_download: matches!(self.download.as_deref(), Some("1" | "on" | "yes")),
            sha256: text(&self.sha256)?,
            exploit: text(&self.exploit)?,
            sensor: text(&self.sensor)?,
            before,
            after: None,
        })
    }

    /// The query parameters of this filter, without paging.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        vec![
            ("since", v(&self.since)),
            ("until", v(&self.until)),
            ("src", v(&self.src)),
            ("protocol", v(&self.protocol)),
            ("family", v(&self.family)),
            ("user", v(&self.user)),
            ("password", v(&self.password)),
            ("hassh", v(&self.hassh)),
            ("country", v(&self.country)),
            ("asn", v(&self.asn)),
            ("sha256", v(&self.sha256)),
            ("exploit", v(&self.exploit)),
            ("sensor", v(&self.sensor)),
            ("download", v(&self.download)),
        ]
    }
}

/// `GET /sessions`.
pub(crate) async fn list(
    State(console): State<Arc<Console>>,
    Query(params): Query<Params>,
) -> Result<Response, WebError> {
    let filter = params.filter()?;
    let limit = params.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let rows = console
        .pages
        .run(move |store, _| Ok(store.sessions(&filter, limit + 1)?))
        .await?;
    let more = rows.len() > limit;
    let rows = rows.get(..limit).unwrap_or(&rows);
    let next = more.then(|| {
        rows.last().map(|last| {
            let mut pairs = params.pairs();
            pairs.push(("before", format!("{} {}", last.start_time, last.session)));
            if limit != PAGE {
                pairs.push(("limit", limit.to_string()));
            }
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            link("/sessions", &pairs)
        })
    });
    // The first page follows new sessions (server-sent events, console.js).
    let live = params.before.is_none().then(|| {
        let pairs = params.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        link("/live/sessions", &pairs)
    });
    let body = html! {
        h1 { "Sessions" }
        (filter_form(&params))
        (table(rows, live.as_deref()))
        @if let Some(Some(next)) = next {
            p.paging { a rel="next" href=(next) { "Older sessions →" } }
        }
    };
    Ok(layout::page("Sessions", Nav::Sessions, body).into_response())
}

fn filter_form(p: &Params) -> Markup {
    let field = |name: &str, label: &str, value: &Option<String>, hint: &str| {
        html! {
            label {
                (label)
                input type="text" name=(name) value=(value.as_deref().unwrap_or("")) placeholder=(hint);
            }
        }
    };
    html! {
        form.filters method="get" action="/sessions" {
            (field("since", "Since", &p.since, "24h or 2026-12-01T00:00:00Z"))
            (field("until", "Until", &p.until, ""))
            (field("src", "Source", &p.src, "address"))
            (field("protocol", "Door", &p.protocol, "telnet, ssh, http"))
            (field("family", "Family", &p.family, ""))
            (field("user", "User", &p.user, ""))
            (field("password", "Password", &p.password, ""))
            (field("hassh", "HASSH", &p.hassh, ""))
            (field("country", "Country", &p.country, "NL"))
            (field("asn", "AS", &p.asn, "AS64496"))
            (field("sha256", "Dropped file", &p.sha256, "SHA-256"))
            (field("exploit", "Exploit", &p.exploit, "jaws-shell"))
            (field("sensor", "Sensor", &p.sensor, "sensor id"))
            label.check {
                @if matches!(p.download.as_deref(), Some("1" | "on" | "yes")) {
                    input type="checkbox" name="download" value="1" checked;
                } @else {
                    input type="checkbox" name="download" value="1";
                }
                "Dropped a file"
            }
            button type="submit" { "Filter" }
            a href="/sessions" { "Clear" }
        }
    }
}

/// Sessions as a table, one row each; with `live`, the URL of the stream that
/// adds new ones at the top.
fn table(rows: &[SessionRow], live: Option<&str>) -> Markup {
    html! {
        @if rows.is_empty() { p.empty { "No sessions match." } }
        @if !rows.is_empty() || live.is_some() {
            table.sessions data-live=[live] {
                thead {
                    tr {
                        th { "Started" } th { "Source" } th { "Door" } th { "Login" }
                        th.n { "Commands" } th { "Family" } th { "Duration" } th { "Session" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            td { (layout::time(&r.start_time)) }
                            td { a href=(link("/sessions", &[("src", &r.src_ip)])) { (cell(&r.src_ip)) } (origin(r)) }
                            td { (cell(&r.protocol)) }
                            td { (login(r)) }
                            td.n { (r.commands) }
                            td { (family(r)) }
                            td { (layout::duration(r.duration_ms)) }
                            td { a href={"/sessions/" (r.session)} { code { (r.session) } } }
                        }
                    }
                }
            }
        }
    }
}

/// Where the source was, when the sensor had GeoIP databases: ` NL AS64496`.
pub(crate) fn origin_text(r: &SessionRow) -> String {
    let mut out = String::new();
    if let Some(c) = &r.country {
        out.push(' ');
        out.push_str(&cell(c));
    }
    if let Some(a) = r.asn {
        out.push_str(&format!(" AS{a}"));
    }
    out
}

fn origin(r: &SessionRow) -> Markup {
    let text = origin_text(r);
    html! { @if !text.is_empty() { span.origin { (text) } } }
}

/// The accepted login as `user / password`, if there was one (the list's live
/// rows show the same).
pub(crate) fn login_text(r: &SessionRow) -> Option<String> {
    match (&r.username, &r.password) {
        (Some(u), Some(p)) => Some(format!("{} / {}", cell(u), cell(p))),
        _ => None,
    }
}

fn login(r: &SessionRow) -> Markup {
    html! {
        @match login_text(r) {
            Some(login) => code { (login) },
            None => span.none { "—" },
        }
    }
}

fn family(r: &SessionRow) -> Markup {
    html! {
        @match (&r.family, &r.family_label) {
            (Some(f), Some(l)) => { (cell(f)) " " span.label { (cell(l)) } },
            (Some(f), None) => (cell(f)),
            _ => span.none { "—" },
        }
    }
}

/// A session's row, events and the same source's other sessions.
struct One {
    row: SessionRow,
    /// The recording's URL, when the store has one.
    cast: Option<String>,
    events: Vec<serde_json::Value>,
    same_source: Vec<SessionRow>,
}

/// `GET /sessions/{id}`.
pub(crate) async fn one(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if SessionId::parse(&id).is_none() {
        return Err(WebError::NotFound);
    }
    let found = console
        .pages
        .run(move |store, location| {
            let only = SessionFilter {
                session: Some(id.clone()),
                ..SessionFilter::default()
            };
            let Some(row) = store.sessions(&only, 1)?.into_iter().next() else {
                return Ok(None);
            };
            let events = store
                .session_events(&id)?
                .unwrap_or_default()
                .iter()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            let others = SessionFilter {
                src_ip: Some(row.src_ip.clone()),
                ..SessionFilter::default()
            };
            let same_source = store
                .sessions(&others, SAME_SOURCE + 1)?
                .into_iter()
                .filter(|r| r.session != id)
                .take(SAME_SOURCE)
                .collect();
            let cast = super::replay::exists(store, location, &id)?
                .then(|| format!("/sessions/{id}/cast"));
            Ok(Some(One {
                row,
                cast,
                events,
                same_source,
            }))
        })
        .await?;
    let Some(one) = found else {
        return Err(WebError::NotFound);
    };
    let title = format!("Session {}", one.row.session);
    Ok(layout::page_with_player(&title, Nav::Sessions, render(&one)).into_response())
}

/// Fields every event has, left out of the timeline's details.
const COMMON_FIELDS: &[&str] = &[
    "eventid",
    "timestamp",
    "session",
    "sensor",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "uuid",
    "message",
];

fn render(one: &One) -> Markup {
    let r = &one.row;
    let field = |e: &serde_json::Value, key: &str| match e.get(key) {
        Some(serde_json::Value::String(s)) => shown(s),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => shown(&other.to_string()),
    };
    let of = |id: &'static str| {
        one.events
            .iter()
            .filter(move |e| e.get("eventid").and_then(|v| v.as_str()) == Some(id))
    };
    html! {
        h1 { "Session " code { (r.session) } }
        dl.facts {
            div { dt { "Started" } dd { (layout::time(&r.start_time)) " UTC" } }
            div { dt { "Source" } dd { a href=(link("/sessions", &[("src", &r.src_ip)])) { (cell(&r.src_ip)) } ":" (r.src_port) } }
            div { dt { "Door" } dd { (cell(&r.protocol)) " → " (cell(&r.dst_ip)) ":" (r.dst_port) } }
            @if let Some(c) = &r.country {
                div { dt { "Country" } dd { a href=(link("/sessions", &[("country", c)])) { (cell(c)) } } }
            }
            @if let Some(a) = r.asn {
                div { dt { "AS" } dd {
                    a href=(link("/sessions", &[("asn", &a.to_string())])) { "AS" (a) }
                    @if let Some(o) = &r.as_org { " " (cell(o)) }
                } }
            }
            div { dt { "Login" } dd { (login(r)) " (" (r.login_failures) " failed)" } }
            div { dt { "Family" } dd { (family(r)) } }
            div { dt { "Duration" } dd { (layout::duration(r.duration_ms)) } }
            div { dt { "Ended by" } dd { (r.end_reason.as_deref().map(shown).unwrap_or_else(|| "—".into())) } }
            @if let Some(v) = &r.client_version { div { dt { "Client" } dd { code { (shown(v)) } } } }
            @if let Some(h) = &r.hassh { div { dt { "HASSH" } dd { a href=(link("/sessions", &[("hassh", h)])) { code { (shown(h)) } } } } }
            @if let Some(f) = &r.fingerprint { div { dt { "Telnet fingerprint" } dd { code { (shown(f)) } } } }
        }
        section {
            h2 { "Replay" }
            @if let Some(cast) = &one.cast {
                div #replay data-cast=(cast) {}
                p.note { "The device's output as the bot saw it; what would act beyond a terminal's screen (titles, clipboard, links) is taken out." }
            } @else {
                p.empty { "No recording (recordings are off, pruned, or not kept by this store)." }
            }
        }
        section {
            h2 { "Logins" }
            ol.logins {
                @for e in of("cowrie.login.success").chain(of("cowrie.login.failed")) {
                    li {
                        (layout::time(&field(e, "timestamp"))) " "
                        code { (field(e, "username")) " / " (field(e, "password")) } " "
                        @if field(e, "eventid") == "cowrie.login.success" { span.ok { "accepted" } }
                        @else { span.no { "refused" } }
                    }
                }
            }
        }
        section {
            h2 { "Commands" }
            ol.commands {
                @for e in of("cowrie.command.input") {
                    li { span.time { (layout::time(&field(e, "timestamp"))) } " " code { (field(e, "input")) } }
                }
            }
        }
        section {
            h2 { "Downloads" }
            table {
                thead { tr { th { "URL" } th { "Saved as" } th { "SHA-256" } } }
                tbody {
                    @for e in of("cowrie.session.file_download").chain(of("cowrie.session.file_upload")) {
                        tr {
                            td { code { (field(e, "url")) } }
                            td { code { (field(e, "outfile")) } }
                            td { a href={"/samples#" (field(e, "shasum"))} { code { (field(e, "shasum")) } } }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Events" }
            table.events {
                thead { tr { th { "Time" } th { "Event" } th { "Details" } } }
                tbody {
                    @for e in &one.events {
                        tr {
                            td { (layout::time(&field(e, "timestamp"))) }
                            td { code { (field(e, "eventid")) } }
                            td {
                                @if let Some(fields) = e.as_object() {
                                    @for (k, v) in fields.iter().filter(|(k, _)| !COMMON_FIELDS.contains(&k.as_str())) {
                                        span.kv { b { (shown(k)) } "=" code { (match v { serde_json::Value::String(s) => shown(s), other => shown(&other.to_string()) }) } } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Other sessions from " (cell(&r.src_ip)) }
            (table(&one.same_source, None))
        }
    }
}
