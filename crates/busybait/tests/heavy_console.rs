//! The console in a real browser (headless Chromium through ChromeDriver): every
//! page loads with an empty console log (no script error, no Content-Security-Policy
//! violation), no payload a bot wrote runs (no dialog, no element it would have
//! made) and each shows as text; the replay plays the recording; a new session
//! appears in the list without a reload; paging works by clicking. Screenshots of
//! the main pages are written to the test's target directory (docs/ has copies).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use serde_json::json;
use util::browser::Browser;
use util::web::{get_when, hostile_session, COMMAND, PASSWORD, STEP, USER};
use util::{source, test_config, Sensor};

/// The scripts a console page may hold: its own, and on a session's page the player.
fn scripts(path: &str) -> serde_json::Value {
    if path.starts_with("/sessions/") {
        json!([
            "/static/asciinema-player-3.18.0.min.js",
            "/static/console.js"
        ])
    } else {
        json!(["/static/console.js"])
    }
}

/// Loads `path` and checks that nothing but the console's own code ran.
fn load_cleanly(browser: &Browser, base: &str, path: &str) {
    browser.open(&format!("{base}{path}"));
    browser.wait_for(
        "the page's scripts",
        "return document.readyState === 'complete'",
    );
    assert_eq!(browser.dialog(), None, "{path}: a dialog opened");
    assert_eq!(
        browser.run("return [...document.scripts].map(s => s.getAttribute('src'))"),
        scripts(path),
        "{path}"
    );
    assert_eq!(
        browser.run(
            "return document.querySelectorAll('img, iframe, object, embed, svg script, [onload], [onerror]').length"
        ),
        json!(0),
        "{path}: an element a payload would make"
    );
    // The one entry a missing page makes is its own status.
    let expected: Vec<(String, String)> = if path == "/nowhere" {
        vec![(
            "SEVERE".into(),
            format!("{base}{path} - Failed to load resource: the server responded with a status of 404 (Not Found)"),
        )]
    } else {
        Vec::new()
    };
    assert_eq!(browser.console_log(), expected, "{path}: the console's log");
}

#[test]
fn the_console_in_chromium() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    let base = format!("http://{web}");
    let id = hostile_session(&sensor, 60);
    get_when(web, &format!("/sessions/{id}"), |p| {
        p.body.contains("cowrie.session.closed")
    });
    let browser = Browser::start();

    for path in [
        "/",
        "/sessions",
        &format!("/sessions/{id}"),
        "/indicators?span=all",
        "/samples?span=all",
        "/alerts?span=all",
        "/sensors",
        "/nowhere",
    ] {
        load_cleanly(&browser, &base, path);
    }

    // The session's page shows what the bot typed, as it typed it.
    load_cleanly(&browser, &base, &format!("/sessions/{id}"));
    let text = browser.run("return document.querySelector('main').innerText");
    let text = text.as_str().unwrap();
    for typed in [USER, PASSWORD, COMMAND] {
        assert!(text.contains(typed), "{typed:?} not shown:\n{text}");
    }
    // The replay plays: the player draws the echo's output (markup, as text).
    browser.wait_for(
        "the replay to draw the echo",
        "const r = document.querySelector('#replay .ap-term'); \
         return r !== null && r.innerText.includes('</title><svg onload=alert(3)>')",
    );
    assert_eq!(browser.dialog(), None);
    assert_eq!(
        browser.run("return document.querySelectorAll('svg[onload], svg script').length"),
        json!(0)
    );
    std::fs::create_dir_all(screenshots()).unwrap();
    std::fs::write(screenshots().join("session.png"), browser.screenshot()).unwrap();
    let log = browser.console_log();
    assert!(log.is_empty(), "the replay logged {log:?}");

    // A new session appears in the open list without a reload.
    load_cleanly(&browser, &base, "/sessions");
    browser.wait_for(
        "the live stream",
        "return document.querySelector('table.sessions').dataset.following === 'yes'",
    );
    let mut c = sensor.connect_from(source(61));
    c.login();
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    let src = source(61).to_string();
    let events = sensor.wait_for_events("the new session", |e| {
        e.iter()
            .any(|e| e["eventid"] == "cowrie.session.connect" && e["src_ip"] == src.as_str())
    });
    let new = events
        .iter()
        .find(|e| e["eventid"] == "cowrie.session.connect" && e["src_ip"] == src.as_str())
        .unwrap()["session"]
        .as_str()
        .unwrap()
        .to_string();
    browser.wait_for(
        "the new session's row",
        &format!(
            "const first = document.querySelector('table.sessions tbody tr'); \
             return first !== null && first.innerText.includes('{new}') && first.innerText.includes('{src}')"
        ),
    );
    assert_eq!(browser.run("return location.pathname"), json!("/sessions"));
    std::fs::write(screenshots().join("sessions.png"), browser.screenshot()).unwrap();

    // Filters and paging, by clicking.
    load_cleanly(&browser, &base, "/sessions?limit=1");
    assert_eq!(
        browser.run("return document.querySelectorAll('table.sessions tbody tr').length"),
        json!(1)
    );
    browser.run("document.querySelector('a[rel=next]').click(); return null");
    browser.wait_for(
        "the next page",
        "return location.search.includes('before=') && document.readyState === 'complete'",
    );
    assert_eq!(
        browser.run(&format!(
            "return document.querySelector('table.sessions tbody tr a[href=\"/sessions/{id}\"]') !== null"
        )),
        json!(true),
        "the second page holds the older session"
    );
    load_cleanly(&browser, &base, &format!("/sessions?src={src}"));
    assert_eq!(
        browser.run("return [...document.querySelectorAll('table.sessions tbody tr')].map(r => r.cells[7].innerText)"),
        json!([new])
    );

    for (path, name) in [
        ("/?span=all", "overview"),
        ("/indicators?span=all", "indicators"),
    ] {
        load_cleanly(&browser, &base, path);
        std::fs::write(
            screenshots().join(format!("{name}.png")),
            browser.screenshot(),
        )
        .unwrap();
    }
    let log = browser.console_log();
    assert!(log.is_empty(), "{log:?}");
}

/// Where the screenshots go (copied to docs/ by hand when the pages change).
fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Under `serve --web`, the console's queries run on threads of their own: with
/// every query held for 3 s on those threads (the failpoint) and eight clients
/// keeping them busy, a telnet session answers twenty commands before the first of
/// those pages comes back (and every page does come back).
#[test]
fn slow_console_queries_never_delay_a_session() {
    let sensor = Sensor::start_web_env(
        &test_config("router-mips", "", ""),
        &[("BUSYBAIT_FAILPOINT", "console-slow-query")],
    );
    let web = sensor.web.unwrap();
    let mut c = sensor.connect_from(source(80));
    c.login();

    let (done_tx, done) = std::sync::mpsc::channel();
    let (started_tx, started) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (done_tx, started_tx) = (done_tx.clone(), started_tx.clone());
            std::thread::spawn(move || {
                let path = if i % 2 == 0 {
                    "/?span=all"
                } else {
                    "/export/stix?span=all"
                };
                let mut s = std::net::TcpStream::connect(web).unwrap();
                std::io::Write::write_all(
                    &mut s,
                    format!("GET {path} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
                started_tx.send(()).unwrap();
                let mut answer = String::new();
                std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
                done_tx.send(answer).unwrap();
            })
        })
        .collect();
    for _ in 0..8 {
        started.recv().unwrap();
    }
    for n in 0..20 {
        c.send(format!("echo live{n}\r\n").as_bytes());
        c.read_until(format!("live{n}\r\n# ").as_bytes(), STEP);
        assert!(
            done.try_recv().is_err(),
            "a console page came back before the session's command {n}"
        );
    }
    for client in clients {
        client.join().unwrap();
    }
    let answers: Vec<String> = done.try_iter().collect();
    assert_eq!(answers.len(), 8);
    assert!(
        answers.iter().all(|a| a.starts_with("HTTP/1.1 200 OK\r\n")),
        "{answers:?}"
    );
}
