//! The network as the device sees it: the download tools (`wget`, `tftp`, `ftpget`,
//! `nc`), which hand their requests to the edge, and the views drawn from the
//! profile and the attacker's own connection (`ifconfig`, `route`, `netstat`, `ip`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::profile::DownloadTool;
use crate::shell::exec::{FetchRequest, FetchResult, Io, Sh, Wait};
use crate::vfs::base_name;

use super::*;

/// Host, port, path of a URL, and whether the port was written in it.
fn split_url(url: &[u8]) -> Option<(String, u16, String, bool)> {
    let text = String::from_utf8_lossy(url);
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("ftp://"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if text.starts_with("ftp://") { 21 } else { 80 };
    let (host, port, explicit) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?, true),
        None => (hostport.to_string(), default, false),
    };
    Some((host, port, path, explicit))
}

pub(super) async fn wget(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    if !sh
        .device()
        .profile
        .download_tools
        .contains(&DownloadTool::Wget)
    {
        // Not reachable: dispatch checks the applet list first.
        return 127;
    }
    let mut url = None;
    let mut out_file: Option<Vec<u8>> = None;
    let mut quiet = false;
    let mut i = 1;
    // getopt32 as BusyBox parses it: bundled flags (`-qO-`), an option's value in the
    // same word or the next, and the long options bots use.
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"--quiet" => quiet = true,
            b"--output-document" => {
                out_file = argv.get(i + 1).cloned();
                i += 1;
            }
            x if x.starts_with(b"--output-document=") => {
                out_file = x.get(18..).map(<[u8]>::to_vec);
            }
            b"--header" | b"--post-data" | b"--post-file" | b"--user-agent" => i += 1,
            x if x.starts_with(b"--") => {}
            x if x.len() > 1 && x.starts_with(b"-") => {
                let mut j = 1;
                while let Some(&c) = x.get(j) {
                    if b"OoPTUYt".contains(&c) {
                        let inline = x.get(j + 1..).unwrap_or_default();
                        let value = if inline.is_empty() {
                            i += 1;
                            argv.get(i).cloned()
                        } else {
                            Some(inline.to_vec())
                        };
                        if c == b'O' {
                            out_file = value;
                        }
                        break;
                    }
                    if c == b'q' {
                        quiet = true;
                    }
                    j += 1;
                }
            }
            _ => url = Some(a.clone()),
        }
        i += 1;
    }
    let Some(url) = url else {
        return usage(sh, "wget", io).await;
    };
    let Some((host, port, path, explicit_port)) = split_url(&url) else {
        let mut m = b"not an http or ftp url: ".to_vec();
        m.extend_from_slice(&url);
        err(sh, io, "wget", &m).await;
        return 1;
    };
    if !quiet {
        let hostport = if explicit_port {
            format!("{host}:{port}")
        } else {
            host.clone()
        };
        let line = format!("Connecting to {hostport} ({host}:{port})\n");
        sh.write(&io.stderr, line.as_bytes()).await;
    }
    let request_url = String::from_utf8_lossy(&url).into_owned();
    let request = FetchRequest {
        tool: "wget",
        url: request_url.clone(),
        password: None,
    };
    match sh.block(Wait::Fetch(request)).await {
        Some(FetchResult::Data(body)) => {
            let name = out_file.unwrap_or_else(|| {
                let base = path.rsplit('/').next().unwrap_or("index.html");
                if base.is_empty() {
                    b"index.html".to_vec()
                } else {
                    base.as_bytes().to_vec()
                }
            });
            if name.as_slice() == b"-" {
                sh.vfs_mut().capture_stream(&body, request_url.clone());
                if !quiet {
                    sh.write(&io.stderr, b"writing to stdout\n").await;
                }
                sh.write(&io.stdout, &body).await;
            } else {
                let cwd = sh.cwd().to_vec();
                let now = sh.now_secs();
                match sh.vfs_mut().write(&cwd, &name, &body, false, now) {
                    Ok(path) => sh
                        .vfs_mut()
                        .set_origin(&path, crate::vfs::Origin::Downloaded(request_url.clone())),
                    Err(e) => {
                        fail_quoted(sh, io, "wget", "can't open ", &name, e).await;
                        return 1;
                    }
                }
                if !quiet {
                    let mut m = b"saving to '".to_vec();
                    m.extend_from_slice(&name);
                    m.extend_from_slice(b"'\n");
                    sh.write(&io.stderr, &m).await;
                }
            }
            0
        }
        _ => {
            let line = format!("wget: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}

pub(super) async fn tftp(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    // BusyBox accepts the old `-c get FILE` / `-c put FILE` syntax (Gafgyt uses it).
    let mut argv = argv.to_vec();
    let mut k = 1;
    while k + 1 < argv.len() {
        if argv
            .get(k)
            .is_some_and(|a| a.first() == Some(&b'-') && a.contains(&b'c'))
        {
            let word = argv.get(k + 1).cloned().unwrap_or_default();
            let replacement: Option<&[u8]> = match word.as_slice() {
                b"get" => Some(b"-g"),
                b"put" => Some(b"-p"),
                _ => None,
            };
            if let Some(flag) = replacement {
                if let Some(a) = argv.get_mut(k) {
                    *a = flag.to_vec();
                }
                if let Some(a) = argv.get_mut(k + 1) {
                    *a = b"-r".to_vec();
                }
            }
            break;
        }
        k += 1;
    }
    let argv = &argv[..];
    let mut local = None;
    let mut remote = None;
    let mut get = false;
    let mut host = None;
    let mut port = 69u16;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-l" => {
                local = argv.get(i + 1).cloned();
                i += 1;
            }
            b"-r" => {
                remote = argv.get(i + 1).cloned();
                i += 1;
            }
            b"-g" => get = true,
            b"-p" => {}
            b"-b" => i += 1,
            x if x.starts_with(b"-") => {
                err(
                    sh,
                    io,
                    "tftp",
                    format!(
                        "invalid option -- '{}'",
                        String::from_utf8_lossy(x.get(1..2).unwrap_or_default())
                    )
                    .as_bytes(),
                )
                .await;
                return usage(sh, "tftp", io).await;
            }
            _ => {
                if host.is_none() {
                    host = Some(a.clone());
                } else {
                    port = std::str::from_utf8(a)
                        .ok()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(69);
                }
            }
        }
        i += 1;
    }
    let (Some(host), true) = (host, get || local.is_some() || remote.is_some()) else {
        return usage(sh, "tftp", io).await;
    };
    let remote = remote.or_else(|| local.clone()).unwrap_or_default();
    let local = local.unwrap_or_else(|| base_name(&remote).to_vec());
    let url = format!(
        "tftp://{}:{port}/{}",
        String::from_utf8_lossy(&host),
        String::from_utf8_lossy(&remote)
    );
    let started = sh.now().mono;
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "tftp",
            url: url.clone(),
            password: None,
        }))
        .await
    {
        Some(FetchResult::Data(body)) => save_download(sh, io, "tftp", &local, &body, url).await,
        _ => {
            // BusyBox's tftp never hears an ICMP error (its socket is not
            // connected): it retransmits until it gives up, 12.9 s after it began.
            let give_up = sh.config().tftp_give_up;
            sh.block(Wait::Until(started + give_up)).await;
            sh.write(&io.stderr, b"tftp: timeout\n").await;
            1
        }
    }
}

/// Writes a downloaded `body` to `name` in the working directory, remembering its
/// URL for the capture; the tool's status.
async fn save_download(
    sh: &mut Sh,
    io: &Io,
    tool: &str,
    name: &[u8],
    body: &[u8],
    url: String,
) -> i32 {
    let cwd = sh.cwd().to_vec();
    let now = sh.now_secs();
    match sh.vfs_mut().write(&cwd, name, body, false, now) {
        Ok(path) => {
            sh.vfs_mut()
                .set_origin(&path, crate::vfs::Origin::Downloaded(url));
            0
        }
        Err(e) => {
            fail_plain(sh, io, tool, name, e).await;
            1
        }
    }
}

pub(super) async fn ftpget(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut ops = Vec::new();
    let mut port = 21u16;
    let mut user = b"anonymous".to_vec();
    // BusyBox has one "anonymous" literal: the default password is the user name's.
    let mut password = b"anonymous".to_vec();
    let mut verbose = false;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-v" | b"--verbose" => verbose = true,
            b"-u" | b"--username" => {
                user = argv.get(i + 1).cloned().unwrap_or_default();
                i += 1;
            }
            b"-p" | b"--password" => {
                password = argv.get(i + 1).cloned().unwrap_or_default();
                i += 1;
            }
            b"-P" | b"--port" => {
                port = argv
                    .get(i + 1)
                    .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok())
                    .unwrap_or(21);
                i += 1;
            }
            x if x.starts_with(b"-") => {}
            _ => ops.push(a.clone()),
        }
        i += 1;
    }
    let (host, local, remote) = match ops.as_slice() {
        [h, r] => (h.clone(), r.clone(), r.clone()),
        [h, l, r, ..] => (h.clone(), l.clone(), r.clone()),
        _ => return usage(sh, "ftpget", io).await,
    };
    let host = String::from_utf8_lossy(&host).into_owned();
    if verbose {
        // printf: stdout.
        let line = format!("Connecting to {host} ({host}:{port})\n");
        sh.write(&io.stdout, line.as_bytes()).await;
    }
    let url = format!(
        "ftp://{}@{host}:{port}/{}",
        String::from_utf8_lossy(&user),
        String::from_utf8_lossy(&remote).trim_start_matches('/')
    );
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "ftpget",
            url: url.clone(),
            password: Some(String::from_utf8_lossy(&password).into_owned()),
        }))
        .await
    {
        Some(FetchResult::Data(body)) => save_download(sh, io, "ftpget", &local, &body, url).await,
        _ => {
            let line =
                format!("ftpget: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}

/// `nc HOST PORT`: bots use it to pull files (`nc host port > file`).
pub(super) async fn nc(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let ops: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    let [host, port, ..] = ops.as_slice() else {
        return usage(sh, "nc", io).await;
    };
    let host = String::from_utf8_lossy(host).into_owned();
    let port = String::from_utf8_lossy(port).into_owned();
    let url = format!("tcp://{host}:{port}");
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "nc",
            url,
            password: None,
        }))
        .await
    {
        Some(FetchResult::Data(body)) => {
            sh.write(&io.stdout, &body).await;
            0
        }
        _ => {
            let line = format!("nc: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}
/// The device's LAN address: a private one behind the router that forwards the
/// telnet port, fixed per sensor (derived from its MAC).
pub fn lan_address(sh: &Sh) -> Ipv4Addr {
    let last = sh.device().mac.last().copied().unwrap_or(0);
    Ipv4Addr::new(192, 168, 1, 100 + last % 100)
}

fn gateway(sh: &Sh) -> Ipv4Addr {
    let [a, b, c, _] = lan_address(sh).octets();
    Ipv4Addr::new(a, b, c, 1)
}

/// Traffic counters that grow with uptime, so two looks differ as on a live device.
fn counters(sh: &Sh, per_second: u64) -> u64 {
    let up = crate::shell::procfs::uptime_secs(sh) as u64;
    up.saturating_mul(per_second)
}

/// `print_bytes_scaled()`: `1234 (1.2 KiB)`.
fn scaled(bytes: u64) -> String {
    let units = ["", "Ki", "Mi", "Gi", "Ti"];
    let mut int_part = bytes;
    let mut frac = 0;
    let mut unit = 0;
    for _ in 0..4 {
        if int_part >= 1024 {
            frac = ((int_part & 1023) * 10) / 1024;
            int_part /= 1024;
            unit += 1;
        }
    }
    format!(
        "{bytes} ({int_part}.{frac} {}B)",
        units.get(unit).copied().unwrap_or("")
    )
}

fn ifconfig_block(sh: &Sh, name: &str) -> Option<String> {
    let mut out = String::new();
    match name {
        "eth0" => {
            let mac: Vec<String> = sh.device().mac.iter().map(|b| format!("{b:02X}")).collect();
            let ip = lan_address(sh);
            let [a, b, c, _] = ip.octets();
            let (rx, tx) = (counters(sh, 3), counters(sh, 2));
            let _ = write!(
                out,
                "eth0      Link encap:Ethernet  HWaddr {}  \n          inet addr:{ip}  Bcast:{a}.{b}.{c}.255  Mask:255.255.255.0\n          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n          RX packets:{rx} errors:0 dropped:0 overruns:0 frame:0\n          TX packets:{tx} errors:0 dropped:0 overruns:0 carrier:0\n          collisions:0 txqueuelen:1000 \n          RX bytes:{}  TX bytes:{}\n\n",
                mac.join(":"),
                scaled(rx * 412),
                scaled(tx * 236),
            );
        }
        "lo" => {
            let packets = counters(sh, 1) / 60;
            let _ = write!(
                out,
                "lo        Link encap:Local Loopback  \n          inet addr:127.0.0.1  Mask:255.0.0.0\n          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n          RX packets:{packets} errors:0 dropped:0 overruns:0 frame:0\n          TX packets:{packets} errors:0 dropped:0 overruns:0 carrier:0\n          collisions:0 txqueuelen:0 \n          RX bytes:{}  TX bytes:{}\n\n",
                scaled(packets * 84),
                scaled(packets * 84),
            );
        }
        _ => return None,
    }
    Some(out)
}

pub(super) async fn ifconfig(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let operands: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    match operands.as_slice() {
        [] => {
            let out = ["eth0", "lo"]
                .iter()
                .filter_map(|n| ifconfig_block(sh, n))
                .collect::<String>();
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        [name] => {
            let name = String::from_utf8_lossy(name).into_owned();
            match ifconfig_block(sh, &name) {
                Some(block) => {
                    sh.write(&io.stdout, block.as_bytes()).await;
                    0
                }
                None => {
                    let msg =
                        format!("{name}: error fetching interface information: Device not found");
                    err(sh, io, "ifconfig", msg.as_bytes()).await;
                    1
                }
            }
        }
        // Setting addresses or flags: accepted, nothing changes.
        _ => 0,
    }
}

/// `route`.
pub(super) async fn route(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let numeric = argv
        .iter()
        .skip(1)
        .any(|a| a.starts_with(b"-") && a.contains(&b'n'));
    let out = route_table(sh, numeric);
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

fn route_table(sh: &Sh, numeric: bool) -> String {
    let ip = lan_address(sh);
    let [a, b, c, _] = ip.octets();
    let (default, any) = if numeric {
        ("0.0.0.0", "0.0.0.0")
    } else {
        ("default", "*")
    };
    let mut out = String::from(
        "Kernel IP routing table\nDestination     Gateway         Genmask         Flags Metric Ref    Use Iface\n",
    );
    let rows = [
        (
            default.to_string(),
            gateway(sh).to_string(),
            "0.0.0.0",
            "UG",
        ),
        (
            format!("{a}.{b}.{c}.0"),
            any.to_string(),
            "255.255.255.0",
            "U",
        ),
    ];
    for (dest, gw, mask, flags) in rows {
        let _ = writeln!(
            out,
            "{dest:<15} {gw:<15} {mask:<16}{flags:<6}{:<6} {:<2} {:7} eth0",
            0, 0, 0
        );
    }
    out
}

pub(super) async fn netstat(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"alntuwxrpeWT", b"") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "netstat", f).await,
    };
    let f = |c| parsed.flags.contains(&c);
    if f(b'r') {
        let out = route_table(sh, f(b'n'));
        sh.write(&io.stdout, out.as_bytes()).await;
        return 0;
    }
    let (servers, established) = match (f(b'a'), f(b'l')) {
        (true, _) => (true, true),
        (false, true) => (true, false),
        (false, false) => (false, true),
    };
    let tcp = f(b't') || !f(b'u');
    let what = match (servers, established) {
        (true, true) => "servers and established",
        (true, false) => "only servers",
        _ => "w/o servers",
    };
    let program = f(b'p');
    let mut out = format!(
        "Active Internet connections ({what})\nProto Recv-Q Send-Q Local Address           Foreign Address         State       {}\n",
        if program { " PID/Program name" } else { "" }
    );
    if tcp {
        let telnetd = if program { " 174/telnetd" } else { "" };
        if servers {
            let _ = writeln!(
                out,
                "tcp        0      0 {:<23} {:<23} {:<12}{telnetd}",
                "0.0.0.0:23", "0.0.0.0:*", "LISTEN"
            );
        }
        if let (true, Some(peer)) = (established, sh.peer()) {
            let local = format!("{}:23", lan_address(sh));
            let remote = match peer.src.ip() {
                IpAddr::V4(v4) => format!("{v4}:{}", peer.src.port()),
                IpAddr::V6(v6) => format!("{v6}:{}", peer.src.port()),
            };
            let _ = writeln!(
                out,
                "tcp        0      0 {local:<23} {remote:<23} {:<12}{telnetd}",
                "ESTABLISHED"
            );
        }
    }
    if !f(b't') && !f(b'u') && f(b'a') {
        out.push_str(
            "Active UNIX domain sockets (servers and established)\nProto RefCnt Flags       Type       State         I-Node Path\n",
        );
    }
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

pub(super) async fn ip(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let object = argv.get(1).map(Vec::as_slice).unwrap_or_default();
    let mac: Vec<String> = sh.device().mac.iter().map(|b| format!("{b:02x}")).collect();
    let mac = mac.join(":");
    let lan = lan_address(sh);
    let [a, b, c, _] = lan.octets();
    let link_lo = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n";
    let link_eth = format!(
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n"
    );
    let out = if object.is_empty() {
        return super::usage(sh, "ip", io).await;
    } else if b"address".starts_with(object) {
        format!(
            "{link_lo}    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n{link_eth}    inet {lan}/24 brd {a}.{b}.{c}.255 scope global eth0\n       valid_lft forever preferred_lft forever\n"
        )
    } else if b"link".starts_with(object) {
        format!("{link_lo}{link_eth}")
    } else if b"route".starts_with(object) {
        format!(
            "default via {} dev eth0 \n{a}.{b}.{c}.0/24 dev eth0 scope link  src {lan} \n",
            gateway(sh)
        )
    } else {
        let msg = [b"ip: unknown command '", object, b"'\n"].concat();
        sh.write(&io.stderr, &msg).await;
        return 1;
    };
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_scale_like_ifconfig() {
        assert_eq!(scaled(512), "512 (512.0 B)");
        assert_eq!(scaled(340_548_120), "340548120 (324.7 MiB)");
    }
}
