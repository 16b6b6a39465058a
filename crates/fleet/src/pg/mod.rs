//! The fleet store in PostgreSQL: its schema ([`schema`]), the collector's writer
//! ([`write`]) and the read side ([`read`]).

pub mod read;
mod rows;
pub mod schema;
pub mod write;

use tokio_postgres::{Client, NoTls};

use crate::FleetError;

/// Connects to `url` (`postgres://user@host:port/db`); the connection runs on its
/// own task until the client is dropped or the server goes away.
pub async fn connect(url: &str) -> Result<Client, FleetError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
        FleetError::Config(format!("connecting to PostgreSQL at {}: {e}", redact(url)))
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
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
