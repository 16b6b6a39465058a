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
    BusyboxIacFilter, Filtered, Observed, TelnetObserver, AYT_REPLY, BUSYBOX_OPENING,
};
use busybait_device::profile::Device;
use busybait_device::shell::FetchResult;
use busybait_device::terminal::{FetchId, Line, Outgoing, SessionConfig, Terminal};

/// The pty's canonical input buffer (`N_TTY_BUF_SIZE - 1`).
const TTY_LINE_MAX: usize = 4095;
/// BusyBox login: `USERNAME_SIZE`; `fgets(buf, size - 2)` after the first character.
const USERNAME_FGETS: usize = 61;
/// BusyBox login: `EMPTY_USERNAME_COUNT`.
const EMPTY_USERNAME_COUNT: u8 = 10;

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
    /// Logged in: the shell runs on the pty.
    Shell,
    /// Done; only queued output remains.
    Closed,
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
    failures: u32,
    login_started_at: Option<Instant>,
    login_deadline: Option<Instant>,
    pause_until: Option<Instant>,
    idle_deadline: Instant,
    lifetime_deadline: Instant,
    observed: Vec<Observed>,
    filtered: Vec<Filtered>,
    /// The pty telnetd opened: what `login` and then the shell write, the session's
    /// events, and the shell once logged in.
    pty: Terminal,
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
            failures: 0,
            login_started_at: Some(now.mono + limits.login_start_delay),
            login_deadline: None,
            pause_until: None,
            idle_deadline: now.mono + limits.idle_timeout,
            lifetime_deadline: now.mono + limits.session_lifetime,
            observed: Vec::new(),
            filtered: Vec::new(),
            pty: Terminal::new(config.clone(), id, peer, Line::Telnet, now),
            config,
        };
        s.event(now, EventKind::connect());
        s.pty.send_raw(&BUSYBOX_OPENING);
        // print_login_issue(): puts("\r") is "\r\n", which ONLCR makes "\r\r\n"; then
        // the issue with "\n" -> "\n\r".
        s.output(b"\r\r\n");
        let issue = render_issue(s.config.device());
        s.output(&issue);
        s
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Whether the client got past login.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Shell)
    }

    /// Whether the session is over (queued output may remain in `poll_transmit`).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The shell's exit status, once it has ended.
    pub fn exit_status(&self) -> Option<i32> {
        self.pty.exit_status()
    }

    /// Moves the bytes for the client into `buf`; returns whether there were any.
    /// (Shared pieces are copied; [`Session::poll_transmit_piece`] hands them out as
    /// they are.)
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        self.pty.poll_transmit(buf)
    }

    /// The next piece of output for the client, in order: bytes, or a shared file
    /// the same for every session (write it as it is; record it by reference).
    pub fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        self.pty.poll_transmit_piece()
    }

    /// The next file to store as a sample (written, then executed, chmod-ed, removed,
    /// overwritten, or left behind at the end of the session).
    pub fn poll_sample(&mut self) -> Option<busybait_device::vfs::FinishedFile> {
        self.pty.poll_sample()
    }

    /// The next bytes to stage on disk for a file still being written (so that a
    /// crash loses nothing; the finished file comes through `poll_sample`).
    pub fn poll_staged(&mut self) -> Option<busybait_device::vfs::StagedBytes> {
        self.pty.poll_staged()
    }

    /// The next download the edge should make (only with fetching on).
    pub fn poll_fetch(&mut self) -> Option<(FetchId, busybait_device::shell::FetchRequest)> {
        self.pty.poll_fetch()
    }

    /// The edge's answer to a download; a stale or unknown id is ignored.
    pub fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult) {
        if self.is_closed() {
            return;
        }
        self.pty.handle_fetch_result(now, id, result);
        self.after_shell(now);
    }

    /// The next event to record.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.pty.poll_event()
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
            self.pty.shell_deadline(),
            Some(self.idle_deadline),
            Some(self.lifetime_deadline),
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
        // The shell's end: what the bot wrote stays on the device for its next visit.
        self.pty.close(now, reason);
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

    /// After the pty's shell ran: when it ended (exit, a limit), so does the session.
    fn after_shell(&mut self, now: Now) {
        if let Some(reason) = self.pty.ended() {
            self.close(now, reason);
        }
    }

    /// Whether a command line is computing (it yielded its slice of work and goes on
    /// at the next `handle_timeout`): the edge lets other sessions run first.
    pub fn is_computing(&self) -> bool {
        self.pty.is_computing()
    }

    /// Bytes this session holds that an attacker can grow: what its shell holds
    /// (measured at its last checkpoint) and its buffers.
    pub fn memory_used(&self) -> usize {
        self.pty.memory_used()
            + self.tty_line.capacity()
            + self.tty_ready.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Work the shell's running (or last) line had done at its last checkpoint.
    pub fn line_work(&self) -> u64 {
        self.pty.line_work()
    }

    /// The most this session's shell held at once (0 before login).
    pub fn memory_peak(&self) -> usize {
        self.pty.memory_peak()
    }

    /// The sensor is at its memory cap across all sessions and this one holds the
    /// most: its shell dies as on a device out of memory (`sh: out of memory`, the
    /// connection closes), with an event naming the cap.
    pub fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
        if self.is_closed() {
            return;
        }
        self.pty.fail_for_memory(now, limit, value);
        self.after_shell(now);
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
        self.pty.handle_timeout(now);
        self.after_shell(now);
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
        // Deadlines that passed while the edge was busy come first.
        self.handle_timeout(now);
        self.pty.mark_input();
        if self.is_closed() {
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
                        self.pty.set_input_pending(remaining > 0);
                        self.tty_input(now, b);
                    }
                }
                Filtered::WindowSize(w, h) => self.pty.resize(w, h),
                Filtered::AreYouThere => {
                    if self.pty.nothing_to_send() {
                        self.pty.send_raw(&AYT_REPLY);
                    }
                }
            }
        }
        self.filtered = filtered;
        self.pty.set_input_pending(false);
        if !self.is_closed() {
            self.pty.check_output_limit(now);
            self.after_shell(now);
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
        self.pty.event(now, kind);
    }

    /// Output of `login` and the line discipline on the pty (see [`Terminal::output`]).
    fn output(&mut self, bytes: &[u8]) {
        self.pty.output(bytes);
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
#[cfg(test)]
mod tests;
