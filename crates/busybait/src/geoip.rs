//! Where a source address is: its country and autonomous system, from MaxMind-format
//! databases the operator points at (`[geoip] databases`: GeoLite2 or DB-IP Country
//! and ASN files, IPinfo Lite's one file). Read once at start into memory; looked up
//! when a session's connect is recorded, and stored with it, so that what the
//! history says does not change when a database is updated. Nothing is downloaded.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use busybait_events::SourceInfo;
use maxminddb::Reader;
use serde::Deserialize;

/// Largest database file read (GeoLite2-City is ~70 MiB; Country and ASN are
/// single-digit MiB).
const MAX_DATABASE_BYTES: u64 = 256 << 20;

/// The databases, in the order given: for each field the first that has it wins.
pub struct GeoIp {
    readers: Vec<(PathBuf, Reader<Vec<u8>>)>,
}

/// What a record may hold, in the shapes the vendors write: MaxMind's and DB-IP's
/// `country.iso_code`, `autonomous_system_number` and `_organization`; IPinfo's
/// `country_code`, `asn` (`"AS64511"`) and `as_name`.
#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    country_code: Option<&'a str>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
    asn: Option<&'a str>,
    as_name: Option<&'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
}

/// Longest organisation name kept (a database is data from outside, too).
const MAX_ORG_CHARS: usize = 128;

impl GeoIp {
    /// Opens every database; an unreadable or malformed one is an error that names
    /// it.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<Option<Self>> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut readers = Vec::new();
        for path in paths {
            readers.push((path.clone(), read(path)?));
        }
        Ok(Some(Self { readers }))
    }

    /// Country and AS of `ip`, from the first database that knows each.
    pub fn lookup(&self, ip: IpAddr) -> SourceInfo {
        let mut info = SourceInfo::default();
        for (path, reader) in &self.readers {
            let record = match reader.lookup(ip).and_then(|r| r.decode::<Record<'_>>()) {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(path = %path.display(), %ip, error = %e, "geoip lookup failed");
                    continue;
                }
            };
            if info.country.is_none() {
                info.country = record
                    .country
                    .and_then(|c| c.iso_code)
                    .or(record.country_code)
                    .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                    .map(str::to_ascii_uppercase);
            }
            if info.asn.is_none() {
                info.asn = record.autonomous_system_number.or_else(|| {
                    record
                        .asn
                        .and_then(|a| a.strip_prefix("AS").unwrap_or(a).parse().ok())
                });
                if info.asn.is_some() {
                    info.as_org = record
                        .autonomous_system_organization
                        .or(record.as_name)
                        .map(|o| o.chars().take(MAX_ORG_CHARS).collect());
                }
            }
        }
        info
    }
}

fn read(path: &Path) -> anyhow::Result<Reader<Vec<u8>>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading the GeoIP database {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_DATABASE_BYTES,
        "the GeoIP database {} is larger than {} MiB",
        path.display(),
        MAX_DATABASE_BYTES >> 20
    );
    Reader::open_readfile(path).with_context(|| {
        format!(
            "{} is not a MaxMind-format database (GeoLite2, DB-IP or IPinfo .mmdb)",
            path.display()
        )
    })
}
