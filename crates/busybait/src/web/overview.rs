//! `/`: a span of the store at a glance, the numbers `busybait report` prints:
//! sessions and sources per day, logins, top credentials, families, exploits,
//! sources, commands, download hosts and the newest samples.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};

use super::chart::{self, Bar};
use super::layout::{self, cell, count, link, Nav};
use super::{Console, WebError};
use busybait_store::read::Report;

pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    Query(params): Query<layout::SpanParams>,
) -> Result<Response, WebError> {
    let (span, window) = layout::span_window(params.span.as_deref())?;
    let (report, at) = report_of(&console, span, window).await?;
    Ok(axum::response::IntoResponse::into_response(layout::page(
        "Overview",
        Nav::Overview,
        render(&report, span, &at),
    )))
}

/// The span's report, from the last count if it is fresh (the samples page
/// shares it).
pub(crate) async fn report_of(
    console: &Console,
    span: &'static str,
    window: busybait_store::read::Window,
) -> Result<(Arc<Report>, String), WebError> {
    console
        .reports
        .get(span, || async {
            let mut report = console
                .summaries
                .run(move |store, _| Ok(store.report(&window)?))
                .await?;
            crate::report::mark_known_tables(&mut report);
            Ok(report)
        })
        .await
}

fn render(r: &Report, span: &str, at: &str) -> Markup {
    let per_day = |value: fn(&busybait_store::report::Day) -> u64| -> Vec<Bar> {
        r.by_day
            .iter()
            .map(|d| Bar {
                label: d.day.clone(),
                value: value(d),
            })
            .collect()
    };
    let days = per_day(|d| d.sessions);
    let sources = per_day(|d| d.sources);
    html! {
        h1 { "Overview" }
        (layout::span_picker("/", span))
        (layout::counted_at(span, at))
        dl.figures {
            div { dt { "Sessions" } dd #sessions-count { (count(r.sessions)) } }
            div { dt { "Sources" } dd { (count(r.unique_sources)) } }
            div { dt { "Logins tried" } dd { (count(r.logins_tried)) } }
            div { dt { "Logins accepted" } dd { (count(r.logins_accepted)) } }
            div { dt { "Samples" } dd { (count(r.samples.len() as u64)) } }
        }
        section.charts {
            figure { (chart::bars("Sessions per day", &days)) figcaption { "Sessions per day" } }
            figure { (chart::bars("Sources per day", &sources)) figcaption { "Sources per day" } }
        }
        div.grid {
            section {
                h2 { "Top credentials" }
                table {
                    thead { tr { th { "User" } th { "Password" } th.n { "Tried" } th.n { "Accepted" } th { "Tables" } } }
                    tbody {
                        @for c in &r.top_credentials {
                            tr {
                                td { a href=(link("/sessions", &[("user", &c.username), ("password", &c.password)])) { code { (cell(&c.username)) } } }
                                td { code { (cell(&c.password)) } }
                                td.n { (count(c.tried)) }
                                td.n { (count(c.accepted)) }
                                td { (c.tables.join(", ")) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Families" }
                table {
                    thead { tr { th { "Family" } th.n { "Sessions" } th { "Last seen" } } }
                    tbody {
                        @for f in &r.families {
                            tr {
                                td { a href=(link("/sessions", &[("family", &f.family)])) { (cell(&f.family)) } }
                                td.n { (count(f.sessions)) }
                                td { (layout::time(&f.last_seen)) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Top sources" }
                table {
                    thead { tr { th { "Address" } th.n { "Sessions" } th.n { "Logged in" } th.n { "Commands" } th { "Last seen" } } }
                    tbody {
                        @for s in &r.top_sources {
                            tr {
                                td { a href=(link("/sessions", &[("src", &s.ip)])) { (cell(&s.ip)) } }
                                td.n { (count(s.sessions)) }
                                td.n { (count(s.logged_in)) }
                                td.n { (count(s.commands)) }
                                td { (layout::time(&s.last_seen)) }
                            }
                        }
                    }
                }
            }
            @if !r.countries.is_empty() {
                (linked("Countries", &r.countries, "country", |v| v))
            }
            @if !r.asns.is_empty() {
                (linked("Autonomous systems", &r.asns, "asn", |v| v.split(' ').next().unwrap_or("")))
            }
            @if r.top_exploits.is_empty() { (counted("Exploits", &r.top_exploits)) }
            @else { (linked("Exploits", &r.top_exploits, "exploit", |v| v.split(" (").next().unwrap_or(v))) }
            (counted("Top commands", &r.top_commands))
            (counted("Download hosts", &r.top_hosts))
            section {
                h2 { "Newest samples" }
                table {
                    thead { tr { th { "SHA-256" } th { "Kind" } th { "Arch" } th.n { "Bytes" } th { "First seen" } } }
                    tbody {
                        @for s in r.samples.iter().rev().take(10) {
                            tr {
                                td { a href={"/samples#" (s.sha256)} { code { (s.sha256.get(..16).unwrap_or(&s.sha256)) "…" } } }
                                td { (s.kind.as_deref().unwrap_or("-")) }
                                td { (s.arch.as_deref().unwrap_or("-")) }
                                td.n { (s.size.map(count).unwrap_or_default()) }
                                td { (layout::time(&s.first_seen)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A "top N" list whose values each link to their sessions (`/sessions?PARAM=`,
/// with the part of the value `key` picks).
fn linked(
    title: &str,
    rows: &[busybait_store::report::Counted],
    param: &str,
    key: fn(&str) -> &str,
) -> Markup {
    html! {
        section {
            h2 { (title) }
            table { tbody { @for c in rows {
                tr {
                    td { a href=(link("/sessions", &[(param, key(&c.value))])) { (cell(&c.value)) } }
                    td.n { (count(c.count)) }
                }
            } } }
        }
    }
}

/// A "top N" list of values and counts.
fn counted(title: &str, rows: &[busybait_store::report::Counted]) -> Markup {
    html! {
        section {
            h2 { (title) }
            @if rows.is_empty() { p.empty { "None in this span." } }
            @else {
                table {
                    tbody {
                        @for c in rows {
                            tr { td { code { (cell(&c.value)) } } td.n { (count(c.count)) } }
                        }
                    }
                }
            }
        }
    }
}
