//! The console: `busybait web` and `serve --web`, a read-only web view of what the
//! trap caught, served from the binary itself.
//!
//! Every page reads the same store the CLI reads ([`crate::read::Location`]: the
//! data dir, or a fleet's PostgreSQL) through a few threads of its own
//! ([`pool::QueryPool`]), so that a slow query never holds up a session or another
//! request's I/O. Everything an attacker wrote is hostile HTML and hostile terminal
//! text here: maud escapes every value it renders, control characters are shown as
//! escapes ([`crate::terminal::escape`]), and [`guard`] adds a strict
//! Content-Security-Policy, checks `Host` and `Origin` against DNS rebinding and
//! asks for the access token where one is set.

mod alerts;
mod assets;
mod chart;
mod connections;
mod counts;
mod guard;
mod indicators;
mod layout;
mod live;
mod overview;
mod pool;
mod replay;
mod sample_zip;
mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::WebConfig;
use crate::read::Location;

/// Threads that answer the pages of single things and lists (sessions, a session,
/// alerts, sensors, recordings, samples): quick index walks.
const PAGE_THREADS: usize = 2;
/// The thread that answers summaries of a span (the overview, indicators,
/// samples, exports): aggregations that may take long on a large store, and so
/// are kept from holding up the pages.
const SUMMARY_THREADS: usize = 1;
/// Requests that may wait for a query thread before the console answers 503.
const QUERY_QUEUE: usize = 64;

/// `busybait web`: serves the console until SIGINT/SIGTERM.
pub fn command(config: &WebConfig, listen: SocketAddr, location: Location) -> anyhow::Result<()> {
    config.check(listen)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = bind(listen).await?;
        let console = Console::start(config, &listener, location)?;
        let tls = tls(config)?;
        announce(&listener)?;
        let signals = crate::signals::Signals::install()?;
        connections::serve(
            listener,
            tls,
            console.router(),
            signals.wait(|| tracing::info!("SIGHUP: the console has nothing to reload")),
        )
        .await;
        Ok(())
    })
}

/// Binds the console's listener.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the console's listener {listen}"))
}

/// Prints `listening web ADDR:PORT`: the contract with tests and supervisors, as
/// serve's other "listening" lines.
pub fn announce(listener: &TcpListener) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    #[allow(clippy::print_stdout)]
    {
        println!("listening web {local}");
    }
    Ok(())
}

/// Serves the console on `listener` until `shutdown` turns true (`serve --web`).
pub fn spawn(
    config: &WebConfig,
    listener: TcpListener,
    location: Location,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let console = Console::start(config, &listener, location)?;
    let tls = tls(config)?;
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        connections::serve(listener, tls, console.router(), stop).await;
    });
    Ok(())
}

/// The console's TLS acceptor, when `[web] tls_cert` and `tls_key` are set.
fn tls(config: &WebConfig) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(connections::tls_acceptor(cert, key)?)),
        _ => Ok(None),
    }
}

/// What every request handler shares.
pub(crate) struct Console {
    /// Lists and single things.
    pages: pool::QueryPool,
    /// Summaries of a span.
    summaries: pool::QueryPool,
    /// The last reports (overview, samples), by span.
    reports: counts::Counts<busybait_store::read::Report>,
    /// The last indicators, by span.
    indicators: counts::Counts<Vec<busybait_store::read::IndicatorRow>>,
    access: guard::Access,
    /// Permits for the live streams.
    live: Arc<tokio::sync::Semaphore>,
    /// `[web] sample_downloads`.
    sample_downloads: bool,
}

impl Console {
    fn start(
        config: &WebConfig,
        listener: &TcpListener,
        location: Location,
    ) -> anyhow::Result<Arc<Self>> {
        let local = listener.local_addr()?;
        let location = Arc::new(location);
        let pages = pool::QueryPool::start(location.clone(), "pages", PAGE_THREADS, QUERY_QUEUE)?;
        let summaries =
            pool::QueryPool::start(location, "summaries", SUMMARY_THREADS, QUERY_QUEUE)?;
        let access = guard::Access::new(config.token(), local, config)?;
        Ok(Arc::new(Self {
            pages,
            summaries,
            reports: counts::Counts::default(),
            indicators: counts::Counts::default(),
            access,
            live: Arc::new(tokio::sync::Semaphore::new(live::MAX_STREAMS)),
            sample_downloads: config.sample_downloads,
        }))
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(overview::page))
            .route("/sessions", get(sessions::list))
            .route("/sessions/{id}", get(sessions::one))
            .route("/indicators", get(indicators::page))
            .route("/samples", get(indicators::samples))
            .route("/samples/{sha256}/zip", get(sample_zip::zip))
            .route("/export/{format}", get(indicators::export))
            .route("/alerts", get(alerts::page))
            .route("/sensors", get(alerts::sensors))
            .route("/sessions/{id}/cast", get(replay::cast))
            .route("/live/sessions", get(live::sessions))
            .route("/static/{name}", get(assets::file))
            .route("/login", get(guard::login_form).post(guard::login))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(guard::MAX_FORM_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                guard::check,
            ))
            .with_state(self)
    }
}

async fn not_found() -> Response {
    WebError::NotFound.into_response()
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// No such page or record.
    #[error("not found")]
    NotFound,
    /// A query parameter the console cannot use.
    #[error("{0}")]
    BadRequest(String),
    /// Every query thread busy and the queue full.
    #[error("the console is busy; try again")]
    Busy,
    /// The store failed (logged; the page says only that).
    #[error("the store could not be read")]
    Store(#[source] anyhow::Error),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(e) => {
                tracing::error!(error = %format!("{e:#}"), "console query failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let title = status.canonical_reason().unwrap_or("error");
        let body = layout::page(
            title,
            layout::Nav::None,
            maud::html! { h1 { (title) } p { (self.to_string()) } },
        );
        (status, body).into_response()
    }
}
