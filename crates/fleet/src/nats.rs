//! Connecting to NATS: the settings every fleet role shares (server URLs, the role's
//! own credentials, TLS) and the JetStream stream they meet on.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;

use crate::{FleetError, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, MAX_EVENT_BYTES};

/// How one fleet role reaches NATS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsSettings {
    /// Server URLs (`nats://` or `tls://`), comma-separated as NATS tools take them.
    pub url: String,
    /// The role's user name (`[fleet] user`).
    pub user: Option<String>,
    /// Its password (`[fleet] password`, or the environment).
    pub password: Option<String>,
    /// A CA certificate (PEM) to verify the servers with; turns TLS on.
    pub ca_file: Option<PathBuf>,
    /// The prefix of this client's reply subjects. A sensor's permissions allow only
    /// its own (`_INBOX_<sensor>`), so one sensor never sees another's replies.
    pub inbox_prefix: Option<String>,
}

impl NatsSettings {
    /// Settings for a URL with no credentials and no TLS.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

/// Connects as `name` (shown in the server's connection list). The client reconnects
/// by itself after the first connection; with `patient`, the first one is retried in
/// the background too (a sensor starts whether or not NATS is up), otherwise it must
/// succeed (a collector says at once that it cannot reach NATS).
pub async fn connect(
    settings: &NatsSettings,
    name: &str,
    patient: bool,
) -> Result<async_nats::Client, FleetError> {
    let url = settings.url.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        // Connection changes once each; a reconnect loop's errors only at debug level
        // (the client's own default logs every attempt).
        .event_callback(move |event| {
            let url = url.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(%url, "connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(%url, "disconnected from NATS; reconnecting")
                    }
                    async_nats::Event::ClientError(e) => {
                        tracing::debug!(%url, error = %e, "NATS client error")
                    }
                    other => tracing::info!(%url, event = %other, "NATS"),
                }
            }
        })
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(5)));
    match (&settings.user, &settings.password) {
        (Some(user), Some(password)) => {
            options = options.user_and_password(user.clone(), password.clone());
        }
        (None, None) => {}
        _ => {
            return Err(FleetError::Config(
                "NATS credentials need both a user and a password".into(),
            ))
        }
    }
    if let Some(ca) = &settings.ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some(prefix) = &settings.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    if patient {
        options = options.retry_on_initial_connect();
    }
    // A server list, as NATS tools take it: comma-separated URLs.
    let servers = settings
        .url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| FleetError::Config(format!("NATS URL {u:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(FleetError::Config("no NATS URL given".into()));
    }
    options
        .connect(servers.as_slice())
        .await
        .map_err(|e| FleetError::Nats(format!("connecting to {}: {e}", settings.url)))
}

/// The events stream as collectors create it: every sensor's subject, on disk,
/// duplicates dropped for two minutes by `Nats-Msg-Id`.
pub fn events_stream_config(replicas: usize) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: EVENTS_STREAM.into(),
        subjects: vec![format!("{EVENTS_SUBJECT_PREFIX}*")],
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        max_message_size: i32::try_from(MAX_EVENT_BYTES).unwrap_or(i32::MAX),
        ..Default::default()
    }
}

/// Creates the events stream if it is missing (collectors do; sensors may not).
pub async fn ensure_events_stream(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<jetstream::stream::Stream, FleetError> {
    js.get_or_create_stream(events_stream_config(replicas))
        .await
        .map_err(|e| FleetError::Nats(format!("the {EVENTS_STREAM} stream: {e}")))
}
