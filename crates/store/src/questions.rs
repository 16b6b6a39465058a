//! Every question the read side asks a store, asked once: the query-plan tests of
//! both stores (`query_plans.rs` here for SQLite, `tests/fleet.rs` for PostgreSQL)
//! run it through a store that explains each statement before answering it.

use crate::queries::SessionFilter;
use crate::read::{ReadStore, Window};
use crate::StoreError;

/// Asks `db` every read-side question: each session-list filter, a session, the
/// report of a window on the hour, one off it and all time, indicators, exports'
/// details, alerts, sensors, origins.
pub fn ask_every_question<S: ReadStore>(db: &S) -> Result<(), StoreError> {
    let day = Window {
        since: Some("2026-12-04T00:00:00.000000Z".into()),
        until: None,
    };
    let page = 51;
    let text = |v: &str| Some(v.to_string());
    let filters = [
        SessionFilter::default(),
        SessionFilter {
            since: day.since.clone(),
            ..SessionFilter::default()
        },
        SessionFilter {
            session: text("0123456789ab"),
            ..SessionFilter::default()
        },
        SessionFilter {
            src_ip: text("127.0.0.1"),
            ..SessionFilter::default()
        },
        SessionFilter {
            family: text("mirai"),
            ..SessionFilter::default()
        },
        SessionFilter {
            username: text("root"),
            password: text("xc3511"),
            ..SessionFilter::default()
        },
        SessionFilter {
            hassh: text("ab"),
            ..SessionFilter::default()
        },
        SessionFilter {
            country: text("NL"),
            ..SessionFilter::default()
        },
        SessionFilter {
            asn: Some(64496),
            ..SessionFilter::default()
        },
        SessionFilter {
            sha256: text("ab"),
            ..SessionFilter::default()
        },
        SessionFilter {
            with_download: true,
            ..SessionFilter::default()
        },
        SessionFilter {
            exploit: text("jaws-shell"),
            ..SessionFilter::default()
        },
        SessionFilter {
            sensor: text("00000000-0000-4000-8000-000000000000"),
            ..SessionFilter::default()
        },
        SessionFilter {
            protocol: text("ssh"),
            before: Some(("2026-12-05T00:00:00Z".into(), "0123456789ab".into())),
            ..SessionFilter::default()
        },
        SessionFilter {
            after: Some(("2026-12-05T00:00:00Z".into(), "0123456789ab".into())),
            ..SessionFilter::default()
        },
    ];
    for filter in &filters {
        db.sessions(filter, page)?;
    }
    db.session_events("0123456789ab")?;
    db.recording("0123456789ab")?;
    // A window on the hour, one off it (tallies and rows), all time (tallies).
    db.report(&day)?;
    db.report(&Window {
        since: Some("2026-12-04T00:13:00.000000Z".into()),
        until: Some("2026-12-05T00:13:00.000000Z".into()),
    })?;
    db.report(&Window::default())?;
    db.sensor_report(&day, "00000000-0000-4000-8000-000000000000")?;
    db.indicators(&day)?;
    db.exploits(&day)?;
    db.indicator_families(&day)?;
    db.file_details(&day)?;
    db.sensor_addresses()?;
    db.alerts(&day, 500)?;
    db.sensors()?;
    db.source_geo(&day)?;

    Ok(())
}
