//! One SSH connection with the emulated device's Dropbear, as a sans-IO state
//! machine: the same shape as the telnet session (`handle_input`, `handle_timeout`,
//! `poll_transmit`, `poll_event`, `poll_timeout`).
//!
//! What the client meets is Dropbear 2022.83's server as its source has it (see
//! `docs/SSH.md`): its identification and KEXINIT sent at once, one identification
//! line read, packets checked as `read_packet` checks them, `requirenext` ordering
//! during key exchange, `publickey,password` authentication with its failure delay
//! and ten tries, `session` channels with its window and packet sizes and its order
//! of EOF, exit-status and CLOSE. Errors end the connection the way `dropbear_exit`
//! does: no DISCONNECT, no text, queued packets dropped. Behind the channels is the
//! device's shell, on a pty or on pipes, the same shell the telnet door reaches.
//!
//! The layers are split by job: [`transport`] (identification, packets, key
//! exchange), [`auth`] (user authentication), [`channel`] (the connection protocol).

mod auth;
mod channel;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use busybait_device::clock::Now;
use busybait_device::shell::{FetchRequest, FetchResult};
use busybait_device::terminal::FetchId;
use busybait_device::vfs::{FinishedFile, StagedBytes};
use busybait_events::{CloseReason, Event, EventKind, Peer, SessionId};

use crate::algorithms::{DropbearVersion, HostKeyAlgorithm, ServerLists};
use crate::hostkey::HostKey;
use crate::ident::IdentReader;
use crate::packet::{PacketReader, PacketWriter};
use crate::rng::SessionRng;

pub use channel::Channel;

/// The SSH door's limits. Dropbear's own values are the defaults.
#[derive(Debug, Clone)]
pub struct SshLimits {
    /// Longest packet accepted, counted as Dropbear counts it (length field, body and
    /// MAC): `RECV_MAX_PACKET_LEN`.
    pub max_packet_len: u32,
    /// From connection to successful authentication: `AUTH_TIMEOUT`.
    pub auth_timeout: Duration,
    /// Counted authentication failures before the server gives up: `MAX_AUTH_TRIES`.
    pub max_auth_tries: u32,
    /// The failure delay: at least this long after the request…
    pub auth_failure_delay: Duration,
    /// …plus up to this much more, at random.
    pub auth_failure_jitter: Duration,
    /// Channels open at once (Dropbear allows 1000; each holds a shell here).
    pub max_channels: usize,
    /// Requests recorded as events per session (offered keys, `env`, window sizes,
    /// forwarding, subsystems, signals, unknown channel types); past it they are
    /// answered as before and not recorded, and one `busybait.limit` says so.
    pub max_recorded_requests: u32,
    /// Bytes received and not yet handled (packets that arrive while a failure delay
    /// runs wait here; Dropbear leaves them in the socket).
    pub max_input_bytes: usize,
    /// No input for this long ends the session.
    pub idle_timeout: Duration,
    /// No session lasts longer.
    pub session_lifetime: Duration,
}

impl Default for SshLimits {
    fn default() -> Self {
        Self {
            max_packet_len: 35_000,
            auth_timeout: Duration::from_secs(300),
            max_auth_tries: 10,
            auth_failure_delay: Duration::from_millis(250),
            auth_failure_jitter: Duration::from_millis(100),
            max_channels: 8,
            max_recorded_requests: 256,
            max_input_bytes: 256 * 1024,
            idle_timeout: Duration::from_secs(300),
            session_lifetime: Duration::from_secs(3600),
        }
    }
}

/// The server the device runs: its Dropbear build and the sensor's host keys.
#[derive(Debug)]
pub struct Server {
    /// The Dropbear version.
    pub version: DropbearVersion,
    /// Its identification line, without CR LF.
    pub ident: Vec<u8>,
    /// What its KEXINIT lists.
    pub lists: ServerLists,
    /// The host keys, one per algorithm.
    pub host_keys: Vec<HostKey>,
    /// The channel window it offers (`-W`; Debian's service passes 65536).
    pub recv_window: u32,
    /// Where its `subsystem sftp` command points (run whether it exists or not).
    pub sftp_server: Vec<u8>,
}

impl Server {
    /// The server of a Dropbear build with these host keys.
    pub fn new(
        version: DropbearVersion,
        strict_kex: bool,
        host_keys: Vec<HostKey>,
        recv_window: u32,
        sftp_server: &str,
    ) -> Self {
        let algorithms: Vec<HostKeyAlgorithm> =
            host_keys.iter().flat_map(HostKey::algorithms).collect();
        Self {
            version,
            ident: format!("SSH-2.0-dropbear_{}", version.as_str()).into_bytes(),
            lists: version.lists(&algorithms, strict_kex),
            host_keys,
            recv_window,
            sftp_server: sftp_server.as_bytes().to_vec(),
        }
    }

    fn host_key(&self, algorithm: HostKeyAlgorithm) -> Option<&HostKey> {
        self.host_keys.iter().find(|k| k.serves(algorithm))
    }
}

/// What every SSH session of a sensor shares.
#[derive(Debug)]
pub struct SshConfig {
    /// The device behind every door, and the pty's limits (the telnet door's).
    pub device: Arc<busybait_device::terminal::SessionConfig>,
    /// The device's Dropbear.
    pub server: Server,
    /// Limits.
    pub limits: SshLimits,
}

/// Where the connection is.
#[derive(Debug)]
enum Stage {
    /// Waiting for the client's identification line.
    Ident(IdentReader),
    /// Binary packets.
    Packets,
    /// Over; only queued output remains.
    Closed,
}

/// What a connection holds once it opens channels.
#[derive(Debug, Default)]
struct Connection {
    channels: Vec<Option<Channel>>,
    /// Files, staged bytes and downloads the channels' shells hand up.
    samples: VecDeque<FinishedFile>,
    staged: VecDeque<StagedBytes>,
    fetches: VecDeque<(FetchId, FetchRequest)>,
    /// Which channel's shell asked for each download (our id → channel, its id).
    fetch_routes: HashMap<u64, (usize, FetchId)>,
    next_fetch: u64,
    /// The terminal's traffic for the recording: (from the client?, bytes).
    terminal: VecDeque<(bool, Vec<u8>)>,
}

/// One SSH connection.
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    peer: Peer,
    config: Arc<SshConfig>,
    started: Instant,
    rng: SessionRng,
    stage: Stage,
    client_ident: Vec<u8>,
    reader: PacketReader,
    writer: PacketWriter,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    kex: transport::KexState,
    auth: auth::AuthState,
    /// Channels and what their shells produce (boxed: most connections never get
    /// that far, and each idle one should hold as little as a telnet login prompt).
    conn: Option<Box<Connection>>,
    /// Packets made while a key exchange runs, sent after the server's NEWKEYS.
    held: VecDeque<Vec<u8>>,
    auth_deadline: Option<Instant>,
    idle_deadline: Instant,
    lifetime_deadline: Instant,
    /// A failure delay runs: nothing is read or sent until then (Dropbear sleeps).
    paused_until: Option<Instant>,
    /// Whether unread input remained when the server closed (the kernel resets).
    reset: bool,
    /// Requests recorded so far (see [`SshLimits::max_recorded_requests`]).
    recorded_requests: u32,
}

impl Session {
    /// A new connection: queues the identification line and the KEXINIT, as Dropbear
    /// does before it reads anything. `seed` is 32 secret random bytes.
    pub fn new(
        config: Arc<SshConfig>,
        id: SessionId,
        peer: Peer,
        now: Now,
        seed: [u8; 32],
    ) -> Self {
        let limits = &config.limits;
        let mut s = Self {
            id,
            peer,
            started: now.mono,
            rng: SessionRng::new(seed),
            stage: Stage::Ident(IdentReader::default()),
            client_ident: Vec::new(),
            reader: PacketReader::new(limits.max_packet_len),
            writer: PacketWriter::default(),
            transmit: Vec::new(),
            events: VecDeque::new(),
            kex: transport::KexState::default(),
            auth: auth::AuthState::default(),
            conn: None,
            held: VecDeque::new(),
            auth_deadline: Some(now.mono + limits.auth_timeout),
            idle_deadline: now.mono + limits.idle_timeout,
            lifetime_deadline: now.mono + limits.session_lifetime,
            paused_until: None,
            reset: false,
            recorded_requests: 0,
            config,
        };
        s.event(now, EventKind::connect());
        s.transmit.extend_from_slice(&s.config.server.ident);
        s.transmit.extend_from_slice(b"\r\n");
        s.send_kexinit();
        s
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Whether the client has authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.auth.done
    }

    /// Whether the session is over (queued output may remain).
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Closed)
    }

    /// Whether the server closed with unread input (the edge closes with a reset).
    pub fn wants_reset(&self) -> bool {
        self.reset
    }

    /// Moves the bytes for the client into `buf`; returns whether there were any.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.transmit.is_empty() {
            return false;
        }
        if buf.is_empty() {
            *buf = std::mem::take(&mut self.transmit);
        } else {
            buf.append(&mut self.transmit);
        }
        true
    }

    /// The next event to record.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        event
    }

    /// The next piece of the terminal's traffic for the session recording (the
    /// plaintext of the channels: the wire is encrypted): whether it came from the
    /// client, and the bytes.
    pub fn poll_terminal(&mut self) -> Option<(bool, Vec<u8>)> {
        self.conn.as_mut()?.terminal.pop_front()
    }

    /// The next file to store as a sample.
    pub fn poll_sample(&mut self) -> Option<FinishedFile> {
        self.conn.as_mut()?.samples.pop_front()
    }

    /// The next bytes to stage for a file still being written.
    pub fn poll_staged(&mut self) -> Option<StagedBytes> {
        self.conn.as_mut()?.staged.pop_front()
    }

    /// The next download the edge should make.
    pub fn poll_fetch(&mut self) -> Option<(FetchId, FetchRequest)> {
        self.conn.as_mut()?.fetches.pop_front()
    }

    /// The edge's answer to a download.
    pub fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult) {
        let route = self
            .conn
            .as_mut()
            .and_then(|c| c.fetch_routes.remove(&id.0));
        let Some((index, inner)) = route else {
            return;
        };
        if let Some(process) = self.channel_mut(index).and_then(|c| c.process.as_mut()) {
            process.handle_fetch_result(now, inner, result);
        }
        self.pump(now);
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let processes = self
            .processes()
            // A shell waiting for its output to drain waits for the client's window,
            // not for a time.
            .filter(|p| !p.has_output())
            .filter_map(busybait_device::terminal::Terminal::poll_timeout)
            .min();
        [
            self.auth_deadline,
            self.paused_until,
            processes,
            Some(self.idle_deadline),
            Some(self.lifetime_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles deadlines that have passed.
    pub fn handle_timeout(&mut self, now: Now) {
        if self.is_closed() {
            return;
        }
        let t = now.mono;
        let limits = &self.config.limits;
        if t >= self.lifetime_deadline {
            let v = limits.session_lifetime.as_secs();
            return self.close_for_limit(now, "session_lifetime", v);
        }
        if t >= self.idle_deadline {
            let v = limits.idle_timeout.as_secs();
            return self.close_for_limit(now, "idle_timeout", v);
        }
        if self.auth_deadline.is_some_and(|d| t >= d) {
            // "Timeout before auth": a silent close.
            let v = limits.auth_timeout.as_secs();
            return self.close_for_limit(now, "ssh_auth_timeout", v);
        }
        if self.paused_until.is_some_and(|d| t >= d) {
            self.paused_until = None;
            self.auth_delay_over(now);
            if self.is_closed() {
                return;
            }
            self.process_packets(now);
        }
        for index in 0..self.channel_count() {
            if let Some(process) = self.channel_mut(index).and_then(|c| c.process.as_mut()) {
                process.handle_timeout(now);
            }
        }
        self.pump(now);
    }

    /// Handles bytes from the client.
    pub fn handle_input(&mut self, now: Now, input: &[u8]) {
        if self.is_closed() || input.is_empty() {
            return;
        }
        self.idle_deadline = now.mono + self.config.limits.idle_timeout;
        self.handle_timeout(now);
        if self.is_closed() {
            return;
        }
        let mut input = input;
        if let Stage::Ident(reader) = &mut self.stage {
            match reader.feed(input) {
                crate::ident::Ident::Incomplete => return,
                crate::ident::Ident::Refused { consumed, .. } => {
                    // `Incompatible remote version` or no `SSH-` line: closed, and
                    // what came after the line was never read.
                    self.reset = consumed < input.len();
                    return self.fatal(now);
                }
                crate::ident::Ident::Accepted { line, consumed } => {
                    self.event(
                        now,
                        EventKind::ClientVersion {
                            version: busybait_events::lossy(&line),
                        },
                    );
                    self.client_ident = line;
                    self.stage = Stage::Packets;
                    input = input.get(consumed..).unwrap_or_default();
                }
            }
        }
        self.reader.push(input);
        if self.paused_until.is_some() {
            if self.reader.pending().len() > self.config.limits.max_input_bytes {
                let v = self.config.limits.max_input_bytes as u64;
                self.close_for_limit(now, "ssh_max_input_bytes", v);
            }
            return;
        }
        self.process_packets(now);
        self.pump(now);
    }

    /// Handles every whole packet received, until a failure delay starts.
    fn process_packets(&mut self, now: Now) {
        while !self.is_closed() && self.paused_until.is_none() {
            match self.reader.next_packet() {
                Ok(Some(payload)) => self.dispatch(now, &payload),
                Ok(None) => return,
                Err(_) => {
                    // "Integrity error", "Error decrypting", "zlib error": the rest
                    // stays unread.
                    self.reset = true;
                    return self.fatal(now);
                }
            }
        }
    }

    /// Ends the session from outside (client gone, shutdown, eviction, I/O error).
    pub fn close(&mut self, now: Now, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.stage = Stage::Closed;
        for index in 0..self.channel_count() {
            let slot = self.conn.as_mut().and_then(|c| c.channels.get_mut(index));
            if let Some(mut channel) = slot.and_then(Option::take) {
                if let Some(mut process) = channel.process.take() {
                    process.close(now, reason);
                    self.collect(index, &mut process);
                }
            }
        }
        self.event(now, EventKind::SessionEnd { reason });
        let duration_ms = now.mono.saturating_duration_since(self.started).as_millis();
        self.event(
            now,
            EventKind::Closed {
                duration_ms: u64::try_from(duration_ms).unwrap_or(u64::MAX),
            },
        );
    }

    /// Ends the session the way `dropbear_exit` does: what a key exchange holds back
    /// is dropped and the connection closes, with no message.
    fn fatal(&mut self, now: Now) {
        // What earlier packets queued stays: Dropbear writes each packet's answer
        // before it reads the next, so an error after them loses none of it (an
        // UNIMPLEMENTED, then a bad packet length). The failing step queues nothing.
        self.held.clear();
        if !self.reader.pending().is_empty() {
            self.reset = true;
        }
        self.close(now, CloseReason::DeviceClosed);
    }

    /// Ends the session because a named limit was hit.
    pub fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64) {
        if self.is_closed() {
            return;
        }
        self.event(now, EventKind::LimitHit { limit, value });
        self.close(now, CloseReason::Limit);
    }

    /// Whether a channel's shell is computing (it goes on at the next timeout).
    pub fn is_computing(&self) -> bool {
        self.processes()
            .any(busybait_device::terminal::Terminal::is_computing)
    }

    /// Bytes this session holds that an attacker can grow.
    pub fn memory_used(&self) -> usize {
        let own = self.transmit.capacity()
            + self.reader.buffered()
            + self.held.iter().map(Vec::capacity).sum::<usize>()
            + self.client_ident.capacity()
            + self.kex.heap()
            + self.auth.heap();
        let Some(conn) = &self.conn else {
            return own;
        };
        let terminal: usize = conn.terminal.iter().map(|(_, b)| b.capacity()).sum();
        let channels: usize = conn
            .channels
            .iter()
            .flatten()
            .map(|c| {
                c.pending.capacity()
                    + c.pending_err.capacity()
                    + c.process.as_ref().map_or(0, |p| p.memory_used())
            })
            .sum();
        own + std::mem::size_of::<Connection>() + terminal + channels
    }

    /// Work the busiest shell's line has done.
    pub fn line_work(&self) -> u64 {
        self.processes()
            .map(busybait_device::terminal::Terminal::line_work)
            .max()
            .unwrap_or(0)
    }

    /// The most any of this session's shells held at once.
    pub fn memory_peak(&self) -> usize {
        self.processes()
            .map(busybait_device::terminal::Terminal::memory_peak)
            .max()
            .unwrap_or(0)
    }

    /// The sensor is at its memory cap and this session holds the most: the shell
    /// holding most dies as on a device out of memory.
    pub fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
        let biggest = self
            .conn
            .iter()
            .flat_map(|c| c.channels.iter())
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.as_ref()?.process.as_ref()?.memory_used())))
            .max_by_key(|(_, m)| *m)
            .map(|(i, _)| i);
        match biggest.and_then(|i| Some((i, self.channel_mut(i)?.process.as_mut()?))) {
            Some((_, process)) => {
                process.fail_for_memory(now, limit, value);
                self.pump(now);
            }
            None => self.close_for_limit(now, limit, value),
        }
    }

    fn processes(&self) -> impl Iterator<Item = &busybait_device::terminal::Terminal> {
        self.conn
            .iter()
            .flat_map(|c| c.channels.iter())
            .flatten()
            .filter_map(|c| c.process.as_ref())
    }

    fn channel_mut(&mut self, index: usize) -> Option<&mut Channel> {
        self.conn.as_mut()?.channels.get_mut(index)?.as_mut()
    }

    fn channel_count(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.channels.len())
    }

    /// The connection's channel state, made when first needed.
    fn conn(&mut self) -> &mut Connection {
        self.conn.get_or_insert_with(Box::default)
    }

    /// Records a request the client can repeat at will, up to the session's limit.
    fn record_request(&mut self, now: Now, kind: EventKind) {
        let limit = self.config.limits.max_recorded_requests;
        self.recorded_requests = self.recorded_requests.saturating_add(1);
        if self.recorded_requests <= limit {
            self.event(now, kind);
        } else if self.recorded_requests == limit + 1 {
            let value = u64::from(limit);
            self.event(
                now,
                EventKind::LimitHit {
                    limit: "ssh_recorded_requests",
                    value,
                },
            );
        }
    }

    fn event(&mut self, now: Now, kind: EventKind) {
        self.events.push_back(Event {
            time: now.wall,
            session: self.id,
            peer: self.peer,
            kind,
        });
    }

    /// Takes what a channel's shell produced besides output: its events, files,
    /// staged bytes and downloads.
    fn collect(&mut self, index: usize, process: &mut busybait_device::terminal::Terminal) {
        while let Some(e) = process.poll_event() {
            self.events.push_back(e);
        }
        let conn = self.conn();
        while let Some(f) = process.poll_sample() {
            conn.samples.push_back(f);
        }
        while let Some(b) = process.poll_staged() {
            conn.staged.push_back(b);
        }
        while let Some((inner, request)) = process.poll_fetch() {
            let id = conn.next_fetch;
            conn.next_fetch += 1;
            conn.fetch_routes.insert(id, (index, inner));
            conn.fetches.push_back((FetchId(id), request));
        }
    }
}

#[cfg(test)]
mod tests;
