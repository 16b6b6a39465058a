//! The fetcher: downloads what a session's `wget` asked for, only when the operator
//! turned fetching on (`[fetch] enabled = true`), outside the session task.
//!
//! Every address is checked after DNS resolution and again on every redirect against
//! the allow/deny policy: private, loopback, link-local, multicast and reserved ranges
//! are denied unless an `allow` entry covers them. Size, time, redirects, concurrency
//! (global and per host) and the request rate are capped; a URL fetched once is served
//! from a bounded cache. Plain HTTP (`wget`), TFTP (`tftp`, RFC 1350 in octet mode) and
//! FTP (`ftpget`, passive binary RETR) are fetched; other schemes are refused (the tool
//! then fails as on an unreachable host).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::addresses::Cidr;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

/// `[fetch]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Off by default: nothing connects out unless the operator says so.
    pub enabled: bool,
    /// CIDRs allowed even if a deny rule covers them (e.g. `127.0.0.0/8` in tests).
    pub allow: Vec<String>,
    /// Extra CIDRs to deny.
    pub deny: Vec<String>,
    /// Largest body fetched.
    pub max_bytes: u64,
    /// Longest a fetch may take.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: u32,
    /// Fetches in flight at once.
    pub max_concurrent: usize,
    /// Fetches in flight to one host at once.
    pub max_per_host: usize,
    /// Fetches started per minute, all sessions together.
    pub max_per_minute: u32,
    /// URLs whose result is remembered.
    pub cache_entries: usize,
    /// Bytes of bodies remembered, all URLs together.
    pub cache_bytes: u64,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow: Vec::new(),
            deny: Vec::new(),
            max_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_redirects: 3,
            max_concurrent: 16,
            max_per_host: 2,
            max_per_minute: 60,
            cache_entries: 1024,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The address policy.
#[derive(Debug, Clone)]
pub struct Policy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl Policy {
    /// From the config.
    pub fn new(config: &FetchConfig) -> anyhow::Result<Self> {
        let parse = |v: &[String]| {
            v.iter()
                .map(|s| Cidr::parse(s))
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let mut deny = parse(&config.deny)?;
        deny.extend(crate::addresses::non_public());
        Ok(Self {
            allow: parse(&config.allow)?,
            deny,
        })
    }

    /// Whether fetching from `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(ip)) || !self.deny.iter().any(|c| c.contains(ip))
    }
}

/// Why a fetch failed (logged; the session only sees "refused").
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an `http://` URL.
    #[error("unsupported URL scheme")]
    Scheme,
    /// No address the policy allows.
    #[error("{0}: every address is denied by the fetch policy")]
    Denied(String),
    /// Rate, concurrency.
    #[error("fetch limits reached")]
    Busy,
    /// The body is too large.
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    /// Too many redirects, a bad response.
    #[error("{0}")]
    Protocol(String),
    /// Network.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Timeout.
    #[error("timed out")]
    Timeout,
}

/// The fetcher shared by all sessions.
pub struct Fetcher {
    config: FetchConfig,
    policy: Policy,
    slots: Semaphore,
    per_host: Mutex<HashMap<String, usize>>,
    rate: Mutex<(Instant, u32)>,
    cache: Mutex<Cache>,
}

/// Results by URL; emptied when either bound would be passed (bots fetch the same few
/// URLs in bursts, so a simple reset loses little).
#[derive(Default)]
struct Cache {
    results: HashMap<String, Option<Arc<Vec<u8>>>>,
    bytes: u64,
}

impl Fetcher {
    /// A fetcher for the config (which must have `enabled`).
    pub fn new(config: FetchConfig) -> anyhow::Result<Self> {
        let policy = Policy::new(&config)?;
        Ok(Self {
            slots: Semaphore::new(config.max_concurrent.max(1)),
            per_host: Mutex::new(HashMap::new()),
            rate: Mutex::new((Instant::now(), 0)),
            cache: Mutex::new(Cache::default()),
            config,
            policy,
        })
    }

    /// Fetches `url` (`password` is `ftpget`'s); `None` if it failed (the reason is
    /// logged).
    pub async fn fetch(&self, url: &str, password: Option<&str>) -> Option<Arc<Vec<u8>>> {
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .results
            .get(url)
        {
            return hit.clone();
        }
        let result = match tokio::time::timeout(
            self.config.timeout,
            self.fetch_uncached(url, password.unwrap_or("anonymous")),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        };
        let (value, lasting) = match result {
            Ok(body) => (Some(Arc::new(body)), true),
            Err(e) => {
                tracing::info!(url, error = %e, "fetch failed");
                // A busy fetcher or a network hiccup may pass; a policy answer will not.
                let lasting = matches!(
                    e,
                    FetchError::Scheme | FetchError::Denied(_) | FetchError::TooLarge(_)
                );
                (None, lasting)
            }
        };
        if lasting {
            let size = value.as_ref().map_or(0, |b| b.len() as u64);
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.results.len() >= self.config.cache_entries
                || cache.bytes.saturating_add(size) > self.config.cache_bytes
            {
                cache.results.clear();
                cache.bytes = 0;
            }
            if size <= self.config.cache_bytes {
                cache.bytes += size;
                cache.results.insert(url.to_string(), value.clone());
            }
        }
        value
    }

    fn take_rate(&self) -> bool {
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        if rate.0.elapsed() >= Duration::from_secs(60) {
            *rate = (Instant::now(), 0);
        }
        if rate.1 >= self.config.max_per_minute {
            return false;
        }
        rate.1 += 1;
        true
    }

    async fn fetch_uncached(&self, url: &str, password: &str) -> Result<Vec<u8>, FetchError> {
        if !self.take_rate() {
            return Err(FetchError::Busy);
        }
        let _slot = self.slots.try_acquire().map_err(|_| FetchError::Busy)?;
        if let Some((host, port, file)) = split_url(url, "tftp://", 69) {
            let _host_slot = HostSlot::take(&self.per_host, &host, self.config.max_per_host)
                .ok_or(FetchError::Busy)?;
            let server = self.resolve(&host, port).await?;
            let file = file.strip_prefix('/').unwrap_or(&file);
            return tftp_get(server, file, self.config.max_bytes).await;
        }
        if let Some((userhost, port, file)) = split_url(url, "ftp://", 21) {
            let (user, host) = userhost
                .rsplit_once('@')
                .map_or(("anonymous".to_string(), userhost.clone()), |(u, h)| {
                    (u.to_string(), h.to_string())
                });
            // A user name, password or file with a line break would inject FTP commands.
            if [user.as_str(), file.as_str(), password]
                .iter()
                .any(|s| s.contains(['\r', '\n']))
            {
                return Err(FetchError::Protocol("line break in an FTP argument".into()));
            }
            let _host_slot = HostSlot::take(&self.per_host, &host, self.config.max_per_host)
                .ok_or(FetchError::Busy)?;
            let server = self.resolve(&host, port).await?;
            let file = file.strip_prefix('/').unwrap_or(&file);
            return ftp_get(server, &user, password, file, self.config.max_bytes).await;
        }
        let mut url = url.to_string();
        for _ in 0..=self.config.max_redirects {
            let (host, port, path) = split_url(&url, "http://", 80).ok_or(FetchError::Scheme)?;
            let _host_slot = HostSlot::take(&self.per_host, &host, self.config.max_per_host)
                .ok_or(FetchError::Busy)?;
            let addr = self.resolve(&host, port).await?;
            match get(addr, &host, port, &path, self.config.max_bytes).await? {
                Response::Body(b) => return Ok(b),
                Response::Redirect(location) => {
                    url = if location.starts_with("http://") || location.starts_with("https://") {
                        location
                    } else {
                        format!("http://{host}:{port}/{}", location.trim_start_matches('/'))
                    };
                }
            }
        }
        Err(FetchError::Protocol("too many redirects".into()))
    }
}

impl Fetcher {
    /// The first address of `host` the policy permits.
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, FetchError> {
        tokio::net::lookup_host((host, port))
            .await?
            .find(|a| self.policy.permits(a.ip()))
            .ok_or_else(|| FetchError::Denied(host.to_string()))
    }
}

/// A per-host concurrency slot, released on drop.
struct HostSlot<'a> {
    map: &'a Mutex<HashMap<String, usize>>,
    host: String,
}

impl<'a> HostSlot<'a> {
    fn take(map: &'a Mutex<HashMap<String, usize>>, host: &str, max: usize) -> Option<Self> {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(host.to_string()).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(Self {
            map,
            host: host.to_string(),
        })
    }
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.host);
            }
        }
    }
}

/// `scheme://host[:port]/path` → host, port, path (starting with `/`).
fn split_url(url: &str, scheme: &str, default_port: u16) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix(scheme)?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?.to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (hostport.to_string(), default_port),
    };
    (!host.is_empty()).then_some((host, port, path))
}

enum Response {
    Body(Vec<u8>),
    Redirect(String),
}

/// Headers read at most.
const MAX_HEADER: usize = 16 * 1024;

/// One HTTP/1.0 GET (so that no server answers in chunks).
async fn get(
    addr: SocketAddr,
    host: &str,
    port: u16,
    path: &str,
    max: u64,
) -> Result<Response, FetchError> {
    let mut s = TcpStream::connect(addr).await?;
    let host_header = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEADER {
            return Err(FetchError::Protocol("response headers too long".into()));
        }
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(FetchError::Protocol(
                "connection closed in the headers".into(),
            ));
        }
        buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(buf.get(..header_end).unwrap_or_default()).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| FetchError::Protocol("no status line".into()))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if (300..400).contains(&status) {
        let location = header("location")
            .ok_or_else(|| FetchError::Protocol("redirect without Location".into()))?;
        return Ok(Response::Redirect(location));
    }
    if status != 200 {
        return Err(FetchError::Protocol(format!("HTTP status {status}")));
    }
    let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    if length.is_some_and(|l| l > max) {
        return Err(FetchError::TooLarge(max));
    }
    let mut body = buf.split_off(header_end);
    loop {
        if body.len() as u64 > max {
            return Err(FetchError::TooLarge(max));
        }
        if length.is_some_and(|l| body.len() as u64 >= l) {
            break;
        }
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(tmp.get(..n).unwrap_or_default());
    }
    if let Some(l) = length {
        body.truncate(usize::try_from(l).unwrap_or(usize::MAX));
    }
    Ok(Response::Body(body))
}

/// TFTP's data block size (RFC 1350); a shorter block ends the transfer.
const TFTP_BLOCK: usize = 512;
/// How long to wait for a TFTP packet before sending the last one again.
const TFTP_RETRY: Duration = Duration::from_secs(2);
/// Retransmissions of one packet before giving up.
const TFTP_RETRIES: u32 = 3;

/// One TFTP read request in octet mode. Packets from any address but the server's are
/// ignored, and after the first DATA, from any port but the one it came from.
async fn tftp_get(server: SocketAddr, file: &str, max: u64) -> Result<Vec<u8>, FetchError> {
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    let mut last = Vec::with_capacity(file.len() + 10);
    last.extend_from_slice(&1u16.to_be_bytes());
    last.extend_from_slice(file.as_bytes());
    last.push(0);
    last.extend_from_slice(b"octet\0");
    let mut peer = server;
    let mut transfer_port: Option<u16> = None;
    let mut expected: u16 = 1;
    let mut body = Vec::new();
    let mut packet = vec![0u8; TFTP_BLOCK + 4];
    let mut retries = 0;
    socket.send_to(&last, peer).await?;
    loop {
        let received = tokio::time::timeout(TFTP_RETRY, socket.recv_from(&mut packet)).await;
        let (n, from) = match received {
            Ok(r) => r?,
            Err(_) => {
                retries += 1;
                if retries > TFTP_RETRIES {
                    return Err(FetchError::Timeout);
                }
                socket.send_to(&last, peer).await?;
                continue;
            }
        };
        if from.ip() != server.ip() || transfer_port.is_some_and(|p| p != from.port()) {
            continue;
        }
        let data = packet.get(..n).unwrap_or_default();
        let (Some(&[op0, op1]), Some(&[b0, b1])) = (data.get(0..2), data.get(2..4)) else {
            continue;
        };
        let block = u16::from_be_bytes([b0, b1]);
        match u16::from_be_bytes([op0, op1]) {
            3 => {
                transfer_port.get_or_insert(from.port());
                peer = from;
                let payload = data.get(4..).unwrap_or_default();
                if block == expected {
                    retries = 0;
                    if (body.len() + payload.len()) as u64 > max {
                        return Err(FetchError::TooLarge(max));
                    }
                    body.extend_from_slice(payload);
                    last = [4u16.to_be_bytes(), block.to_be_bytes()].concat();
                    socket.send_to(&last, peer).await?;
                    if payload.len() < TFTP_BLOCK {
                        return Ok(body);
                    }
                    expected = expected.wrapping_add(1);
                } else if block == expected.wrapping_sub(1) {
                    // Our ACK was lost: say it again.
                    socket.send_to(&last, peer).await?;
                }
            }
            5 => {
                let message = String::from_utf8_lossy(data.get(4..).unwrap_or_default())
                    .trim_end_matches('\0')
                    .to_string();
                return Err(FetchError::Protocol(format!(
                    "TFTP error {block}: {message}"
                )));
            }
            _ => {}
        }
    }
}

/// Longest FTP reply line read.
const FTP_MAX_LINE: usize = 1024;

/// The FTP control connection: commands out, replies in.
struct FtpControl {
    stream: tokio::io::BufReader<TcpStream>,
}

impl FtpControl {
    /// The next reply's code and text (multi-line replies joined).
    async fn reply(&mut self) -> Result<(u16, String), FetchError> {
        use tokio::io::AsyncBufReadExt;
        let mut text = String::new();
        let mut first: Option<u16> = None;
        loop {
            let mut line = Vec::new();
            let n = (&mut self.stream)
                .take(FTP_MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Err(FetchError::Protocol(
                    "FTP server closed the connection".into(),
                ));
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let code: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
            text.push_str(&line);
            text.push('\n');
            match (first, code) {
                (None, Some(c)) if line.as_bytes().get(3) == Some(&b'-') => first = Some(c),
                (None, Some(c)) => return Ok((c, text)),
                (Some(f), Some(c)) if c == f && line.as_bytes().get(3) != Some(&b'-') => {
                    return Ok((c, text))
                }
                (None, None) => {
                    return Err(FetchError::Protocol(format!("bad FTP reply {line:?}")))
                }
                _ => {}
            }
            if text.len() > MAX_HEADER {
                return Err(FetchError::Protocol("FTP reply too long".into()));
            }
        }
    }

    /// Sends a command and reads its reply, which must have one of `ok` codes.
    async fn command(&mut self, command: &str, ok: &[u16]) -> Result<(u16, String), FetchError> {
        self.stream
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await?;
        let (code, text) = self.reply().await?;
        if !ok.contains(&code) {
            let verb = command.split(' ').next().unwrap_or_default();
            return Err(FetchError::Protocol(format!(
                "FTP {verb}: {}",
                text.trim_end()
            )));
        }
        Ok((code, text))
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(text: &str) -> Option<u16> {
    let inner = text.get(text.find('(')? + 1..)?;
    let inner = inner.get(..inner.find(')')?)?;
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    match n.as_slice() {
        [_, _, _, _, hi, lo] if *hi < 256 && *lo < 256 => Some(hi * 256 + lo),
        _ => None,
    }
}

/// One passive-mode binary RETR, as `ftpget` does it. The data connection goes to the
/// control connection's address whatever the server announces, so a server cannot
/// steer the fetcher to another host.
async fn ftp_get(
    server: SocketAddr,
    user: &str,
    password: &str,
    file: &str,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let mut control = FtpControl {
        stream: tokio::io::BufReader::new(TcpStream::connect(server).await?),
    };
    let (code, text) = control.reply().await?;
    if code != 220 {
        return Err(FetchError::Protocol(format!(
            "FTP greeting: {}",
            text.trim_end()
        )));
    }
    let (code, _) = control
        .command(&format!("USER {user}"), &[230, 331])
        .await?;
    if code == 331 {
        control
            .command(&format!("PASS {password}"), &[230, 202])
            .await?;
    }
    control.command("TYPE I", &[200]).await?;
    let (_, text) = control.command("PASV", &[227]).await?;
    let port = pasv_port(&text)
        .ok_or_else(|| FetchError::Protocol(format!("bad PASV reply {:?}", text.trim_end())))?;
    let mut data = TcpStream::connect(SocketAddr::new(server.ip(), port)).await?;
    control
        .command(&format!("RETR {file}"), &[125, 150])
        .await?;
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = data.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        if (body.len() + n) as u64 > max {
            return Err(FetchError::TooLarge(max));
        }
        body.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let (code, text) = control.reply().await?;
    if code != 226 && code != 250 {
        return Err(FetchError::Protocol(format!(
            "FTP RETR: {}",
            text.trim_end()
        )));
    }
    let _ = control.command("QUIT", &[221]).await;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_denies_private_and_loopback_unless_allowed() {
        let p = Policy::new(&FetchConfig::default()).unwrap();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.20.0.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!p.permits(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(p.permits(ip.parse().unwrap()), "{ip}");
        }
        let cfg = FetchConfig {
            allow: vec!["127.0.0.0/8".into()],
            deny: vec!["8.8.8.0/24".into()],
            ..FetchConfig::default()
        };
        let p = Policy::new(&cfg).unwrap();
        assert!(p.permits("127.0.0.1".parse().unwrap()));
        assert!(!p.permits("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/bins/x.arm", "http://", 80),
            Some(("127.0.0.1".into(), 8080, "/bins/x.arm".into()))
        );
        assert_eq!(
            split_url("http://h", "http://", 80),
            Some(("h".into(), 80, "/".into()))
        );
        assert_eq!(split_url("ftp://h/x", "http://", 80), None);
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Some(50000)
        );
        assert_eq!(pasv_port("227 (1,2,3,4,256,1)"), None);
        assert_eq!(pasv_port("227 nothing"), None);
        assert_eq!(
            split_url("tftp://127.0.0.1:6969/x.arm7", "tftp://", 69),
            Some(("127.0.0.1".into(), 6969, "/x.arm7".into()))
        );
        assert_eq!(split_url("http://:80/", "http://", 80), None);
    }
}
