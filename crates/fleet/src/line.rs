//! An event as a collector receives it: one Cowrie-format JSON line (docs/EVENTS.md),
//! read back into the fields the fleet store's tables need. The line itself is
//! stored as it came; nothing here is trusted beyond its shape.

use serde::Deserialize;

/// The fields of an event line the tables use; each event kind fills its own.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct EventLine {
    /// `cowrie.session.connect`, `busybait.exploit`, ...
    pub eventid: String,
    /// The session id.
    pub session: String,
    /// RFC 3339, UTC, as the sensor wrote it.
    pub timestamp: String,
    /// The sensor's sequence number.
    pub seq: u64,
    /// The sensor's id as the payload claims it (checked against the subject).
    pub uuid: String,
    /// The sensor's operator-given name.
    pub sensor: String,
    /// `telnet`, `ssh` or `http`.
    pub protocol: String,
    /// Attacker address.
    pub src_ip: String,
    /// Attacker port.
    pub src_port: u16,
    /// The attacker's country, by the sensor's GeoIP databases (connects only).
    pub src_country: Option<String>,
    /// Its autonomous system.
    pub src_asn: Option<u32>,
    /// That system's organisation.
    pub src_as_org: Option<String>,
    /// Sensor address.
    pub dst_ip: String,
    /// Sensor port.
    pub dst_port: u16,
    /// Login user name.
    pub username: Option<String>,
    /// Login password.
    pub password: Option<String>,
    /// A command line, or an exploit's command.
    pub input: Option<String>,
    /// The download tool.
    pub tool: Option<String>,
    /// A URL.
    pub url: Option<String>,
    /// A file's SHA-256.
    pub shasum: Option<String>,
    /// Where a file was written in the device.
    pub destfile: Option<String>,
    /// Whether the sample was seen before.
    pub duplicate: Option<bool>,
    /// A sample's kind (`elf`, `script`, ...).
    pub kind: Option<String>,
    /// A sample's architecture.
    pub arch: Option<String>,
    /// A sample's size.
    pub size: Option<u64>,
    /// A Mirai sample's table key.
    pub mirai_key: Option<u32>,
    /// A session's family.
    pub family: Option<String>,
    /// Its sub-label.
    pub sub_label: Option<String>,
    /// Its confidence, 0 to 1.
    pub confidence: Option<f64>,
    /// An HTTP request's method.
    pub method: Option<String>,
    /// An HTTP request's path (or a planted key's file).
    pub path: Option<String>,
    /// An HTTP answer's status.
    pub status: Option<u16>,
    /// An exploit's name.
    pub exploit: Option<String>,
    /// Its CVE.
    pub cve: Option<String>,
    /// An SSH client's identification line (or an HTTP version).
    pub version: Option<String>,
    /// An SSH client's HASSH.
    pub hassh: Option<String>,
    /// A telnet client's fingerprint (or an offered key's).
    pub fingerprint: Option<String>,
    /// Why a session ended.
    pub reason: Option<String>,
    /// A closed session's length.
    pub duration_ms: Option<u64>,
}

/// Why a message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Its subject names no valid sensor.
    Subject,
    /// It is larger than [`crate::MAX_EVENT_BYTES`].
    Oversized,
    /// It is not an event line.
    Malformed,
    /// Its `uuid` is not the sensor its subject names.
    SensorMismatch,
    /// It is a recording's part with headers or text out of bounds
    /// ([`crate::recordings::part_of`]).
    Recording,
}

impl Rejection {
    /// The label in logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Oversized => "oversized",
            Self::Malformed => "malformed",
            Self::SensorMismatch => "sensor_mismatch",
            Self::Recording => "recording",
        }
    }
}

/// Reads one message of `sensor` (taken from its subject).
pub fn parse(sensor: &str, payload: &[u8]) -> Result<EventLine, Rejection> {
    if payload.len() > crate::MAX_EVENT_BYTES {
        return Err(Rejection::Oversized);
    }
    let line: EventLine = serde_json::from_slice(payload).map_err(|_| Rejection::Malformed)?;
    if line.uuid != sensor {
        return Err(Rejection::SensorMismatch);
    }
    if line.seq == 0 || line.session.is_empty() || !line.eventid.contains('.') {
        return Err(Rejection::Malformed);
    }
    if month_of(&line.timestamp).is_none() {
        return Err(Rejection::Malformed);
    }
    Ok(line)
}

/// `YYYY-MM` of an RFC 3339 UTC timestamp as the sensor writes them
/// (`2026-12-05T01:02:03.456789Z`), or `None` if it is not one.
pub fn month_of(timestamp: &str) -> Option<&str> {
    let b = timestamp.as_bytes();
    let shaped = b.len() >= 20
        && b.len() <= 32
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.' || *c == b'Z',
            _ if i == b.len() - 1 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    shaped.then(|| timestamp.get(..7)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"{"eventid":"cowrie.login.success","session":"a1","protocol":"telnet","src_ip":"198.51.100.7","src_port":40000,"dst_ip":"127.0.0.1","dst_port":2323,"username":"root","password":"xc3511","message":"m","sensor":"s","uuid":"s1","timestamp":"2026-12-05T01:02:03.456789Z","seq":7}"#;

    #[test]
    fn a_login_line_gives_its_fields() {
        let line = parse("s1", LOGIN.as_bytes());
        let Ok(line) = line else {
            panic!("refused: {line:?}");
        };
        assert_eq!(line.eventid, "cowrie.login.success");
        assert_eq!(line.seq, 7);
        assert_eq!(line.username.as_deref(), Some("root"));
        assert_eq!(line.password.as_deref(), Some("xc3511"));
        assert_eq!(line.src_port, 40000);
    }

    #[test]
    fn the_payload_cannot_claim_another_sensor_or_be_anything_but_an_event() {
        assert_eq!(
            parse("s2", LOGIN.as_bytes()),
            Err(Rejection::SensorMismatch)
        );
        assert_eq!(parse("s1", b"not json"), Err(Rejection::Malformed));
        assert_eq!(parse("s1", b"{\"uuid\":\"s1\"}"), Err(Rejection::Malformed));
        let big = vec![b' '; crate::MAX_EVENT_BYTES + 1];
        assert_eq!(parse("s1", &big), Err(Rejection::Oversized));
        let bad_time = LOGIN.replace("2026-12-05T01:02:03.456789Z", "2026-12-05 01:02");
        assert_eq!(parse("s1", bad_time.as_bytes()), Err(Rejection::Malformed));
    }

    #[test]
    fn months_come_only_from_well_formed_timestamps() {
        assert_eq!(month_of("2026-12-05T01:02:03.456789Z"), Some("2026-12"));
        assert_eq!(month_of("2026-12-05T01:02:03Z"), Some("2026-12"));
        assert_eq!(month_of("2026-12-05T01:02:03+01:00"), None);
        assert_eq!(month_of("2026-1x-05T01:02:03.4Z"), None);
        assert_eq!(month_of("'; DROP TABLE x;--"), None);
    }
}
