//! The one `Event` type every part of busybait emits, and its Cowrie-compatible
//! JSON-lines form.
//!
//! Cowrie's event ids and field names (see `docs/EVENTS.md`) are kept exactly, so
//! that pipelines built for Cowrie read busybait's log unchanged. What Cowrie has no
//! id for is emitted under a `busybait.*` id; every such id is listed in
//! [`BUSYBAIT_EVENT_IDS`]. Two deliberate differences from Cowrie:
//! `cowrie.command.*` `input` is exactly what was typed (Cowrie appends a space to a
//! bare failed command), and every line carries a per-sensor sequence number `seq`.
//!
//! This crate does no I/O: sensor-wide fields (`sensor`, `uuid`, `seq`) are supplied
//! by the recorder when it renders an event with [`Event::to_json_line`].

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use serde_json::Value;

mod json_line;

/// A Cowrie-style session id: 6 random bytes shown as 12 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 6]);

impl SessionId {
    /// Builds an id from the low 48 bits of `v`.
    pub fn from_u64(v: u64) -> Self {
        let b = v.to_be_bytes();
        Self([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Parses 12 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 6];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// Where a source address is, as the operator's GeoIP databases say at the time
/// the connection is recorded (the edge fills it in; the doors leave it empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Its organisation.
    pub as_org: Option<String>,
}

/// The two ends of a connection, as Cowrie reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The attacker's address.
    pub src: SocketAddr,
    /// The sensor's local address the attacker connected to.
    pub dst: SocketAddr,
    /// Which of the device's doors the connection came through.
    pub protocol: Protocol,
}

/// The door a session came through, as Cowrie's `protocol` field names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// The telnet door.
    #[default]
    Telnet,
    /// The SSH door.
    Ssh,
    /// The web server's door (HTTP and UPnP/SOAP services).
    Http,
}

impl Protocol {
    /// The name in events and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Telnet => "telnet",
            Protocol::Ssh => "ssh",
            Protocol::Http => "http",
        }
    }
}

/// A telnet negotiation verb, as Cowrie names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TelnetVerb {
    /// IAC WILL (251)
    Will,
    /// IAC WONT (252)
    Wont,
    /// IAC DO (253)
    Do,
    /// IAC DONT (254)
    Dont,
}

impl TelnetVerb {
    /// Cowrie's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TelnetVerb::Will => "WILL",
            TelnetVerb::Wont => "WONT",
            TelnetVerb::Do => "DO",
            TelnetVerb::Dont => "DONT",
        }
    }
}

/// Why a session ended, carried by `busybait.session.end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection.
    ClientClosed,
    /// The emulated device closed it (`exit`, third failed login, ...).
    DeviceClosed,
    /// A named limit was hit; see the preceding `busybait.limit` event.
    Limit,
    /// The sensor shut down (SIGINT/SIGTERM).
    Shutdown,
    /// A network error on the socket.
    IoError,
    /// Evicted to make room for a newer unauthenticated connection.
    Evicted,
}

impl CloseReason {
    /// Stable name used in JSON and SQLite.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::DeviceClosed => "device_closed",
            CloseReason::Limit => "limit",
            CloseReason::Shutdown => "shutdown",
            CloseReason::IoError => "io_error",
            CloseReason::Evicted => "evicted",
        }
    }
}

/// What happened. Each variant maps to exactly one event id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `cowrie.session.connect`, with `src_country`, `src_asn` and `src_as_org`
    /// when GeoIP databases know the source.
    Connect {
        /// Where the source is.
        source: SourceInfo,
    },
    /// `cowrie.telnet.option`: logged once per (verb, option).
    TelnetOption {
        /// WILL/WONT/DO/DONT
        verb: TelnetVerb,
        /// Option byte.
        option: u8,
    },
    /// `cowrie.client.size` (telnet NAWS).
    ClientSize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// `busybait.telnet.subnegotiation`: a complete subnegotiation other than NAWS.
    TelnetSubnegotiation {
        /// Option byte.
        option: u8,
        /// Payload between `IAC SB option` and `IAC SE`, unescaped, as lower-case hex.
        data_hex: String,
    },
    /// `cowrie.client.var`: a NEW-ENVIRON variable.
    ClientVar {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
    },
    /// `busybait.client.fingerprint`: the client's opening telnet bytes
    /// (see `docs/EVENTS.md` for how the string is built).
    ClientFingerprint {
        /// Space-separated lower-case hex, one group per telnet command.
        fingerprint: String,
    },
    /// `cowrie.client.version`: the SSH client's identification line.
    ClientVersion {
        /// The line, without CR LF.
        version: String,
    },
    /// `cowrie.client.kex`: the SSH client's KEXINIT and its HASSH.
    ClientKex {
        /// MD5 of `hassh_algorithms`.
        hassh: String,
        /// `kex;ciphers;macs;compression` (client to server) as sent.
        hassh_algorithms: String,
        /// The name-lists, split at commas: kex, host keys, ciphers, MACs,
        /// compression, languages (client to server).
        lists: [Vec<String>; 6],
    },
    /// `cowrie.client.fingerprint`: a public key the SSH client offered.
    ClientPublicKey {
        /// The user it was offered for.
        username: String,
        /// Cowrie's fingerprint: MD5 of the key blob, colon-separated hex.
        fingerprint: String,
        /// OpenSSH's `SHA256:` fingerprint.
        fingerprint_sha256: String,
        /// The key blob, base64.
        key: String,
        /// The key's algorithm name, as sent.
        key_type: String,
    },
    /// `cowrie.direct-tcpip.request`: the client asked the device to connect
    /// somewhere (never done).
    DirectTcpip {
        /// Where to.
        dst_ip: String,
        /// Its port.
        dst_port: u32,
        /// Where the client says the connection came from.
        orig_ip: String,
        /// Its port.
        orig_port: u32,
    },
    /// `busybait.ssh.request`: an SSH request the device refused or that Cowrie has
    /// no event for (`tcpip-forward`, `subsystem`, `signal`, an unknown channel
    /// type, an authentication method other than password and public key).
    SshRequest {
        /// The request's name, as sent.
        request: String,
        /// What it asked for, in words (`127.0.0.1:8080`, `sftp`).
        detail: String,
        /// Whether the device granted it.
        granted: bool,
    },
    /// `busybait.http.request`: one request to the device's web server, and its
    /// answer.
    HttpRequest {
        /// The method, as sent.
        method: String,
        /// The path, without the query.
        path: String,
        /// The query string (after `?`), raw; empty without one.
        query: String,
        /// `HTTP/1.0` or `HTTP/1.1`.
        version: String,
        /// The headers, in order, as sent (at most the door's header limit).
        headers: Vec<(String, String)>,
        /// Bytes of body.
        body_len: u64,
        /// SHA-256 of the body, lower-case hex (empty without a body).
        body_sha256: String,
        /// The body's first bytes (see the door's `max_logged_body_bytes`).
        body: String,
        /// The status code the device answered with.
        status: u16,
    },
    /// `busybait.exploit`: a request matched an entry of the exploit table and its
    /// command line ran on the device.
    Exploit {
        /// The table entry.
        name: String,
        /// Its CVE, if it has one.
        cve: Option<String>,
        /// The command line, decoded, as the device's shell ran it.
        command: String,
        /// URLs in the command line.
        urls: Vec<String>,
    },
    /// `busybait.persistence.ssh_key`: a public key left in an `authorized_keys`
    /// file on the device (a bot's way back in).
    SshKeyPlanted {
        /// The file, on the device.
        path: String,
        /// The key's type (`ssh-rsa`, `ssh-ed25519`, …).
        key_type: String,
        /// OpenSSH's `SHA256:` fingerprint of the key.
        fingerprint_sha256: String,
        /// The key, base64, as written.
        key: String,
        /// The comment after it (`mdrfckr`), if any.
        comment: String,
    },
    /// `cowrie.login.success`
    LoginSuccess {
        /// User name as typed.
        username: String,
        /// Password as typed.
        password: String,
    },
    /// `cowrie.login.failed`
    LoginFailed {
        /// User name as typed.
        username: String,
        /// Password as typed.
        password: String,
    },
    /// `cowrie.command.input`: one command line, exactly as typed.
    CommandInput {
        /// The line.
        input: String,
    },
    /// `cowrie.command.failed`: a command the device does not have.
    CommandFailed {
        /// The command as typed (no trailing space, unlike Cowrie).
        input: String,
    },
    /// `cowrie.session.file_download`: a file the attacker wrote or downloaded, stored
    /// as a sample.
    FileDownload {
        /// The URL, when a download tool fetched it (absent for redirect captures).
        url: Option<String>,
        /// Where the sample is, relative to the data dir: `samples/<sha256>`.
        outfile: String,
        /// SHA-256, lower-case hex.
        shasum: String,
        /// Its path on the emulated device.
        destfile: String,
        /// Whether the sample was already stored.
        duplicate: bool,
    },
    /// `cowrie.session.file_upload`: a file the client sent with `scp`, stored as
    /// a sample.
    FileUpload {
        /// The name the client gave it.
        filename: String,
        /// Where the sample is, relative to the data dir: `samples/<sha256>`.
        outfile: String,
        /// SHA-256, lower-case hex.
        shasum: String,
        /// Its path on the emulated device.
        destfile: String,
        /// Whether the sample was already stored.
        duplicate: bool,
    },
    /// `busybait.sample.triage`: static triage of a stored sample.
    SampleTriage {
        /// SHA-256 of the sample.
        shasum: String,
        /// Size in bytes.
        size: u64,
        /// `elf`, `script`, `text` or `data`.
        kind: String,
        /// Mirai's architecture name, for ELF files.
        arch: Option<String>,
        /// Whether the ELF has no symbol table.
        stripped: Option<bool>,
        /// UPX-packed.
        upx: bool,
        /// Mozi's zeroed UPX header.
        upx_zeroed_header: bool,
        /// Entropy in thousandths of a bit per byte.
        entropy_milli: u32,
        /// SHA-1 and MD5, hex.
        sha1: String,
        /// MD5, hex.
        md5: String,
        /// Mirai's table key, if a table was recovered.
        mirai_key: Option<u8>,
        /// Hosts (and ports) from Mirai's table: C2 first, then report server.
        c2: Vec<String>,
        /// URLs the file would fetch.
        urls: Vec<String>,
    },
    /// `busybait.session.family`: which botnet the session belongs to.
    SessionFamily {
        /// Family id.
        family: String,
        /// Sub-label (a Mirai variant's probe token).
        sub_label: Option<String>,
        /// Confidence in percent.
        confidence_pct: u8,
        /// What matched.
        evidence: Vec<String>,
    },
    /// `busybait.download.request`: a download tool asked for a URL.
    DownloadRequest {
        /// `wget`, `tftp`, `ftpget`, …
        tool: String,
        /// The URL (`tftp://host:port/file` for tftp).
        url: String,
    },
    /// `busybait.command.exec`: a dropped executable was "run" (never really).
    Executed {
        /// Its path on the device.
        path: String,
    },
    /// `busybait.limit`: a named limit was hit.
    LimitHit {
        /// Limit name, as in the config file.
        limit: &'static str,
        /// The configured value.
        value: u64,
    },
    /// `busybait.session.end`: why the session ended (precedes `session.closed`).
    SessionEnd {
        /// Reason.
        reason: CloseReason,
    },
    /// `cowrie.session.closed`
    Closed {
        /// Session duration in whole milliseconds.
        duration_ms: u64,
    },
}

/// Every `busybait.*` event id, with what it means. Kept in sync with `docs/EVENTS.md`
/// by a test.
pub const BUSYBAIT_EVENT_IDS: &[(&str, &str)] = &[
    (
        "busybait.client.fingerprint",
        "the client's telnet negotiation bytes, as a fingerprint string",
    ),
    ("busybait.limit", "a named limit was hit in this session"),
    (
        "busybait.sample.triage",
        "static triage of a stored sample: hashes, type, architecture, packer, Mirai table",
    ),
    (
        "busybait.session.family",
        "the botnet family a session was labelled with, its confidence and evidence",
    ),
    (
        "busybait.download.request",
        "a download tool on the device asked for a URL",
    ),
    (
        "busybait.command.exec",
        "a dropped executable was run (it never is; the device only answers as if)",
    ),
    (
        "busybait.telnet.subnegotiation",
        "a telnet subnegotiation other than NAWS, with its payload",
    ),
    (
        "busybait.persistence.ssh_key",
        "a public key left in an authorized_keys file on the device, with its fingerprint and comment",
    ),
    (
        "busybait.ssh.request",
        "an SSH request with no Cowrie event: port forwarding, a subsystem, a signal, an unknown channel or method",
    ),
    (
        "busybait.http.request",
        "one request to the device's web server: method, path, query, headers, body digest and prefix, the status answered",
    ),
    (
        "busybait.exploit",
        "a web request matched the exploit table: the entry, its CVE, the command line the device ran and the URLs in it",
    ),
    (
        "busybait.session.end",
        "why the session ended; always followed by cowrie.session.closed",
    ),
];

impl EventKind {
    /// A connect whose source nothing is known of yet.
    pub fn connect() -> Self {
        Self::Connect {
            source: SourceInfo::default(),
        }
    }

    /// The event id.
    pub fn event_id(&self) -> &'static str {
        match self {
            EventKind::Connect { .. } => "cowrie.session.connect",
            EventKind::TelnetOption { .. } => "cowrie.telnet.option",
            EventKind::ClientSize { .. } => "cowrie.client.size",
            EventKind::ClientFingerprint { .. } => "busybait.client.fingerprint",
            EventKind::TelnetSubnegotiation { .. } => "busybait.telnet.subnegotiation",
            EventKind::ClientVar { .. } => "cowrie.client.var",
            EventKind::ClientVersion { .. } => "cowrie.client.version",
            EventKind::ClientKex { .. } => "cowrie.client.kex",
            EventKind::ClientPublicKey { .. } => "cowrie.client.fingerprint",
            EventKind::DirectTcpip { .. } => "cowrie.direct-tcpip.request",
            EventKind::SshRequest { .. } => "busybait.ssh.request",
            EventKind::SshKeyPlanted { .. } => "busybait.persistence.ssh_key",
            EventKind::HttpRequest { .. } => "busybait.http.request",
            EventKind::Exploit { .. } => "busybait.exploit",
            EventKind::LoginSuccess { .. } => "cowrie.login.success",
            EventKind::LoginFailed { .. } => "cowrie.login.failed",
            EventKind::CommandInput { .. } => "cowrie.command.input",
            EventKind::CommandFailed { .. } => "cowrie.command.failed",
            EventKind::LimitHit { .. } => "busybait.limit",
            EventKind::DownloadRequest { .. } => "busybait.download.request",
            EventKind::FileDownload { .. } => "cowrie.session.file_download",
            EventKind::FileUpload { .. } => "cowrie.session.file_upload",
            EventKind::SampleTriage { .. } => "busybait.sample.triage",
            EventKind::SessionFamily { .. } => "busybait.session.family",
            EventKind::Executed { .. } => "busybait.command.exec",
            EventKind::SessionEnd { .. } => "busybait.session.end",
            EventKind::Closed { .. } => "cowrie.session.closed",
        }
    }
}

/// How a file the attacker wrote came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOrigin {
    /// A redirection or an applet wrote it (`echo -ne … > .x`, `cat > .x`).
    Written,
    /// A download tool fetched it from this URL.
    Downloaded(String),
    /// The client sent it with `scp`, under this name.
    Uploaded(String),
}

impl FileOrigin {
    /// Bytes it holds on the heap.
    pub fn heap_size(&self) -> usize {
        match self {
            FileOrigin::Written => 0,
            FileOrigin::Downloaded(s) | FileOrigin::Uploaded(s) => s.capacity(),
        }
    }

    /// The URL, for a download.
    pub fn url(&self) -> Option<&str> {
        match self {
            FileOrigin::Downloaded(url) => Some(url),
            _ => None,
        }
    }
}

/// One event of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Wall-clock time the event happened.
    pub time: SystemTime,
    /// The session it belongs to.
    pub session: SessionId,
    /// Connection endpoints.
    pub peer: Peer,
    /// What happened.
    pub kind: EventKind,
}

/// Sensor-wide fields added to every line.
#[derive(Clone, Debug)]
pub struct SensorIdentity {
    /// `sensor` field: the sensor's name.
    pub name: String,
    /// `uuid` field: the sensor's persistent uuid.
    pub uuid: String,
}

/// Cowrie's timestamp form: UTC, microseconds, `Z` suffix.
pub fn format_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Telnet option names as Cowrie (Twisted's `telnet.py`) spells them.
pub fn telnet_option_name(option: u8) -> String {
    let known = match option {
        0 => "BINARY",
        1 => "ECHO",
        3 => "SGA",
        5 => "STATUS",
        6 => "TIMINGMARK",
        24 => "TTYPE",
        31 => "NAWS",
        32 => "TSPEED",
        33 => "LFLOW",
        34 => "LINEMODE",
        35 => "XDISPLOC",
        36 => "OLD_ENVIRON",
        37 => "AUTHENTICATION",
        38 => "ENCRYPT",
        39 => "NEW_ENVIRON",
        _ => return format!("UNKNOWN_{option}"),
    };
    known.to_string()
}

impl Event {
    /// The event as a JSON object: Cowrie's common fields, the event's own fields,
    /// and busybait's `seq` (what [`Event::to_json_line`] writes, parsed back).
    pub fn to_json_value(&self, sensor: &SensorIdentity, seq: u64) -> Value {
        serde_json::from_str(&self.to_json_line(sensor, seq)).unwrap_or(Value::Null)
    }

    /// Renders one compact JSON line (without the trailing newline) with Cowrie's
    /// common fields, the event's own fields, and busybait's `seq`, keys in order.
    pub fn to_json_line(&self, sensor: &SensorIdentity, seq: u64) -> String {
        let mut m = json_line::Fields::default();
        let session = self.session.to_string();
        m.insert("eventid", &self.kind.event_id());
        m.insert("session", &session);
        m.insert("protocol", &self.peer.protocol.as_str());
        m.insert("src_ip", &self.peer.src.ip());
        m.insert("src_port", &self.peer.src.port());
        m.insert("dst_ip", &self.peer.dst.ip());
        m.insert("dst_port", &self.peer.dst.port());
        let message = match &self.kind {
            EventKind::Connect { source } => {
                if let Some(country) = &source.country {
                    m.insert("src_country", country);
                }
                if let Some(asn) = source.asn {
                    m.insert("src_asn", &asn);
                }
                if let Some(org) = &source.as_org {
                    m.insert("src_as_org", org);
                }
                format!(
                    "New connection: {}:{} ({}:{}) [session: {}]",
                    self.peer.src.ip(),
                    self.peer.src.port(),
                    self.peer.dst.ip(),
                    self.peer.dst.port(),
                    session
                )
            }
            EventKind::TelnetOption { verb, option } => {
                let name = telnet_option_name(*option);
                m.insert("command", &verb.as_str());
                m.insert("option_name", &name);
                m.insert("option_byte", option);
                format!("Telnet {} {}", verb.as_str(), name)
            }
            EventKind::ClientSize { width, height } => {
                m.insert("width", width);
                m.insert("height", height);
                format!("Terminal Size: {width} {height}")
            }
            EventKind::TelnetSubnegotiation { option, data_hex } => {
                let name = telnet_option_name(*option);
                m.insert("option_byte", option);
                m.insert("option_name", &name);
                m.insert("data", data_hex);
                format!("Telnet SB {name} {data_hex}")
            }
            EventKind::ClientVar { name, value } => {
                m.insert("name", name);
                m.insert("value", value);
                format!("request_env: {name}={value}")
            }
            EventKind::ClientFingerprint { fingerprint } => {
                m.insert("fingerprint", fingerprint);
                format!("Telnet client fingerprint: {fingerprint}")
            }
            EventKind::ClientVersion { version } => {
                m.insert("version", version);
                format!("Remote SSH version: {version}")
            }
            EventKind::ClientKex {
                hassh,
                hassh_algorithms,
                lists,
            } => {
                m.insert("hassh", hassh);
                m.insert("hasshAlgorithms", hassh_algorithms);
                let names = ["kexAlgs", "keyAlgs", "encCS", "macCS", "compCS", "langCS"];
                for (name, list) in names.into_iter().zip(lists) {
                    m.insert(name, list);
                }
                format!("SSH client hassh fingerprint: {hassh}")
            }
            EventKind::ClientPublicKey {
                username,
                fingerprint,
                fingerprint_sha256,
                key,
                key_type,
            } => {
                m.insert("username", username);
                m.insert("fingerprint", fingerprint);
                m.insert("fingerprint_sha256", fingerprint_sha256);
                m.insert("key", key);
                m.insert("type", key_type);
                format!(
                    "public key attempt for user {username} of type {key_type} with fingerprint {fingerprint}"
                )
            }
            EventKind::DirectTcpip {
                dst_ip,
                dst_port,
                orig_ip,
                orig_port,
            } => {
                m.insert("dst_ip", dst_ip);
                m.insert("dst_port", dst_port);
                m.insert("orig_ip", orig_ip);
                m.insert("orig_port", orig_port);
                format!("direct-tcp connection request to {dst_ip}:{dst_port} from {orig_ip}:{orig_port}")
            }
            EventKind::SshRequest {
                request,
                detail,
                granted,
            } => {
                m.insert("request", request);
                m.insert("detail", detail);
                m.insert("granted", granted);
                let verb = if *granted { "granted" } else { "refused" };
                format!("SSH request {request} {detail} {verb}")
            }
            EventKind::HttpRequest {
                method,
                path,
                query,
                version,
                headers,
                body_len,
                body_sha256,
                body,
                status,
            } => {
                m.insert("method", method);
                m.insert("path", path);
                m.insert("query", query);
                m.insert("version", version);
                m.insert("headers", headers);
                m.insert("body_len", body_len);
                m.insert("body_sha256", body_sha256);
                m.insert("body", body);
                m.insert("status", status);
                let q = if query.is_empty() { "" } else { "?" };
                format!("HTTP {method} {path}{q}{query} {status}")
            }
            EventKind::Exploit {
                name,
                cve,
                command,
                urls,
            } => {
                m.insert("exploit", name);
                m.insert("cve", cve);
                m.insert("input", command);
                m.insert("urls", urls);
                let cve = cve
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                format!("Exploit {name}{cve}: {command}")
            }
            EventKind::SshKeyPlanted {
                path,
                key_type,
                fingerprint_sha256,
                key,
                comment,
            } => {
                m.insert("path", path);
                m.insert("type", key_type);
                m.insert("fingerprint_sha256", fingerprint_sha256);
                m.insert("key", key);
                m.insert("comment", comment);
                format!("SSH key planted in {path}: {key_type} {fingerprint_sha256} {comment}")
            }
            EventKind::LoginSuccess { username, password } => {
                m.insert("username", username);
                m.insert("password", password);
                format!("login attempt [{username}/{password}] succeeded")
            }
            EventKind::LoginFailed { username, password } => {
                m.insert("username", username);
                m.insert("password", password);
                format!("login attempt [{username}/{password}] failed")
            }
            EventKind::CommandInput { input } => {
                m.insert("input", input);
                format!("CMD: {input}")
            }
            EventKind::CommandFailed { input } => {
                m.insert("input", input);
                format!("Command not found: {input}")
            }
            EventKind::FileDownload {
                url,
                outfile,
                shasum,
                destfile,
                duplicate,
            } => {
                if let Some(url) = url {
                    m.insert("url", url);
                }
                m.insert("outfile", outfile);
                m.insert("shasum", shasum);
                m.insert("destfile", destfile);
                m.insert("duplicate", duplicate);
                match url {
                    Some(url) => {
                        format!("Downloaded URL ({url}) with SHA-256 {shasum} to {outfile}")
                    }
                    None => format!("Saved redir contents with SHA-256 {shasum} to {outfile}"),
                }
            }
            EventKind::FileUpload {
                filename,
                outfile,
                shasum,
                destfile,
                duplicate,
            } => {
                m.insert("filename", filename);
                m.insert("outfile", outfile);
                m.insert("shasum", shasum);
                m.insert("destfile", destfile);
                m.insert("duplicate", duplicate);
                format!("SCP Uploaded file \"{filename}\" to {outfile}")
            }
            EventKind::SampleTriage {
                shasum,
                size,
                kind,
                arch,
                stripped,
                upx,
                upx_zeroed_header,
                entropy_milli,
                sha1,
                md5,
                mirai_key,
                c2,
                urls,
            } => {
                m.insert("shasum", shasum);
                m.insert("sha1", sha1);
                m.insert("md5", md5);
                m.insert("size", size);
                m.insert("kind", kind);
                m.insert("arch", arch);
                m.insert("stripped", stripped);
                m.insert("upx", upx);
                m.insert("upx_zeroed_header", upx_zeroed_header);
                m.insert("entropy", &(f64::from(*entropy_milli) / 1000.0));
                m.insert("mirai_key", mirai_key);
                m.insert("c2", c2);
                m.insert("urls", urls);
                format!("Sample {shasum}: {kind} {}", arch.as_deref().unwrap_or(""))
            }
            EventKind::SessionFamily {
                family,
                sub_label,
                confidence_pct,
                evidence,
            } => {
                m.insert("family", family);
                m.insert("sub_label", sub_label);
                m.insert("confidence", &(f64::from(*confidence_pct) / 100.0));
                m.insert("evidence", evidence);
                format!("Session family: {family}")
            }
            EventKind::DownloadRequest { tool, url } => {
                m.insert("tool", tool);
                m.insert("url", url);
                format!("Download request ({tool}): {url}")
            }
            EventKind::Executed { path } => {
                m.insert("path", path);
                format!("Executed {path}")
            }
            EventKind::LimitHit { limit, value } => {
                m.insert("limit", limit);
                m.insert("value", value);
                format!("Limit {limit} ({value}) reached")
            }
            EventKind::SessionEnd { reason } => {
                m.insert("reason", &reason.as_str());
                format!("Session ended: {}", reason.as_str())
            }
            EventKind::Closed { duration_ms } => {
                m.insert("duration_ms", duration_ms);
                format!("Connection lost after {duration_ms} milliseconds")
            }
        };
        m.insert("message", &message);
        m.insert("sensor", &sensor.name);
        m.insert("uuid", &sensor.uuid);
        m.insert("timestamp", &format_timestamp(self.time));
        m.insert("seq", &seq);
        m.finish()
    }
}

/// Turns attacker bytes into a JSON-safe string. Valid UTF-8 is kept as is; each
/// invalid byte becomes U+FFFD, as Cowrie's Python decoding does. The exact bytes are
/// kept in the session recording.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn peer() -> Peer {
        Peer {
            src: "127.0.0.1:37846".parse().unwrap(),
            dst: "127.0.0.1:2223".parse().unwrap(),
            protocol: Protocol::Telnet,
        }
    }

    fn sensor() -> SensorIdentity {
        SensorIdentity {
            name: "vm".into(),
            uuid: "869d3794-e95b-11f1-a74c-02fc00000001".into(),
        }
    }

    #[test]
    fn every_busybait_id_is_documented() {
        let doc = include_str!("../../../docs/EVENTS.md");
        for (id, _) in BUSYBAIT_EVENT_IDS {
            assert!(
                doc.contains(&format!("`{id}`")),
                "{id} missing from docs/EVENTS.md"
            );
        }
    }

    #[test]
    fn session_id_is_twelve_hex() {
        let id = SessionId::from_u64(0x2b74_6a63_fcd6);
        assert_eq!(id.to_string(), "2b746a63fcd6");
        assert_eq!(SessionId::parse("2b746a63fcd6"), Some(id));
        assert_eq!(SessionId::parse("2b746a63fcd"), None);
    }

    #[test]
    fn timestamp_matches_cowrie() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_670_304_382_946);
        assert_eq!(format_timestamp(t), "2026-11-26T05:18:24.382946Z");
    }

    #[test]
    fn connect_line_matches_cowrie_fields() {
        let ev = Event {
            time: UNIX_EPOCH + Duration::from_micros(1_795_670_397_312_485),
            session: SessionId::from_u64(0x2b74_6a63_fcd6),
            peer: peer(),
            kind: EventKind::connect(),
        };
        let v = ev.to_json_value(&sensor(), 7);
        let expected = serde_json::json!({
            "session":"2b746a63fcd6","protocol":"telnet","src_ip":"127.0.0.1","src_port":37846,
            "dst_ip":"127.0.0.1","dst_port":2223,"eventid":"cowrie.session.connect","sensor":"vm",
            "uuid":"869d3794-e95b-11f1-a74c-02fc00000001","timestamp":"2026-11-26T05:19:57.312485Z",
            "message":"New connection: 127.0.0.1:37846 (127.0.0.1:2223) [session: 2b746a63fcd6]",
            "seq":7
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn command_failed_has_no_trailing_space() {
        let ev = Event {
            time: UNIX_EPOCH,
            session: SessionId::from_u64(1),
            peer: peer(),
            kind: EventKind::CommandFailed {
                input: "enable".into(),
            },
        };
        let v = ev.to_json_value(&sensor(), 1);
        assert_eq!(v["input"], "enable");
        assert_eq!(v["message"], "Command not found: enable");
    }

    #[test]
    fn option_event_fields() {
        let ev = Event {
            time: UNIX_EPOCH,
            session: SessionId::from_u64(1),
            peer: peer(),
            kind: EventKind::TelnetOption {
                verb: TelnetVerb::Will,
                option: 31,
            },
        };
        let v = ev.to_json_value(&sensor(), 1);
        assert_eq!(v["command"], "WILL");
        assert_eq!(v["option_name"], "NAWS");
        assert_eq!(v["option_byte"], 31);
        assert_eq!(v["message"], "Telnet WILL NAWS");
    }
}
