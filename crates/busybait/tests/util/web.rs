//! A plain HTTP/1.1 client for the console's tests: one request per connection,
//! every header the test chooses, the answer whole (status, headers, body).

use std::io::{Read, Write};
use std::net::SocketAddr;

/// An answer.
pub struct Answer {
    pub status: u16,
    /// Names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced; `bytes` has it exactly).
    pub body: String,
    raw: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl Answer {
    /// The body's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The one value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "{name} twice: {:?}", self.headers);
        value
    }
}

/// `METHOD path` with `Host: addr` unless `headers` names another, and `body`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body);
    s.write_all(head.as_bytes()).unwrap();
    // No request here takes long; a hang fails the test instead of the run.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    // Until the head's end, then Content-Length bytes (ChromeDriver keeps the
    // connection open whatever `Connection` says), or to the close without one.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = super::find(&raw, b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the head's end: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    match headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap())
    {
        Some(len) => {
            while body.len() < len {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "closed inside the body");
                body.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            s.read_to_end(&mut body).unwrap();
        }
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        raw: body,
    }
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[], "")
}

/// Text as the console must show it: HTML-escaped.
pub fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET path` until `done` holds for the page (the store is written a moment after
/// the event log the tests wait on).
pub fn get_when(addr: SocketAddr, path: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let answer = get(addr, path);
        if done(&answer) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never became what the test waits for: {answer:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub const STEP: std::time::Duration = std::time::Duration::from_secs(10);

/// What a bot chooses that a careless page would run.
pub const USER: &str = "<script>alert(1)</script>";
pub const PASSWORD: &str = "\"><img src=x onerror=alert(2)>";
pub const COMMAND: &str = "echo '</title><svg onload=alert(3)>'";
pub const URL: &str = "http://127.0.0.1:9/<script>alert(4)</script>.sh";

/// A session that tries the hostile credentials, logs in, runs the hostile command
/// and downloads from the hostile URL; its id.
pub fn hostile_session(sensor: &super::Sensor, from: usize) -> String {
    let mut c = sensor.connect_from(super::source(from));
    c.read_until(b"login: ", STEP);
    c.send(format!("{USER}\r\n").as_bytes());
    c.read_until(b"Password: ", STEP);
    c.send(format!("{PASSWORD}\r\n").as_bytes());
    c.read_until(b"login: ", STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", STEP);
    c.send(b"xc3511\r\n");
    c.read_until(b"# ", STEP);
    c.send(format!("{COMMAND}\r\n").as_bytes());
    c.read_until(b"# ", STEP);
    c.send(format!("wget '{URL}'\r\n").as_bytes());
    c.read_until(b"# ", STEP);
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    let src = super::source(from).to_string();
    let events = sensor.wait_for_events("the hostile session's close", |events| {
        events.iter().any(|e| {
            e["eventid"] == "cowrie.session.closed" && e["src_ip"].as_str() == Some(src.as_str())
        })
    });
    events
        .iter()
        .find(|e| e["eventid"] == "cowrie.session.connect" && e["src_ip"] == src.as_str())
        .unwrap()["session"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `busybait web --listen 127.0.0.1:0 ARGS` with `env`; the process and its address.
pub fn start_console(args: &[&str], env: &[(&str, &str)]) -> (super::Process, SocketAddr) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"));
    cmd.args(["web", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = super::Process::spawn(cmd);
    let line = child.line();
    let addr = line
        .strip_prefix("listening web ")
        .unwrap_or_else(|| panic!("no console: {line:?}"))
        .trim()
        .parse()
        .unwrap();
    (child, addr)
}

/// Waits until the console's session list shows `n` sessions (the store is written
/// a moment after the event log; the overview is counted at most every few
/// seconds, the list is always current).
pub fn wait_for_sessions(addr: SocketAddr, n: usize) {
    get_when(addr, "/sessions?limit=200", |p| {
        p.body.matches("<td><a href=\"/sessions/").count() == n
    });
}
