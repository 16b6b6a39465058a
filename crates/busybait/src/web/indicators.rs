//! `/indicators`: C2s, download URLs, source addresses and sample hashes of a span,
//! with first and last seen, and the exports one click away (`/export/{format}`,
//! the same code as `busybait export`); `/samples`: the files bots dropped, with
//! their triage and the sessions that dropped each.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use busybait_store::read::{IndicatorKind, IndicatorRow};
use maud::html;

use super::layout::{self, cell, count, link, Nav};
use super::{Console, WebError};
use crate::export::Format;

/// Indicators listed per kind on the page (the exports have them all).
const SHOWN_PER_KIND: usize = 200;

/// The export formats the page links to: path name, label.
const EXPORTS: &[(&str, &str)] = &[
    ("stix", "STIX 2.1"),
    ("misp", "MISP"),
    ("csv", "CSV"),
    ("ips", "Blocklist (addresses)"),
    ("urls", "URLs"),
    ("hashes", "SHA-256"),
];

/// `GET /indicators`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    Query(params): Query<layout::SpanParams>,
) -> Result<Response, WebError> {
    let (span, window) = layout::span_window(params.span.as_deref())?;
    let (rows, at) = console
        .indicators
        .get(span, || {
            console
                .summaries
                .run(move |store, _| Ok(store.indicators(&window)?))
        })
        .await?;
    let section = |kind: IndicatorKind, title: &str| {
        let of_kind: Vec<&IndicatorRow> = rows.iter().filter(|r| r.kind == kind).collect();
        html! {
            section id=(kind.as_str()) {
                h2 { (title) " " span.count { "(" (count(of_kind.len() as u64)) ")" } }
                @if of_kind.is_empty() { p.empty { "None in this span." } }
                @else {
                    table {
                        thead { tr { th { "Value" } th.n { "Seen" } th { "First seen" } th { "Last seen" } } }
                        tbody {
                            @for r in of_kind.iter().take(SHOWN_PER_KIND) {
                                tr {
                                    td { (value(r)) }
                                    td.n { (count(r.count)) }
                                    td { (layout::time(&r.first_seen)) }
                                    td { (layout::time(&r.last_seen)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { "Indicators" }
        (layout::span_picker("/indicators", span))
        (layout::counted_at(span, &at))
        p.exports {
            "Export this span: "
            @for (format, label) in EXPORTS {
                a href=(link(&format!("/export/{format}"), &[("span", span)])) download { (label) } " "
            }
        }
        (section(IndicatorKind::C2, "C2 servers"))
        (section(IndicatorKind::Url, "Download URLs"))
        (section(IndicatorKind::Sha256, "Sample hashes"))
        (section(IndicatorKind::Ip, "Source addresses"))
    };
    Ok(layout::page("Indicators", Nav::Indicators, body).into_response())
}

/// An indicator's value, linked to the sessions it came from where the list can
/// filter by it.
fn value(r: &IndicatorRow) -> maud::Markup {
    html! {
        @match r.kind {
            IndicatorKind::Ip => a href=(link("/sessions", &[("src", &r.value)])) { code { (cell(&r.value)) } },
            IndicatorKind::Sha256 => a href=(link("/sessions", &[("sha256", &r.value)])) { code { (cell(&r.value)) } },
            _ => code { (cell(&r.value)) },
        }
    }
}

/// `GET /export/{format}?span=`: the export as `busybait export` writes it, as a
/// download.
pub(crate) async fn export(
    State(console): State<Arc<Console>>,
    Path(format): Path<String>,
    Query(params): Query<layout::SpanParams>,
) -> Result<Response, WebError> {
    let Ok(format) = <Format as clap::ValueEnum>::from_str(&format, false) else {
        return Err(WebError::NotFound);
    };
    let (span, window) = layout::span_window(params.span.as_deref())?;
    let body = console
        .summaries
        .run(move |store, location| {
            let mut out = Vec::new();
            crate::export::write(
                store,
                &|| location.producer(),
                format,
                &window,
                false,
                &mut out,
            )?;
            Ok(out)
        })
        .await?;
    let (mime, extension) = match format {
        Format::Stix | Format::Misp => ("application/json", "json"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ips | Format::Urls | Format::Hashes => ("text/plain; charset=utf-8", "txt"),
    };
    let name = <Format as clap::ValueEnum>::to_possible_value(&format)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let disposition = format!("attachment; filename=\"busybait-{name}-{span}.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `GET /samples?span=`.
pub(crate) async fn samples(
    State(console): State<Arc<Console>>,
    Query(params): Query<layout::SpanParams>,
) -> Result<Response, WebError> {
    let (span, window) = layout::span_window(params.span.as_deref())?;
    let (report, at) = super::overview::report_of(&console, span, window.clone()).await?;
    let files = console
        .summaries
        .run(move |store, _| Ok(store.file_details(&window)?))
        .await?;
    let body = html! {
        h1 { "Samples" }
        (layout::span_picker("/samples", span))
        (layout::counted_at(span, &at))
        @if report.samples.is_empty() { p.empty { "No files were dropped in this span." } }
        @if !console.sample_downloads && !report.samples.is_empty() {
            p.note { "Downloading samples is off (" code { "[web] sample_downloads" } "); when on, each comes as a zip encrypted with AES-256." }
        }
        @for s in report.samples.iter().rev() {
            section.sample id=(s.sha256) {
                h2 { code { (s.sha256) } }
                dl.facts {
                    div { dt { "Kind" } dd { (s.kind.as_deref().unwrap_or("not triaged")) } }
                    div { dt { "Architecture" } dd { (s.arch.as_deref().unwrap_or("—")) } }
                    div { dt { "Bytes" } dd { (s.size.map(count).unwrap_or_else(|| "—".into())) } }
                    div { dt { "Mirai key" } dd { (s.mirai_key.map(|k| format!("0x{k:02x}")).unwrap_or_else(|| "—".into())) } }
                    div { dt { "C2 and report endpoints" } dd { @if s.c2.is_empty() { "—" } @else { @for c in &s.c2 { code { (cell(c)) } " " } } } }
                    div { dt { "Drops" } dd { (count(s.drops)) ", first " (layout::time(&s.first_seen)) } }
                    @if let Some(name) = files.get(&s.sha256).and_then(|f| f.name.as_deref()) {
                        div { dt { "Saved as" } dd { code { (cell(name)) } } }
                    }
                }
                p {
                    a href=(link("/sessions", &[("sha256", &s.sha256)])) { "Sessions that dropped it" }
                    @if console.sample_downloads {
                        " · " a href={"/samples/" (s.sha256) "/zip"} download { "Download (zip, AES-256, password " code { (super::sample_zip::PASSWORD) } ")" }
                    }
                }
            }
        }
    };
    Ok(layout::page("Samples", Nav::Samples, body).into_response())
}
