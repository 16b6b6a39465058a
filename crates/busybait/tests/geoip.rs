//! Country and AS of sources from MaxMind-format databases the test writes itself
//! (PyPI's mmdb-writer, `util/make_mmdb.py`): in GeoLite2-Country, GeoLite2-ASN and
//! IPinfo Lite shapes. Looked up when the connect is recorded and stored with it:
//! the connect event, `sessions`, `report`, the CSV export and the console show
//! them, and a later edition of the databases does not change history.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::path::Path;
use std::process::Command;

use util::web::{get, STEP};
use util::{cli, source, test_config, Sensor};

fn geoip_config(dir: &Path) -> String {
    let db = |name: &str| format!("\"{}\"", dir.join(name).display());
    format!(
        "{}[geoip]\ndatabases = [{}, {}, {}]\n",
        test_config("router-mips", "", ""),
        db("country.mmdb"),
        db("asn.mmdb"),
        db("ipinfo.mmdb")
    )
}

/// A login from `source(i)`; waits for its close.
fn visit(sensor: &Sensor, i: usize) {
    let mut c = sensor.connect_from(source(i));
    c.login();
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
}

#[test]
fn sources_carry_their_country_and_as_from_the_time_they_came() {
    let dbs = tempfile::tempdir().unwrap();
    util::geoip_databases(dbs.path(), false);
    let config = geoip_config(dbs.path());
    let sensor = Sensor::start_web(&config);
    // 127.1.0.92: GeoLite2 shapes; .93: IPinfo's; .94: in no database.
    for i in [90, 91, 92] {
        visit(&sensor, i);
    }
    let events = sensor.wait_for_events("three closes", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 3
    });
    let connects: Vec<_> = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.session.connect")
        .map(|e| {
            (
                e["src_ip"].as_str().unwrap().to_string(),
                e.get("src_country").cloned(),
                e.get("src_asn").cloned(),
                e.get("src_as_org").cloned(),
            )
        })
        .collect();
    use serde_json::json;
    assert_eq!(
        connects,
        [
            (
                "127.1.0.92".to_string(),
                Some(json!("NL")),
                Some(json!(64496)),
                Some(json!("Example Transit <b>B.V.</b>"))
            ),
            (
                "127.1.0.93".to_string(),
                Some(json!("JP")),
                Some(json!(64511)),
                Some(json!("Example Japan"))
            ),
            ("127.1.0.94".to_string(), None, None, None),
        ]
    );
    let web = sensor.web.unwrap();
    util::web::wait_for_sessions(web, 3);

    let report: serde_json::Value =
        serde_json::from_slice(&cli(&sensor.view, &["report", "--json"])).unwrap();
    assert_eq!(
        report["countries"],
        json!([{"value": "JP", "count": 1}, {"value": "NL", "count": 1}])
    );
    assert_eq!(
        report["asns"],
        json!([
            {"value": "AS64496 Example Transit <b>B.V.</b>", "count": 1},
            {"value": "AS64511 Example Japan", "count": 1}
        ])
    );
    let csv = String::from_utf8(cli(
        &sensor.view,
        &["export", "--format", "csv", "--include-private"],
    ))
    .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("type,value,first_seen,last_seen,count,country,asn")
    );
    let ips: Vec<&str> = lines.filter(|l| l.starts_with("ip,")).collect();
    assert_eq!(ips.len(), 3);
    assert!(
        ips[0].starts_with("ip,127.1.0.92,") && ips[0].ends_with(",1,NL,64496"),
        "{csv}"
    );
    assert!(
        ips[1].starts_with("ip,127.1.0.93,") && ips[1].ends_with(",1,JP,64511"),
        "{csv}"
    );
    assert!(
        ips[2].starts_with("ip,127.1.0.94,") && ips[2].ends_with(",1,,"),
        "{csv}"
    );

    // The console: origins in the list, the AS's name escaped, filters.
    let list = get(web, "/sessions");
    assert!(
        list.body
            .contains(r#"<span class="origin"> NL AS64496</span>"#),
        "{}",
        list.body
    );
    assert!(list
        .body
        .contains(r#"<span class="origin"> JP AS64511</span>"#));
    let only = |query: &str| {
        let page = get(web, &format!("/sessions?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        page.body
            .match_indices(r#"<a href="/sessions?src="#)
            .map(|(i, _)| page.body[i + 23..].split('"').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(only("country=nl"), ["127.1.0.92"]);
    assert_eq!(only("asn=AS64511"), ["127.1.0.93"]);
    assert_eq!(get(web, "/sessions?asn=x").status, 400);
    let overview = get(web, "/?span=all");
    assert!(overview.body.contains("<h2>Countries</h2>"));
    assert!(overview
        .body
        .contains("AS64496 Example Transit &lt;b&gt;B.V.&lt;/b&gt;"));
    assert!(!overview.body.contains("<b>B.V.</b>"));

    // A later edition says 127.1.0.92 is elsewhere: its first session stays NL.
    let (dir, _) = sensor.stop();
    util::geoip_databases(dbs.path(), true);
    let sensor = Sensor::start_in(dir, &config);
    visit(&sensor, 90);
    sensor.wait_for_events("the fourth close", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 4
    });
    // The database is written a moment after the event log the wait above read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let wait_report = || loop {
        let report: serde_json::Value =
            serde_json::from_slice(&cli(&sensor.view, &["report", "--json"])).unwrap();
        if report["sessions"] == 4 {
            return report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fourth session never reached the database: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let report = wait_report();
    assert_eq!(
        report["countries"],
        json!([
            {"value": "DE", "count": 1},
            {"value": "JP", "count": 1},
            {"value": "NL", "count": 1}
        ])
    );
}

#[test]
fn without_databases_there_is_no_country_anywhere() {
    let sensor = Sensor::start_web(&test_config("router-mips", "", ""));
    visit(&sensor, 90);
    let events = sensor.wait_for_events("the close", |e| {
        e.iter().any(|e| e["eventid"] == "cowrie.session.closed")
    });
    assert!(events.iter().all(|e| e.get("src_country").is_none()));
    util::web::wait_for_sessions(sensor.web.unwrap(), 1);
    let report = String::from_utf8(cli(&sensor.view, &["report", "--json"])).unwrap();
    assert!(
        !report.contains("countries") && !report.contains("asns"),
        "{report}"
    );
    let csv = String::from_utf8(cli(&sensor.view, &["export", "--format", "csv"])).unwrap();
    assert!(
        csv.starts_with("type,value,first_seen,last_seen,count\n"),
        "{csv}"
    );
}

#[test]
fn a_database_that_is_not_one_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("GeoLite2-Country.mmdb");
    std::fs::write(&bogus, b"not a database").unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[geoip]\ndatabases = [\"{}\"]\n", bogus.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["serve", "--telnet", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "it listened");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{} is not a MaxMind-format database (GeoLite2, DB-IP or IPinfo .mmdb)",
            bogus.display()
        )),
        "{stderr}"
    );
}
