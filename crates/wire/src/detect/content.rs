//! Content signatures: what the reassembled streams say (a telnet scanner's probe,
//! a login, the shell's markers, a report or C2 opening, an SSH hello, HTTP heads and
//! the bodies of responses), matched on each piece of a stream as it arrives.

use super::*;

impl State {
    /// A piece of a reassembled stream; returns whether more of this direction is
    /// of use.
    pub(super) fn chunk(&mut self, number: u64, time: f64, c: &Chunk<'_>) -> bool {
        self.inspect(number, time, c);
        self.wants_more(c)
    }

    /// Whether any detector still reads this direction: telnet throughout; a client's
    /// opening until it is judged and HTTP requests throughout; a response only
    /// while its body is hashed for the trap's samples; any stream until its first
    /// bytes tell what it is.
    pub(super) fn wants_more(&self, c: &Chunk<'_>) -> bool {
        if c.end {
            return false;
        }
        if TELNET_PORTS.contains(&c.flow.server.1) || c.start.len() < stream::START {
            return true;
        }
        if c.from_client && self.ssh_hellos.contains_key(&c.flow) {
            return true;
        }
        if c.from_client {
            c.head.is_some_and(|h| h.len() < stream::HEAD)
                || HTTP_METHODS.iter().any(|m| c.start.starts_with(m))
        } else {
            self.bodies.contains_key(&c.flow)
        }
    }

    /// Runs the content detectors over a piece of a stream.
    pub(super) fn inspect(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        let (client, server) = (c.flow.client, c.flow.server);
        // Matches that end in the new bytes (the rest were counted before).
        let fresh = |finder: &Finder<'static>| {
            let len = finder.needle().len();
            finder
                .find_iter(c.bytes)
                .filter(|&at| at + len > c.new_from)
                .count() as u64
        };
        let finders = &*FINDERS;
        let telnet = TELNET_PORTS.contains(&server.1);
        if !c.from_client && !self.indicators.hashes.is_empty() {
            self.response_body(number, time, c);
        }
        if c.from_client && (c.start.starts_with(b"SSH-") || c.end) {
            self.ssh_hello(number, time, c);
        }
        if c.end {
            return;
        }
        if !c.from_client {
            if telnet {
                let n = fresh(&finders.login_incorrect);
                if n > 0 {
                    if let Some(pair) = self.pair(client.0, server.0) {
                        for _ in 0..n {
                            pair.failures
                                .hit(number, time, || "Login incorrect".to_string());
                        }
                    }
                }
            }
            return;
        }
        if let Some(head) = c.head {
            self.client_head(number, time, c.flow, head, c.head_before);
        }
        let mut hits: Vec<(Hit, u64)> = Vec::new();
        if telnet {
            let n = fresh(&finders.client_reply);
            if n > 0 {
                hits.push((Hit::Fingerprint, n));
            }
            for (i, marker) in finders.shell_markers.iter().enumerate() {
                let n = fresh(marker);
                if n > 0 {
                    hits.push((Hit::Marker(i), n));
                }
            }
        }
        let mut probes: Vec<&[u8]> = Vec::new();
        if telnet {
            probes.extend(
                probe_words(c.bytes)
                    .filter(|(end, _)| *end >= c.new_from)
                    .map(|(_, w)| w),
            );
        }
        if !probes.is_empty() {
            if let Some(pair) = self.pair(client.0, server.0) {
                pair.probes.ports(client.1, server.1);
                for word in probes {
                    let word = String::from_utf8_lossy(word).into_owned();
                    if pair.probe_words.len() < MAX_PROBE_WORDS && !pair.probe_words.contains(&word)
                    {
                        pair.probe_words.push(word.clone());
                    }
                    pair.probes
                        .hit(number, time, || format!("/bin/busybox {word}"));
                }
            }
        }
        if HTTP_METHODS.iter().any(|m| c.start.starts_with(m)) {
            for (i, agent) in finders.agents.iter().enumerate() {
                let n = fresh(agent);
                if n > 0 {
                    hits.push((Hit::Agent(i), n));
                }
            }
            let n = fresh(&finders.lowercase_length);
            if n > 0 {
                hits.push((Hit::LowercaseLength, n));
            }
        }
        if hits.is_empty() {
            return;
        }
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        for (hit, n) in hits {
            let tally = match hit {
                Hit::Fingerprint => &mut pair.fingerprint,
                Hit::Agent(_) => &mut pair.http_agents,
                Hit::LowercaseLength => &mut pair.http_lowercase,
                Hit::Marker(i) => {
                    if !pair.markers.iter().any(|(m, _)| *m == i) {
                        pair.markers.push((i, Tally::default()));
                    }
                    match pair.markers.iter_mut().find(|(m, _)| *m == i) {
                        Some((_, t)) => t,
                        None => continue,
                    }
                }
            };
            tally.ports(client.1, server.1);
            for _ in 0..n {
                tally.hit(number, time, || match hit {
                    Hit::Fingerprint => hex::encode(MIRAI_CLIENT_REPLY),
                    Hit::Marker(i) => SHELL_MARKERS
                        .get(i)
                        .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                        .unwrap_or_default(),
                    Hit::Agent(i) => HTTP_FLOOD_AGENTS
                        .get(i)
                        .map(|a| String::from_utf8_lossy(a).trim_end().to_string())
                        .unwrap_or_default(),
                    Hit::LowercaseLength => "content-length:".to_string(),
                });
            }
        }
    }

    /// Hashes an HTTP response body (the first response of a flow, up to its
    /// `Content-Length` or the end of the stream) and compares it with the samples
    /// the trap stored.
    /// Gathers a client's SSH opening (identification line and KEXINIT) and, once it
    /// is whole or will not be, counts the connection and its client for the pair.
    pub(super) fn ssh_hello(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        use crate::ssh::{parse_hello, Parsed, MAX_HELLO};
        if !self.ssh_hellos.contains_key(&c.flow) {
            // Only streams whose first bytes arrive here (offset 0) are read.
            if c.end || c.offset > 0 || self.ssh_hellos.len() >= MAX_SSH_HELLOS {
                if !c.end && c.offset == 0 {
                    self.counters.untracked += 1;
                }
                return;
            }
            self.ssh_hellos.insert(c.flow, Vec::new());
        }
        let Some(buffer) = self.ssh_hellos.get_mut(&c.flow) else {
            return;
        };
        let new = c.bytes.get(c.new_from..).unwrap_or_default();
        let room = MAX_HELLO.saturating_sub(buffer.len());
        buffer.extend_from_slice(new.get(..new.len().min(room)).unwrap_or(new));
        let complete = c.end || buffer.len() >= MAX_HELLO;
        let hello = match parse_hello(buffer, complete) {
            Parsed::NeedMore => return,
            Parsed::NotSsh => None,
            Parsed::Done(hello) => Some(hello),
        };
        self.ssh_hellos.remove(&c.flow);
        let Some(hello) = hello else {
            return;
        };
        let (client, server) = (c.flow.client, c.flow.server);
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        let ssh = pair.ssh.get_or_insert_with(Box::default);
        ssh.connections.ports(client.1, server.1);
        let version = hello.version.clone();
        ssh.connections.hit(number, time, || version);
        if let Some((_, n)) = ssh.clients.iter_mut().find(|(h, _)| *h == hello) {
            *n += 1;
        } else if ssh.clients.len() < MAX_SSH_CLIENTS_PER_PAIR {
            ssh.clients.push((hello, 1));
        }
    }

    pub(super) fn response_body(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        let body = match self.bodies.entry(c.flow) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            // Only at the start of a response stream.
            std::collections::hash_map::Entry::Vacant(v) => {
                if c.end || c.offset > 0 || !c.start.starts_with(b"HTTP/1.") {
                    return;
                }
                v.insert(Body {
                    header: Vec::new(),
                    hasher: None,
                    length: 0,
                    expected: None,
                })
            }
        };
        let mut fresh = c.bytes.get(c.new_from..).unwrap_or_default();
        if body.hasher.is_none() {
            let before = body.header.len();
            body.header.extend_from_slice(fresh);
            match memchr::memmem::find(&body.header, b"\r\n\r\n") {
                Some(at) => {
                    let header_end = at + 4;
                    body.expected =
                        content_length(body.header.get(..header_end).unwrap_or_default());
                    fresh = fresh
                        .get(header_end.saturating_sub(before)..)
                        .unwrap_or_default();
                    body.header = Vec::new();
                    body.hasher = Some(Sha256::new());
                }
                None if body.header.len() > MAX_RESPONSE_HEADER || c.end => {
                    self.bodies.remove(&c.flow);
                    return;
                }
                None => return,
            }
        }
        let take = body.expected.map_or(fresh.len() as u64, |e| {
            e.saturating_sub(body.length).min(fresh.len() as u64)
        });
        if let Some(hasher) = body.hasher.as_mut() {
            hasher.update(
                fresh
                    .get(..usize::try_from(take).unwrap_or(usize::MAX))
                    .unwrap_or_default(),
            );
        }
        body.length += take;
        let complete = body.expected.is_some_and(|e| body.length >= e);
        if !(complete || c.end) {
            return;
        }
        let Some(body) = self.bodies.remove(&c.flow) else {
            return;
        };
        let (Some(hasher), length) = (body.hasher, body.length) else {
            return;
        };
        let digest: [u8; 32] = hasher.finalize().into();
        if length > 0 && self.indicators.hashes.contains(&digest) {
            let (client, server) = (c.flow.client, c.flow.server);
            if let Some(pair) = self.pair(client.0, server.0) {
                pair.trap_sample.ports(client.1, server.1);
                pair.trap_sample.hit(number, time, || {
                    format!("sha256 {} ({length} bytes)", hex::encode(digest))
                });
            }
        }
    }

    /// The report, C2 and downloader flows (§1.6, §4.4, §3.6), judged by the
    /// client's first bytes as they grow; each fires at most once per flow.
    pub(super) fn client_head(
        &mut self,
        number: u64,
        time: f64,
        flow: FlowKey,
        head: &[u8],
        before: usize,
    ) {
        let (client, server) = (flow.client, flow.server);
        let mut found: Option<(Found, String)> = None;
        if server.1 == REPORT_PORT {
            if let Some(report) = parse_report(head) {
                found = Some((Found::Report, report));
            }
        }
        if let Some((&len, _)) = head.get(4..).and_then(<[u8]>::split_first) {
            let need = 5 + usize::from(len);
            let complete = before < need && need <= head.len();
            let only_keepalives = head.get(need..).is_some_and(|r| r.iter().all(|&b| b == 0));
            if complete && only_keepalives && head.starts_with(&C2_HELLO) {
                if let Some(id) = head.get(4..need).and_then(parse_bot_id) {
                    found = Some((Found::C2, format!("00000001 id {id}")));
                }
            }
        }
        if let Some(end) = memchr::memmem::find(head, b"\r\n\r\n").map(|at| at + 4) {
            if end == head.len() && end > before {
                if let Some(request) = bins_request(head) {
                    found = Some((Found::Bins, request));
                }
            }
            if let Some(hit) = self.exploits.judge(head, before) {
                let Some(pair) = self.pair(client.0, server.0) else {
                    return;
                };
                let key = (hit.name, hit.cve);
                let at = match pair.exploits.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        pair.exploits.push((key, Tally::default()));
                        pair.exploits.len() - 1
                    }
                };
                if let Some((_, tally)) = pair.exploits.get_mut(at) {
                    tally.ports(client.1, server.1);
                    let urls = hit.urls.join(" ");
                    tally.hit(number, time, || format!("{} urls: {urls}", hit.command));
                }
                return;
            }
        }
        let Some((what, matched)) = found else {
            return;
        };
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        let tally = match what {
            Found::Report => &mut pair.reports,
            Found::C2 => &mut pair.c2,
            Found::Bins => &mut pair.bins,
        };
        tally.ports(client.1, server.1);
        tally.hit(number, time, || matched);
    }
}
