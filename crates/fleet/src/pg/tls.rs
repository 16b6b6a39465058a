//! TLS to the fleet's PostgreSQL, asked for in the URL as libpq users write it:
//! `postgres://collector@db.example:5432/fleet?sslmode=verify-full&sslrootcert=/etc/busybait/pg-ca.pem`.
//!
//! `sslmode=require`, `verify-ca` and `verify-full` all mean TLS with the server's
//! certificate checked against `sslrootcert` (a PEM file of CA certificates) and its
//! name against the URL's host: busybait never talks TLS to a server it has not
//! verified, so `sslrootcert` is required with them. Without `sslmode` (or with
//! `disable`, `allow`, `prefer`) the connection is plain, as tokio-postgres makes it
//! without TLS; a server that requires TLS (`hostssl` in `pg_hba.conf`) refuses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls;

use crate::FleetError;

/// What the URL asks for: the URL tokio-postgres gets, and the CA file when TLS.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// The URL without `sslrootcert`, with `sslmode=require` where TLS is wanted.
    pub url: String,
    /// The CA certificates to verify the server with; `None`: no TLS.
    pub ca_file: Option<PathBuf>,
}

/// Reads `url`'s `sslmode` and `sslrootcert`.
pub(crate) fn wanted(url: &str) -> Result<Wanted, FleetError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(Wanted {
            url: url.to_string(),
            ca_file: None,
        });
    };
    // The other parameters go on as they were written (tokio-postgres decodes
    // them its own way: `%20`, not `+`).
    let mut kept: Vec<&str> = Vec::new();
    let (mut mode, mut root) = (None, None);
    for raw in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = form_urlencoded::parse(raw.as_bytes()).next() else {
            continue;
        };
        match key.as_ref() {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root = Some(PathBuf::from(value.as_ref())),
            _ => kept.push(raw),
        }
    }
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(FleetError::Config(format!(
                "sslmode={other} in the PostgreSQL URL: use verify-full (with sslrootcert=FILE) or leave it out"
            )))
        }
    };
    let ca_file = match (tls, root) {
        (true, Some(root)) => Some(root),
        (true, None) => {
            return Err(FleetError::Config(
                "TLS to PostgreSQL needs sslrootcert=FILE in the URL (the CA that signed the server's certificate): busybait verifies every server it talks TLS to".into(),
            ))
        }
        (false, Some(_)) => {
            return Err(FleetError::Config(
                "sslrootcert in the PostgreSQL URL needs sslmode=verify-full".into(),
            ))
        }
        (false, None) => None,
    };
    if tls {
        kept.push("sslmode=require");
    }
    let query = kept.join("&");
    Ok(Wanted {
        url: if query.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{query}")
        },
        ca_file,
    })
}

/// A TLS connector that trusts the CA certificates in `ca_file` alone.
pub(crate) fn connector(
    ca_file: &Path,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, FleetError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        FleetError::Config(format!(
            "reading the PostgreSQL CA certificates in {}: {e}",
            ca_file.display()
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"no certificate in it"));
    }
    // ring, as the console and the NATS client have it (rustls marks it deprecated
    // for lacking post-quantum key exchange, which needs aws-lc-rs's C build).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FleetError::Config(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_whether_and_how_to_verify() {
        assert_eq!(
            wanted("postgres://r@127.0.0.1/fleet").unwrap(),
            Wanted {
                url: "postgres://r@127.0.0.1/fleet".into(),
                ca_file: None
            }
        );
        assert_eq!(
            wanted("postgres://r@127.0.0.1/fleet?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&options=-c%20a%3Db")
                .unwrap(),
            Wanted {
                url: "postgres://r@127.0.0.1/fleet?options=-c%20a%3Db&sslmode=require".into(),
                ca_file: Some("/etc/ca.pem".into())
            }
        );
        let err = |url: &str| wanted(url).unwrap_err().to_string();
        assert!(err("postgres://r@h/f?sslmode=require").contains("needs sslrootcert=FILE"));
        assert!(err("postgres://r@h/f?sslrootcert=/ca.pem").contains("needs sslmode=verify-full"));
        assert!(err("postgres://r@h/f?sslmode=bogus").contains("sslmode=bogus"));
        assert_eq!(
            wanted("postgres://r@h/f?sslmode=prefer").unwrap().ca_file,
            None
        );
    }
}
