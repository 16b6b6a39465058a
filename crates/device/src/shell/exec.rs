//! The interpreter: walks the parsed line as async code, so that a command that has to
//! wait (`sleep`, a download, a terminal that is not reading) simply `.await`s.
//!
//! There is no executor: [`super::Shell`] polls the future by hand with a no-op waker
//! whenever something it waits for has happened (a deadline passed, a fetch result
//! arrived, the client took the output). Everything is deterministic: same input,
//! same clock, same bytes. Every step counts against a per-line budget and nesting is
//! bounded, so `while true; do :; done` and runaway recursion end with an event.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::Now;
use crate::profile::Device;
use crate::vfs::{absolute, Errno, Vfs};

use super::parse::{AndOr, Command, Compound, List, Pipeline, Redir, Word};
use super::stdin::OpenInput;

mod run;

/// Shell variables: name to (value, exported). Shared until a session changes one
/// (every login starts from the same environment; subshells copy it).
pub type Vars = Arc<BTreeMap<String, (Vec<u8>, bool)>>;

/// The environment of a root login shell, one copy for all sessions.
pub fn login_environment() -> Vars {
    static LOGIN: std::sync::LazyLock<Vars> = std::sync::LazyLock::new(|| {
        Arc::new(
            [
                ("HOME", "/root"),
                ("PATH", "/sbin:/usr/sbin:/bin:/usr/bin"),
                ("SHELL", "/bin/sh"),
                ("USER", "root"),
                ("LOGNAME", "root"),
                ("TERM", "vt100"),
                ("PWD", "/root"),
                ("IFS", " \t\n"),
                ("PS1", "\\w \\$ "),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), (v.as_bytes().to_vec(), true)))
            .collect(),
        )
    });
    LOGIN.clone()
}

/// Bytes of tty output buffered before the interpreter waits for the client.
pub const STREAM_HIGH_WATER: usize = 64 * 1024;
/// Largest pipe or `$(…)` capture; beyond it the writer is cut off. As large as the
/// largest read ([`MAX_READ`]), so that the device's own 2 MB BusyBox goes through a
/// pipe whole (`cat /proc/self/exe | md5sum` is a honeypot probe).
pub const MAX_CAPTURE: usize = MAX_READ as usize;
/// Largest output an applet builds before writing it (`printf` widths, `seq`
/// separators, `sed` replacements): past it the rest is dropped. A device would
/// stream it; every pipe and capture here stops at this size anyway.
pub const MAX_APPLET_OUTPUT: usize = MAX_CAPTURE;
/// Nesting of functions, subshells, `sh` scripts and substitutions.
pub const MAX_NESTING: usize = 32;
/// Largest file an applet reads into memory at once.
pub const MAX_READ: u64 = 4 * 1024 * 1024;

impl Chan {
    /// Terminal output not yet taken by the session.
    pub fn pending(&self) -> usize {
        self.output.len() + self.pieces.iter().map(TtyOutput::len).sum::<usize>()
    }
}

/// What the interpreter is waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A point in time (`sleep`, a download's timeout).
    Until(Instant),
    /// The client to take the output already produced.
    Drain,
    /// The edge to answer a fetch.
    Fetch(FetchRequest),
    /// Nothing: the line used up its slice of work and lets other sessions run; it
    /// goes on as soon as the edge polls again.
    Yield,
    /// Bytes on standard input from the door's pipe, or its end.
    Stdin,
    /// Nothing ever: the line used up its budget (work, steps, nesting) and looks like
    /// a command still running until `^C`, a disconnect or the idle limit.
    Stalled,
}

/// A download the device asked for (answered with [`FetchResult`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// `wget`, `tftp` or `ftpget`.
    pub tool: &'static str,
    /// The URL (`tftp://host:port/file` and `ftp://…` for the others).
    pub url: String,
    /// `ftpget`'s password (kept out of the URL, which is recorded as an indicator).
    pub password: Option<String>,
}

/// The edge's answer to a [`FetchRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchResult {
    /// The body.
    Data(Vec<u8>),
    /// Fetching is off, or the host refused: the tool fails as on an unreachable host.
    Refused,
}

/// Something the record wants from the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellEvent {
    /// A command that does not exist on the device, as typed.
    CommandNotFound(Vec<u8>),
    /// A budget or limit of the shell was reached: `steps`, `work` or `nesting` (the
    /// line stalls), `memory` (the shell dies), `recursion` (it crashes).
    Budget(&'static str),
    /// A dropped executable was "run" (never really).
    Executed(Vec<u8>),
    /// A file the attacker finished writing (a sample for the capture).
    File(crate::vfs::FinishedFile),
    /// The file system cap for this source was hit (once per line).
    FsFull,
    /// A file reached the per-file cap (once per line).
    FileTooBig,
}

/// What the shell wrote to the terminal, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtyOutput {
    /// Bytes (before the tty's ONLCR).
    Bytes(Vec<u8>),
    /// A whole stored file, by reference: a `cat` of the device's BusyBox writes the
    /// same megabyte in every loader session, and the door encodes it for its wire
    /// once.
    Shared(Arc<Vec<u8>>),
    /// Bytes written to standard error, for a door that keeps it apart.
    Stderr(Vec<u8>),
}

impl TtyOutput {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            TtyOutput::Bytes(b) => b.len(),
            TtyOutput::Shared(b) => b.len(),
            TtyOutput::Stderr(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stored files at least this long go to the terminal by reference
/// ([`TtyOutput::Shared`]); shorter ones are copied.
pub const SHARED_OUTPUT_MIN: usize = 64 * 1024;

/// What the shell shares with the session while a line runs.
#[derive(Debug)]
pub struct Chan {
    /// The session's clock at the last poll.
    pub now: Now,
    /// Raw bytes written to the terminal (before ONLCR), after [`Chan::pieces`].
    pub output: Vec<u8>,
    /// Terminal output written before [`Chan::output`], when a shared file cut it.
    pub pieces: Vec<TtyOutput>,
    /// What the interpreter waits for, if anything.
    pub wait: Option<Wait>,
    /// The answer to a `Fetch`, or a marker that the wait is over.
    pub response: Option<Option<FetchResult>>,
    /// Events for the record.
    pub events: Vec<ShellEvent>,
    /// New bytes of files being written, one entry per file.
    pub staged: crate::vfs::StagedQueue,
    /// `^C` arrived: the running command stops at its next step or wait.
    pub interrupted: bool,
    /// Standard error is kept apart ([`TtyOutput::Stderr`]) rather than mixed into
    /// the terminal's output.
    pub separate_stderr: bool,
    /// The sensor is short of memory and this shell was chosen to fail: it dies at
    /// its next step or wait as if its own budget were spent.
    pub memory_failed: bool,
    /// What the shell held at its last checkpoint (for the edge's sensor-wide cap).
    pub memory_used: usize,
    /// Work the running line had done at its last checkpoint.
    pub line_work: u64,
    /// Standard input's terminal when it is a door's pipe (see [`super::stdin`]).
    pub stdin: Option<super::stdin::Pipe>,
}

/// What a loop does once its body ran.
enum AfterBody {
    /// Goes on, with the body's status (`None` after `continue`).
    Next(Option<i32>),
    /// `break` ends this loop.
    Stop,
}

/// `break N`/`continue N` for the innermost loop, passing `N - 1` outwards.
fn after_body(r: Run) -> Result<AfterBody, Flow> {
    match r {
        Ok(s) => Ok(AfterBody::Next(Some(s))),
        Err(Flow::Break(n)) if n > 1 => Err(Flow::Break(n - 1)),
        Err(Flow::Break(_)) => Ok(AfterBody::Stop),
        Err(Flow::Continue(n)) if n > 1 => Err(Flow::Continue(n - 1)),
        Err(Flow::Continue(_)) => Ok(AfterBody::Next(None)),
        Err(f) => Err(f),
    }
}

/// What a dropped binary prints when "run".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExecOutput {
    /// Nothing, exit 0.
    Silent,
    /// `Segmentation fault`, exit 139.
    Segfault,
    /// Mirai's bot: `listening tun0` (its loader then reports success).
    #[default]
    MiraiListening,
}

/// Shell settings from the config.
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// Steps (commands, loop rounds) one input line may take.
    pub step_budget: u64,
    /// Memory and work budgets.
    pub budgets: super::budget::Budgets,
    /// What running a dropped binary looks like.
    pub exec_output: ExecOutput,
    /// How long a download tool takes to fail when fetching is off.
    pub fetch_fail_delay: Duration,
    /// Whether downloads are handed to the edge (`Session::poll_fetch`) instead of
    /// failing as on an unreachable host.
    pub fetch: bool,
    /// With `fetch`, how long a download may take before it fails.
    pub fetch_timeout: Duration,
    /// When the emulated device booted (uptime counts from here).
    pub boot_time: std::time::SystemTime,
    /// How long `tftp` tries a host that does not answer (measured on the oracle:
    /// 12.93 s from start to `tftp: timeout`).
    pub tftp_give_up: Duration,
    /// The device's programs (BusyBox's applets by default, see `crate::applets`):
    /// given to the shell, which runs them by name.
    pub programs: Arc<dyn Programs>,
}

impl ShellConfig {
    /// Settings with the defaults, running `programs`.
    pub fn with_programs(programs: Arc<dyn Programs>) -> Self {
        Self {
            step_budget: 100_000,
            budgets: super::budget::Budgets::default(),
            exec_output: ExecOutput::default(),
            fetch_fail_delay: Duration::from_millis(30),
            fetch: false,
            fetch_timeout: Duration::from_secs(60),
            boot_time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            tftp_give_up: Duration::from_millis(12_930),
            programs,
        }
    }
}

/// One run of a program: the name it was invoked by (`egrep` runs grep), its argument
/// vector (the name first), its descriptors, and whether ash's own builtin of that
/// name runs it (its errors then say `sh:`).
#[derive(Clone, Copy)]
pub struct Call<'a> {
    /// The name it was invoked by.
    pub name: &'a str,
    /// Its arguments, the name first.
    pub argv: &'a [Vec<u8>],
    /// Its descriptors.
    pub io: &'a Io,
    /// Run as ash's builtin (`echo`, `printf`, `kill`, `test`).
    pub builtin: bool,
}

/// What the device can run besides the shell's builtins: the shell is given them
/// (the interpreter does not depend on what they are).
pub trait Programs: std::fmt::Debug + Send + Sync {
    /// Runs `call.name` (a program the device has).
    fn run<'a>(&self, sh: &'a mut Sh, call: Call<'a>) -> BoxFut<'a, Run>;
}

/// Non-local control flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// `exit N`
    Exit(i32),
    /// `return N`
    Return(i32),
    /// `break N`
    Break(u32),
    /// `continue N`
    Continue(u32),
    /// `^C`: the command line is abandoned.
    Abort,
    /// The shell process died (or, inside a subshell, that child did).
    Fatal(Fatal),
    /// An error in an expansion (arithmetic, `${x:?}`): ash abandons the command
    /// line; an interactive shell shows its prompt again, any other shell (`sh -c`,
    /// a script, a subshell) exits with this status.
    Error(i32),
}

/// How a shell process dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fatal {
    /// Over its memory budget: BusyBox's `xmalloc` prints `sh: out of memory` and
    /// exits 1.
    OutOfMemory,
    /// Unbounded function recursion: ash overflows its stack (SIGSEGV, status 139).
    Segfault,
}

/// Result of running something: its exit status, or a jump.
pub type Run = Result<i32, Flow>;

/// A boxed future, as recursion in async code needs.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a descriptor writes.
#[derive(Clone, Debug)]
pub enum Sink {
    /// The terminal.
    Tty,
    /// Standard error: the terminal too, unless the door keeps it apart (an SSH
    /// `exec` without a pty has three pipes).
    Stderr,
    /// Nowhere.
    Null,
    /// Appends to this canonical path.
    File(Vec<u8>),
    /// A pipe or `$(…)`.
    Capture(Arc<Mutex<Vec<u8>>>),
}

/// A command's standard descriptors.
#[derive(Clone, Debug)]
pub struct Io {
    /// fd 0: `None` is the terminal: the door's pipe where it has one (an SSH
    /// `exec`), else empty (bots do not type into running commands).
    pub stdin: Option<super::stdin::OpenInput>,
    /// fd 1
    pub stdout: Sink,
    /// fd 2
    pub stderr: Sink,
    /// Descriptors 3 to [`MAX_FD`] this command's redirections opened (`Some`) or
    /// closed (`None`); the others are the shell's ([`Sh::fds`]).
    pub high: Vec<(u8, Option<Sink>)>,
}

/// Highest descriptor a redirection may name (ash's single digit).
pub const MAX_FD: u8 = 9;

impl Io {
    /// The terminal on all three.
    pub fn tty() -> Self {
        Self {
            stdin: None,
            stdout: Sink::Tty,
            stderr: Sink::Stderr,
            high: Vec::new(),
        }
    }

    /// Descriptor `fd` as an output (0 is not one), given the shell's own.
    pub(super) fn output(&self, fd: u8, shell_fds: &[(u8, Sink)]) -> Option<Sink> {
        match fd {
            1 => Some(self.stdout.clone()),
            2 => Some(self.stderr.clone()),
            _ => match self.high.iter().find(|(n, _)| *n == fd) {
                Some((_, sink)) => sink.clone(),
                None => shell_fds
                    .iter()
                    .find(|(n, _)| *n == fd)
                    .map(|(_, s)| s.clone()),
            },
        }
    }

    /// Points descriptor `fd` at `sink` (`None` closes it).
    pub(super) fn set_output(&mut self, fd: u8, sink: Option<Sink>) {
        match (fd, sink) {
            (1, Some(s)) => self.stdout = s,
            (2, Some(s)) => self.stderr = s,
            (1 | 2, None) => {}
            (n, sink) if (3..=MAX_FD).contains(&n) => {
                self.high.retain(|(m, _)| *m != n);
                self.high.push((n, sink));
            }
            _ => {}
        }
    }
}

/// The interpreter's state, owned by the running line.
#[derive(Debug)]
pub struct Sh {
    /// The file system.
    pub(in crate::shell) vfs: Vfs,
    /// Working directory (canonical).
    pub(in crate::shell) cwd: Vec<u8>,
    /// Variables (value, exported).
    pub(in crate::shell) vars: Vars,
    /// Functions.
    pub(in crate::shell) funcs: Funcs,
    /// `$?`
    pub(in crate::shell) status: i32,
    /// `$1`…
    pub(in crate::shell) positional: Vec<Vec<u8>>,
    /// `$0`, and the prefix of error messages (`-sh`, `sh`, `script.sh`).
    pub arg0: Vec<u8>,
    /// `$-`: an interactive shell's `smi`, `sh -c`'s `c`.
    pub(in crate::shell) flags: &'static [u8],
    /// Error prefix for scripts: "name: line N".
    pub(in crate::shell) script: Option<(Vec<u8>, usize)>,
    /// Lines this interactive shell has read (ash's `lineno`, which `exec` shows).
    pub(in crate::shell) lines_read: u64,
    /// The device.
    pub(in crate::shell) device: Arc<Device>,
    /// `$$`
    pub(in crate::shell) pid: u32,
    /// Next pid handed out (for `$!` and `ps`).
    pub(in crate::shell) next_pid: u32,
    /// Steps taken on this line.
    pub(in crate::shell) steps: u64,
    /// Current nesting.
    pub(in crate::shell) nesting: usize,
    /// Settings.
    pub(in crate::shell) config: ShellConfig,
    /// Channel to the session.
    pub(in crate::shell) chan: Arc<Mutex<Chan>>,
    /// Pids killed with `kill` (so `ps` stops showing them).
    pub(in crate::shell) killed: Vec<u32>,
    /// The login shell's pid.
    pub(in crate::shell) login_pid: u32,
    /// Nested interactive shells (`sh` typed at the prompt): each one's parent.
    pub(in crate::shell) levels: Vec<Saved>,
    /// What running child shells (subshells, `$(…)`, `sh -c`, scripts) and function
    /// calls saved of their parent, innermost last; here rather than in the
    /// interpreter's frames so that the memory budget sees it.
    pub(in crate::shell) saved: Vec<Saved>,
    /// This shell's account against its memory and work budgets.
    pub(in crate::shell) meter: super::budget::Meter,
    /// Terminal width (NAWS), for `ls` columns.
    pub(in crate::shell) term_width: usize,
    /// How far each `read` has consumed its input (keyed by the input's identity).
    /// The file-system cap was reported on this line already.
    pub(in crate::shell) fs_full_reported: bool,
    /// Per running function, the variables `local` shadowed and their values
    /// before (restored when it returns); as deep as `nesting` allows.
    pub(in crate::shell) locals: Vec<Shadowed>,
    /// `umask`.
    pub(in crate::shell) umask: u32,
    /// Depth of `if`/`while`/`until` conditions and `&&`/`||` left sides being
    /// run (where `set -e` does not apply).
    pub(in crate::shell) conditions: usize,
    /// Variables made read-only.
    pub(in crate::shell) readonly: std::collections::BTreeSet<String>,
    /// `set -x`: each command is shown on stderr before it runs.
    pub(in crate::shell) xtrace: bool,
    /// `set -e`: a failing command ends the shell.
    pub(in crate::shell) errexit: bool,
    /// Lines typed at this shell's prompt (`history`), at most [`MAX_HISTORY`].
    pub(in crate::shell) history: Vec<Vec<u8>>,
    /// `alias` definitions.
    pub(in crate::shell) aliases: BTreeMap<String, Vec<u8>>,
    /// The aliases as the current line began (ash expands them while parsing, so
    /// one defined on a line applies from the next).
    pub(in crate::shell) line_aliases: BTreeMap<String, Vec<u8>>,
    /// Status of the last command substitution of the command being expanded.
    pub(in crate::shell) subst_status: Option<i32>,
    /// `trap` actions by signal name.
    pub(in crate::shell) traps: BTreeMap<String, Vec<u8>>,
    /// The connection this shell's session is on (`netstat` shows it).
    pub(in crate::shell) peer: Option<busybait_events::Peer>,
    /// Descriptors above 2 opened for the shell itself (`exec 3>file`).
    pub(in crate::shell) fds: Vec<(u8, Sink)>,
    /// Limits set with `ulimit` (one entry per limit letter, so at most 15).
    pub(in crate::shell) ulimits: Vec<(u8, Vec<u8>)>,
}

/// The boundary applets go through: they are programs on the device, and see of the
/// shell only what a process sees (its working directory, environment, the file
/// system, the device, the terminal's width, the process table).
impl Sh {
    /// The file system.
    pub fn vfs(&self) -> &Vfs {
        &self.vfs
    }

    /// The file system, to change.
    pub fn vfs_mut(&mut self) -> &mut Vfs {
        &mut self.vfs
    }

    /// The working directory.
    pub fn cwd(&self) -> &[u8] {
        &self.cwd
    }

    /// The device.
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// The shell's settings.
    pub fn config(&self) -> &ShellConfig {
        &self.config
    }

    /// The terminal's width (NAWS, 80 without).
    pub fn term_width(&self) -> usize {
        self.term_width
    }

    /// `$$`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The login shell's pid.
    pub fn login_pid(&self) -> u32 {
        self.login_pid
    }

    /// Interactive shells nested in the login shell (`sh` typed at the prompt).
    pub fn nested_shells(&self) -> usize {
        self.levels.len()
    }

    /// The pid the next process would get.
    pub fn next_pid(&self) -> u32 {
        self.next_pid
    }

    /// Hands out a pid to a new process.
    pub fn new_pid(&mut self) -> u32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }

    /// Pids killed so far (`ps` no longer shows them).
    pub fn killed(&self) -> &[u32] {
        &self.killed
    }

    /// Marks processes killed.
    pub fn kill(&mut self, pids: impl IntoIterator<Item = u32>) {
        self.killed.extend(pids);
    }

    /// The exported variables, as `env` lists them.
    pub fn environment(&self) -> Vec<(&str, &[u8])> {
        self.vars
            .iter()
            .filter(|(_, (_, exported))| *exported)
            .map(|(k, (v, _))| (k.as_str(), v.as_slice()))
            .collect()
    }

    /// The connection the session is on.
    pub fn peer(&self) -> Option<busybait_events::Peer> {
        self.peer
    }

    /// Whether `sink` is a terminal (`isatty`): the session's tty, unless the door
    /// gave the shell pipes instead (SSH without a pty).
    pub fn isatty(&self, sink: &Sink) -> bool {
        matches!(sink, Sink::Tty | Sink::Stderr) && !self.chan().separate_stderr
    }

    /// The file mode creation mask (`umask`).
    pub fn umask(&self) -> u32 {
        self.umask
    }

    /// Counts `units` of work (bytes an applet went through) against the line.
    pub fn work(&mut self, units: u64) {
        self.meter.work(units);
    }
}

/// State of a parent shell put aside while a child runs; `None` where the child
/// shares the parent's.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    /// Working directory.
    pub cwd: Option<Vec<u8>>,
    /// Variables.
    pub vars: Option<Vars>,
    /// Functions.
    pub funcs: Option<Funcs>,
    /// `$1`…
    pub positional: Option<Vec<Vec<u8>>>,
    /// `$0`.
    pub arg0: Option<Vec<u8>>,
    /// The script error prefix.
    pub script: Option<Option<(Vec<u8>, usize)>>,
    /// Lines the shell had read.
    pub lines_read: Option<u64>,
}

/// Functions by name.
pub type Funcs = BTreeMap<String, Arc<Command>>;

/// Variables and the values they had before being shadowed (by `local` or a
/// prefix assignment), to put back; `None` when they were unset.
pub type Shadowed = Vec<(String, Option<(Vec<u8>, bool)>)>;

/// Variables one shell holds at most (names made read-only too).
pub const MAX_VARS: usize = 4096;

/// Slices of work one computation that cannot yield (a pattern match) may take.
const MAX_SLICES_PER_COMPUTATION: u64 = 16;

/// Lines `history` keeps (ash's default).
pub const MAX_HISTORY: usize = 255;

/// Resolves once after returning `Pending` once: a suspension point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

impl Sh {
    pub(super) fn chan(&self) -> std::sync::MutexGuard<'_, Chan> {
        self.chan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session's current time.
    pub fn now(&self) -> Now {
        self.chan().now
    }

    /// Wall-clock seconds, for file times.
    pub fn now_secs(&self) -> u64 {
        self.now()
            .wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Waits for `wait`; returns the fetch result if it was a fetch.
    pub async fn block(&self, wait: Wait) -> Option<FetchResult> {
        {
            let mut c = self.chan();
            c.wait = Some(wait);
            c.response = None;
        }
        loop {
            YieldOnce(false).await;
            let mut c = self.chan();
            if let Some(r) = c.response.take() {
                c.wait = None;
                return if c.interrupted { None } else { r };
            }
        }
    }

    /// Records an event.
    pub fn event(&self, e: ShellEvent) {
        self.chan().events.push(e);
    }

    /// Counts one step (a command, a loop round) and passes a checkpoint.
    pub async fn step(&mut self) -> Result<(), Flow> {
        self.steps += 1;
        self.meter.work(super::budget::STEP_WORK);
        self.checkpoint().await
    }

    /// Where a long line may be cut: `^C` ends it, the memory budget (measured again
    /// when due) ends the shell, a spent work or step budget stalls it, and a spent
    /// slice of work yields to the edge.
    pub async fn checkpoint(&mut self) -> Result<(), Flow> {
        self.interrupted_or_failed()?;
        if self.meter.unmeasured >= super::budget::MEASURE_EVERY {
            let held = self.measure();
            self.meter.measured(held);
        }
        if self.meter.exhausted || self.meter.used() > self.config.budgets.memory_bytes {
            return Err(Flow::Fatal(Fatal::OutOfMemory));
        }
        if self.steps > self.config.step_budget {
            return self.stall("steps").await;
        }
        if self.meter.line_work > self.config.budgets.line_work {
            return self.stall("work").await;
        }
        if self.meter.slice_work >= self.config.budgets.slice_work {
            self.meter.slice_work = 0;
            self.block(Wait::Yield).await;
            self.interrupted_or_failed()?;
        }
        Ok(())
    }

    /// Shows the session what the shell holds and has done (the edge enforces the
    /// sensor-wide memory cap with it).
    pub fn publish_meter(&self) {
        let mut c = self.chan();
        c.memory_used = self.meter.used();
        c.line_work = self.meter.line_work;
    }

    /// `^C` came, or the edge chose this shell to fail for the sensor's memory.
    fn interrupted_or_failed(&self) -> Result<(), Flow> {
        self.publish_meter();
        let c = self.chan();
        if c.memory_failed {
            return Err(Flow::Fatal(Fatal::OutOfMemory));
        }
        if c.interrupted {
            return Err(Flow::Abort);
        }
        Ok(())
    }

    /// The line used up a budget: it looks like a command still running and does
    /// nothing more until `^C` (or the edge fails it for memory). Never `Ok`.
    pub async fn stall(&mut self, budget: &'static str) -> Result<(), Flow> {
        self.publish_meter();
        self.event(ShellEvent::Budget(budget));
        loop {
            self.block(Wait::Stalled).await;
            self.interrupted_or_failed()?;
        }
    }

    /// Reserves `bytes` for a value about to be made (released when the command
    /// that made it ends); the shell dies if that passes its memory budget.
    pub fn reserve(&mut self, bytes: usize) -> Result<(), Flow> {
        if self.meter.reserve(bytes, self.config.budgets.memory_bytes) {
            Ok(())
        } else {
            Err(Flow::Fatal(Fatal::OutOfMemory))
        }
    }

    /// Runs `body` as a child shell would: what it saved of its parent comes back
    /// when it ends, and what it reserved is released.
    pub fn save(&mut self, saved: Saved) {
        use super::budget::HeapSize;
        // A copy is work like any other (and the walk must see it soon).
        let copied = saved.positional.heap_size() + saved.cwd.heap_size();
        self.meter.work(copied as u64);
        self.saved.push(saved);
    }

    /// Ends what [`Sh::save`] began: the parent's state comes back.
    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.pop() {
            self.put_back(saved);
        }
        // What the child held is gone: measure again at the next checkpoint.
        self.meter.unmeasured = super::budget::MEASURE_EVERY;
    }

    /// Work a single non-yielding computation (a pattern match) may still take: the
    /// rest of the line's budget, and never more than a few slices, so that one call
    /// into the session stays short.
    pub fn fuel(&self) -> u64 {
        let budgets = &self.config.budgets;
        budgets.line_work.saturating_sub(self.meter.line_work).min(
            budgets
                .slice_work
                .saturating_mul(MAX_SLICES_PER_COMPUTATION),
        )
    }

    /// Counts the work a computation given `given` of [`Sh::fuel`] did (`left` is
    /// what it did not use).
    pub fn burn(&mut self, given: u64, left: u64) {
        self.meter.work(given.saturating_sub(left));
    }

    /// `glob::matches` within the line's budget: the line stalls if the match would
    /// take more.
    pub async fn glob_matches(&mut self, pattern: &[u8], subject: &[u8]) -> Result<bool, Flow> {
        let given = self.fuel();
        let mut fuel = given;
        let r = super::glob::matches_within(pattern, subject, &mut fuel);
        self.burn(given, fuel);
        match r {
            Some(m) => Ok(m),
            None => self.stall("work").await.map(|()| false),
        }
    }

    /// Puts saved state back in place.
    pub fn put_back(&mut self, saved: Saved) {
        if let Some(v) = saved.cwd {
            self.cwd = v;
        }
        if let Some(v) = saved.vars {
            self.vars = v;
        }
        if let Some(v) = saved.funcs {
            self.funcs = v;
        }
        if let Some(v) = saved.positional {
            self.positional = v;
        }
        if let Some(v) = saved.arg0 {
            self.arg0 = v;
        }
        if let Some(v) = saved.script {
            self.script = v;
        }
        if let Some(v) = saved.lines_read {
            self.lines_read = v;
        }
    }

    /// What a child process's end means to its parent. A crash or an out-of-memory
    /// death becomes its status, reported as ash reports them (the child's own
    /// `sh: out of memory`, the parent's `Segmentation fault`); `exit` and expansion
    /// errors end only the child. When the edge failed the whole session for memory,
    /// the death goes on up.
    pub async fn child_status(&mut self, r: Run, stderr: &Sink) -> Run {
        match r {
            Ok(s) | Err(Flow::Exit(s) | Flow::Error(s)) => Ok(s),
            Err(Flow::Fatal(fatal)) if !self.chan().memory_failed => {
                if fatal == Fatal::OutOfMemory {
                    self.event(ShellEvent::Budget("memory"));
                }
                Ok(self.report_death(fatal, stderr).await)
            }
            Err(f) => Err(f),
        }
    }

    /// What the login shell's death shows on the terminal: BusyBox's
    /// `sh: out of memory` (a crash prints nothing; the connection just closes).
    pub async fn report_death_of_login_shell(&mut self, fatal: Fatal) {
        if fatal == Fatal::OutOfMemory {
            self.write(&Sink::Tty, b"sh: out of memory\n").await;
        }
    }

    /// Prints what a dying shell (or its parent) prints; returns the exit status.
    pub async fn report_death(&mut self, fatal: Fatal, stderr: &Sink) -> i32 {
        match fatal {
            Fatal::OutOfMemory => {
                self.write(stderr, b"sh: out of memory\n").await;
                1
            }
            Fatal::Segfault => {
                self.write(stderr, b"Segmentation fault\n").await;
                139
            }
        }
    }

    /// Writes to a sink, waiting for the client if the terminal backs up.
    pub async fn write(&mut self, sink: &Sink, bytes: &[u8]) {
        // Whatever made these bytes, and wherever they go, they were work.
        self.meter.work(bytes.len() as u64);
        match sink {
            Sink::Null => {}
            Sink::Tty | Sink::Stderr => {
                let backed_up = {
                    let mut c = self.chan();
                    if matches!(sink, Sink::Stderr) && c.separate_stderr {
                        if !c.output.is_empty() {
                            let out = std::mem::take(&mut c.output);
                            c.pieces.push(TtyOutput::Bytes(out));
                        }
                        match c.pieces.last_mut() {
                            Some(TtyOutput::Stderr(e)) => e.extend_from_slice(bytes),
                            _ => c.pieces.push(TtyOutput::Stderr(bytes.to_vec())),
                        }
                    } else {
                        c.output.extend_from_slice(bytes);
                    }
                    c.pending() > STREAM_HIGH_WATER
                };
                if backed_up {
                    self.block(Wait::Drain).await;
                }
            }
            Sink::File(path) => {
                let now = self.now_secs();
                let path = path.clone();
                let cap = match self.vfs.write(b"/", &path, bytes, true, now) {
                    Err(Errno::NoSpace) => Some(ShellEvent::FsFull),
                    Err(Errno::TooBig) => Some(ShellEvent::FileTooBig),
                    _ => None,
                };
                if let Some(event) = cap {
                    if !self.fs_full_reported {
                        self.fs_full_reported = true;
                        self.event(event);
                    }
                }
            }
            Sink::Capture(buf) => {
                let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                let room = MAX_CAPTURE.saturating_sub(b.len());
                let take = bytes.get(..room.min(bytes.len())).unwrap_or_default();
                let needed = b.len() + take.len();
                if needed > b.capacity() {
                    // Grown as a Vec grows, and charged for it: a pipe holds what it
                    // was given until its reader takes it.
                    let grown = needed.max(b.capacity().saturating_mul(2)).min(MAX_CAPTURE);
                    if !self
                        .meter
                        .reserve(grown - b.capacity(), self.config.budgets.memory_bytes)
                    {
                        // Over budget: the writer dies at its next checkpoint.
                        return;
                    }
                    let more = grown - b.len();
                    b.reserve_exact(more);
                }
                b.extend_from_slice(take);
            }
        }
    }

    /// Writes a whole stored file: to the terminal by reference when it is long (no
    /// copy: the door encodes the device's BusyBox once for all sessions), elsewhere
    /// in chunks, as a pipe carries it.
    pub async fn write_shared(&mut self, sink: &Sink, data: Arc<Vec<u8>>) {
        if matches!(sink, Sink::Tty) && data.len() >= SHARED_OUTPUT_MIN {
            self.meter.work(data.len() as u64);
            let backed_up = {
                let mut c = self.chan();
                if !c.output.is_empty() {
                    let own = std::mem::take(&mut c.output);
                    c.pieces.push(TtyOutput::Bytes(own));
                }
                c.pieces.push(TtyOutput::Shared(data));
                c.pending() > STREAM_HIGH_WATER
            };
            if backed_up {
                self.block(Wait::Drain).await;
            }
            return;
        }
        const CHUNK: usize = 16 * 1024;
        for chunk in data.chunks(CHUNK) {
            self.write(sink, chunk).await;
        }
    }

    /// An error of `exec CMD` (`CMD: not found`): ash's `exec` drops the interactive
    /// flag first, so even an interactive shell then says on which line it was.
    pub async fn exec_error(&mut self, io: &Io, msg: &[u8]) {
        let mut full = b"exec: ".to_vec();
        full.extend_from_slice(msg);
        let line = if self.script.is_none() && self.flags != b"c" {
            let mut out = self.arg0.clone();
            out.extend_from_slice(format!(": exec: line {}: ", self.lines_read).as_bytes());
            out.extend_from_slice(msg);
            out.push(b'\n');
            out
        } else {
            self.error_line(&full)
        };
        self.write(&io.stderr, &line).await;
    }

    /// Writes `<prefix>: <msg>\n` to stderr the way ash reports its own errors.
    pub async fn shell_error(&mut self, io: &Io, msg: &[u8]) {
        let line = self.error_line(msg);
        self.write(&io.stderr, &line).await;
    }

    /// ash's `ash_vmsg`: `arg0: `, then for an error raised inside a builtin its
    /// name (when it is not `arg0`) and, unless the shell is interactive, `line N: `;
    /// a script's own errors (not found, syntax) get `line N: ` too. `msg` names the
    /// builtin first (`cd: can't cd to …`) when it comes from one.
    fn error_line(&self, msg: &[u8]) -> Vec<u8> {
        let builtin = msg
            .iter()
            .position(|&b| b == b':')
            .filter(|&at| msg.get(at + 1) == Some(&b' '))
            .and_then(|at| {
                let name = msg.get(..at)?;
                super::builtins::BUILTINS
                    .iter()
                    .any(|b| b.as_bytes() == name)
                    .then_some(at)
            });
        let (command, rest) = match builtin {
            Some(at) => (msg.get(..at), msg.get(at + 2..).unwrap_or_default()),
            None => (None, msg),
        };
        let mut out = Vec::new();
        match &self.script {
            Some((name, line)) => {
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                if let Some(c) = command {
                    out.extend_from_slice(c);
                    out.extend_from_slice(b": ");
                }
                out.extend_from_slice(format!("line {line}: ").as_bytes());
            }
            // `sh -c`: not interactive; lines count from 0 (only the first is told
            // apart here).
            None if self.flags == b"c" && command.is_some() => {
                out.extend_from_slice(&self.arg0);
                out.extend_from_slice(b": ");
                out.extend_from_slice(command.unwrap_or_default());
                out.extend_from_slice(b": line 0: ");
            }
            None => {
                out.extend_from_slice(&self.arg0);
                out.extend_from_slice(b": ");
                if let Some(c) = command {
                    out.extend_from_slice(c);
                    out.extend_from_slice(b": ");
                }
            }
        }
        out.extend_from_slice(rest);
        out.push(b'\n');
        out
    }

    /// A variable's value.
    pub fn var(&self, name: &str) -> Option<Vec<u8>> {
        self.vars.get(name).map(|(v, _)| v.clone())
    }

    /// Sets a variable.
    pub fn set_var(&mut self, name: &str, value: Vec<u8>) {
        let exported = self.vars.get(name).is_some_and(|(_, e)| *e);
        self.insert_var(name.to_string(), value, exported);
    }

    /// Sets a variable, unless it would be a new one past [`MAX_VARS`] (a session
    /// cannot grow its table without bound; existing names still change).
    pub fn insert_var(&mut self, name: String, value: Vec<u8>, exported: bool) {
        if self.vars.len() >= MAX_VARS && !self.vars.contains_key(&name) {
            return;
        }
        // Held memory follows the change at once (the walk would see it only later).
        let added = value.capacity() + name.capacity();
        let shared = Arc::strong_count(&self.vars) > 1;
        let vars = Arc::make_mut(&mut self.vars);
        if shared {
            // The map was copied for this change: the walk must count the copy.
            self.meter.unmeasured = super::budget::MEASURE_EVERY;
        }
        let removed = vars
            .insert(name, (value, exported))
            .map_or(0, |(old, _)| old.capacity());
        self.meter.held = (self.meter.held + added).saturating_sub(removed);
    }

    /// Runs a list.
    pub fn run_list<'a>(&'a mut self, list: &'a List, io: &'a Io) -> BoxFut<'a, Run> {
        Box::pin(async move {
            let mut status = 0;
            for (and_or, background) in &list.0 {
                if *background {
                    // Background jobs run at once here; ash prints nothing for them in
                    // a non-interactive context, and bots do not wait on them.
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    let r = self.run_and_or(and_or, io).await;
                    self.set_var("!", pid.to_string().into_bytes());
                    match r {
                        Err(f @ (Flow::Exit(_) | Flow::Abort)) => return Err(f),
                        // A background job is a child process: its death is its own.
                        Err(Flow::Fatal(_)) => {
                            self.child_status(r, &io.stderr).await?;
                        }
                        _ => {}
                    }
                    status = 0;
                } else {
                    status = self.run_and_or(and_or, io).await?;
                }
                self.status = status;
            }
            Ok(status)
        })
    }

    /// Resolves a path against the working directory (lexically).
    pub fn abs(&self, path: &[u8]) -> Vec<u8> {
        absolute(&self.cwd, path)
    }
}
