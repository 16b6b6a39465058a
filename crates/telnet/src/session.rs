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

    /// A device of the built-in profile `name` as tests and fuzzers use it: a fixed
    /// seed and build time, `auth` over Mirai's credential table, per-source files
    /// kept an hour (100 sources, 64 MiB), `shell` and `limits` as given. `None` for
    /// an unknown profile.
    pub fn builtin(
        name: &str,
        auth: busybait_device::AuthMode,
        shell: busybait_device::shell::ShellConfig,
        limits: Limits,
    ) -> Option<Self> {
        use busybait_device::auth::{parse_credential_table, MIRAI_CREDENTIALS_TSV};
        use std::time::Duration;
        let profile = busybait_device::Profile::builtin()
            .ok()?
            .into_iter()
            .find(|p| p.name == name)?;
        let device = Arc::new(Device::new(Arc::new(profile), 7));
        let hour = Duration::from_secs(3600);
        let base = Arc::new(busybait_device::vfs::BaseFs::new(&device, 1_700_000_000));
        Some(Self {
            state: Arc::new(DeviceState {
                device,
                base,
                auth: busybait_device::AuthPolicy::new(
                    auth,
                    parse_credential_table(MIRAI_CREDENTIALS_TSV),
                    hour,
                    1000,
                ),
                files: busybait_device::vfs::SourceFiles::new(hour, 100, 64 << 20),
                vfs_limits: busybait_device::vfs::VfsLimits::default(),
                shell,
            }),
            limits,
            encoded: Default::default(),
        })
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
        s.event(now, EventKind::connect());
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
            if !attach.pty {
                // Without a pty, stdin, stdout and stderr are three pipes.
                phase.shell.set_separate_stderr(true);
                phase.shell.attach_stdin_pipe();
            }
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
            if let Phase::Shell(phase) = &mut self.phase {
                phase.shell.close_stdin();
            }
            if self.waits_for_stdin() {
                return self.drive(now);
            }
            self.pipe_line_end(now);
        }
    }

    /// Bytes the door wrote to the shell's standard input pipe that no command has
    /// read yet.
    pub fn stdin_buffered(&self) -> usize {
        match &self.phase {
            Phase::Shell(phase) => phase.shell.stdin_buffered(),
            _ => 0,
        }
    }

    /// Whether a running command waits for bytes on the door's pipe.
    fn waits_for_stdin(&self) -> bool {
        matches!(&self.phase, Phase::Shell(phase)
            if matches!(phase.wait, Some((Wait::Stdin, _))))
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
                    + p.shell.stdin_buffered()
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
            } else if self.is_running_command() || self.waits_for_stdin() {
                // A pipe: what the command reads (a shell reading its script from the
                // pipe has taken what arrived before the command started).
                if let Phase::Shell(phase) = &mut self.phase {
                    phase.shell.write_stdin(input);
                }
                if self.waits_for_stdin() {
                    self.drive(now);
                }
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

mod login;
mod shell;
#[cfg(test)]
mod tests;
