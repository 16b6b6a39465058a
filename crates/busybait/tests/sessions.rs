//! The two real attacker sessions in `testdata/sessions/`, replayed over telnet:
//! they reach their last command, no applet the profile has is "not found", and every
//! download the device's tools would make is seen as a fetch request.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::time::Duration;

use util::{find, source, test_config, Sensor};

const STEP: Duration = Duration::from_secs(15);

struct Recorded {
    logins: Vec<(String, String, bool)>,
    commands: Vec<String>,
}

fn recorded(name: &str) -> Recorded {
    let text = std::fs::read_to_string(util::testdata().join("sessions").join(name)).unwrap();
    let mut r = Recorded {
        logins: Vec::new(),
        commands: Vec::new(),
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["eventid"].as_str().unwrap() {
            id @ ("cowrie.login.success" | "cowrie.login.failed") => r.logins.push((
                v["username"].as_str().unwrap().into(),
                v["password"].as_str().unwrap().into(),
                id == "cowrie.login.success",
            )),
            "cowrie.command.input" => r.commands.push(v["input"].as_str().unwrap().into()),
            _ => {}
        }
    }
    r
}

/// Replays a session; returns everything the device printed for the commands.
fn replay(sensor: &Sensor, src: usize, rec: &Recorded) -> Vec<u8> {
    let mut c = sensor.connect_from(source(src));
    // The recorded attempts in order, as the bot made them, until the device takes
    // one (our sticky policy may accept an earlier one than the recorded device did).
    let mut accepted = false;
    for (user, pass, _) in &rec.logins {
        c.read_until(b"login: ", STEP);
        c.send(format!("{user}\r\n").as_bytes());
        c.read_until(b"Password: ", STEP);
        c.send(format!("{pass}\r\n").as_bytes());
        let after = c.read_until(b"\r\n", STEP);
        assert_eq!(after, b"\r\n");
        let next = c.read_until(b"\n", STEP);
        if find(&next, b"Login incorrect").is_none() {
            accepted = true;
            c.read_until(b"built-in shell (ash)", STEP);
            break;
        }
    }
    assert!(accepted, "no recorded credential was accepted");
    let mut output = Vec::new();
    for cmd in &rec.commands {
        // A marker after each line, as bots do, to know when its output is complete.
        c.send(format!("{cmd}\r\n/bin/busybox REPLAYDONE\r\n").as_bytes());
        output.extend(c.read_until(b"REPLAYDONE: applet not found", STEP));
    }
    output
}

fn not_found_applets(profile_applets: &[&str], output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("-sh: ").or_else(|| l.strip_prefix("sh: "))?;
            let name = rest.strip_suffix(": not found")?;
            profile_applets.contains(&name).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn satori_and_gafgyt_sessions_reach_their_end() {
    let satori = recorded("satori-telnet-2023-12-12.cowrie.jsonl");
    let gafgyt = recorded("gafgyt-ssh-2023-12-09.cowrie.jsonl");
    assert_eq!(satori.commands.len(), 6);
    assert_eq!(gafgyt.commands.len(), 1);
    for (i, profile) in [
        "xiongmai-dvr",
        "ipcam-mipsel",
        "router-mips",
        "gateway-hg532",
        "ont-gpon",
        "oracle",
    ]
    .iter()
    .enumerate()
    {
        let sensor = Sensor::start_with(&test_config(profile, "", ""));
        // The profile's applet list, from the device itself.
        let mut c = sensor.connect_from(source(900 + i));
        c.login();
        c.send(b"/bin/busybox --list; /bin/busybox LISTDONE\r\n");
        let list = c.read_until(b"LISTDONE: applet not found", STEP);
        let list = String::from_utf8_lossy(&list).into_owned();
        let applets: Vec<&str> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains(' '))
            .collect();
        assert!(applets.contains(&"cat"), "{list}");
        drop(c);
        sensor.wait_for_events("the list session's label", |e| {
            e.iter().any(|v| v["eventid"] == "busybait.session.family")
        });

        let out = replay(&sensor, 10 * i + 1, &satori);
        assert_eq!(
            not_found_applets(&applets, &out),
            Vec::<String>::new(),
            "{profile}"
        );
        assert!(find(&out, b"SATORI: applet not found").is_some());
        // The architecture probe got the ELF header.
        assert!(find(&out, b"\x7fELF").is_some(), "{profile}");

        let out = replay(&sensor, 10 * i + 2, &gafgyt);
        assert_eq!(
            not_found_applets(&applets, &out),
            Vec::<String>::new(),
            "{profile}: {}",
            String::from_utf8_lossy(&out)
        );
        let has = |tool: &str| applets.contains(&tool);
        let mut expected = Vec::new();
        if has("wget") {
            expected.push("http://127.0.0.1/z.sh".to_string());
        }
        if has("tftp") {
            expected.push("tftp://127.0.0.1:69/tz.sh".to_string());
            expected.push("tftp://127.0.0.1:69/tz2.sh".to_string());
        }
        if has("ftpget") {
            expected.push("ftp://anonymous@127.0.0.1:21/z1.sh".to_string());
        }
        // The last tool's request is recorded only some 30 ms (its failure) before the
        // output the replay waited for: wait for as many as are expected.
        let is_tool_request = |v: &&serde_json::Value| {
            v["eventid"] == "busybait.download.request" && v["tool"] != "command-line"
        };
        let events = sensor.wait_for_events("gafgyt downloads", |e| {
            e.iter().filter(is_tool_request).count() >= expected.len()
        });
        let urls: Vec<String> = events
            .iter()
            .filter(is_tool_request)
            .map(|v| v["url"].as_str().unwrap().to_string())
            .collect();
        println!("{profile}: {urls:?}");
        assert_eq!(urls, expected, "{profile}");
        // Both sessions are over (their clients left): their family labels.
        let events = sensor.wait_for_events("family labels", |e| {
            e.iter()
                .filter(|v| v["eventid"] == "busybait.session.family")
                .count()
                >= 3
        });
        let families: Vec<&str> = events
            .iter()
            .filter(|v| v["eventid"] == "busybait.session.family")
            .map(|v| v["family"].as_str().unwrap())
            .collect();
        // The `busybox --list` session, then Satori, then Gafgyt.
        assert_eq!(families[1..], ["satori", "gafgyt"], "{profile}");
        // Every URL of the Gafgyt one-liner is recorded, fetched or not: what the
        // device's tools did not fetch comes as `command-line` requests at the end.
        let mut all: Vec<String> = events
            .iter()
            .filter(|v| v["eventid"] == "busybait.download.request")
            .map(|v| {
                v["url"]
                    .as_str()
                    .unwrap()
                    .replace(":69/", "/")
                    .replace(":21/", "/")
                    .replace("anonymous@", "")
            })
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(
            all,
            [
                "ftp://127.0.0.1/z1.sh",
                "http://127.0.0.1/z.sh",
                "tftp://127.0.0.1/tz.sh",
                "tftp://127.0.0.1/tz2.sh"
            ],
            "{profile}"
        );
    }
}

/// `busybait report --json` on a data dir.
fn report_json(dir: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["report", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn report_counts_a_scripted_day_exactly() {
    use util::mirai::{loader, scanner, Method, Outcome};
    let binary = util::synthetic_elf((1, 1, 40), 1240);
    let data_dir = tempfile::tempdir().unwrap();
    let mut dir = Some(data_dir);
    // Mirai's loader on its three paths: one sensor config per set of download tools,
    // all on the same data dir.
    for (i, (tools, method)) in [
        ("[\"wget\", \"tftp\"]", Method::Wget),
        ("[\"tftp\"]", Method::Tftp),
        ("[]", Method::Echo),
    ]
    .into_iter()
    .enumerate()
    {
        // Top-level keys first: the test config opens sections after `profile`.
        let config = format!(
            "download_tools = {tools}\n{}",
            test_config("xiongmai-dvr", "", "")
        );
        let sensor = Sensor::start_in(dir.take().unwrap(), &config);
        let stream = util::tcp_from(sensor.addr, source(100 + i)).unwrap();
        let run =
            loader(stream, "root", "xc3511", &binary).unwrap_or_else(|(o, _)| panic!("{o:?}"));
        assert_eq!(run.methods.first(), Some(&method));
        sensor.wait_for_events("the loader session closed", |e| {
            e.iter()
                .filter(|v| v["eventid"] == "cowrie.session.closed")
                .count()
                == i + 1
        });
        dir = Some(sensor.stop().0);
    }
    // Mirai's scanner with three table credentials, and the two real sessions.
    let sensor = Sensor::start_in(dir.take().unwrap(), &test_config("xiongmai-dvr", "", ""));
    for (i, (user, pass)) in [("root", "xc3511"), ("admin", "admin"), ("root", "vizxv")]
        .into_iter()
        .enumerate()
    {
        let stream = util::tcp_from(sensor.addr, source(200 + i)).unwrap();
        assert_eq!(scanner(stream, user, pass, STEP).outcome, Outcome::Success);
    }
    let satori = recorded("satori-telnet-2023-12-12.cowrie.jsonl");
    let gafgyt = recorded("gafgyt-ssh-2023-12-09.cowrie.jsonl");
    drop(replay(&sensor, 300, &satori));
    drop(replay(&sensor, 301, &gafgyt));
    sensor.wait_for_events("eight sessions closed", |e| {
        e.iter()
            .filter(|v| v["eventid"] == "cowrie.session.closed")
            .count()
            == 8
    });
    let (dir, _) = sensor.stop();
    let r = report_json(dir.path());
    assert_eq!(r["sessions"], 8);
    assert_eq!(r["unique_sources"], 8);
    assert_eq!(r["by_day"].as_array().unwrap().len(), 1);
    assert_eq!(r["by_day"][0]["sessions"], 8);
    // Loader 3 + scanner 3 + Satori's two attempts (the first refused) + Gafgyt 1.
    assert_eq!(r["logins_tried"], 9);
    assert_eq!(r["logins_accepted"], 8);
    let credentials: Vec<(String, String, u64, u64, String)> = r["top_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["username"].as_str().unwrap().to_string(),
                c["password"].as_str().unwrap().to_string(),
                c["tried"].as_u64().unwrap(),
                c["accepted"].as_u64().unwrap(),
                c["tables"].to_string(),
            )
        })
        .collect();
    let cred = |u: &str, p: &str, t, a, tables: &str| {
        (u.to_string(), p.to_string(), t, a, tables.to_string())
    };
    assert_eq!(
        credentials,
        [
            cred("root", "xc3511", 4, 4, "[\"mirai\"]"),
            cred("admin", "admin", 1, 1, "[\"mirai\"]"),
            cred("admin1", "password", 1, 1, "[\"mirai\"]"),
            cred("root", "davox", 1, 0, "[]"),
            cred("root", "password", 1, 1, "[\"mirai\"]"),
            cred("root", "vizxv", 1, 1, "[\"mirai\"]"),
        ]
    );
    let families: Vec<(&str, u64)> = r["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["family"].as_str().unwrap(),
                f["sessions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        families,
        [
            ("mirai-loader", 3),
            ("mirai-scanner", 3),
            ("gafgyt", 1),
            ("satori", 1)
        ]
    );
    let urls: Vec<&str> = r["top_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "ftp://anonymous@127.0.0.1:21/z1.sh",
            "http://127.0.0.1/z.sh",
            "http://127.0.0.1:80/bins/mirai.arm",
            "http://127.0.0.1:80/bins/mirai.arm7",
            "tftp://127.0.0.1:69/mirai.arm7",
            "tftp://127.0.0.1:69/tz.sh",
            "tftp://127.0.0.1:69/tz2.sh",
        ]
    );
    assert_eq!(
        r["top_hosts"],
        serde_json::json!([{"value": "127.0.0.1", "count": 7}])
    );
    // Four `kami` probe contents, each stored once, and the echo-dropped binary from
    // the two sessions that had no working download tool.
    let samples = r["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5);
    let sha = util::sha256_hex(&binary);
    let elf = samples
        .iter()
        .find(|s| s["sha256"] == sha.as_str())
        .unwrap();
    assert_eq!(
        (&elf["kind"], &elf["arch"], &elf["size"], &elf["drops"]),
        (
            &serde_json::json!("elf"),
            &serde_json::json!("arm"),
            &serde_json::json!(1240),
            &serde_json::json!(2)
        )
    );
    assert_eq!(
        samples.iter().filter(|s| s["kind"] == "text").count(),
        4,
        "the kami probes"
    );
}
