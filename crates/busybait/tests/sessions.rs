//! The two real attacker sessions in `../shared/data/sessions/`, replayed over telnet:
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
    let text = std::fs::read_to_string(util::shared_data().join("sessions").join(name)).unwrap();
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
    for (i, profile) in ["xiongmai-dvr", "ipcam-mipsel", "router-mips", "oracle"]
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
        let events = sensor.wait_for_events("gafgyt downloads", |e| {
            e.iter()
                .filter(|v| v["eventid"] == "busybait.download.request")
                .count()
                >= 2
        });
        let urls: Vec<String> = events
            .iter()
            .filter(|v| v["eventid"] == "busybait.download.request" && v["tool"] != "command-line")
            .map(|v| v["url"].as_str().unwrap().to_string())
            .collect();
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
