//! `/alerts`: what `busybait watch` found on the wire (the data dir's `alerts`
//! table), newest first; `/sensors`: the sensors whose events the store holds (one
//! for a data dir, every one for a fleet's store).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{self, cell, count, link, Nav};
use super::{Console, WebError};

/// Alerts one page shows.
const SHOWN: usize = 500;

/// `GET /alerts`.
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    Query(params): Query<layout::SpanParams>,
) -> Result<Response, WebError> {
    let (span, window) = layout::span_window(params.span.as_deref())?;
    let alerts = console
        .pages
        .run(move |store, _| Ok(store.alerts(&window, SHOWN)?))
        .await?;
    let port = |p: Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
    let body = html! {
        h1 { "Alerts" }
        (layout::span_picker("/alerts", span))
        @match &alerts {
            None => p.empty { "This store keeps no alerts: `busybait watch` stores them in a sensor's data dir." },
            Some(rows) if rows.is_empty() => p.empty { "No alerts in this span (`busybait watch` makes them)." },
            Some(rows) => {
                table.alerts {
                    thead { tr { th { "First" } th { "Last" } th { "Alert" } th { "Severity" } th { "From" } th { "To" } th.n { "Count" } th { "Capture" } } }
                    tbody {
                        @for a in rows {
                            tr {
                                td { (layout::time(&a.first)) }
                                td { (layout::time(&a.last)) }
                                td { code { (cell(&a.alert)) } }
                                td class=(format!("severity {}", a.severity)) { (cell(&a.severity)) }
                                td { a href=(link("/sessions", &[("src", &a.src_ip)])) { (cell(&a.src_ip)) } (port(a.src_port)) }
                                td { (cell(&a.dst_ip)) (port(a.dst_port)) " " (cell(&a.protocol)) }
                                td.n { (count(a.count)) }
                                td { code { (cell(&a.capture)) } }
                            }
                        }
                    }
                }
                @if rows.len() == SHOWN { p.note { "The newest " (SHOWN) " are shown." } }
            }
        }
    };
    Ok(layout::page("Alerts", Nav::Alerts, body).into_response())
}

/// `GET /sensors`.
pub(crate) async fn sensors(State(console): State<Arc<Console>>) -> Result<Response, WebError> {
    let sensors = console
        .pages
        .run(move |store, _| Ok(store.sensors()?))
        .await?;
    let body = html! {
        h1 { "Sensors" }
        @if sensors.is_empty() { p.empty { "No events recorded yet." } }
        @else {
            table {
                thead { tr { th { "Sensor" } th { "Name" } th { "First event kept" } th { "Last event" } th.n { "Events recorded" } th { "Its sessions" } } }
                tbody {
                    @for s in &sensors {
                        tr {
                            td { code { (cell(&s.sensor)) } }
                            td { (cell(&s.name)) }
                            td { (layout::time(&s.first_seen)) }
                            td { (layout::time(&s.last_seen)) }
                            td.n { (count(s.last_seq)) }
                            td { a href=(layout::link("/sessions", &[("sensor", &s.sensor)])) { "sessions" } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Sensors", Nav::Sensors, body).into_response())
}
