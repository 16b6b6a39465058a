//! The HTTP door against the real BusyBox 1.35 `httpd` (`-i -h /www`) in the oracle
//! sandbox: a corpus of requests, each to busybait's `oracle` profile over TCP and to
//! a fresh sandboxed httpd over its socket pair, whole answers compared byte for
//! byte once `Date`, `Last-Modified` and the time half of `ETag` (clocks and file
//! times) are set aside. The sandbox's `index.html` is busybait's own index page.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use util::oracle::Oracle;
use util::{source, test_config, Sensor};

/// Requests a bot or a browser sends to a device's web server.
const CORPUS: &[(&str, &[u8])] = &[
    ("index", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("index-http10", b"GET / HTTP/1.0\r\n\r\n"),
    (
        "index-html",
        b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\n\r\n",
    ),
    ("head", b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    (
        "missing",
        b"GET /missing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ),
    ("missing-deep", b"GET /cgi-bin/luci HTTP/1.1\r\n\r\n"),
    ("unknown-method", b"FOO / HTTP/1.1\r\n\r\n"),
    ("delete", b"DELETE / HTTP/1.1\r\n\r\n"),
    (
        "post-to-a-file",
        b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    ),
    ("garbage", b"garbage\r\n\r\n"),
    (
        "control-bytes-in-a-header",
        b"GET / HTTP/1.1\r\nX-Evil: \x1b]52;c;ZXZpbA==\x07\x1b[2J\r\nHost: 127.0.0.1\r\n\r\n",
    ),
    ("climbing-out", b"GET /../etc/passwd HTTP/1.1\r\n\r\n"),
];

/// `Date:` and `Last-Modified:` values and the time half of an `ETag` replaced.
fn without_clocks(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .split("\r\n")
        .map(|line| {
            if line.starts_with("Date: ") || line.starts_with("Last-Modified: ") {
                format!("{} <time>", line.split_once(' ').unwrap().0)
            } else if let Some(tag) = line.strip_prefix("ETag: \"") {
                format!("ETag: \"<mtime>-{}", tag.split_once('-').unwrap().1)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

/// One request to busybait (from source `i`), the whole answer.
fn ask(http: std::net::SocketAddr, i: usize, request: &[u8]) -> Vec<u8> {
    let mut s = util::tcp_from(http, source(i)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    read_all(s)
}

/// The body of an answer.
fn body_of(answer: &[u8]) -> String {
    let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    String::from_utf8(answer[at..].to_vec()).unwrap()
}

/// Each case to busybait (sources from `first_source` on) and to a fresh oracle
/// from `start`; fails with every case whose answers differ beyond the clocks.
fn compare(
    http: std::net::SocketAddr,
    first_source: usize,
    cases: &[(&str, Vec<u8>)],
    start: impl Fn() -> Oracle,
) {
    let mut differ = Vec::new();
    for (i, (name, request)) in cases.iter().enumerate() {
        let ours = ask(http, first_source + i, request);
        let mut oracle = start();
        oracle
            .stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        oracle.stream.write_all(request).unwrap();
        let real = read_all(&oracle.stream);
        assert!(
            !real.is_empty(),
            "{name}: the oracle said nothing: {}",
            oracle.log()
        );
        let (ours, real) = (without_clocks(&ours), without_clocks(&real));
        if ours == real {
            println!("{name}: identical ({} bytes)", real.len());
        } else {
            differ.push(format!("{name}:\n  real: {real:?}\n  ours: {ours:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn the_web_server_answers_as_busybox_httpd_does() {
    let sensor = Sensor::start_http(&test_config("oracle", "", ""));
    let http = sensor.http.unwrap();
    // busybait's index page becomes the sandbox's index.html.
    let index_html = body_of(&ask(http, 0, CORPUS[0].1));
    let cases: Vec<(&str, Vec<u8>)> = CORPUS.iter().map(|(n, r)| (*n, r.to_vec())).collect();
    compare(http, 1, &cases, || Oracle::start_httpd(&index_html));
}

/// The same with Basic authentication: an operator's copy of the `oracle` profile
/// with a realm, against httpd with `-r` and one account (`root:xc3511`, which the
/// sensor's credential policy accepts).
#[test]
fn authentication_answers_as_busybox_httpd_does() {
    let oracle = include_str!("../../../profiles/oracle.toml");
    let with_realm = oracle
        .replace("name = \"oracle\"", "name = \"oracle-auth\"")
        .replace(
            "title = \"oracle\"",
            "title = \"oracle\"\nrealm = \"busybait\"",
        );
    assert_ne!(with_realm, oracle);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oracle-auth.toml"), with_realm).unwrap();
    // profiles_dir is a top-level key: before the tables of the test config.
    let config = format!(
        "profiles_dir = {:?}\n{}",
        dir.path().display().to_string(),
        test_config("oracle-auth", "", "")
    );
    let sensor = Sensor::start_http(&config);
    let http = sensor.http.unwrap();
    // root:xc3511, and root:wrong.
    let right = "Authorization: Basic cm9vdDp4YzM1MTE=\r\n";
    let wrong = "Authorization: Basic cm9vdDp3cm9uZw==\r\n";
    let index_html = body_of(&ask(
        http,
        100,
        format!("GET / HTTP/1.1\r\n{right}\r\n").as_bytes(),
    ));
    let corpus: Vec<(&str, String)> = vec![
        ("no-credentials", "GET / HTTP/1.1\r\n\r\n".into()),
        ("wrong-password", format!("GET / HTTP/1.1\r\n{wrong}\r\n")),
        ("right-password", format!("GET / HTTP/1.1\r\n{right}\r\n")),
        (
            "right-password-missing",
            format!("GET /missing HTTP/1.1\r\n{right}\r\n"),
        ),
        (
            "no-credentials-missing",
            "GET /missing HTTP/1.1\r\n\r\n".into(),
        ),
        (
            "not-basic",
            "GET / HTTP/1.1\r\nAuthorization: Digest username=\"root\"\r\n\r\n".into(),
        ),
    ];
    let cases: Vec<(&str, Vec<u8>)> = corpus
        .into_iter()
        .map(|(n, r)| (n, r.into_bytes()))
        .collect();
    compare(http, 101, &cases, || {
        Oracle::start_httpd_with_auth(&index_html, "busybait", "root:xc3511")
    });
}
