//! The device's terminal, shared by every door: the pty (or the pipes) a door opens
//! and the shell that runs on it, as one sans-IO state machine.
//!
//! Telnet puts `telnetd` and `login` in front of a [`Terminal`] on a [`Line::Telnet`]
//! and starts its shell at a successful login; the SSH door attaches one to a channel
//! (a pty, or pipes for `exec` without one) and the HTTP door runs one `sh -c` line on
//! pipes ([`Terminal::attached`]). What the shell writes goes through the pty's output
//! processing ([`tty`]); what it does becomes events, samples, staged bytes and
//! downloads for the edge. A door that attaches a terminal owns the connection (its
//! deadlines, how it ended); the terminal only says when its shell ended.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use busybait_events::{CloseReason, Event, EventKind, Peer, SessionId};

use crate::clock::Now;
use crate::lineedit::LineEditor;
use crate::profile::Device;
use crate::shell::{Shell, Wait};
use crate::DeviceState;

mod limits;
mod shell;
#[cfg(test)]
mod tests;
pub mod tty;

pub use limits::Limits;

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
    pub encoded: tty::EncodedFiles,
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
        auth: crate::AuthMode,
        shell: crate::shell::ShellConfig,
        limits: Limits,
    ) -> Option<Self> {
        use crate::auth::{parse_credential_table, MIRAI_CREDENTIALS_TSV};
        use std::time::Duration;
        let profile = crate::Profile::builtin()
            .ok()?
            .into_iter()
            .find(|p| p.name == name)?;
        let device = Arc::new(Device::new(Arc::new(profile), 7));
        let hour = Duration::from_secs(3600);
        let base = Arc::new(crate::vfs::BaseFs::new(&device, 1_700_000_000));
        Some(Self {
            state: Arc::new(DeviceState {
                device,
                base,
                auth: crate::AuthPolicy::new(
                    auth,
                    parse_credential_table(MIRAI_CREDENTIALS_TSV),
                    hour,
                    1000,
                ),
                files: crate::vfs::SourceFiles::new(hour, 100, 64 << 20),
                vfs_limits: crate::vfs::VfsLimits::default(),
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

/// A terminal attached to a door that is not telnet: the device's shell on another
/// door's channel (an SSH `shell` or `exec`, the HTTP door's `sh -c`). The door has
/// authenticated the client and owns the connection's deadlines; the terminal is the
/// pty (or the pipes) and the shell.
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

/// What carries the terminal's output to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A pty behind BusyBox `telnetd`: ONLCR and XTABS, then telnet's IAC doubling.
    Telnet,
    /// A pty behind another door (an SSH channel): ONLCR and XTABS.
    Pty,
    /// No terminal: three pipes, output as the shell wrote it, standard error apart.
    Pipe,
}

/// Bytes of a command continued over PS2 lines before it runs as it is (a syntax
/// error): each new line parses the whole again, so this bounds that work too.
const MAX_CONTINUED_BYTES: usize = 16 * 1024;
/// Terminal width when the client never said.
const DEFAULT_WIDTH: u16 = 80;

/// The shell on the terminal: ash's line editor and the interpreter behind it.
#[derive(Debug)]
struct ShellPhase {
    shell: Shell,
    /// ash's line editor (profiles with line editing).
    editor: LineEditor,
    /// The line typed so far in the tty's canonical mode (profiles without), or read
    /// from the pipe.
    canonical: Vec<u8>,
    /// Lines of a command not complete yet (read after PS2 prompts), each with its
    /// newline; at most [`MAX_CONTINUED_BYTES`].
    continued: Vec<u8>,
    /// What the running line waits for, and when that wait ends by itself.
    wait: Option<(Wait, Option<Instant>)>,
    /// Bytes typed while a line runs; the editor reads them after the prompt.
    typeahead: Vec<u8>,
}

/// One session's terminal and the shell on it.
#[derive(Debug)]
pub struct Terminal {
    id: SessionId,
    peer: Peer,
    config: Arc<SessionConfig>,
    line: Line,
    /// The cursor column, for tabs, echo and wrapping.
    column: usize,
    /// The window size the client last sent, 0 before any.
    width: u16,
    height: u16,
    /// Bytes typed since the last line break (at most `limits.max_line_bytes`).
    bytes_since_newline: usize,
    transmit: Vec<u8>,
    /// Output to send before `transmit`: what it held when a shared file came, and
    /// the file.
    queue: VecDeque<Outgoing>,
    /// Length of `transmit` when the current input arrived.
    transmit_mark: usize,
    events: VecDeque<Event>,
    /// The latest time the terminal was told (for a deadline of "as soon as possible").
    last_now: Instant,
    /// More client input is already queued behind the byte being handled.
    input_pending: bool,
    /// The shell, once started (until it ends).
    shell: Option<Box<ShellPhase>>,
    /// Files the attacker finished writing, for the edge to store as samples.
    samples: VecDeque<crate::vfs::FinishedFile>,
    /// Downloads for the edge to make, and the one the shell waits for.
    fetches: VecDeque<(FetchId, crate::shell::FetchRequest)>,
    /// Bytes of files being written, for the edge to stage (one entry per file).
    staged: crate::vfs::StagedQueue,
    pending_fetch: Option<FetchId>,
    next_fetch: u64,
    /// How the shell ended: its exit status.
    exit_status: Option<i32>,
    /// The shell's input has ended.
    stdin_closed: bool,
    /// `exec`: one line as `sh -c`.
    command_mode: bool,
    /// Standard error without a pty (its own pipe).
    stderr_out: Vec<u8>,
    /// Why the terminal ended (its shell exited, died or hit a limit, or the door
    /// closed it); the door closes when it sees this.
    ended: Option<CloseReason>,
}

impl Terminal {
    /// A terminal with nothing running on it yet (telnet starts `login` on it).
    pub fn new(
        config: Arc<SessionConfig>,
        id: SessionId,
        peer: Peer,
        line: Line,
        now: Now,
    ) -> Self {
        Self {
            id,
            peer,
            config,
            line,
            column: 0,
            width: 0,
            height: 0,
            bytes_since_newline: 0,
            transmit: Vec::new(),
            queue: VecDeque::new(),
            transmit_mark: 0,
            events: VecDeque::new(),
            last_now: now.mono,
            input_pending: false,
            shell: None,
            samples: VecDeque::new(),
            fetches: VecDeque::new(),
            staged: Default::default(),
            pending_fetch: None,
            next_fetch: 0,
            exit_status: None,
            stdin_closed: false,
            command_mode: false,
            stderr_out: Vec::new(),
            ended: None,
        }
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
        let line = if attach.pty { Line::Pty } else { Line::Pipe };
        let mut t = Self::new(config, id, peer, line, now);
        t.width = attach.width;
        t.height = attach.height;
        t.start_shell(now);
        if line == Line::Pipe {
            if let Some(phase) = &mut t.shell {
                // Without a pty, stdin, stdout and stderr are three pipes.
                phase.shell.set_separate_stderr(true);
                phase.shell.attach_stdin_pipe();
            }
        }
        match attach.command {
            Some(command) => {
                t.command_mode = true;
                if let Some(phase) = &mut t.shell {
                    phase.shell.start_command(&command, now);
                }
                t.drive(now);
            }
            None if line == Line::Pipe => {}
            None => t.start_login_shell_output(),
        }
        t
    }

    /// Starts the login shell on this terminal: its banner and first prompt (telnet,
    /// after `login` accepted the password).
    pub fn start_login_shell(&mut self, now: Now) {
        self.start_shell(now);
        self.start_login_shell_output();
    }

    fn start_login_shell_output(&mut self) {
        let banner = self.config.device().profile.shell_banner();
        self.output(banner.as_bytes());
        self.shell_prompt();
    }

    /// The device's facts.
    fn device(&self) -> &Device {
        self.config.device()
    }

    /// Why the terminal ended, once it has.
    pub fn ended(&self) -> Option<CloseReason> {
        self.ended
    }

    /// Whether the terminal has ended (queued output may remain in `poll_transmit`).
    pub fn is_closed(&self) -> bool {
        self.ended.is_some()
    }

    /// The shell's exit status, once it has ended.
    pub fn exit_status(&self) -> Option<i32> {
        self.exit_status
    }

    /// The cursor column.
    pub fn column(&self) -> usize {
        self.column
    }

    /// Tells the terminal whether more input is queued behind the byte the door is
    /// about to hand it (ash's line editor asks for the cursor position only when
    /// none is).
    pub fn set_input_pending(&mut self, pending: bool) {
        self.input_pending = pending;
    }

    /// Notes that a new piece of client input arrives: output after this point is what
    /// the pty still buffers ([`Terminal::discard_unsent_output`]).
    pub fn mark_input(&mut self) {
        self.transmit_mark = self.transmit.len();
    }

    /// Output not yet taken by the edge since the input arrived (what the pty still
    /// buffers: `^C` discards it).
    pub fn discard_unsent_output(&mut self) {
        self.transmit.truncate(self.transmit_mark);
    }

    /// Bytes for the wire as they are (the door's own protocol: telnetd's opening
    /// bytes, an answer to Are-You-There).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.transmit.extend_from_slice(bytes);
    }

    /// Records an event of this session.
    pub fn event(&mut self, now: Now, kind: EventKind) {
        self.events.push_back(Event {
            time: now.wall,
            session: self.id,
            peer: self.peer,
            kind,
        });
    }

    /// Device output on the terminal, after the tty's ONLCR (callers pass `\r\n`
    /// already) and, on telnet, IAC doubling; tracks the cursor column for echo of tabs
    /// and line wrapping.
    pub fn output(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\r' | b'\n' => self.column = 0,
                8 => self.column = self.column.saturating_sub(1),
                b'\t' => self.column = (self.column / 8 + 1) * 8,
                0x20..=0x7e | 0x80..=0xff => self.column += 1,
                _ => {}
            }
        }
        if self.line == Line::Telnet {
            escape_iac(bytes, &mut self.transmit);
        } else {
            self.transmit.extend_from_slice(bytes);
        }
    }

    /// Counts a byte typed on the terminal against `limits.max_line_bytes`: past it the
    /// terminal ends (with the limit's event) and this returns false.
    pub fn count_typed(&mut self, now: Now, b: u8) -> bool {
        if matches!(b, b'\r' | b'\n') {
            self.bytes_since_newline = 0;
            return true;
        }
        self.bytes_since_newline += 1;
        let max = self.config.limits.max_line_bytes;
        if self.bytes_since_newline > max {
            self.close_for_limit(now, "max_line_bytes", max as u64);
            return false;
        }
        true
    }

    /// Ends the terminal when more of its own output waits than
    /// `limits.max_output_bytes` (a client that does not read).
    pub fn check_output_limit(&mut self, now: Now) {
        let max = self.config.limits.max_output_bytes;
        if !self.is_closed() && self.unsent_own() > max {
            self.close_for_limit(now, "max_output_bytes", max as u64);
        }
    }

    /// Handles bytes from the door (one read's worth): typed on the pty, or written
    /// to the shell's standard input pipe.
    pub fn handle_input(&mut self, now: Now, input: &[u8]) {
        if self.is_closed() || input.is_empty() {
            return;
        }
        // Deadlines that passed while the edge was busy come first.
        self.handle_timeout(now);
        self.mark_input();
        if self.is_closed() {
            return;
        }
        match self.line {
            Line::Pipe if self.is_running_command() || self.waits_for_stdin() => {
                // A pipe: what the command reads (a shell reading its script from the
                // pipe has taken what arrived before the command started).
                if let Some(phase) = &mut self.shell {
                    phase.shell.write_stdin(input);
                }
                if self.waits_for_stdin() {
                    self.drive(now);
                }
            }
            Line::Pipe => {
                for &b in input {
                    if self.is_closed() {
                        break;
                    }
                    self.shell_input(now, b);
                }
            }
            Line::Pty | Line::Telnet => {
                let mut remaining = input.len();
                for &b in input {
                    if self.is_closed() {
                        break;
                    }
                    remaining -= 1;
                    self.input_pending = remaining > 0;
                    if self.count_typed(now, b) {
                        self.shell_input(now, b);
                    }
                }
                self.input_pending = false;
                self.check_output_limit(now);
            }
        }
    }

    /// Handles deadlines that have passed (the shell's waits).
    pub fn handle_timeout(&mut self, now: Now) {
        if self.is_closed() {
            return;
        }
        self.last_now = now.mono;
        self.shell_timeout(now);
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        self.shell_deadline()
    }

    /// Moves standard error's bytes (no pty) into `buf`; returns whether there were any.
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

    /// The shell's standard input has ended (SSH `EOF`): ash without a terminal runs
    /// what it has and exits; on a pty it is the end of input too.
    pub fn end_of_stdin(&mut self, now: Now) {
        if self.is_closed() || self.stdin_closed {
            return;
        }
        self.stdin_closed = true;
        if self.line == Line::Pipe {
            if let Some(phase) = &mut self.shell {
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
        self.shell
            .as_ref()
            .map_or(0, |phase| phase.shell.stdin_buffered())
    }

    /// Whether a running command waits for bytes on the door's pipe.
    fn waits_for_stdin(&self) -> bool {
        self.shell
            .as_ref()
            .is_some_and(|phase| matches!(phase.wait, Some((Wait::Stdin, _))))
    }

    /// Moves the bytes for the client into `buf`; returns whether there were any.
    /// (Shared pieces are copied; [`Terminal::poll_transmit_piece`] hands them out as
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
    pub fn nothing_to_send(&self) -> bool {
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
    pub fn poll_sample(&mut self) -> Option<crate::vfs::FinishedFile> {
        self.samples.pop_front()
    }

    /// The next bytes to stage on disk for a file still being written (so that a
    /// crash loses nothing; the finished file comes through `poll_sample`).
    pub fn poll_staged(&mut self) -> Option<crate::vfs::StagedBytes> {
        self.staged.pop_first().map(|(_, bytes)| bytes)
    }

    /// The next download the edge should make (only with fetching on).
    pub fn poll_fetch(&mut self) -> Option<(FetchId, crate::shell::FetchRequest)> {
        self.fetches.pop_front()
    }

    /// The edge's answer to a download; a stale or unknown id is ignored.
    pub fn handle_fetch_result(
        &mut self,
        now: Now,
        id: FetchId,
        result: crate::shell::FetchResult,
    ) {
        if self.is_closed() || self.pending_fetch != Some(id) {
            return;
        }
        self.pending_fetch = None;
        self.last_now = now.mono;
        let Some(phase) = &mut self.shell else {
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

    /// Ends the terminal (its door closes, or the shell ended): what the shell was
    /// still writing is captured, and what the bot wrote stays on the device for its
    /// next visit. Records nothing: the door records how its connection ended.
    pub fn close(&mut self, now: Now, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        if let Some(phase) = self.shell.take() {
            let finished = self
                .config
                .state
                .close_shell(self.peer.src.ip(), phase.shell, now.mono);
            self.samples.extend(finished);
        }
        self.ended = Some(reason);
    }

    /// Ends the terminal because a named limit was hit (also used by the door, for
    /// limits it enforces itself such as a stalled write).
    pub fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64) {
        self.event(now, EventKind::LimitHit { limit, value });
        self.close(now, CloseReason::Limit);
    }

    /// Whether a command line is computing (it yielded its slice of work and goes on
    /// at the next `handle_timeout`): the edge lets other sessions run first.
    pub fn is_computing(&self) -> bool {
        self.shell
            .as_ref()
            .is_some_and(|p| matches!(p.wait, Some((Wait::Yield, _))))
    }

    /// Bytes this terminal holds that an attacker can grow: what its shell holds
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
            + self.stderr_out.capacity();
        match &self.shell {
            Some(p) => {
                buffers
                    + p.shell.memory_used()
                    + p.shell.stdin_buffered()
                    + p.typeahead.capacity()
                    + p.continued.capacity()
                    + p.canonical.capacity()
            }
            None => buffers,
        }
    }

    /// Work the shell's running (or last) line had done at its last checkpoint.
    pub fn line_work(&self) -> u64 {
        self.shell.as_ref().map_or(0, |p| p.shell.line_work())
    }

    /// The most this terminal's shell held at once (0 before it started).
    pub fn memory_peak(&self) -> usize {
        self.shell.as_ref().map_or(0, |p| p.shell.memory_peak())
    }

    /// The sensor is at its memory cap across all sessions and this one holds the
    /// most: its shell dies as on a device out of memory (`sh: out of memory`, the
    /// connection closes), with an event naming the cap.
    pub fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
        if self.is_closed() {
            return;
        }
        self.event(now, EventKind::LimitHit { limit, value });
        let Some(phase) = &mut self.shell else {
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

    /// The terminal's new size (telnet's NAWS, SSH's `window-change`).
    pub fn resize(&mut self, w: u16, h: u16) {
        // The pty signals SIGWINCH only when the size changes.
        let resized = (w, h) != (self.width, self.height);
        self.width = w;
        self.height = h;
        let line_editing = self.device().profile.line_editing;
        if let Some(phase) = &mut self.shell {
            phase.shell.set_width(w);
            if resized && line_editing && !phase.shell.is_running() {
                let mut redraw = Vec::new();
                let width = if w == 0 { DEFAULT_WIDTH } else { w };
                phase.editor.set_width(width, &mut redraw);
                self.output(&redraw);
            }
        }
    }
}

/// Doubles every 0xFF of device output, as BusyBox's `safe_write_double_iac()` does.
pub fn escape_iac(mut data: &[u8], out: &mut Vec<u8>) {
    const IAC: u8 = 0xff;
    out.reserve(data.len());
    // Whole runs at a time: a binary the loader `cat`s is megabytes long.
    while let Some(at) = memchr::memchr(IAC, data) {
        let Some((run, rest)) = data.split_at_checked(at + 1) else {
            break;
        };
        out.extend_from_slice(run);
        out.push(IAC);
        data = rest;
    }
    out.extend_from_slice(data);
}
