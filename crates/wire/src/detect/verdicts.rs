//! The end of a capture: each source's and pair's tallies turned into alerts, with
//! their thresholds (the `*_MIN` constants of the parent module).

use std::net::IpAddr;

use super::*;

/// One target when all packets went to one, else none.
pub(super) fn single_target(t: &Tally) -> Option<IpAddr> {
    (t.targets.len() == 1 && t.targets_beyond == 0)
        .then(|| t.targets.iter().next().copied())
        .flatten()
}

pub(super) fn flood_alerts(src: IpAddr, f: &Floods, alerts: &mut Vec<Alert>) {
    let mut push = |t: &Tally, id, title: String, severity, proto| {
        let mut a = t.alert(id, title, severity, src);
        a.proto = proto;
        a.dst = single_target(t);
        alerts.push(a);
    };
    if f.trap_attacker.count > 0 {
        push(
            &f.trap_attacker,
            "trap-attacker",
            "traffic from an address that attacked the trap".into(),
            Severity::Medium,
            "ip",
        );
    }
    if f.vse.tally.count >= VSE_FLOOD_MIN && f.vse.ports.len() >= FLOOD_MIN_PORTS {
        push(
            &f.vse.tally,
            "mirai-vse-flood",
            format!(
                "Mirai VSE flood: Source Engine queries to {VSE_PORT} from {}{} source ports",
                f.vse.ports.len(),
                if f.vse.ports.len() >= MAX_FLOOD_PORTS {
                    "+"
                } else {
                    ""
                }
            ),
            Severity::High,
            "udp",
        );
    }
    if f.syn.count >= FLOOD_SIGNATURE_MIN {
        push(
            &f.syn,
            "mirai-syn-flood",
            "Mirai SYN flood: window 0, options MSS 1400-1415, SACK, TS (TSecr 0), NOP, WS 6"
                .into(),
            Severity::High,
            "tcp",
        );
    }
    if f.ack.is_volume_flood(FLOOD_MIN_PACKETS) && f.ack.ports.len() >= FLOOD_MIN_PORTS {
        push(
            &f.ack.tally,
            "mirai-ack-flood",
            format!("ACK flood: {FLOOD_PAYLOAD}-byte ACK segments without options to many ports"),
            Severity::Medium,
            "tcp",
        );
    }
    if f.udp.is_volume_flood(FLOOD_MIN_PACKETS) {
        push(
            &f.udp.tally,
            "udp-flood",
            format!("UDP flood: {FLOOD_PAYLOAD}-byte datagrams at a flood's rate (Mirai's udp and udpplain)"),
            Severity::Medium,
            "udp",
        );
    }
    if f.gre.count >= FLOOD_SIGNATURE_MIN {
        push(
            &f.gre,
            "mirai-gre-flood",
            "Mirai GRE flood: inner IP id = ~(outer id - 1000)".into(),
            Severity::High,
            "gre",
        );
    }
    for t in &f.torture {
        if t.matching.count >= DNS_TORTURE_MIN && t.other * 10 <= t.matching.count {
            push(
                &t.matching,
                "dns-water-torture",
                format!(
                    "DNS water torture against {}: random [a-w0-8]{{12}} labels (Mirai's dns vector)",
                    t.domain
                ),
                Severity::High,
                "udp",
            );
        }
    }
}

pub(super) fn pair_alerts(src: IpAddr, dst: IpAddr, pair: &PairState, alerts: &mut Vec<Alert>) {
    let pair_alert = |t: &Tally, id, title: &str, severity| {
        let mut a = t.alert(id, title.to_string(), severity, src);
        a.dst = Some(dst);
        a.targets = 1;
        a
    };
    if pair.connections.count >= BRUTE_FORCE_MIN_CONNECTIONS
        || pair.failures.count >= BRUTE_FORCE_MIN_FAILURES
    {
        let title = format!(
            "telnet brute force: {} connections, {} failed logins",
            pair.connections.count, pair.failures.count
        );
        let basis = if pair.connections.count == 0 {
            &pair.failures
        } else {
            &pair.connections
        };
        alerts.push(pair_alert(
            basis,
            "telnet-bruteforce",
            &title,
            Severity::Medium,
        ));
    }
    if let Some(ssh) = pair
        .ssh
        .as_ref()
        .filter(|s| s.connections.count >= SSH_BRUTE_FORCE_MIN_CONNECTIONS)
    {
        let clients: Vec<String> = ssh
            .clients
            .iter()
            .map(|(h, _)| match &h.hassh {
                Some(hassh) => format!("{} (HASSH {hassh})", h.version),
                None => h.version.clone(),
            })
            .collect();
        let title = format!(
            "SSH brute force: {} connections from {}",
            ssh.connections.count,
            clients.join(", ")
        );
        alerts.push(pair_alert(
            &ssh.connections,
            "ssh-bruteforce",
            &title,
            Severity::Medium,
        ));
    }
    if pair.fingerprint.count > 0 {
        alerts.push(pair_alert(
            &pair.fingerprint,
            "mirai-telnet-client",
            "Mirai's telnet client: its exact answer to BusyBox telnetd's options",
            Severity::High,
        ));
    }
    for (tally, id, title) in [
        (
            &pair.reports,
            "mirai-report",
            "Mirai scan report to a report server (victim and credential)",
        ),
        (
            &pair.c2,
            "mirai-c2-handshake",
            "Mirai C2 handshake (00 00 00 01, bot id)",
        ),
        (
            &pair.bins,
            "mirai-bins-download",
            "Mirai downloader request: GET /bins/... with no headers",
        ),
        (
            &pair.trap_c2,
            "trap-c2-contact",
            "contact with a C2 recovered from a sample the trap caught",
        ),
        (
            &pair.trap_download,
            "trap-download-host",
            "contact with a host bots downloaded from on the trap",
        ),
        (
            &pair.trap_sample,
            "trap-sample-download",
            "download of a file a bot dropped on the trap (same SHA-256)",
        ),
    ] {
        if tally.count > 0 {
            alerts.push(pair_alert(tally, id, title, Severity::High));
        }
    }
    for ((name, cve), tally) in &pair.exploits {
        let cve = cve
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        alerts.push(pair_alert(
            tally,
            "iot-web-exploit",
            &format!(
                "IoT web exploit {name}{cve}: a command line injected into a device's web service"
            ),
            Severity::High,
        ));
    }
    for (i, tally) in &pair.markers {
        let what = SHELL_MARKERS.get(*i).map_or("", |(_, w)| w);
        alerts.push(pair_alert(
            tally,
            "mirai-shell-content",
            &format!("Mirai-family shell content: {what}"),
            Severity::High,
        ));
    }
    if pair.probes.count > 0 {
        alerts.push(pair_alert(
            &pair.probes,
            "mirai-shell-content",
            &format!(
                "Mirai-family shell content: unknown-applet probe of a variant ({})",
                pair.probe_words.join(", ")
            ),
            Severity::High,
        ));
    }
    let agents = pair.http_agents.count >= HTTP_FLOOD_MIN_REQUESTS;
    let lowercase = pair.http_lowercase.count >= HTTP_LOWERCASE_LENGTH_MIN;
    if agents || lowercase {
        let title = format!(
            "Mirai HTTP flood: {} requests with its 2016 user agents, {} with a lower-case content-length",
            pair.http_agents.count, pair.http_lowercase.count
        );
        let basis = if agents {
            &pair.http_agents
        } else {
            &pair.http_lowercase
        };
        alerts.push(pair_alert(
            basis,
            "mirai-http-flood",
            &title,
            Severity::High,
        ));
    }
}
