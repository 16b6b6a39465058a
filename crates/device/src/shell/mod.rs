//! BusyBox ash, emulated: [`parse`] reads a line, [`exec`] runs it (its words through [`expand`]) over the virtual
//! file system with the applets in [`applets`], [`builtins`], [`ls`], [`ps`], [`test`].
//!
//! [`Shell`] is what the session talks to: it starts a line, is polled until the line
//! is done, hands out terminal output and events, and is told when what the line
//! waits for (time, a download, the client reading) has happened.

pub mod arith;
pub mod budget;
pub mod builtins;
pub mod exec;
pub mod expand;
pub mod glob;
pub mod parse;
pub mod procfs;
pub mod redirect;
pub mod stdin;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::clock::Now;
use crate::profile::Device;
use crate::vfs::{BaseFs, Vfs, VfsLimits};

use exec::{BoxFut, Chan, Flow, Io, Run, Saved, Sh};
pub use exec::{ExecOutput, FetchRequest, FetchResult, ShellConfig, ShellEvent, TtyOutput, Wait};

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Back at a prompt.
    Prompt,
    /// The login shell exited with this status (`exit N`, or `$?`): the session ends.
    Logout(i32),
    /// The login shell died (a budget named by its `Budget` event): the session
    /// ends.
    Died(exec::Fatal),
    /// A command line run as `sh -c` ([`Shell::start_command`]) ended with this
    /// status.
    Exited(i32),
}

/// Where the shell is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No line running.
    Idle,
    /// A line is running and waits for this.
    Waiting(Wait),
    /// The line finished.
    Finished(Outcome),
}

type LineFuture = BoxFut<'static, (Box<Sh>, Outcome)>;

/// The session's handle on the shell.
pub struct Shell {
    sh: Option<Box<Sh>>,
    running: Option<LineFuture>,
    chan: Arc<Mutex<Chan>>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl Shell {
    /// A login shell (`-sh`) for `device`, with `pid` as its `$$`.
    pub fn new(
        device: Arc<Device>,
        base: Arc<BaseFs>,
        config: ShellConfig,
        limits: VfsLimits,
        pid: u32,
        now: Now,
    ) -> Self {
        Self::with_vfs(device, Vfs::new(base, limits), config, pid, now)
    }

    /// A login shell over an existing file system (what this source left last time).
    pub fn with_vfs(
        device: Arc<Device>,
        vfs: Vfs,
        config: ShellConfig,
        pid: u32,
        now: Now,
    ) -> Self {
        let chan = Arc::new(Mutex::new(Chan {
            now,
            output: Vec::new(),
            pieces: Vec::new(),
            wait: None,
            response: None,
            events: Vec::new(),
            staged: Default::default(),
            interrupted: false,
            separate_stderr: false,
            memory_failed: false,
            memory_used: 0,
            line_work: 0,
            stdin: None,
        }));
        let vars = exec::login_environment();
        let sh = Sh {
            vfs,
            cwd: b"/root".to_vec(),
            vars,
            funcs: BTreeMap::new(),
            saved: Vec::new(),
            meter: budget::Meter::default(),
            status: 0,
            positional: Vec::new(),
            arg0: b"-sh".to_vec(),
            flags: b"smi",
            script: None,
            lines_read: 0,
            device,
            pid,
            login_pid: pid,
            next_pid: pid + 17,
            steps: 0,
            nesting: 0,
            config,
            chan: chan.clone(),
            killed: Vec::new(),
            levels: Vec::new(),
            term_width: 80,
            fs_full_reported: false,
            locals: Vec::new(),
            umask: 0o022,
            conditions: 0,
            readonly: Default::default(),
            xtrace: false,
            errexit: false,
            history: Vec::new(),
            aliases: Default::default(),
            line_aliases: Default::default(),
            subst_status: None,
            traps: Default::default(),
            peer: None,
            fds: Vec::new(),
            ulimits: Vec::new(),
        };
        Self {
            sh: Some(Box::new(sh)),
            running: None,
            chan,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Chan> {
        self.chan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The prompt to print now (PS1 with `\w` and `\$`).
    pub fn prompt(&self) -> Vec<u8> {
        let Some(sh) = &self.sh else {
            return Vec::new();
        };
        let template = sh.device.profile.prompt.as_bytes();
        let home = sh.var("HOME").unwrap_or_default();
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&c) = template.get(i) {
            i += 1;
            if c == b'\\' {
                match template.get(i) {
                    Some(b'w') if self.cwd_missing() => {
                        // lineedit's getcwd() failed (see `cwd_missing`).
                        out.extend_from_slice(b"(unknown)");
                        i += 1;
                    }
                    Some(b'w') => {
                        // ash shows the physical directory here (`pwd` keeps the
                        // logical one).
                        let cwd = sh
                            .vfs
                            .resolve(b"/", &sh.cwd, true)
                            .unwrap_or_else(|_| sh.cwd.clone());
                        if !home.is_empty()
                            && (cwd == home || cwd.starts_with(&[&home[..], b"/"].concat()))
                        {
                            out.push(b'~');
                            out.extend_from_slice(cwd.get(home.len()..).unwrap_or_default());
                        } else {
                            out.extend_from_slice(&cwd);
                        }
                        i += 1;
                    }
                    Some(b'$') => {
                        out.push(b'#');
                        i += 1;
                    }
                    Some(b'h') => {
                        out.extend_from_slice(sh.device.hostname.as_bytes());
                        i += 1;
                    }
                    _ => out.push(c),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Whether the working directory has been removed: the real prompt then warns
    /// `sh: getcwd: No such file or directory` and shows `(unknown)` for `\w`.
    pub fn cwd_missing(&self) -> bool {
        self.sh.as_ref().is_some_and(|sh| {
            !matches!(
                sh.vfs.lookup(b"/", &sh.cwd, true),
                Ok((_, crate::vfs::Node::Dir(_)))
            )
        })
    }

    /// The terminal width (for `ls` columns).
    pub fn set_width(&mut self, width: u16) {
        if let Some(sh) = &mut self.sh {
            sh.term_width = usize::from(if width == 0 { 80 } else { width });
        }
    }

    /// Keeps standard error apart from the terminal's output (as
    /// [`TtyOutput::Stderr`] pieces): for a door whose command has separate pipes.
    pub fn set_separate_stderr(&mut self, separate: bool) {
        self.lock().separate_stderr = separate;
    }

    /// The connection the session is on.
    pub fn set_peer(&mut self, peer: busybait_events::Peer) {
        if let Some(sh) = &mut self.sh {
            sh.peer = Some(peer);
        }
    }

    /// Lines in `history` (0 while a line runs).
    pub fn history_len(&self) -> usize {
        self.sh.as_ref().map_or(0, |sh| sh.history.len())
    }

    /// History line `i`, oldest first.
    pub fn history_line(&self, i: usize) -> Option<&[u8]> {
        self.sh.as_ref()?.history.get(i).map(Vec::as_slice)
    }

    /// Replaces history line `i` (the line editor keeps edits of recalled lines).
    pub fn set_history_line(&mut self, i: usize, line: &[u8]) {
        if let Some(entry) = self.sh.as_mut().and_then(|sh| sh.history.get_mut(i)) {
            entry.clear();
            entry.extend_from_slice(line);
        }
    }

    /// Whether a line is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts running a line; call [`Shell::poll`] next.
    pub fn start(&mut self, line: &[u8], now: Now) {
        let Some(mut sh) = self.begin_line(now) else {
            return;
        };
        let src = line.to_vec();
        self.running = Some(Box::pin(async move {
            let outcome = run_line(&mut sh, &src).await;
            (sh, outcome)
        }));
    }

    /// Starts `line` the way `sh -c LINE` runs it, for doors that hand the device a
    /// command rather than a terminal (SSH `exec`, a web server passing a request
    /// field to a shell): no prompt, no history, errors say `sh: `, `exit N` ends it,
    /// and it finishes with [`Outcome::Exited`] and the status. The same budgets
    /// apply.
    pub fn start_command(&mut self, line: &[u8], now: Now) {
        let Some(mut sh) = self.begin_line(now) else {
            return;
        };
        let src = line.to_vec();
        self.running = Some(Box::pin(async move {
            let outcome = run_command_line(&mut sh, &src).await;
            (sh, outcome)
        }));
    }

    /// Takes the interpreter for a new line, its per-line state reset (`None` while a
    /// line runs).
    fn begin_line(&mut self, now: Now) -> Option<Box<Sh>> {
        let mut sh = self.sh.take()?;
        {
            let mut c = self.lock();
            c.now = now;
            c.interrupted = false;
        }
        sh.steps = 0;
        sh.meter.new_line();
        sh.fs_full_reported = false;
        Some(sh)
    }

    /// Drives the running line as far as it goes now.
    pub fn poll(&mut self, now: Now) -> State {
        self.lock().now = now;
        let Some(fut) = self.running.as_mut() else {
            return State::Idle;
        };
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready((sh, outcome)) => {
                self.sh = Some(sh);
                self.running = None;
                State::Finished(outcome)
            }
            Poll::Pending => match self.lock().wait.clone() {
                Some(w) => State::Waiting(w),
                None => State::Waiting(Wait::Drain),
            },
        }
    }

    /// Standard input becomes a pipe the door writes (an SSH `exec` or a shell
    /// with no pty) instead of a terminal nobody types into.
    pub fn attach_stdin_pipe(&mut self) {
        self.lock().stdin = Some(stdin::Pipe::default());
    }

    /// Bytes the door received for standard input (nothing without a pipe).
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let mut c = self.lock();
        if let Some(pipe) = c.stdin.as_mut() {
            pipe.write(bytes);
            if c.wait == Some(Wait::Stdin) {
                c.response = Some(None);
            }
        }
    }

    /// The door's end of standard input.
    pub fn close_stdin(&mut self) {
        let mut c = self.lock();
        if let Some(pipe) = c.stdin.as_mut() {
            pipe.close();
            if c.wait == Some(Wait::Stdin) {
                c.response = Some(None);
            }
        }
    }

    /// Bytes in the standard input pipe not yet read (0 without a pipe).
    pub fn stdin_buffered(&self) -> usize {
        self.lock().stdin.as_ref().map_or(0, stdin::Pipe::buffered)
    }

    /// Ends what the line waits for (`result` answers a fetch).
    pub fn respond(&mut self, result: Option<FetchResult>) {
        self.lock().response = Some(result);
    }

    /// Bytes the shell held at its last checkpoint (between lines: all it keeps).
    pub fn memory_used(&self) -> usize {
        self.lock().memory_used
    }

    /// Work the running (or last) line had done at its last checkpoint.
    pub fn line_work(&self) -> u64 {
        self.lock().line_work
    }

    /// The most the shell has held at once.
    pub fn memory_peak(&self) -> usize {
        self.sh.as_ref().map_or(0, |sh| sh.meter.peak)
    }

    /// The sensor is short of memory and this shell is to give some back: a running
    /// line dies at its next step or wait as if its own budget were spent.
    pub fn fail_for_memory(&mut self) {
        let mut c = self.lock();
        c.memory_failed = true;
        c.response = Some(None);
    }

    /// `^C` while a line runs: the running command is interrupted.
    pub fn interrupt(&mut self) {
        let mut c = self.lock();
        c.interrupted = true;
        c.response = Some(None);
    }

    /// Terminal output produced so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in self.take_output_pieces() {
            match piece {
                TtyOutput::Bytes(b) => out.extend_from_slice(&b),
                TtyOutput::Shared(b) => out.extend_from_slice(&b),
                TtyOutput::Stderr(b) => out.extend_from_slice(&b),
            }
        }
        out
    }

    /// Terminal output produced so far, shared files by reference.
    pub fn take_output_pieces(&mut self) -> Vec<TtyOutput> {
        let mut c = self.lock();
        let mut pieces = std::mem::take(&mut c.pieces);
        if !c.output.is_empty() {
            pieces.push(TtyOutput::Bytes(std::mem::take(&mut c.output)));
        }
        pieces
    }

    /// Events produced so far.
    pub fn take_events(&mut self) -> Vec<ShellEvent> {
        std::mem::take(&mut self.lock().events)
    }

    /// New bytes of files being written since the last call, one entry per file.
    pub fn take_staged(&mut self) -> crate::vfs::StagedQueue {
        std::mem::take(&mut self.lock().staged)
    }

    /// Nested interactive shells open (0 at the login shell).
    pub fn nesting(&self) -> usize {
        self.sh.as_ref().map_or(0, |sh| sh.levels.len())
    }

    /// The file system (when no line runs).
    pub fn vfs(&self) -> Option<&Vfs> {
        self.sh.as_ref().map(|sh| &sh.vfs)
    }

    /// Takes the file system out (when no line runs), to keep it for the source.
    pub fn into_vfs(self) -> Option<Vfs> {
        self.sh.map(|sh| sh.vfs)
    }
}

/// Runs one interactive line; `exit` leaves a nested shell or logs out.
async fn run_line(sh: &mut Sh, src: &[u8]) -> Outcome {
    let io = Io::tty();
    let newlines = src.iter().filter(|&&b| b == b'\n').count();
    sh.lines_read = sh.lines_read.saturating_add(newlines as u64);
    // What `history` lists: the lines typed, this one included.
    // A command continued over several lines (PS2) is one history line per line.
    let typed = src.strip_suffix(b"\n").unwrap_or(src);
    for line in typed.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if sh.history.len() >= exec::MAX_HISTORY {
            sh.history.remove(0);
        }
        sh.history.push(line.to_vec());
    }
    sh.line_aliases = sh.aliases.clone();
    let list = match parse::parse(src) {
        Ok(l) => l,
        Err(e) => {
            let msg = format!("syntax error: {e}");
            sh.shell_error(&io, msg.as_bytes()).await;
            sh.status = 2;
            return Outcome::Prompt;
        }
    };
    let r = sh.run_list(&list, &io).await;
    // Whatever the line left in flight is gone with it.
    sh.saved.clear();
    sh.nesting = 0;
    match r {
        Ok(s) => sh.status = s,
        Err(Flow::Exit(s)) => {
            sh.status = s;
            match sh.levels.pop() {
                Some(level) => sh.put_back(level),
                None => return Outcome::Logout(s),
            }
        }
        Err(Flow::Return(s) | Flow::Error(s)) => sh.status = s,
        Err(Flow::Break(_)) | Err(Flow::Continue(_)) => {}
        // ^C
        Err(Flow::Abort) => sh.status = 130,
        // The whole shell dies, nested interactive shells and all (they are one
        // process on the device only in the sense that the terminal goes with them).
        Err(Flow::Fatal(fatal)) => {
            let failed_by_edge = sh
                .chan
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .memory_failed;
            if fatal == exec::Fatal::OutOfMemory && !failed_by_edge {
                sh.event(ShellEvent::Budget("memory"));
            }
            sh.report_death_of_login_shell(fatal).await;
            return Outcome::Died(fatal);
        }
    }
    let held = sh.measure();
    sh.meter.measured(held);
    sh.publish_meter();
    Outcome::Prompt
}

/// Runs a whole command line as `sh -c` does (see [`Shell::start_command`]).
async fn run_command_line(sh: &mut Sh, src: &[u8]) -> Outcome {
    let login_arg0 = std::mem::replace(&mut sh.arg0, b"sh".to_vec());
    // BusyBox 1.35's `sh -c` (as Dropbear runs `exec`): `$-` is `c`.
    let login_flags = std::mem::replace(&mut sh.flags, b"c");
    let mut r = run_source(sh, src, &Io::tty()).await;
    // `exitshell`: the EXIT trap runs once, with `$?` the status the shell exits
    // with (which an `exit` in the trap replaces).
    if let Ok(s) | Err(Flow::Exit(s) | Flow::Error(s) | Flow::Return(s)) = r {
        if let Some(action) = sh.traps.remove("EXIT") {
            sh.status = s;
            r = match run_source(sh, &action, &Io::tty()).await {
                Err(Flow::Exit(t)) => Ok(t),
                Err(fatal @ (Flow::Fatal(_) | Flow::Abort)) => Err(fatal),
                _ => Ok(s),
            };
        }
    }
    sh.arg0 = login_arg0;
    sh.flags = login_flags;
    sh.saved.clear();
    sh.nesting = 0;
    let outcome = match r {
        Ok(s) | Err(Flow::Exit(s) | Flow::Error(s) | Flow::Return(s)) => Outcome::Exited(s),
        Err(Flow::Break(_) | Flow::Continue(_)) => Outcome::Exited(sh.status),
        Err(Flow::Abort) => Outcome::Exited(130),
        Err(Flow::Fatal(fatal)) => {
            if fatal == exec::Fatal::OutOfMemory {
                sh.event(ShellEvent::Budget("memory"));
                sh.write(&exec::Sink::Tty, b"sh: out of memory\n").await;
            }
            return Outcome::Died(fatal);
        }
    };
    if let Outcome::Exited(s) = outcome {
        sh.status = s;
    }
    let held = sh.measure();
    sh.meter.measured(held);
    sh.publish_meter();
    outcome
}

/// Runs source text in the current shell (`eval`, `.`).
pub async fn run_source(sh: &mut Sh, src: &[u8], io: &Io) -> Run {
    let mark = sh.meter.mark();
    let r = match parse_charged(sh, src) {
        Ok(Ok(list)) => sh.run_list(&list, io).await,
        Ok(Err(e)) => {
            let msg = format!("syntax error: {e}");
            sh.shell_error(io, msg.as_bytes()).await;
            Ok(2)
        }
        Err(f) => Err(f),
    };
    sh.meter.release_to(mark);
    r
}

/// What a parse tree may hold per byte of source at most (a word of one letter is a
/// `Vec` in a `Vec` in a command): reserved before parsing text the attacker built
/// (`eval "$x"`), then corrected to what the tree holds.
const PARSE_BYTES_PER_SOURCE_BYTE: usize = 96;

/// Parses source built at run time within the memory budget; the tree stays
/// charged until the caller releases it.
fn parse_charged(sh: &mut Sh, src: &[u8]) -> Result<Result<parse::List, parse::SyntaxError>, Flow> {
    use budget::HeapSize;
    let mark = sh.meter.mark();
    sh.reserve(src.len().saturating_mul(PARSE_BYTES_PER_SOURCE_BYTE))?;
    let parsed = parse::parse(src);
    sh.meter.release_to(mark);
    if let Ok(list) = &parsed {
        sh.reserve(list.heap_size())?;
    }
    Ok(parsed)
}

/// Runs a script as a child shell: its own variables and directory; errors say
/// `name: line N:`; it is read and run one complete command at a time, as ash does,
/// so a syntax error stops it only where it is.
pub async fn run_script(sh: &mut Sh, name: &[u8], src: &[u8], args: Vec<Vec<u8>>, io: &Io) -> Run {
    sh.nest().await?;
    let saved = Saved {
        cwd: Some(sh.cwd.clone()),
        vars: Some(sh.vars.clone()),
        funcs: Some(sh.funcs.clone()),
        positional: Some(std::mem::replace(&mut sh.positional, args)),
        arg0: Some(std::mem::replace(&mut sh.arg0, name.to_vec())),
        script: Some(sh.script.take()),
        ..Saved::default()
    };
    sh.save(saved);
    let r = run_script_lines(sh, name, src, io).await;
    sh.restore();
    sh.nesting -= 1;
    r
}

/// The body of [`run_script`]: one complete command at a time.
async fn run_script_lines(sh: &mut Sh, name: &[u8], src: &[u8], io: &Io) -> Run {
    let lines: Vec<&[u8]> = src.split(|&b| b == b'\n').collect();
    let mut status = 0;
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let mut chunk = Vec::new();
        // What the command read so far parses to (charged), once it is complete.
        let mark = sh.meter.mark();
        let parsed = loop {
            if let Some(line) = lines.get(i) {
                chunk.extend_from_slice(line);
                chunk.push(b'\n');
            }
            i += 1;
            sh.meter.release_to(mark);
            let parsed = parse_charged(sh, &chunk)?;
            if i < lines.len() && parsed.as_ref().is_err_and(incomplete) {
                // Each further line parses the command again: a line of work.
                sh.checkpoint().await?;
                continue;
            }
            break parsed;
        };
        sh.script = Some((name.to_vec(), start + 1));
        let ran = match &parsed {
            Ok(list) => sh.run_list(list, io).await,
            Err(e) => {
                let msg = format!("syntax error: {e}");
                sh.shell_error(io, msg.as_bytes()).await;
                sh.meter.release_to(mark);
                return Ok(2);
            }
        };
        sh.meter.release_to(mark);
        match ran {
            Ok(s) => status = s,
            Err(Flow::Exit(s) | Flow::Error(s)) => return Ok(s),
            Err(f @ (Flow::Abort | Flow::Fatal(_))) => return Err(f),
            Err(_) => {}
        }
    }
    Ok(status)
}

/// Whether a parse error may just mean the command is not complete yet (an open
/// `if`, loop, quote or brace).
fn incomplete(e: &parse::SyntaxError) -> bool {
    match e {
        parse::SyntaxError::Unterminated => true,
        parse::SyntaxError::Unexpected(t) => t == "end of file",
        _ => false,
    }
}

/// The `sh` applet: `sh -c CMD`, `sh FILE ARGS`, `… | sh`, or a nested interactive
/// shell (banner, `sh:` error prefix, `exit` returns).
pub async fn sh_applet(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let args: Vec<Vec<u8>> = argv.iter().skip(1).cloned().collect();
    if args.first().map(Vec::as_slice) == Some(b"-c") {
        let Some(cmd) = args.get(1) else {
            let mut m = sh.arg0.clone();
            m.extend_from_slice(b": -c requires an argument\n");
            sh.write(&io.stderr, &m).await;
            return Ok(2);
        };
        let name = args.get(2).cloned().unwrap_or_else(|| b"sh".to_vec());
        let rest = args.iter().skip(3).cloned().collect();
        sh.nest().await?;
        let saved = Saved {
            cwd: Some(sh.cwd.clone()),
            vars: Some(sh.vars.clone()),
            positional: Some(std::mem::replace(&mut sh.positional, rest)),
            arg0: Some(std::mem::replace(&mut sh.arg0, name)),
            script: Some(sh.script.take()),
            // Not interactive: its lines count from 0.
            lines_read: Some(std::mem::take(&mut sh.lines_read)),
            ..Saved::default()
        };
        sh.save(saved);
        let r = run_source(sh, cmd, io).await;
        sh.restore();
        sh.nesting -= 1;
        return match r {
            Err(Flow::Return(_) | Flow::Break(_) | Flow::Continue(_)) => Ok(sh.status),
            r => sh.child_status(r, &io.stderr).await,
        };
    }
    let operands: Vec<Vec<u8>> = args
        .iter()
        .filter(|a| !a.starts_with(b"-"))
        .cloned()
        .collect();
    if let Some(file) = operands.first() {
        let cwd = sh.cwd.clone();
        return match sh.read_file(&cwd, file) {
            Ok(src) => {
                let args = operands.iter().skip(1).cloned().collect();
                let r = run_script(sh, file, &src, args, io).await;
                sh.child_status(r, &io.stderr).await
            }
            Err(e) => {
                let mut m = b"sh: can't open '".to_vec();
                m.extend_from_slice(file);
                m.extend_from_slice(format!("': {e}\n").as_bytes());
                sh.write(&io.stderr, &m).await;
                Ok(2)
            }
        };
    }
    if io.stdin.is_some() || sh.has_stdin_pipe() {
        // A script on stdin: a pipe, a redirection, or the door's pipe (`ssh dvr sh <
        // script`), read to its end.
        let input = sh.stdin_all(io).await;
        let r = run_script(sh, b"sh", &input, Vec::new(), io).await;
        return sh.child_status(r, &io.stderr).await;
    }
    // A nested interactive shell: it prints its banner and takes over the terminal.
    sh.levels.push(Saved {
        cwd: Some(sh.cwd.clone()),
        vars: Some(sh.vars.clone()),
        funcs: Some(sh.funcs.clone()),
        positional: Some(sh.positional.clone()),
        arg0: Some(std::mem::replace(&mut sh.arg0, b"sh".to_vec())),
        script: None,
        // A new shell counts its own lines.
        lines_read: Some(std::mem::take(&mut sh.lines_read)),
    });
    let banner = sh.device.profile.shell_banner().replace("\r\n", "\n");
    sh.write(&io.stdout, banner.as_bytes()).await;
    Ok(0)
}
