//! BusyBox's applets: the programs on the device, each a function over the shell's
//! boundary ([`crate::shell::exec::Sh`]'s methods), found by name in one table.
//!
//! Their texts are BusyBox 1.35's (usage texts come from the real binary,
//! `profiles/usage/busybox-1.35.txt`); every applet parses its options with one
//! parser ([`args`]) and reports errors with one writer ([`err`]). By theme:
//! [`files`], [`text`], [`net`], [`procs`], [`system`], [`ls`], [`test`] (and [`ps`],
//! the process table `ps`, `top` and `/proc` share).

pub mod bytes;
pub mod files;
pub mod ls;
pub mod net;
pub mod procs;
pub mod ps;
pub mod scp;
pub mod system;
pub mod test;
pub mod text;

use std::sync::Arc;

use crate::shell::exec::{BoxFut, Call, Io, Programs, Run, Sh, ShellConfig, MAX_READ};

/// An applet: a function of the shell and one call.
pub type Applet = for<'a> fn(&'a mut Sh, Call<'a>) -> BoxFut<'a, Run>;

/// Makes an [`Applet`] of a body that has `sh` and the call `c`.
macro_rules! applet {
    (|$sh:ident, $c:ident| $body:expr) => {{
        #[allow(unused_variables)]
        fn applet<'a>($sh: &'a mut Sh, $c: Call<'a>) -> BoxFut<'a, Run> {
            Box::pin(async move { $body })
        }
        applet as Applet
    }};
}

/// Every applet emulated, sorted by name (a profile's applet that is not here
/// succeeds silently).
const TABLE: &[(&str, Applet)] = &[
    (
        "[",
        applet!(|sh, c| Ok(test::run(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "[[",
        applet!(|sh, c| Ok(test::run(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "ash",
        applet!(|sh, c| crate::shell::sh_applet(sh, c.argv, c.io).await),
    ),
    (
        "awk",
        applet!(|sh, c| Ok(text::awk(sh, c.argv, c.io).await)),
    ),
    (
        "base64",
        applet!(|sh, c| Ok(bytes::base64(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "basename",
        applet!(|sh, c| Ok(text::basename(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "busybox",
        applet!(|sh, c| system::busybox(sh, c.argv, c.io).await),
    ),
    (
        "cat",
        applet!(|sh, c| Ok(files::cat(sh, c.argv, c.io).await)),
    ),
    (
        "chmod",
        applet!(|sh, c| Ok(files::chmod(sh, c.argv, c.io).await)),
    ),
    ("cp", applet!(|sh, c| Ok(files::cp(sh, c.argv, c.io).await))),
    (
        "crontab",
        applet!(|sh, c| Ok(system::crontab(sh, c.argv, c.io).await)),
    ),
    (
        "cut",
        applet!(|sh, c| Ok(text::cut(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "date",
        applet!(|sh, c| Ok(system::date(sh, c.argv, c.io).await)),
    ),
    ("dd", applet!(|sh, c| Ok(files::dd(sh, c.argv, c.io).await))),
    (
        "df",
        applet!(|sh, c| Ok(system::df(sh, c.argv, c.io).await)),
    ),
    (
        "dirname",
        applet!(|sh, c| Ok(text::dirname(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "dmesg",
        applet!(|sh, c| Ok(system::dmesg(sh, c.argv, c.io).await)),
    ),
    (
        "echo",
        applet!(|sh, c| Ok(text::echo(sh, c.argv, c.io).await)),
    ),
    (
        "egrep",
        applet!(|sh, c| Ok(text::grep(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "env",
        applet!(|sh, c| Ok(system::env(sh, c.argv, c.io).await)),
    ),
    ("false", applet!(|sh, c| Ok(1))),
    (
        "fgrep",
        applet!(|sh, c| Ok(text::grep(sh, c.name, c.argv, c.io).await)),
    ),
    ("find", applet!(|sh, c| files::find(sh, c.argv, c.io).await)),
    (
        "free",
        applet!(|sh, c| Ok(system::free(sh, c.argv, c.io).await)),
    ),
    (
        "ftpget",
        applet!(|sh, c| Ok(net::ftpget(sh, c.argv, c.io).await)),
    ),
    (
        "grep",
        applet!(|sh, c| Ok(text::grep(sh, c.name, c.argv, c.io).await)),
    ),
    ("halt", applet!(|sh, c| Ok(0))),
    (
        "head",
        applet!(|sh, c| Ok(files::head(sh, c.argv, c.io).await)),
    ),
    (
        "hexdump",
        applet!(|sh, c| Ok(bytes::hexdump(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "hostname",
        applet!(|sh, c| Ok(system::hostname(sh, c.argv, c.io).await)),
    ),
    (
        "id",
        applet!(|sh, c| Ok(system::id(sh, c.argv, c.io).await)),
    ),
    (
        "ifconfig",
        applet!(|sh, c| Ok(net::ifconfig(sh, c.argv, c.io).await)),
    ),
    ("ip", applet!(|sh, c| Ok(net::ip(sh, c.argv, c.io).await))),
    (
        "kill",
        applet!(|sh, c| {
            let who = if c.builtin { "sh" } else { "kill" };
            Ok(procs::kill(sh, c.argv, c.io, who).await)
        }),
    ),
    (
        "killall",
        applet!(|sh, c| Ok(procs::killall(sh, c.argv, c.io).await)),
    ),
    ("ln", applet!(|sh, c| Ok(files::ln(sh, c.argv, c.io).await))),
    ("ls", applet!(|sh, c| Ok(ls::ls(sh, c.argv, c.io).await))),
    (
        "lsmod",
        applet!(|sh, c| Ok(system::lsmod(sh, c.argv, c.io).await)),
    ),
    (
        "md5sum",
        applet!(|sh, c| Ok(bytes::md5sum(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "mkdir",
        applet!(|sh, c| Ok(files::mkdir(sh, c.argv, c.io).await)),
    ),
    (
        "mount",
        applet!(|sh, c| Ok(system::mount(sh, c.argv, c.io).await)),
    ),
    ("mv", applet!(|sh, c| Ok(files::mv(sh, c.argv, c.io).await))),
    ("nc", applet!(|sh, c| Ok(net::nc(sh, c.argv, c.io).await))),
    (
        "netstat",
        applet!(|sh, c| Ok(net::netstat(sh, c.argv, c.io).await)),
    ),
    (
        "nproc",
        applet!(|sh, c| Ok(system::nproc(sh, c.argv, c.io).await)),
    ),
    (
        "od",
        applet!(|sh, c| Ok(bytes::od(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "passwd",
        applet!(|sh, c| Ok(system::passwd(sh, c.argv, c.io).await)),
    ),
    (
        "pidof",
        applet!(|sh, c| Ok(procs::pidof(sh, c.argv, c.io).await)),
    ),
    (
        "pkill",
        applet!(|sh, c| Ok(procs::pkill(sh, c.argv, c.io).await)),
    ),
    ("poweroff", applet!(|sh, c| Ok(0))),
    (
        "printenv",
        applet!(|sh, c| Ok(system::env(sh, c.argv, c.io).await)),
    ),
    (
        "printf",
        applet!(|sh, c| {
            let who = if c.builtin { "sh" } else { "printf" };
            Ok(text::printf(sh, c.argv, c.io, who).await)
        }),
    ),
    ("ps", applet!(|sh, c| Ok(procs::ps(sh, c.io).await))),
    ("reboot", applet!(|sh, c| Ok(0))),
    ("rm", applet!(|sh, c| Ok(files::rm(sh, c.argv, c.io).await))),
    (
        "rmdir",
        applet!(|sh, c| Ok(files::rmdir(sh, c.argv, c.io).await)),
    ),
    (
        "route",
        applet!(|sh, c| Ok(net::route(sh, c.argv, c.io).await)),
    ),
    (
        "sed",
        applet!(|sh, c| Ok(text::sed(sh, c.argv, c.io).await)),
    ),
    (
        "seq",
        applet!(|sh, c| Ok(text::seq(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "sh",
        applet!(|sh, c| crate::shell::sh_applet(sh, c.argv, c.io).await),
    ),
    (
        "sha1sum",
        applet!(|sh, c| Ok(bytes::md5sum(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "sha256sum",
        applet!(|sh, c| Ok(bytes::md5sum(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "sleep",
        applet!(|sh, c| Ok(procs::sleep(sh, c.argv, c.io).await)),
    ),
    (
        "sort",
        applet!(|sh, c| Ok(text::sort(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "tail",
        applet!(|sh, c| Ok(files::tail(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "test",
        applet!(|sh, c| Ok(test::run(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "tftp",
        applet!(|sh, c| Ok(net::tftp(sh, c.argv, c.io).await)),
    ),
    (
        "top",
        applet!(|sh, c| Ok(procs::top(sh, c.argv, c.io).await)),
    ),
    (
        "touch",
        applet!(|sh, c| Ok(files::touch(sh, c.argv, c.io).await)),
    ),
    ("tr", applet!(|sh, c| Ok(text::tr(sh, c.argv, c.io).await))),
    ("true", applet!(|sh, c| Ok(0))),
    (
        "uname",
        applet!(|sh, c| Ok(system::uname(sh, c.argv, c.io).await)),
    ),
    (
        "uniq",
        applet!(|sh, c| Ok(text::uniq(sh, c.name, c.argv, c.io).await)),
    ),
    (
        "uptime",
        applet!(|sh, c| Ok(system::uptime(sh, c.argv, c.io).await)),
    ),
    ("wc", applet!(|sh, c| Ok(files::wc(sh, c.argv, c.io).await))),
    (
        "wget",
        applet!(|sh, c| Ok(net::wget(sh, c.argv, c.io).await)),
    ),
    (
        "which",
        applet!(|sh, c| Ok(system::which(sh, c.argv, c.io).await)),
    ),
    (
        "whoami",
        applet!(|sh, c| Ok(system::whoami(sh, c.argv, c.io).await)),
    ),
    (
        "xargs",
        applet!(|sh, c| procs::xargs(sh, c.argv, c.io).await),
    ),
    (
        "xxd",
        applet!(|sh, c| Ok(bytes::xxd(sh, c.argv, c.io).await)),
    ),
];

/// The applet called `name`, if it is emulated.
pub fn lookup(name: &str) -> Option<Applet> {
    TABLE
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .and_then(|i| TABLE.get(i))
        .map(|(_, f)| *f)
}

/// BusyBox's applets, as the device's programs.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusyBox;

impl Programs for BusyBox {
    /// Runs an applet the profile has: `--help` prints its usage (not for ash's
    /// builtins); one not emulated succeeds silently.
    fn run<'a>(&self, sh: &'a mut Sh, call: Call<'a>) -> BoxFut<'a, Run> {
        run(sh, call)
    }
}

/// A shell runs BusyBox's applets unless given others.
impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig::with_programs(Arc::new(BusyBox))
    }
}

fn run<'a>(sh: &'a mut Sh, call: Call<'a>) -> BoxFut<'a, Run> {
    let Call {
        name,
        argv,
        io,
        builtin,
    } = call;
    Box::pin(async move {
        if name == scp::NAME {
            // Not BusyBox's: Dropbear's (the shell asks only where the profile has it).
            return Ok(scp::scp(sh, argv, io).await);
        }
        let help = argv.get(1).is_some_and(|a| a.as_slice() == b"--help");
        if help && !builtin && name != "busybox" {
            let mut out = format!(
                "BusyBox {} multi-call binary.\n\n",
                sh.device().profile.busybox_version
            )
            .into_bytes();
            out.extend_from_slice(usage_text(name).unwrap_or("").as_bytes());
            sh.write(&io.stdout, &out).await;
            return Ok(0);
        }
        match lookup(name) {
            Some(applet) => applet(sh, call).await,
            None => Ok(0),
        }
    })
}

/// Usage texts of BusyBox 1.35, `@@@ applet` headers.
const USAGE: &str = include_str!("../../../../profiles/usage/busybox-1.35.txt");

/// The usage text of an applet (from "Usage:" on).
pub fn usage_text(applet: &str) -> Option<&'static str> {
    let header = format!("@@@ {applet}\n");
    let start = USAGE.find(&header)? + header.len();
    let rest = USAGE.get(start..)?;
    let end = rest.find("\n@@@ ").map_or(rest.len(), |i| i + 1);
    rest.get(..end)
}

/// Prints `BusyBox … multi-call binary.` and the usage to stderr; returns 1.
pub async fn usage(sh: &mut Sh, applet: &str, io: &Io) -> i32 {
    let mut out = format!(
        "BusyBox {} multi-call binary.\n\n",
        sh.device().profile.busybox_version
    )
    .into_bytes();
    out.extend_from_slice(usage_text(applet).unwrap_or("").as_bytes());
    sh.write(&io.stderr, &out).await;
    1
}

/// The one error writer: `applet: msg` on stderr, as BusyBox's `bb_error_msg`.
async fn err(sh: &mut Sh, io: &Io, applet: &str, msg: &[u8]) {
    let mut line = applet.as_bytes().to_vec();
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    sh.write(&io.stderr, &line).await;
}

/// `applet: <doing>'path': <why>` (`bb_perror_msg` with a quoted name); status 1.
async fn fail_quoted(
    sh: &mut Sh,
    io: &Io,
    applet: &str,
    doing: &str,
    path: &[u8],
    why: impl std::fmt::Display,
) -> i32 {
    let mut m = format!("{doing}'").into_bytes();
    m.extend_from_slice(path);
    m.extend_from_slice(format!("': {why}").as_bytes());
    err(sh, io, applet, &m).await;
    1
}

/// `applet: path: <why>`; status 1.
async fn fail_plain(
    sh: &mut Sh,
    io: &Io,
    applet: &str,
    path: &[u8],
    why: impl std::fmt::Display,
) -> i32 {
    let mut m = path.to_vec();
    m.extend_from_slice(format!(": {why}").as_bytes());
    err(sh, io, applet, &m).await;
    1
}

/// The flags (`-abc`) and operands of an applet without option values (see [`args`]).
fn options(argv: &[Vec<u8>]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (opts, operands) = getopt(argv, b"", true);
    (opts.into_iter().map(|(f, _)| f).collect(), operands)
}

/// Options seen: the flag and its value (empty for flags without one).
pub(super) type Opts = Vec<(u8, Vec<u8>)>;

/// The one option parser, as BusyBox's getopt32 splits argv: options and operands in
/// any order, `-abc` is three flags, a flag in `with_value` takes the rest of its word
/// or the next word, `--` ends the options, `-` alone is an operand.
pub(super) fn args(argv: &[Vec<u8>], with_value: &[u8]) -> (Opts, Vec<Vec<u8>>) {
    getopt(argv, with_value, false)
}

/// [`args`]; with `numeric_flags`, `-5` is a flag too (otherwise a negative number,
/// an operand).
fn getopt(argv: &[Vec<u8>], with_value: &[u8], numeric_flags: bool) -> (Opts, Vec<Vec<u8>>) {
    let mut opts = Vec::new();
    let mut ops = Vec::new();
    let mut i = 1;
    let mut done = false;
    while let Some(a) = argv.get(i) {
        i += 1;
        if !done && a.as_slice() == b"--" {
            done = true;
        } else if !done
            && a.len() > 1
            && a.first() == Some(&b'-')
            && (numeric_flags || !a.get(1).is_some_and(u8::is_ascii_digit))
        {
            let mut j = 1;
            while let Some(&f) = a.get(j) {
                j += 1;
                if with_value.contains(&f) {
                    let v = if j < a.len() {
                        a.get(j..).unwrap_or_default().to_vec()
                    } else {
                        i += 1;
                        argv.get(i - 1).cloned().unwrap_or_default()
                    };
                    opts.push((f, v));
                    break;
                }
                opts.push((f, Vec::new()));
            }
        } else {
            ops.push(a.clone());
        }
    }
    (opts, ops)
}

fn has(opts: &[(u8, Vec<u8>)], f: u8) -> bool {
    opts.iter().any(|(k, _)| *k == f)
}

fn value(opts: &[(u8, Vec<u8>)], f: u8) -> Option<Vec<u8>> {
    opts.iter()
        .rev()
        .find(|(k, _)| *k == f)
        .map(|(_, v)| v.clone())
}

/// Lines of the input: the named files (or stdin), with an error for each missing one;
/// at most [`MAX_READ`] bytes in all (the rest is not read), counted as work.
async fn inputs(sh: &mut Sh, applet: &str, files: &[Vec<u8>], io: &Io) -> (Vec<u8>, i32) {
    let max = usize::try_from(MAX_READ).unwrap_or(usize::MAX);
    if files.is_empty() {
        let data = sh.stdin_bytes(io).await;
        sh.work(data.len() as u64);
        return (data, 0);
    }
    let mut data = Vec::new();
    let mut status = 0;
    let cwd = sh.cwd().to_vec();
    for f in files {
        let room = max.saturating_sub(data.len());
        if f.as_slice() == b"-" {
            let stdin = sh.stdin_all(io).await;
            data.extend_from_slice(stdin.get(..room.min(stdin.len())).unwrap_or_default());
            continue;
        }
        match sh.read_file(&cwd, f) {
            Ok(d) => data.extend_from_slice(d.get(..room.min(d.len())).unwrap_or_default()),
            Err(e) => {
                let mut m = applet.as_bytes().to_vec();
                m.extend_from_slice(b": ");
                m.extend_from_slice(f);
                m.extend_from_slice(format!(": {e}\n").as_bytes());
                sh.write(&io.stderr, &m).await;
                status = if applet == "grep" { 2 } else { 1 };
            }
        }
    }
    sh.work(data.len() as u64);
    (data, status)
}

fn lines(data: &[u8]) -> Vec<&[u8]> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n').collect()
}

/// The regular expressions bots use with grep: `^`, `$`, `.`, `.*`, literal text.
/// Writes a whole error line to stderr.
/// `applet: invalid option -- 'X'` and the usage text, status 1.
async fn invalid_option(sh: &mut Sh, io: &Io, applet: &str, option: u8) -> i32 {
    let msg = format!("invalid option -- '{}'", char::from(option));
    err(sh, io, applet, msg.as_bytes()).await;
    usage(sh, applet, io).await
}

/// Options of the `-abc -n VALUE -nVALUE` kind: the flags seen, values by flag, the
/// operands, or the first unknown option.
struct Parsed {
    flags: Vec<u8>,
    values: Vec<(u8, Vec<u8>)>,
    operands: Vec<Vec<u8>>,
}

impl Parsed {
    fn value(&self, flag: u8) -> Option<&[u8]> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.as_slice())
    }

    fn number(&self, flag: u8) -> Option<u64> {
        let v = std::str::from_utf8(self.value(flag)?).ok()?;
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    }
}

fn parse_options(argv: &[Vec<u8>], flags: &[u8], with_value: &[u8]) -> Result<Parsed, u8> {
    let (opts, operands) = args(argv, with_value);
    if let Some((unknown, _)) = opts
        .iter()
        .find(|(f, _)| !flags.contains(f) && !with_value.contains(f))
    {
        return Err(*unknown);
    }
    let (values, plain): (Vec<_>, Vec<_>) =
        opts.into_iter().partition(|(f, _)| with_value.contains(f));
    Ok(Parsed {
        flags: plain.into_iter().map(|(f, _)| f).collect(),
        values,
        operands,
    })
}

/// The input of a one-file applet: FILE, or stdin; `Err` after the message.
async fn one_input(sh: &mut Sh, io: &Io, applet: &str, file: Option<&Vec<u8>>) -> Option<Vec<u8>> {
    match file {
        None => Some(sh.stdin_bytes(io).await),
        Some(f) if f.as_slice() == b"-" => Some(sh.stdin_bytes(io).await),
        Some(f) => {
            let cwd = sh.cwd().to_vec();
            match sh.read_file(&cwd, f) {
                Ok(d) => Some(d),
                Err(e) => {
                    let mut m = f.clone();
                    m.extend_from_slice(format!(": {e}").as_bytes());
                    err(sh, io, applet, &m).await;
                    None
                }
            }
        }
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_every_name_found() {
        assert!(
            TABLE.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (name, _) in TABLE {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert!(lookup("nosuch").is_none());
    }
}
