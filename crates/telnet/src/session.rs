//! One telnet session with the emulated device, as a sans-IO state machine.
//!
//! The shape follows quinn-proto: the edge calls [`Session::handle_input`] with what
//! the socket delivered and [`Session::handle_timeout`] when [`Session::poll_timeout`]
//! passes, and drains [`Session::poll_transmit`] and [`Session::poll_event`]. Same
//! input, same clocks, same output: that is what makes golden tests and fuzzing work.
//!
//! What the device does is modelled on BusyBox 1.35 as Debian builds it:
//! `telnetd` (opening bytes, IAC filtering, CR LF handling), the pty's line discipline
//! in canonical mode while `login` runs (echo, `^C`, erase, `tcflush` of type-ahead),
//! `login` itself (prompts, the silent password, the 3 s pause, three attempts, the
//! 60 s alarm) and, after login, the device's ash behind its line editor (profiles
//! with line editing) or the kernel's canonical echo (profiles without), fed one line
//! at a time, with PS2 continuation, type-ahead while a line runs, `^C`, and the
//! yields and stalls of the shell's budgets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use busybait_events::{lossy, CloseReason, Event, EventKind, Peer, SessionId};

pub use busybait_device::clock::Now;

use crate::codec::{
    escape_iac, BusyboxIacFilter, Filtered, Observed, TelnetObserver, AYT_REPLY, BUSYBOX_OPENING,
};
use crate::limits::Limits;
use crate::tty;
use busybait_device::lineedit::{Edited, LineEditor, EDITING_MAX_LEN};
use busybait_device::profile::Device;
use busybait_device::shell::{
    FetchResult, Outcome, Shell, ShellEvent, State as ShellState, TtyOutput, Wait,
};
use busybait_device::DeviceState;

/// Names one download a session asked the edge for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FetchId(pub u64);

/// What every session of one listener shares.
#[derive(Debug)]
pub struct SessionConfig {
    /// The device behind this door (and every other): its facts, file system,
    /// credential policy and what each source left on it.
    pub state: Arc<DeviceState>,
    /// The door's own limits.
    pub limits: Limits,
    /// Long stored files encoded for the wire once (the device's BusyBox).
    pub encoded: crate::tty::EncodedFiles,
}

impl SessionConfig {
    /// The device's facts.
    pub fn device(&self) -> &Device {
        &self.state.device
    }
}

/// A piece of output for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Bytes of this session.
    Bytes(Vec<u8>),
    /// Bytes shared by every session (a stored file encoded once), from an offset.
    Shared(Arc<Vec<u8>>, usize),
}

impl Outgoing {
    /// The bytes to send.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Outgoing::Bytes(b) => b,
            Outgoing::Shared(b, from) => b.get(*from..).unwrap_or_default(),
        }
    }
}

/// A session with no telnet in front: the device's shell attached to another door's
/// channel (an SSH `shell` or `exec`). The door has authenticated the client and owns
/// the connection's deadlines; this session is the pty (or the pipes) and the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    /// A pty: ONLCR and XTABS on output, echo and the line editor on input. Without
    /// one, output goes out as the shell wrote it and input is not read.
    pub pty: bool,
    /// The window size (0 when unknown).
    pub width: u16,
    /// Rows.
    pub height: u16,
    /// `exec`: the line run as `sh -c`; none for a login shell.
    pub command: Option<Vec<u8>>,
}

/// The pty's canonical input buffer (`N_TTY_BUF_SIZE - 1`).
const TTY_LINE_MAX: usize = 4095;
/// BusyBox login: `USERNAME_SIZE`; `fgets(buf, size - 2)` after the first character.
const USERNAME_FGETS: usize = 61;
/// BusyBox login: `EMPTY_USERNAME_COUNT`.
const EMPTY_USERNAME_COUNT: u8 = 10;
/// Bytes of a command continued over PS2 lines before it runs as it is (a syntax
/// error): each new line parses the whole again, so this bounds that work too.
const MAX_CONTINUED_BYTES: usize = 16 * 1024;
/// Terminal width when the client never sent NAWS.
const DEFAULT_WIDTH: u16 = 80;

#[derive(Debug)]
enum Phase {
    /// Opening bytes sent; `login` not running yet.
    Starting,
    /// `login` waits for a user name.
    Username { empty_lines_left: u8 },
    /// `login` waits for the password (echo off).
    Password { username: Vec<u8> },
    /// The pause after a wrong password (echo back on; input is flushed after it).
    FailedPause,
    /// Logged in.
    Shell(Box<ShellPhase>),
    /// Done; only queued output remains.
    Closed,
}

/// The shell after login: ash's line editor and the interpreter behind it.
#[derive(Debug)]
struct ShellPhase {
    shell: Shell,
    /// ash's line editor (profiles with line editing).
    editor: LineEditor,
    /// The line typed so far in the tty's canonical mode (profiles without).
    canonical: Vec<u8>,
    /// Lines of a command not complete yet (read after PS2 prompts), each with its
    /// newline; at most [`MAX_CONTINUED_BYTES`].
    continued: Vec<u8>,
    /// What the running line waits for, and when that wait ends by itself.
    wait: Option<(Wait, Option<Instant>)>,
    /// Bytes typed while a line runs; the editor reads them after the prompt.
    typeahead: Vec<u8>,
}

/// One session.
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    peer: Peer,
    config: Arc<SessionConfig>,
    started: Now,
    observer: TelnetObserver,
    filter: BusyboxIacFilter,
    phase: Phase,
    /// Canonical-mode line being typed (still editable), what `^D` already handed
    /// over of it, and complete lines not yet read by `login`.
    tty_line: Vec<u8>,
    tty_delivered: Vec<u8>,
    tty_ready: VecDeque<Vec<u8>>,
    tty_echo: bool,
    column: usize,
    /// The window size the client last sent (NAWS), 0 before any.
    width: u16,
    height: u16,
    bytes_since_newline: usize,
    failures: u32,
    transmit: Vec<u8>,
    /// Output to send before `transmit`: what it held when a shared file came, and
    /// the file.
    queue: VecDeque<Outgoing>,
    /// Length of `transmit` when the current input arrived.
    transmit_mark: usize,
    events: VecDeque<Event>,
    login_started_at: Option<Instant>,
    login_deadline: Option<Instant>,
    pause_until: Option<Instant>,
    idle_deadline: Instant,
    lifetime_deadline: Instant,
    observed: Vec<Observed>,
    filtered: Vec<Filtered>,
    /// The latest time the session was told (for a deadline of "as soon as possible").
    last_now: Instant,
    /// More client input is already queued behind the byte being handled.
    input_pending: bool,
    /// Files the attacker finished writing, for the edge to store as samples.
    samples: VecDeque<busybait_device::vfs::FinishedFile>,
    /// Downloads for the edge to make, and the one the shell waits for.
    fetches: VecDeque<(FetchId, busybait_device::shell::FetchRequest)>,
    /// Bytes of files being written, for the edge to stage (one entry per file).
    staged: busybait_device::vfs::StagedQueue,
    pending_fetch: Option<FetchId>,
    next_fetch: u64,
    /// Attached to another door (no telnet, no login; see [`Attach`]): whether a pty.
    attached: Option<bool>,
    /// How the shell ended: its exit status (a login shell's `exit` is 0).
    exit_status: Option<i32>,
    /// An attached shell's input has ended.
    stdin_closed: bool,
    /// An attached `exec`: one line as `sh -c`.
    command_mode: bool,
    /// Standard error of an attached shell without a pty (its own pipe).
    stderr_out: Vec<u8>,
}

impl Session {
    /// A new session: queues BusyBox telnetd's 12 opening bytes and the issue text.
    pub fn new(config: Arc<SessionConfig>, id: SessionId, peer: Peer, now: Now) -> Self {
        let limits = &config.limits;
        let mut s = Self {
            id,
            peer,
            started: now,
            observer: TelnetObserver::new(limits.max_subneg_bytes),
            filter: BusyboxIacFilter::new(),
            phase: Phase::Starting,
            tty_line: Vec::new(),
            tty_delivered: Vec::new(),
            tty_ready: VecDeque::new(),
            tty_echo: true,
            column: 0,
            width: 0,
            height: 0,
            bytes_since_newline: 0,
            failures: 0,
            transmit: Vec::new(),
            queue: VecDeque::new(),
            transmit_mark: 0,
            events: VecDeque::new(),
            login_started_at: Some(now.mono + limits.login_start_delay),
            login_deadline: None,
            pause_until: None,
            idle_deadline: now.mono + limits.idle_timeout,
            lifetime_deadline: now.mono + limits.session_lifetime,
            observed: Vec::new(),
            filtered: Vec::new(),
            last_now: now.mono,
            input_pending: false,
            samples: VecDeque::new(),
            fetches: VecDeque::new(),
            pending_fetch: None,
            staged: Default::default(),
            next_fetch: 0,
            attached: None,
            exit_status: None,
            stdin_closed: false,
            command_mode: false,
            stderr_out: Vec::new(),
            config,
        };
        s.event(now, EventKind::Connect);
        s.transmit.extend_from_slice(&BUSYBOX_OPENING);
        // print_login_issue(): puts("\r") is "\r\n", which ONLCR makes "\r\r\n"; then
        // the issue with "\n" -> "\n\r".
        s.output(b"\r\r\n");
        let issue = render_issue(s.config.device());
        s.output(&issue);
        s
    }

    /// The device's shell behind another door: a login shell on a pty, or one command
    /// line as `sh -c` with or without one (see [`Attach`]). Records only what the
    /// shell does (commands, downloads, files); the door records the rest.
    pub fn attached(
        config: Arc<SessionConfig>,
        id: SessionId,
        peer: Peer,
        now: Now,
        attach: Attach,
    ) -> Self {
        let mut s = Self::new(config, id, peer, now);
        s.events.clear();
        s.transmit.clear();
        s.column = 0;
        s.login_started_at = None;
        s.attached = Some(attach.pty);
        s.width = attach.width;
        s.height = attach.height;
        s.start_shell(now);
        if let Phase::Shell(phase) = &mut s.phase {
            // Without a pty, stdout and stderr are two pipes.
            phase.shell.set_separate_stderr(!attach.pty);
        }
        match attach.command {
            Some(line) => {
                s.command_mode = true;
                if let Phase::Shell(phase) = &mut s.phase {
                    phase.shell.start_command(&line, now);
                }
                s.drive(now);
            }
            None if !attach.pty => {}
            None => {
                let banner = s.config.device().profile.shell_banner();
                s.output(banner.as_bytes());
                s.shell_prompt();
            }
        }
        s
    }

    /// Moves standard error's bytes (an attached shell without a pty) into `buf`;
    /// returns whether there were any.
    pub fn poll_stderr(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.stderr_out.is_empty() {
            return false;
        }
        buf.append(&mut self.stderr_out);
        true
    }

    /// Whether output waits for the door to take it.
    pub fn has_output(&self) -> bool {
        !self.nothing_to_send()
    }

    /// The attached shell's standard input has ended (SSH `EOF`): ash without a
    /// terminal runs what it has and exits; on a pty it is the end of input too.
    pub fn end_of_stdin(&mut self, now: Now) {
        if self.is_closed() || self.stdin_closed {
            return;
        }
        self.stdin_closed = true;
        if self.attached == Some(false) {
            self.pipe_line_end(now);
        }
    }

    /// The shell's exit status, once it has ended.
    pub fn exit_status(&self) -> Option<i32> {
        self.exit_status
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Whether the client got past login.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Shell(_))
    }

    /// Whether the session is over (queued output may remain in `poll_transmit`).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Output not yet taken by the edge (what the pty still buffers: `^C` discards it).
    fn discard_unsent_output(&mut self) {
        self.transmit.truncate(self.transmit_mark);
    }

    /// Moves the bytes for the client into `buf`; returns whether there were any.
    /// (Shared pieces are copied; [`Session::poll_transmit_piece`] hands them out as
    /// they are.)
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.nothing_to_send() {
            return false;
        }
        while let Some(piece) = self.queue.pop_front() {
            buf.extend_from_slice(piece.as_slice());
        }
        if self.transmit.is_empty() {
            return true;
        }
        if buf.is_empty() {
            // Hand the buffer over whole: an idle session keeps no output room.
            *buf = std::mem::take(&mut self.transmit);
        } else {
            buf.append(&mut self.transmit);
        }
        true
    }

    /// The next piece of output for the client, in order: bytes, or a shared file
    /// the same for every session (write it as it is; record it by reference).
    pub fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        if let Some(piece) = self.queue.pop_front() {
            return Some(piece);
        }
        if self.transmit.is_empty() {
            return None;
        }
        Some(Outgoing::Bytes(std::mem::take(&mut self.transmit)))
    }

    /// Whether no output waits for the client.
    fn nothing_to_send(&self) -> bool {
        self.transmit.is_empty() && self.queue.is_empty() && self.stderr_out.is_empty()
    }

    /// Bytes of this session's own output waiting for the client. Shared pieces cost
    /// it nothing, and the shell waits for them to drain before it writes more.
    fn unsent_own(&self) -> usize {
        let queued = self.queue.iter().map(|p| match p {
            Outgoing::Bytes(b) => b.len(),
            Outgoing::Shared(..) => 0,
        });
        self.transmit.len() + queued.sum::<usize>()
    }

    /// The next file to store as a sample (written, then executed, chmod-ed, removed,
    /// overwritten, or left behind at the end of the session).
    pub fn poll_sample(&mut self) -> Option<busybait_device::vfs::FinishedFile> {
        self.samples.pop_front()
    }

    /// The next bytes to stage on disk for a file still being written (so that a
    /// crash loses nothing; the finished file comes through `poll_sample`).
    pub fn poll_staged(&mut self) -> Option<busybait_device::vfs::StagedBytes> {
        self.staged.pop_first().map(|(_, bytes)| bytes)
    }

    /// The next download the edge should make (only with fetching on).
    pub fn poll_fetch(&mut self) -> Option<(FetchId, busybait_device::shell::FetchRequest)> {
        self.fetches.pop_front()
    }

    /// The edge's answer to a download; a stale or unknown id is ignored.
    pub fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult) {
        if self.is_closed() || self.pending_fetch != Some(id) {
            return;
        }
        self.pending_fetch = None;
        self.last_now = now.mono;
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        phase.wait = None;
        phase.shell.respond(Some(result));
        self.drive(now);
    }

    /// The next event to record.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if self.events.is_empty() {
            // Idle sessions are most of a busy sensor's sessions: keep no empty
            // queue's room (about a kilobyte) between bursts.
            self.events = VecDeque::new();
        }
        event
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        [
            self.login_started_at,
            self.login_deadline,
            self.pause_until,
            self.shell_deadline(),
            self.attached.is_none().then_some(self.idle_deadline),
            self.attached.is_none().then_some(self.lifetime_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Ends the session from outside (client gone, shutdown, eviction, I/O error).
    pub fn close(&mut self, now: Now, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        let mut observed = std::mem::take(&mut self.observed);
        self.observer.finish(&mut observed);
        self.record_observed(now, &mut observed);
        self.observed = observed;
        // What the bot wrote stays on the device for its next visit.
        if let Phase::Shell(phase) = std::mem::replace(&mut self.phase, Phase::Closed) {
            // Whatever is still being written is captured as it is now.
            let finished = self
                .config
                .state
                .close_shell(self.peer.src.ip(), phase.shell, now.mono);
            self.samples.extend(finished);
        }
        if self.attached.is_some() {
            // The door records how its connection ended.
            return;
        }
        self.event(now, EventKind::SessionEnd { reason });
        let duration_ms = now
            .mono
            .saturating_duration_since(self.started.mono)
            .as_millis();
        self.event(
            now,
            EventKind::Closed {
                duration_ms: u64::try_from(duration_ms).unwrap_or(u64::MAX),
            },
        );
        self.phase = Phase::Closed;
    }

    /// Whether a command line is computing (it yielded its slice of work and goes on
    /// at the next `handle_timeout`): the edge lets other sessions run first.
    pub fn is_computing(&self) -> bool {
        matches!(&self.phase, Phase::Shell(p) if matches!(p.wait, Some((Wait::Yield, _))))
    }

    /// Bytes this session holds that an attacker can grow: what its shell holds
    /// (measured at its last checkpoint) and its buffers.
    pub fn memory_used(&self) -> usize {
        let buffers = self.transmit.capacity()
            + self
                .queue
                .iter()
                .map(|p| match p {
                    Outgoing::Bytes(b) => b.capacity(),
                    Outgoing::Shared(..) => 0,
                })
                .sum::<usize>()
            + self.tty_line.capacity()
            + self.stderr_out.capacity()
            + self.tty_ready.iter().map(Vec::capacity).sum::<usize>();
        match &self.phase {
            Phase::Shell(p) => {
                buffers
                    + p.shell.memory_used()
                    + p.typeahead.capacity()
                    + p.continued.capacity()
                    + p.canonical.capacity()
            }
            _ => buffers,
        }
    }

    /// Work the shell's running (or last) line had done at its last checkpoint.
    pub fn line_work(&self) -> u64 {
        match &self.phase {
            Phase::Shell(p) => p.shell.line_work(),
            _ => 0,
        }
    }

    /// The most this session's shell held at once (0 before login).
    pub fn memory_peak(&self) -> usize {
        match &self.phase {
            Phase::Shell(p) => p.shell.memory_peak(),
            _ => 0,
        }
    }

    /// The sensor is at its memory cap across all sessions and this one holds the
    /// most: its shell dies as on a device out of memory (`sh: out of memory`, the
    /// connection closes), with an event naming the cap.
    pub fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
        if self.is_closed() {
            return;
        }
        self.event(now, EventKind::LimitHit { limit, value });
        let Phase::Shell(phase) = &mut self.phase else {
            return self.close(now, CloseReason::Limit);
        };
        if phase.shell.is_running() {
            phase.wait = None;
            phase.shell.fail_for_memory();
            self.drive(now);
        } else {
            self.output(b"sh: out of memory\r\n");
            self.close(now, CloseReason::Limit);
        }
    }

    /// Ends the session because a named limit was hit (also used by the edge, for
    /// limits it enforces itself such as a stalled write).
    pub fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64) {
        self.event(now, EventKind::LimitHit { limit, value });
        self.close(now, CloseReason::Limit);
    }

    /// Handles deadlines that have passed.
    pub fn handle_timeout(&mut self, now: Now) {
        if self.is_closed() {
            return;
        }
        let t = now.mono;
        let limits = &self.config.limits;
        if self.attached.is_some() {
            self.last_now = t;
            return self.shell_timeout(now);
        }
        if t >= self.lifetime_deadline {
            let v = limits.session_lifetime.as_secs();
            return self.close_for_limit(now, "session_lifetime", v);
        }
        if t >= self.idle_deadline {
            let v = limits.idle_timeout.as_secs();
            return self.close_for_limit(now, "idle_timeout", v);
        }
        if self.login_deadline.is_some_and(|d| t >= d) {
            // login's SIGALRM handler.
            let secs = limits.login_timeout.as_secs();
            self.output(format!("\r\nLogin timed out after {secs} seconds\r\n").as_bytes());
            return self.close_for_limit(now, "login_timeout", secs);
        }
        if self.login_started_at.is_some_and(|d| t >= d) {
            self.login_started_at = None;
            self.login_deadline = Some(t + self.config.limits.login_timeout);
            self.prompt_for_username(EMPTY_USERNAME_COUNT);
        }
        self.last_now = t;
        self.shell_timeout(now);
        if self.is_closed() {
            return;
        }
        if self.pause_until.is_some_and(|d| t >= d) {
            self.pause_until = None;
            self.output(b"Login incorrect\r\n");
            self.failures += 1;
            if self.failures >= self.config.limits.max_login_attempts {
                return self.close(now, CloseReason::DeviceClosed);
            }
            self.prompt_for_username(EMPTY_USERNAME_COUNT);
        }
    }

    /// Handles bytes from the client (one socket read's worth).
    pub fn handle_input(&mut self, now: Now, input: &[u8]) {
        if self.is_closed() || input.is_empty() {
            return;
        }
        self.idle_deadline = now.mono + self.config.limits.idle_timeout;
        self.last_now = now.mono;
        // Deadlines that passed while the edge was busy come first.
        self.handle_timeout(now);
        self.transmit_mark = self.transmit.len();
        if self.is_closed() {
            return;
        }
        if let Some(pty) = self.attached {
            if pty {
                self.pty_input(now, input);
            } else if self.is_running_command() {
                // `exec`: the command reads no input.
            } else {
                for &b in input {
                    if self.is_closed() {
                        break;
                    }
                    self.shell_input(now, b);
                }
            }
            return;
        }
        let mut observed = std::mem::take(&mut self.observed);
        let result = self.observer.feed(input, &mut observed);
        self.record_observed(now, &mut observed);
        self.observed = observed;
        if let Err(e) = result {
            let v = e.0 as u64;
            return self.close_for_limit(now, "max_subneg_bytes", v);
        }
        let mut filtered = std::mem::take(&mut self.filtered);
        self.filter.feed(input, &mut filtered);
        // ash's line editor asks for the cursor position (ESC [6n) only when no input
        // is pending; bytes later in this read are pending input.
        let mut remaining: usize = filtered
            .iter()
            .map(|f| if let Filtered::Tty(b) = f { b.len() } else { 0 })
            .sum();
        for item in filtered.drain(..) {
            if self.is_closed() {
                break;
            }
            match item {
                Filtered::Tty(bytes) => {
                    for b in bytes {
                        if self.is_closed() {
                            break;
                        }
                        remaining -= 1;
                        self.input_pending = remaining > 0;
                        self.tty_input(now, b);
                    }
                }
                Filtered::WindowSize(w, h) => self.resize(w, h),
                Filtered::AreYouThere => {
                    if self.nothing_to_send() {
                        self.transmit.extend_from_slice(&AYT_REPLY);
                    }
                }
            }
        }
        self.filtered = filtered;
        self.input_pending = false;
        if !self.is_closed() && self.unsent_own() > self.config.limits.max_output_bytes {
            let v = self.config.limits.max_output_bytes as u64;
            self.close_for_limit(now, "max_output_bytes", v);
        }
    }

    /// Bytes typed on an attached pty (no telnet in front).
    fn pty_input(&mut self, now: Now, input: &[u8]) {
        let mut remaining = input.len();
        for &b in input {
            if self.is_closed() {
                break;
            }
            remaining -= 1;
            self.input_pending = remaining > 0;
            self.tty_input(now, b);
        }
        self.input_pending = false;
        if !self.is_closed() && self.unsent_own() > self.config.limits.max_output_bytes {
            let v = self.config.limits.max_output_bytes as u64;
            self.close_for_limit(now, "max_output_bytes", v);
        }
    }

    /// The terminal's new size (telnet's NAWS, SSH's `window-change`).
    pub fn resize(&mut self, w: u16, h: u16) {
        // The pty signals SIGWINCH only when the size changes.
        let resized = (w, h) != (self.width, self.height);
        self.width = w;
        self.height = h;
        let line_editing = self.config.device().profile.line_editing;
        if let Phase::Shell(phase) = &mut self.phase {
            phase.shell.set_width(w);
            if resized && line_editing && !phase.shell.is_running() {
                let mut redraw = Vec::new();
                let width = if w == 0 { DEFAULT_WIDTH } else { w };
                phase.editor.set_width(width, &mut redraw);
                self.output(&redraw);
            }
        }
    }

    fn record_observed(&mut self, now: Now, observed: &mut Vec<Observed>) {
        for o in observed.drain(..) {
            let kind = match o {
                Observed::Option(verb, option) => EventKind::TelnetOption { verb, option },
                Observed::WindowSize(width, height) => EventKind::ClientSize { width, height },
                Observed::Fingerprint(fingerprint) => EventKind::ClientFingerprint { fingerprint },
                Observed::Subnegotiation(option, data) => EventKind::TelnetSubnegotiation {
                    option,
                    data_hex: hex::encode(data),
                },
                Observed::EnvironVar(name, value) => EventKind::ClientVar {
                    name: lossy(&name),
                    value: lossy(&value),
                },
            };
            self.event(now, kind);
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

    /// Device output, after the tty's ONLCR (callers pass `\r\n` already) and IAC
    /// doubling; tracks the cursor column for echo of tabs and line wrapping.
    fn output(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\r' | b'\n' => self.column = 0,
                8 => self.column = self.column.saturating_sub(1),
                b'\t' => self.column = (self.column / 8 + 1) * 8,
                0x20..=0x7e | 0x80..=0xff => self.column += 1,
                _ => {}
            }
        }
        if self.attached.is_some() {
            self.transmit.extend_from_slice(bytes);
        } else {
            escape_iac(bytes, &mut self.transmit);
        }
    }

    fn prompt_for_username(&mut self, empty_lines_left: u8) {
        // login: tcflush(0, TCIFLUSH) drops type-ahead, then the prompt.
        self.flush_tty_input();
        self.tty_echo = true;
        let prompt = format!("{} login: ", self.config.device().hostname);
        self.output(prompt.as_bytes());
        self.phase = Phase::Username { empty_lines_left };
    }

    /// One byte reaching the pty from telnetd.
    fn tty_input(&mut self, now: Now, b: u8) {
        if matches!(b, b'\r' | b'\n') {
            self.bytes_since_newline = 0;
        } else {
            self.bytes_since_newline += 1;
            if self.bytes_since_newline > self.config.limits.max_line_bytes {
                let v = self.config.limits.max_line_bytes as u64;
                return self.close_for_limit(now, "max_line_bytes", v);
            }
        }
        if matches!(self.phase, Phase::Shell(_)) {
            return self.shell_input(now, b);
        }
        self.canonical_input(now, b);
        while let Some(line) = self.tty_ready.pop_front() {
            if !self.login_read_line(now, line) {
                break;
            }
        }
    }

    /// The n_tty line discipline in canonical mode with BusyBox telnetd's termios
    /// (ICRNL, ISIG, IEXTEN, ECHO, ECHOE, ECHOK, ECHOKE, ECHOCTL, ONLCR, XTABS).
    fn canonical_input(&mut self, now: Now, b: u8) {
        let c = if b == b'\r' { b'\n' } else { b };
        match c {
            // VINTR, VQUIT, VSUSP: echoed, the input queue is flushed, and the signal
            // goes to login.
            0x03 | 0x1c | 0x1a => {
                // isig(): without NOFLSH, both queues are flushed, so the echo of
                // what came in the same write is lost too.
                self.flush_tty_input();
                self.discard_unsent_output();
                if self.tty_echo {
                    self.output(&[b'^', c + 0x40]);
                }
                self.login_signal(now, c);
            }
            // VEOF (not echoed): hands over what was typed without a newline (the
            // readers keep reading); on an empty line it is end of file.
            0x04 => {
                if self.tty_line.is_empty() {
                    let line = std::mem::take(&mut self.tty_delivered);
                    self.tty_ready.push_back(line);
                } else {
                    let part = std::mem::take(&mut self.tty_line);
                    self.tty_delivered.extend(part);
                }
            }
            // VERASE
            0x7f => {
                if let Some(erased) = self.tty_line.pop() {
                    if self.tty_echo {
                        self.echo_erase(erased);
                    }
                }
            }
            // VWERASE, as n_tty does it (BSD ALTWERASE): back over anything up to and
            // including a run of alphanumerics.
            0x17 => {
                let mut seen_alnum = false;
                while let Some(&last) = self.tty_line.last() {
                    if last.is_ascii_alphanumeric() || last == b'_' {
                        seen_alnum = true;
                    } else if seen_alnum {
                        break;
                    }
                    self.tty_line.pop();
                    if self.tty_echo {
                        self.echo_erase(last);
                    }
                }
            }
            // VKILL
            0x15 => {
                while let Some(erased) = self.tty_line.pop() {
                    if self.tty_echo {
                        self.echo_erase(erased);
                    }
                }
            }
            b'\n' => {
                if self.tty_echo {
                    self.output(b"\r\n");
                }
                let mut line = std::mem::take(&mut self.tty_delivered);
                line.append(&mut self.tty_line);
                line.push(b'\n');
                self.tty_ready.push_back(line);
            }
            _ => {
                if self.tty_delivered.len() + self.tty_line.len() >= TTY_LINE_MAX {
                    return;
                }
                self.tty_line.push(c);
                if self.tty_echo {
                    self.echo_char(c);
                }
            }
        }
    }

    fn flush_tty_input(&mut self) {
        self.tty_line.clear();
        self.tty_delivered.clear();
        self.tty_ready.clear();
    }

    fn echo_char(&mut self, c: u8) {
        match c {
            b'\t' => {
                let spaces = 8 - self.column % 8;
                self.output(b"        ".get(..spaces).unwrap_or_default());
            }
            0..=0x1f => self.output(&[b'^', c + 0x40]),
            0x7f => self.output(b"^?"),
            _ => self.output(&[c]),
        }
    }

    fn echo_erase(&mut self, erased: u8) {
        if erased < 0x20 && erased != b'\t' {
            self.output(b"\x08 \x08\x08 \x08");
        } else {
            self.output(b"\x08 \x08");
        }
    }

    fn login_signal(&mut self, now: Now, c: u8) {
        match (&self.phase, c) {
            // SIGTSTP to an orphaned process group (login's) is discarded.
            (_, 0x1a) => {}
            // During the password read SIGINT is caught: the read fails like a wrong password.
            (Phase::Password { username }, 0x03) => {
                let username = username.clone();
                self.password_entered(now, username, None);
            }
            // SIGINT or SIGQUIT kill login; telnetd closes the connection.
            _ => self.close(now, CloseReason::DeviceClosed),
        }
    }

    /// `login` reads one line; returns false when it stopped reading lines.
    fn login_read_line(&mut self, now: Now, line: Vec<u8>) -> bool {
        match &self.phase {
            Phase::Username { empty_lines_left } => {
                let empty_lines_left = *empty_lines_left;
                let Some(start) = line.iter().position(|b| !is_c_space(*b)) else {
                    if line.last() != Some(&b'\n') {
                        // EOF at the prompt: login exits.
                        self.close(now, CloseReason::DeviceClosed);
                        return false;
                    }
                    if empty_lines_left <= 1 {
                        self.close(now, CloseReason::DeviceClosed);
                        return false;
                    }
                    let prompt = format!("{} login: ", self.config.device().hostname);
                    self.output(prompt.as_bytes());
                    self.phase = Phase::Username {
                        empty_lines_left: empty_lines_left - 1,
                    };
                    return true;
                };
                let rest = line.get(start + 1..).unwrap_or_default();
                let newline_in_reach = rest.iter().take(USERNAME_FGETS).any(|&b| b == b'\n');
                if !newline_in_reach {
                    // fgets() came back without a newline: login exits.
                    self.close(now, CloseReason::DeviceClosed);
                    return false;
                }
                let name = line.get(start..).unwrap_or_default();
                let end = name.iter().position(|&b| b <= b' ').unwrap_or(name.len());
                let username = name.get(..end).unwrap_or_default().to_vec();
                self.output(b"Password: ");
                self.tty_echo = false;
                self.phase = Phase::Password { username };
                true
            }
            Phase::Password { username } => {
                let username = username.clone();
                let password = match line.iter().position(|&b| b == b'\n') {
                    Some(end) => Some(line.get(..end).unwrap_or_default().to_vec()),
                    None if line.is_empty() => None,
                    None => Some(line),
                };
                self.password_entered(now, username, password);
                // After a success the rest of the queue is the shell's type-ahead.
                if let Phase::Shell(_) = self.phase {
                    let pending: Vec<u8> = self.tty_ready.drain(..).flatten().collect();
                    let mut partial = std::mem::take(&mut self.tty_delivered);
                    partial.append(&mut self.tty_line);
                    for b in pending.into_iter().chain(partial) {
                        self.shell_input(now, b);
                    }
                }
                false
            }
            // Lines typed during the pause wait for the tcflush at the next prompt.
            _ => {
                self.tty_ready.push_front(line);
                false
            }
        }
    }

    fn password_entered(&mut self, now: Now, username: Vec<u8>, password: Option<Vec<u8>>) {
        // bb_ask_noecho(): echo back on, then "\n".
        self.tty_echo = true;
        self.output(b"\r\n");
        let pass = password.clone().unwrap_or_default();
        let ok = password.is_some()
            && self
                .config
                .state
                .auth
                .check(now.mono, self.peer.src.ip(), &username, &pass);
        let (username, password) = (lossy(&username), lossy(&pass));
        if ok {
            self.event(now, EventKind::LoginSuccess { username, password });
            self.login_deadline = None;
            self.start_shell(now);
            let banner = self.config.device().profile.shell_banner();
            self.output(banner.as_bytes());
            self.shell_prompt();
        } else {
            self.event(now, EventKind::LoginFailed { username, password });
            self.pause_until = Some(now.mono + self.config.limits.failed_login_delay);
            self.phase = Phase::FailedPause;
        }
    }

    /// The device's shell for this session's source.
    fn start_shell(&mut self, now: Now) {
        // A pid for the login shell, stable for the session.
        let pid = 300 + (u32::from_be_bytes([0, 0, self.id.0[4], self.id.0[5]]) % 700);
        let mut shell = self.config.state.open_shell(self.peer.src.ip(), pid, now);
        shell.set_width(self.width);
        shell.set_peer(self.peer);
        self.phase = Phase::Shell(Box::new(ShellPhase {
            shell,
            editor: LineEditor::default(),
            canonical: Vec::new(),
            continued: Vec::new(),
            wait: None,
            typeahead: Vec::new(),
        }));
    }

    /// PS1, or PS2 (`> `) while a command is being continued.
    fn shell_prompt(&mut self) {
        if self.attached == Some(false) {
            // No terminal, no prompt.
            return;
        }
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        let prompt = if phase.continued.is_empty() {
            phase.shell.prompt()
        } else {
            b"> ".to_vec()
        };
        if phase.continued.is_empty()
            && phase.shell.cwd_missing()
            && self.config.device().profile.prompt.contains("\\w")
        {
            self.output(b"sh: getcwd: No such file or directory\r\n");
        }
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        let line_editing = self.config.device().profile.line_editing;
        let width = if self.width == 0 {
            DEFAULT_WIDTH
        } else {
            self.width
        };
        phase
            .editor
            .start(&prompt, width, phase.shell.history_len());
        phase.canonical.clear();
        self.output(&prompt);
        if line_editing && !self.input_pending {
            // Cursor position query: ash asks where the prompt ended, unless input is
            // already waiting (lineedit's ask_terminal() polls stdin first).
            self.transmit.extend_from_slice(b"\x1b[6n");
        }
    }

    /// Output of a command through the tty (see [`tty::encode`]).
    fn tty_write(&mut self, all: &[u8]) {
        self.column = match self.attached {
            None => tty::encode(all, self.column, &mut self.transmit),
            Some(true) => tty::encode_pty(all, self.column, &mut self.transmit),
            // No pty: the pipe carries the bytes as written.
            Some(false) => {
                self.transmit.extend_from_slice(all);
                self.column
            }
        };
    }

    /// A whole stored file through the tty: its first line encoded here, the rest as
    /// encoded once for every session.
    fn tty_write_shared(&mut self, source: Arc<Vec<u8>>) {
        if self.attached.is_some() {
            // Encoded once for telnet (IAC doubled): another door gets its own copy.
            return self.tty_write(&source);
        }
        let Some(file) = self.config.encoded.get(&source) else {
            return self.tty_write(&source);
        };
        self.column = tty::encode(file.head(&source), self.column, &mut self.transmit);
        if !self.transmit.is_empty() {
            let own = std::mem::take(&mut self.transmit);
            self.queue.push_back(Outgoing::Bytes(own));
            self.transmit_mark = 0;
        }
        let (wire, from) = file.wire();
        self.queue.push_back(Outgoing::Shared(wire.clone(), from));
        self.column = file.end_column();
    }

    /// Whether this is an attached `exec` (its one line, not a shell reading input).
    fn is_running_command(&self) -> bool {
        self.attached.is_some() && self.command_mode
    }

    /// A byte on a shell's standard input with no terminal (a pipe): ash reads lines
    /// and runs them, with no echo, no prompt and no editing.
    fn pipe_input(&mut self, now: Now, b: u8) {
        let max = self.config.limits.max_line_bytes;
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        if phase.shell.is_running() {
            if phase.typeahead.len() < max {
                phase.typeahead.push(b);
            }
            return;
        }
        if b == b'\n' {
            let line = std::mem::take(&mut phase.canonical);
            return self.execute(now, line);
        }
        if phase.canonical.len() >= max {
            return self.close_for_limit(now, "max_line_bytes", max as u64);
        }
        phase.canonical.push(b);
    }

    /// The end of a pipe-fed shell's input: the last unfinished line runs, then ash
    /// exits.
    fn pipe_line_end(&mut self, now: Now) {
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        if phase.shell.is_running() || !phase.typeahead.is_empty() {
            // Looked at again when the running line finishes.
            return;
        }
        let line = std::mem::take(&mut phase.canonical);
        if !line.is_empty() {
            return self.execute(now, line);
        }
        if !phase.continued.is_empty() {
            return self.run_continued(now);
        }
        self.exit_status = Some(0);
        self.close(now, CloseReason::DeviceClosed);
    }

    fn shell_input(&mut self, now: Now, b: u8) {
        if self.attached == Some(false) {
            return self.pipe_input(now, b);
        }
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        if phase.shell.is_running() {
            if b == 0x03 {
                // The tty is back in canonical mode while a command runs: ^C is
                // echoed and interrupts it.
                phase.typeahead.clear();
                phase.shell.interrupt();
                self.output(b"^C");
                self.drive(now);
            } else if phase.typeahead.len() < self.config.limits.max_line_bytes {
                phase.typeahead.push(b);
            }
            return;
        }
        if self.config.device().profile.line_editing {
            let mut echo = Vec::new();
            let edited = {
                let ShellPhase { shell, editor, .. } = &mut **phase;
                editor.key(b, &mut ShellHistory(shell), &mut echo)
            };
            self.output(&echo);
            match edited {
                Edited::Nothing => {}
                Edited::Line(line) => self.execute(now, line),
                Edited::Interrupt => {
                    // ash prints ^C for the interrupted read and a newline for SIGINT;
                    // an unfinished command is dropped.
                    if let Phase::Shell(phase) = &mut self.phase {
                        phase.continued.clear();
                    }
                    self.output(b"^C\r\n");
                    self.shell_prompt();
                }
                Edited::EndOfFile => self.end_of_input(now),
            }
            return;
        }
        // No line editing: the kernel's canonical mode echoes and erases.
        match b {
            b'\r' | b'\n' => {
                let line = std::mem::take(&mut phase.canonical);
                self.output(b"\r\n");
                self.execute(now, line);
            }
            0x7f | 0x08 => {
                if phase.canonical.pop().is_some() {
                    self.output(b"\x08 \x08");
                }
            }
            0x15 => {
                let erased = std::mem::take(&mut phase.canonical).len();
                for _ in 0..erased {
                    self.output(b"\x08 \x08");
                }
            }
            0x03 => {
                phase.canonical.clear();
                phase.continued.clear();
                self.output(b"^C\r\n");
                self.shell_prompt();
            }
            0x04 => {
                if phase.canonical.is_empty() {
                    self.end_of_input(now);
                }
            }
            0..=0x1f => {}
            _ => {
                if phase.canonical.len() + 1 >= EDITING_MAX_LEN {
                    return;
                }
                phase.canonical.push(b);
                self.output(&[b]);
            }
        }
    }

    /// `^D` on an empty line: the login shell exits; at a PS2 prompt the unfinished
    /// command runs as it is (ash's "unexpected end of file").
    fn end_of_input(&mut self, now: Now) {
        self.output(b"\r\n");
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        if phase.continued.is_empty() {
            return self.execute(now, b"exit".to_vec());
        }
        self.run_continued(now);
    }

    /// Runs the lines gathered in `continued` as one command.
    fn run_continued(&mut self, now: Now) {
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        // With its last newline: an error at the end of the line is ash's
        // "unexpected newline".
        let text = std::mem::take(&mut phase.continued);
        phase.shell.set_width(self.width);
        phase.shell.start(&text, now);
        self.drive(now);
    }

    /// Runs a command line typed at the prompt.
    fn execute(&mut self, now: Now, line: Vec<u8>) {
        if !line.iter().all(u8::is_ascii_whitespace) {
            self.event(
                now,
                EventKind::CommandInput {
                    input: lossy(&line),
                },
            );
        }
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        phase.continued.extend_from_slice(&line);
        phase.continued.push(b'\n');
        // ash reads on after a PS2 prompt while the command is unfinished; past the
        // bound it runs what it has (a syntax error).
        if phase.continued.len() <= MAX_CONTINUED_BYTES
            && busybait_device::shell::parse::needs_more(&phase.continued)
        {
            return self.shell_prompt();
        }
        self.run_continued(now);
    }

    /// Polls the running line until it waits for something or finishes.
    fn drive(&mut self, now: Now) {
        loop {
            let Phase::Shell(phase) = &mut self.phase else {
                return;
            };
            let state = phase.shell.poll(now);
            let out = phase.shell.take_output_pieces();
            let events = phase.shell.take_events();
            for bytes in phase.shell.take_staged().into_values() {
                busybait_device::vfs::queue_staged(&mut self.staged, bytes);
            }
            for piece in out {
                match piece {
                    TtyOutput::Bytes(bytes) => self.tty_write(&bytes),
                    TtyOutput::Shared(file) => self.tty_write_shared(file),
                    // Kept apart only where the shell was told to (no pty).
                    TtyOutput::Stderr(bytes) => self.stderr_out.extend_from_slice(&bytes),
                }
            }
            for e in events {
                let kind = match e {
                    ShellEvent::CommandNotFound(input) => EventKind::CommandFailed {
                        input: lossy(&input),
                    },
                    ShellEvent::Budget(what) => {
                        let shell = &self.config.state.shell;
                        let (limit, value) = match what {
                            "memory" => ("shell_memory_bytes", shell.budgets.memory_bytes as u64),
                            "work" => ("shell_line_work", shell.budgets.line_work),
                            "steps" => ("shell_step_budget", shell.step_budget),
                            "recursion" => (
                                "shell_recursion",
                                busybait_device::shell::exec::MAX_NESTING as u64,
                            ),
                            _ => (
                                "shell_nesting",
                                busybait_device::shell::exec::MAX_NESTING as u64,
                            ),
                        };
                        EventKind::LimitHit { limit, value }
                    }
                    ShellEvent::Executed(path) => EventKind::Executed { path: lossy(&path) },
                    ShellEvent::FsFull => EventKind::LimitHit {
                        limit: "vfs_bytes_per_source",
                        value: self.config.state.vfs_limits.max_bytes,
                    },
                    ShellEvent::FileTooBig => EventKind::LimitHit {
                        limit: "vfs_file_bytes",
                        value: self.config.state.vfs_limits.max_file_bytes,
                    },
                    ShellEvent::File(file) => {
                        self.samples.push_back(file);
                        continue;
                    }
                };
                self.event(now, kind);
            }
            let Phase::Shell(phase) = &mut self.phase else {
                return;
            };
            match state {
                ShellState::Idle => return,
                // (`Exited` ends a command started as `sh -c`, which telnet never does.)
                ShellState::Finished(Outcome::Logout) => {
                    self.exit_status = Some(0);
                    return self.close(now, CloseReason::DeviceClosed);
                }
                ShellState::Finished(Outcome::Exited(status)) => {
                    self.exit_status = Some(status);
                    return self.close(now, CloseReason::DeviceClosed);
                }
                ShellState::Finished(Outcome::Died(fatal)) => {
                    // ash's exit status after `out of memory`; a segfault is SIGSEGV.
                    self.exit_status = Some(match fatal {
                        busybait_device::shell::exec::Fatal::OutOfMemory => 2,
                        busybait_device::shell::exec::Fatal::Segfault => 139,
                    });
                    let reason = match fatal {
                        busybait_device::shell::exec::Fatal::OutOfMemory => CloseReason::Limit,
                        busybait_device::shell::exec::Fatal::Segfault => CloseReason::DeviceClosed,
                    };
                    return self.close(now, reason);
                }
                ShellState::Waiting(Wait::Yield) => {
                    // Its slice of work is spent: the edge lets other sessions run and
                    // comes back at once (`poll_timeout` is now).
                    phase.wait = Some((Wait::Yield, Some(now.mono)));
                    return;
                }
                ShellState::Waiting(Wait::Stalled) => {
                    phase.wait = Some((Wait::Stalled, None));
                    return;
                }
                ShellState::Finished(Outcome::Prompt) => {
                    phase.wait = None;
                    let typeahead = std::mem::take(&mut phase.typeahead);
                    let outer_pending = self.input_pending;
                    self.input_pending = outer_pending || !typeahead.is_empty();
                    self.shell_prompt();
                    let mut left = typeahead.len();
                    for b in typeahead {
                        if self.is_closed() {
                            return;
                        }
                        left -= 1;
                        self.input_pending = outer_pending || left > 0;
                        self.shell_input(now, b);
                    }
                    self.input_pending = outer_pending;
                    if self.stdin_closed && self.attached == Some(false) {
                        self.pipe_line_end(now);
                    }
                    return;
                }
                ShellState::Waiting(Wait::Drain) => {
                    if self.transmit.is_empty()
                        && self.queue.is_empty()
                        && self.stderr_out.is_empty()
                    {
                        phase.shell.respond(None);
                        continue;
                    }
                    phase.wait = Some((Wait::Drain, None));
                    return;
                }
                ShellState::Waiting(Wait::Until(t)) => {
                    if now.mono >= t {
                        phase.shell.respond(None);
                        continue;
                    }
                    phase.wait = Some((Wait::Until(t), Some(t)));
                    return;
                }
                ShellState::Waiting(Wait::Fetch(req)) => {
                    if phase
                        .wait
                        .as_ref()
                        .is_some_and(|(w, _)| *w == Wait::Fetch(req.clone()))
                    {
                        return;
                    }
                    // With fetching on, the edge downloads and answers through
                    // `handle_fetch_result`; otherwise the tool fails as on an unreachable
                    // host, after a realistic delay.
                    let until = if self.config.state.shell.fetch {
                        let id = FetchId(self.next_fetch);
                        self.next_fetch += 1;
                        self.pending_fetch = Some(id);
                        self.fetches.push_back((id, req.clone()));
                        now.mono + self.config.state.shell.fetch_timeout
                    } else {
                        now.mono + self.config.state.shell.fetch_fail_delay
                    };
                    phase.wait = Some((Wait::Fetch(req.clone()), Some(until)));
                    self.event(
                        now,
                        EventKind::DownloadRequest {
                            tool: req.tool.to_string(),
                            url: req.url,
                        },
                    );
                    return;
                }
            }
        }
    }

    /// A shell wait whose time has come.
    fn shell_timeout(&mut self, now: Now) {
        let Phase::Shell(phase) = &mut self.phase else {
            return;
        };
        let due = match &phase.wait {
            Some((Wait::Drain, _)) => {
                self.transmit.is_empty() && self.queue.is_empty() && self.stderr_out.is_empty()
            }
            Some((_, Some(t))) => now.mono >= *t,
            _ => false,
        };
        if !due {
            return;
        }
        let response = match phase.wait.take() {
            Some((Wait::Fetch(_), _)) => {
                self.pending_fetch = None;
                Some(FetchResult::Refused)
            }
            _ => None,
        };
        phase.shell.respond(response);
        self.drive(now);
    }

    fn shell_deadline(&self) -> Option<Instant> {
        let Phase::Shell(phase) = &self.phase else {
            return None;
        };
        match &phase.wait {
            Some((Wait::Drain, _)) => Some(self.last_now),
            Some((_, t)) => *t,
            None => None,
        }
    }
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `/etc/issue.net` as `print_login_issue()` prints it: `\n` becomes `\n\r` (then ONLCR
/// makes it `\r\n\r`), and the getty escapes that name the system are expanded.
fn render_issue(device: &Device) -> Vec<u8> {
    let profile = &device.profile;
    let mut out = Vec::new();
    let mut chars = profile.issue.bytes();
    while let Some(c) = chars.next() {
        match c {
            b'\n' => out.extend_from_slice(b"\r\n\r"),
            b'\\' | b'%' => match chars.next() {
                Some(b's') => out.extend_from_slice(b"Linux"),
                Some(b'n') => out.extend_from_slice(device.hostname.as_bytes()),
                Some(b'm') => out.extend_from_slice(profile.arch.uname_machine().as_bytes()),
                Some(b'r') => out.extend_from_slice(profile.kernel_release.as_bytes()),
                Some(b'v') => out.extend_from_slice(profile.kernel_version.as_bytes()),
                Some(b'l') => out.extend_from_slice(b"pts/0"),
                Some(other) => out.push(other),
                None => {}
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// The shell's `history` list, as the line editor browses it.
struct ShellHistory<'a>(&'a mut Shell);

impl busybait_device::lineedit::History for ShellHistory<'_> {
    fn len(&self) -> usize {
        self.0.history_len()
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.0.history_line(i)
    }
    fn set(&mut self, i: usize, line: &[u8]) {
        self.0.set_history_line(i, line);
    }
}
