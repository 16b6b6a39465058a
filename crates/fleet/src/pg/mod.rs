//! The fleet store in PostgreSQL: its schema ([`schema`]), the collector's writer
//! ([`write`]) and the read side ([`read`]).

pub mod read;
mod rows;
pub mod schema;
mod tls;
pub mod write;

use tokio_postgres::{Client, NoTls};

use crate::FleetError;

/// Connects to `url` (`postgres://user@host:port/db`, TLS as [`tls`] reads it from
/// the URL); the connection runs on its own task until the client is dropped or the
/// server goes away.
pub async fn connect(url: &str) -> Result<Client, FleetError> {
    let wanted = tls::wanted(url)?;
    let failed = |e: tokio_postgres::Error| {
        FleetError::Config(format!(
            "connecting to PostgreSQL at {}: {}",
            redact(url),
            described(&e)
        ))
    };
    let client = match &wanted.ca_file {
        None => {
            let (client, connection) = tokio_postgres::connect(&wanted.url, NoTls)
                .await
                .map_err(failed)?;
            tokio::spawn(run(connection));
            client
        }
        Some(ca_file) => {
            let (client, connection) =
                tokio_postgres::connect(&wanted.url, tls::connector(ca_file)?)
                    .await
                    .map_err(failed)?;
            tokio::spawn(run(connection));
            client
        }
    };
    Ok(client)
}

/// An error with what caused it: tokio-postgres says "db error" or "error performing
/// TLS handshake" and keeps the server's message or the certificate problem in its
/// source.
pub fn described(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Drives a connection until it ends.
async fn run<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "PostgreSQL connection ended");
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::redact("postgres://collector:s3cret@127.0.0.1:5432/fleet"),
            "postgres://collector:***@127.0.0.1:5432/fleet"
        );
        assert_eq!(
            super::redact("postgres://reader@127.0.0.1/fleet"),
            "postgres://reader@127.0.0.1/fleet"
        );
    }
}
