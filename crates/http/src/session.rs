//! One connection to the device's web server: a request read (bounded), matched
//! against the exploit entries the profile exposes on this port, the command line
//! of a match run in the device's shell (the same per-source device the telnet and
//! SSH doors reach), and the endpoint's answer once it ends. Other requests get the
//! server's own pages: a login (Basic or a form, with the device's credential
//! policy), its main page, its error pages. The server answers one request per
//! connection and closes it, as BusyBox `httpd` and most device servers do.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use busybait_device::clock::Now;
use busybait_device::profile::HttpServer;
use busybait_device::shell::{FetchRequest, FetchResult};
use busybait_device::terminal::{Attach, FetchId, Outgoing};
use busybait_device::vfs::{FinishedFile, StagedBytes};
use busybait_events::{lossy, CloseReason, Event, EventKind, Peer, SessionId};
use busybait_intel::exploits::{Entry, Table};
use sha2::{Digest, Sha256};

use crate::request::{Read, Refusal, Request, RequestReader};
use crate::response::{login_page, main_page, Framing, Response};
use crate::HttpLimits;

/// What every HTTP session of a sensor shares.
#[derive(Debug)]
pub struct HttpConfig {
    /// The device behind every door (its shell's limits are the telnet door's).
    pub device: Arc<busybait_device::terminal::SessionConfig>,
    /// The exploit table.
    pub exploits: Arc<Table>,
    /// Limits.
    pub limits: HttpLimits,
    /// When the device's own pages were last modified (its boot: they are made
    /// then), for `Last-Modified` and `ETag`.
    pub pages_modified: std::time::SystemTime,
    /// What commands left for the pages that read their output back.
    pub readbacks: crate::readback::Readbacks,
}

impl HttpConfig {
    /// The door's config for `device`'s web server.
    pub fn new(
        device: Arc<busybait_device::terminal::SessionConfig>,
        exploits: Arc<Table>,
        limits: HttpLimits,
        pages_modified: std::time::SystemTime,
    ) -> Self {
        Self {
            device,
            exploits,
            limits,
            pages_modified,
            readbacks: Default::default(),
        }
    }

    /// The profile's web server (a default one if the profile has none; the edge
    /// refuses to serve HTTP for such a profile).
    fn server(&self) -> &HttpServer {
        static NONE: std::sync::OnceLock<HttpServer> = std::sync::OnceLock::new();
        self.device
            .device()
            .profile
            .http
            .as_ref()
            .unwrap_or_else(|| {
                NONE.get_or_init(|| HttpServer {
                    server: None,
                    title: String::new(),
                    realm: None,
                    exploits: Vec::new(),
                    ports: Vec::new(),
                })
            })
    }

    /// The `Server:` header of a daemon of its own on `port` (the Realtek SDK's
    /// miniupnpd on 52869 answers every request there itself), if one is there.
    pub fn daemon_on(&self, port: u16) -> Option<&str> {
        self.server()
            .exploits
            .iter()
            .filter_map(|name| self.exploits.get(name))
            .filter(|e| e.ports.contains(&port))
            .find_map(|e| e.response.server.as_deref())
    }

    /// The entries served on `port`: those the profile exposes there, or all of
    /// them on a port the device does not use (an operator's remapped port).
    pub fn entries_on(&self, port: u16) -> Vec<&Entry> {
        let server = self.server();
        let exposed: Vec<&Entry> = server
            .exploits
            .iter()
            .filter_map(|name| self.exploits.get(name))
            .collect();
        if server.ports.contains(&port) || exposed.iter().any(|e| e.ports.contains(&port)) {
            exposed
                .into_iter()
                .filter(|e| e.ports.contains(&port))
                .collect()
        } else {
            exposed
        }
    }
}

/// Where the connection is.
#[derive(Debug)]
enum Stage {
    /// Reading a request.
    Reading(RequestReader),
    /// A matched request's command line is running.
    Running(Box<Running>),
    /// Answered (or refused); only queued output remains.
    Closed,
}

/// A command line an exploit started, and what its answer needs.
#[derive(Debug)]
struct Running {
    request: Request,
    response: busybait_intel::exploits::Response,
    process: busybait_device::terminal::Terminal,
    /// What it printed on stdout, up to `max_output_bytes`.
    output: Vec<u8>,
    /// A line still running then (stalled on its budget, say) ends the connection
    /// as an idle one: the device's `idle_timeout` after the request.
    give_up_at: Instant,
}

/// One HTTP connection.
#[derive(Debug)]
pub struct Session {
    config: Arc<HttpConfig>,
    id: SessionId,
    peer: Peer,
    started: Instant,
    stage: Stage,
    authenticated: bool,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    samples: VecDeque<FinishedFile>,
    staged: VecDeque<StagedBytes>,
    fetches: VecDeque<(FetchId, FetchRequest)>,
    /// The request must be whole by then (slow clients).
    request_deadline: Instant,
    lifetime_deadline: Instant,
}

impl Session {
    /// A new connection.
    pub fn new(config: Arc<HttpConfig>, id: SessionId, peer: Peer, now: Now) -> Self {
        let limits = &config.limits;
        let mut s = Self {
            id,
            peer,
            started: now.mono,
            stage: Stage::Reading(RequestReader::default()),
            authenticated: false,
            transmit: Vec::new(),
            events: VecDeque::new(),
            samples: VecDeque::new(),
            staged: VecDeque::new(),
            fetches: VecDeque::new(),
            request_deadline: now.mono + limits.request_timeout,
            lifetime_deadline: now.mono + config.device.limits.session_lifetime,
            config,
        };
        s.event(now, EventKind::connect());
        s
    }

    fn event(&mut self, now: Now, kind: EventKind) {
        self.events.push_back(Event {
            time: now.wall,
            session: self.id,
            peer: self.peer,
            kind,
        });
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Whether the client logged in (with the device's credentials).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the connection is over (queued output may remain).
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Closed)
    }

    /// Handles bytes from the client.
    pub fn handle_input(&mut self, now: Now, input: &[u8]) {
        let Stage::Reading(reader) = &mut self.stage else {
            // A second request on the connection, or more body than announced: the
            // server reads no further.
            return;
        };
        match reader.feed(input, &self.config.limits) {
            Read::Incomplete => {}
            Read::Refused(refusal) => {
                let raw = reader.raw().to_vec();
                self.refuse(now, refusal, &raw);
            }
            Read::Done(request) => self.dispatch(now, request),
        }
    }

    /// Answers a request that will not be served, records what came of it (its raw
    /// bytes as the body: it has no parsed parts), and closes.
    fn refuse(&mut self, now: Now, refusal: Refusal, raw: &[u8]) {
        if let Some(limit) = refusal.limit() {
            let l = &self.config.limits;
            let value = match refusal {
                Refusal::BodyTooLarge => l.max_body_bytes,
                _ => l.max_head_bytes,
            };
            self.event(
                now,
                EventKind::LimitHit {
                    limit,
                    value: value as u64,
                },
            );
        }
        let unparsed = Request {
            method: String::new(),
            path: String::new(),
            query: String::new(),
            version: "",
            headers: Vec::new(),
            body: raw.to_vec(),
        };
        self.answer(now, Some(&unparsed), Response::error(refusal.status()));
    }

    /// Serves a whole request.
    fn dispatch(&mut self, now: Now, request: Request) {
        let config = self.config.clone();
        let entries = config.entries_on(self.peer.dst.port());
        let seen = busybait_intel::exploits::Request {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
        };
        if let Some(m) = config.exploits.find(&entries, &seen) {
            let command = lossy(&m.command);
            self.event(
                now,
                EventKind::Exploit {
                    name: m.entry.name.clone(),
                    cve: m.entry.cve.clone(),
                    urls: busybait_intel::triage::urls(&m.command),
                    command: command.clone(),
                },
            );
            self.event(now, EventKind::CommandInput { input: command });
            let attach = Attach {
                pty: false,
                width: 0,
                height: 0,
                command: Some(m.command),
            };
            let mut process = busybait_device::terminal::Terminal::attached(
                config.device.clone(),
                self.id,
                self.peer,
                now,
                attach,
            );
            process.end_of_stdin(now);
            self.stage = Stage::Running(Box::new(Running {
                request,
                response: m.entry.response.clone(),
                process,
                output: Vec::new(),
                give_up_at: now.mono + config.device.limits.idle_timeout,
            }));
            self.pump(now);
            return;
        }
        let response = self.page(now, &request);
        self.answer(now, Some(&request), response);
    }

    /// The server's own answer to a request no exploit matched.
    fn page(&mut self, now: Now, request: &Request) -> Response {
        let server = self.config.server().clone();
        let modified = self.config.pages_modified;
        if !matches!(request.method.as_str(), "GET" | "HEAD" | "POST") {
            return Response::error(501);
        }
        // BusyBox refuses a path that climbs out of its root.
        if request.path.split('/').any(|segment| segment == "..") {
            return Response::error(400);
        }
        if matches!(request.method.as_str(), "GET" | "HEAD") {
            // A page showing what this source's last command printed.
            if let Some(body) = self
                .config
                .readbacks
                .page(self.peer.src.ip(), &request.path)
            {
                let mut r = Response::page(body, modified);
                r.framing = Framing::Generated;
                return r;
            }
        }
        let root = matches!(request.path.as_str(), "/" | "/index.html");
        if self.config.daemon_on(self.peer.dst.port()).is_some() {
            // A UPnP daemon's port: no pages, no login.
            return if request.method == "POST" {
                Response::error(501)
            } else {
                Response::error(404)
            };
        }
        if let Some(realm) = &server.realm {
            // Basic authentication on every page.
            let credentials = request
                .header("Authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(decode_basic);
            let granted = match credentials {
                Some((user, pass)) => self.login(now, &user, &pass),
                None => false,
            };
            if !granted {
                let mut r = Response::error(401);
                r.realm = Some(realm.clone());
                return r;
            }
            return match request.method.as_str() {
                "POST" => Response::error(501),
                _ if root => Response::page(main_page(&server), modified),
                _ => Response::error(404),
            };
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/login.cgi") => {
                let field = |name: &str| {
                    form_urlencoded::parse(&request.body)
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned().into_bytes())
                        .unwrap_or_default()
                };
                if self.login(now, &field("username"), &field("password")) {
                    Response::page(main_page(&server), modified)
                } else {
                    Response::page(login_page(&server), modified)
                }
            }
            // A POST to anything but a CGI: BusyBox's 501.
            ("POST", _) => Response::error(501),
            _ if root => Response::page(login_page(&server), modified),
            _ => Response::error(404),
        }
    }

    /// Checks credentials with the device's policy, recording the attempt.
    fn login(&mut self, now: Now, user: &[u8], pass: &[u8]) -> bool {
        let ok = self
            .config
            .device
            .state
            .auth
            .check(now.mono, self.peer.src.ip(), user, pass);
        let (username, password) = (lossy(user), lossy(pass));
        if ok {
            self.authenticated = true;
            self.event(now, EventKind::LoginSuccess { username, password });
        } else {
            self.event(now, EventKind::LoginFailed { username, password });
        }
        ok
    }

    /// Queues the answer, records the request with its status, and closes.
    fn answer(&mut self, now: Now, request: Option<&Request>, mut response: Response) {
        if response.server.is_none() {
            let daemon = self.config.daemon_on(self.peer.dst.port());
            response.server = daemon.map(str::to_string);
        }
        if let Some(request) = request {
            self.record_request(now, request, response.status);
        }
        let bytes = response.encode(self.config.server(), now.wall);
        self.transmit.extend_from_slice(&bytes);
        self.end(now, CloseReason::DeviceClosed);
    }

    fn record_request(&mut self, now: Now, request: &Request, status: u16) {
        let logged = self.config.limits.max_logged_body_bytes;
        let body_sha256 = if request.body.is_empty() {
            String::new()
        } else {
            hex::encode(Sha256::digest(&request.body))
        };
        let body = lossy(
            request
                .body
                .get(..request.body.len().min(logged))
                .unwrap_or_default(),
        );
        self.event(
            now,
            EventKind::HttpRequest {
                method: request.method.clone(),
                path: request.path.clone(),
                query: request.query.clone(),
                version: request.version.to_string(),
                headers: request.headers.clone(),
                body_len: request.body.len() as u64,
                body_sha256,
                body,
                status,
            },
        );
    }

    /// Moves what the running command did up to the edge; answers once it ended.
    fn pump(&mut self, now: Now) {
        let Stage::Running(running) = &mut self.stage else {
            return;
        };
        let max = self.config.limits.max_output_bytes;
        // The page is what the command wrote to stdout (the firmware's `popen`);
        // its stderr goes to the server's log, never to the client.
        let mut printed = Vec::new();
        running.process.poll_transmit(&mut printed);
        let mut log = Vec::new();
        running.process.poll_stderr(&mut log);
        let room = max.saturating_sub(running.output.len());
        running
            .output
            .extend_from_slice(printed.get(..printed.len().min(room)).unwrap_or_default());
        while let Some(e) = running.process.poll_event() {
            self.events.push_back(e);
        }
        while let Some(f) = running.process.poll_sample() {
            self.samples.push_back(f);
        }
        while let Some(b) = running.process.poll_staged() {
            self.staged.push_back(b);
        }
        while let Some(f) = running.process.poll_fetch() {
            self.fetches.push_back(f);
        }
        let ended = running.process.exit_status().is_some() || running.process.is_closed();
        if !ended {
            return;
        }
        let Stage::Running(mut running) = std::mem::replace(&mut self.stage, Stage::Closed) else {
            return;
        };
        running.process.close(now, CloseReason::DeviceClosed);
        self.pump_finished(&mut running.process);
        let spec = &running.response;
        if let Some(path) = &spec.readback {
            self.config.readbacks.keep(
                self.peer.src.ip(),
                path,
                &spec.readback_body,
                &running.output,
            );
        }
        let body = spec
            .body
            .replace("{output}", &String::from_utf8_lossy(&running.output));
        let response = Response {
            status: spec.status,
            content_type: spec.content_type.clone(),
            server: spec.server.clone(),
            realm: None,
            framing: Framing::Generated,
            body: body.into_bytes(),
        };
        self.answer(now, Some(&running.request), response);
    }

    /// What a closed process still hands up (the files it was writing).
    fn pump_finished(&mut self, process: &mut busybait_device::terminal::Terminal) {
        while let Some(e) = process.poll_event() {
            self.events.push_back(e);
        }
        while let Some(f) = process.poll_sample() {
            self.samples.push_back(f);
        }
        while let Some(b) = process.poll_staged() {
            self.staged.push_back(b);
        }
    }

    /// Moves the bytes to send into `buf`; returns whether there were any.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.transmit.is_empty() {
            return false;
        }
        buf.append(&mut self.transmit);
        self.transmit = Vec::new();
        true
    }

    /// The next piece of output.
    pub fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        let mut out = Vec::new();
        self.poll_transmit(&mut out).then_some(Outgoing::Bytes(out))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next file to store as a sample.
    pub fn poll_sample(&mut self) -> Option<FinishedFile> {
        self.samples.pop_front()
    }

    /// The next bytes to stage for a file still being written.
    pub fn poll_staged(&mut self) -> Option<StagedBytes> {
        self.staged.pop_front()
    }

    /// The next download the edge should make.
    pub fn poll_fetch(&mut self) -> Option<(FetchId, FetchRequest)> {
        self.fetches.pop_front()
    }

    /// The edge's answer to a download.
    pub fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult) {
        if let Stage::Running(running) = &mut self.stage {
            running.process.handle_fetch_result(now, id, result);
        }
        self.pump(now);
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Closed => None,
            Stage::Reading(_) => Some(self.request_deadline.min(self.lifetime_deadline)),
            Stage::Running(r) => Some(
                r.process
                    .poll_timeout()
                    .map_or(self.lifetime_deadline, |t| t.min(self.lifetime_deadline))
                    .min(r.give_up_at),
            ),
        }
    }

    /// Handles deadlines that have passed.
    pub fn handle_timeout(&mut self, now: Now) {
        if self.is_closed() {
            return;
        }
        if now.mono >= self.lifetime_deadline {
            let v = self.config.device.limits.session_lifetime.as_secs();
            return self.close_for_limit(now, "session_lifetime", v);
        }
        if matches!(&self.stage, Stage::Running(r) if now.mono >= r.give_up_at) {
            let v = self.config.device.limits.idle_timeout.as_secs();
            return self.close_for_limit(now, "idle_timeout", v);
        }
        let slow_request = match &mut self.stage {
            Stage::Reading(reader) => (now.mono >= self.request_deadline).then(|| reader.started()),
            Stage::Running(running) => {
                running.process.handle_timeout(now);
                None
            }
            Stage::Closed => None,
        };
        if let Some(started) = slow_request {
            let value = self.config.limits.request_timeout.as_secs();
            self.event(
                now,
                EventKind::LimitHit {
                    limit: "http_request_timeout",
                    value,
                },
            );
            if started {
                // A slow request: BusyBox's 408 page.
                self.answer(now, None, Response::error(408));
            } else {
                self.end(now, CloseReason::Limit);
            }
        }
        self.pump(now);
    }

    /// Whether a command line is computing (it goes on at the next timeout).
    pub fn is_computing(&self) -> bool {
        matches!(&self.stage, Stage::Running(r) if r.process.is_computing())
    }

    /// Bytes this session holds that an attacker can grow.
    pub fn memory_used(&self) -> usize {
        let own = self.transmit.capacity()
            + self.events.len() * 256
            + self.samples.iter().map(|f| f.data.len()).sum::<usize>()
            + self.staged.iter().map(|b| b.data.capacity()).sum::<usize>();
        own + match &self.stage {
            Stage::Reading(reader) => reader.buffered(),
            Stage::Running(r) => r.request.heap() + r.output.capacity() + r.process.memory_used(),
            Stage::Closed => 0,
        }
    }

    /// Ends the running command's shell for the sensor's memory cap.
    pub fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
        match &mut self.stage {
            Stage::Running(running) => {
                running.process.fail_for_memory(now, limit, value);
                self.pump(now);
            }
            _ => self.close_for_limit(now, limit, value),
        }
    }

    /// Ends the session because a named limit was hit.
    pub fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64) {
        if self.is_closed() {
            return;
        }
        self.event(now, EventKind::LimitHit { limit, value });
        self.close(now, CloseReason::Limit);
    }

    /// Ends the session from outside (client gone, shutdown, eviction, I/O error).
    pub fn close(&mut self, now: Now, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        if let Stage::Running(mut running) = std::mem::replace(&mut self.stage, Stage::Closed) {
            running.process.close(now, reason);
            self.pump_finished(&mut running.process);
            // What came before the client left is on record.
            let request = running.request;
            self.record_request(now, &request, 0);
        }
        self.end(now, reason);
    }

    /// The last two events, and the stage closed.
    fn end(&mut self, now: Now, reason: CloseReason) {
        self.stage = Stage::Closed;
        self.event(now, EventKind::SessionEnd { reason });
        let duration_ms = now.mono.saturating_duration_since(self.started).as_millis();
        self.event(
            now,
            EventKind::Closed {
                duration_ms: u64::try_from(duration_ms).unwrap_or(u64::MAX),
            },
        );
    }
}

/// `user:password` of a Basic `Authorization` value.
fn decode_basic(encoded: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64ct::Encoding;
    let decoded = base64ct::Base64::decode_vec(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((
        decoded.get(..colon)?.to_vec(),
        decoded.get(colon + 1..)?.to_vec(),
    ))
}
