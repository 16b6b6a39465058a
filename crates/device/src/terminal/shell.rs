//! The shell on the terminal: the prompt, ash's line editor or the tty's canonical
//! mode, a pipe when there is no terminal, running a line and driving it through its
//! waits, output through the tty.

use std::sync::Arc;
use std::time::Instant;

use busybait_events::{lossy, CloseReason, EventKind};

use super::{
    tty, FetchId, Line, Outgoing, ShellPhase, Terminal, DEFAULT_WIDTH, MAX_CONTINUED_BYTES,
};
use crate::clock::Now;
use crate::lineedit::{Edited, LineEditor, EDITING_MAX_LEN};
use crate::shell::{FetchResult, Outcome, Shell, ShellEvent, State as ShellState, TtyOutput, Wait};

impl Terminal {
    /// The device's shell for this session's source.
    pub(super) fn start_shell(&mut self, now: Now) {
        // A pid for the login shell, stable for the session.
        let pid = 300 + (u32::from_be_bytes([0, 0, self.id.0[4], self.id.0[5]]) % 700);
        let mut shell = self.config.state.open_shell(self.peer.src.ip(), pid, now);
        shell.set_width(self.width);
        shell.set_peer(self.peer);
        self.shell = Some(Box::new(ShellPhase {
            shell,
            editor: LineEditor::default(),
            canonical: Vec::new(),
            continued: Vec::new(),
            wait: None,
            typeahead: Vec::new(),
        }));
    }

    /// PS1, or PS2 (`> `) while a command is being continued.
    pub(super) fn shell_prompt(&mut self) {
        if self.line == Line::Pipe {
            // No terminal, no prompt.
            return;
        }
        let Some(phase) = &mut self.shell else {
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
        let Some(phase) = &mut self.shell else {
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
    pub(super) fn tty_write(&mut self, all: &[u8]) {
        self.column = match self.line {
            Line::Telnet => tty::encode(all, self.column, &mut self.transmit),
            Line::Pty => tty::encode_pty(all, self.column, &mut self.transmit),
            // No pty: the pipe carries the bytes as written.
            Line::Pipe => {
                self.transmit.extend_from_slice(all);
                self.column
            }
        };
    }

    /// A whole stored file through the tty: its first line encoded here, the rest as
    /// encoded once for every session.
    pub(super) fn tty_write_shared(&mut self, source: Arc<Vec<u8>>) {
        if self.line != Line::Telnet {
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
    pub(super) fn is_running_command(&self) -> bool {
        self.command_mode
    }

    /// A byte on a shell's standard input with no terminal (a pipe): ash reads lines
    /// and runs them, with no echo, no prompt and no editing.
    pub(super) fn pipe_input(&mut self, now: Now, b: u8) {
        let max = self.config.limits.max_line_bytes;
        let Some(phase) = &mut self.shell else {
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
    pub(super) fn pipe_line_end(&mut self, now: Now) {
        let Some(phase) = &mut self.shell else {
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
        // ash exits at the end of its input with the last command's status (`$?`).
        phase.shell.start(b"exit\n", now);
        self.drive(now);
    }

    /// A byte typed on the terminal while its shell runs (after the tty's own
    /// processing: on telnet, after the line-length count).
    pub fn shell_input(&mut self, now: Now, b: u8) {
        if self.line == Line::Pipe {
            return self.pipe_input(now, b);
        }
        let Some(phase) = &mut self.shell else {
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
                    if let Some(phase) = &mut self.shell {
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
    pub(super) fn end_of_input(&mut self, now: Now) {
        self.output(b"\r\n");
        let Some(phase) = &mut self.shell else {
            return;
        };
        if phase.continued.is_empty() {
            return self.execute(now, b"exit".to_vec());
        }
        self.run_continued(now);
    }

    /// Runs the lines gathered in `continued` as one command.
    pub(super) fn run_continued(&mut self, now: Now) {
        let Some(phase) = &mut self.shell else {
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
    pub(super) fn execute(&mut self, now: Now, line: Vec<u8>) {
        if !line.iter().all(u8::is_ascii_whitespace) {
            self.event(
                now,
                EventKind::CommandInput {
                    input: lossy(&line),
                },
            );
        }
        let Some(phase) = &mut self.shell else {
            return;
        };
        phase.continued.extend_from_slice(&line);
        phase.continued.push(b'\n');
        // ash reads on after a PS2 prompt while the command is unfinished; past the
        // bound it runs what it has (a syntax error).
        if phase.continued.len() <= MAX_CONTINUED_BYTES
            && crate::shell::parse::needs_more(&phase.continued)
        {
            return self.shell_prompt();
        }
        self.run_continued(now);
    }

    /// Polls the running line until it waits for something or finishes.
    pub(super) fn drive(&mut self, now: Now) {
        loop {
            let Some(phase) = &mut self.shell else {
                return;
            };
            let state = phase.shell.poll(now);
            let out = phase.shell.take_output_pieces();
            let events = phase.shell.take_events();
            for bytes in phase.shell.take_staged().into_values() {
                crate::vfs::queue_staged(&mut self.staged, bytes);
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
                            "recursion" => {
                                ("shell_recursion", crate::shell::exec::MAX_NESTING as u64)
                            }
                            _ => ("shell_nesting", crate::shell::exec::MAX_NESTING as u64),
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
            let Some(phase) = &mut self.shell else {
                return;
            };
            match state {
                ShellState::Idle => return,
                // (`Exited` ends a command started as `sh -c`, which telnet never does.)
                ShellState::Finished(Outcome::Logout(status)) => {
                    self.exit_status = Some(status);
                    return self.close(now, CloseReason::DeviceClosed);
                }
                ShellState::Finished(Outcome::Exited(status)) => {
                    self.exit_status = Some(status);
                    return self.close(now, CloseReason::DeviceClosed);
                }
                ShellState::Finished(Outcome::Died(fatal)) => {
                    // ash's exit status after `out of memory`; a segfault is SIGSEGV.
                    self.exit_status = Some(match fatal {
                        crate::shell::exec::Fatal::OutOfMemory => 2,
                        crate::shell::exec::Fatal::Segfault => 139,
                    });
                    let reason = match fatal {
                        crate::shell::exec::Fatal::OutOfMemory => CloseReason::Limit,
                        crate::shell::exec::Fatal::Segfault => CloseReason::DeviceClosed,
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
                ShellState::Waiting(Wait::Stdin) => {
                    // The door's next bytes (or its end) answer it.
                    phase.wait = Some((Wait::Stdin, None));
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
                    if self.stdin_closed && self.line == Line::Pipe {
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
    pub fn shell_timeout(&mut self, now: Now) {
        let Some(phase) = &mut self.shell else {
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

    /// When the shell's wait ends by itself, if it does.
    pub fn shell_deadline(&self) -> Option<Instant> {
        let Some(phase) = &self.shell else {
            return None;
        };
        match &phase.wait {
            Some((Wait::Drain, _)) => Some(self.last_now),
            Some((_, t)) => *t,
            None => None,
        }
    }
}

/// The shell's `history` list, as the line editor browses it.
struct ShellHistory<'a>(&'a mut Shell);

impl crate::lineedit::History for ShellHistory<'_> {
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
