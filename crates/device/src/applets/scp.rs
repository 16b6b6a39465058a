//! Dropbear's `scp` (its `scp.c`, OpenSSH's rcp protocol) on a device whose
//! profile has it: the remote end an `scp` client starts with `scp -t TARGET` to
//! upload (the sink) or `scp -f FILE` to download (the source). Uploads arrive as
//! files in the session's file system and become samples, named as the client
//! named them. Run as a client (`scp FILE host:`) it would start `dbclient`;
//! nothing here ever connects anywhere, so that ends as a lost connection.
//!
//! Every record, answer and error text is Dropbear's: `\0` for yes, `\x01scp: …\n`
//! for an error the client shows, `protocol error: …` and exit 1 for a stream it
//! cannot follow. Directories nest at most [`MAX_DEPTH`] deep.

use std::collections::VecDeque;

use crate::shell::exec::{Io, Sh, ShellEvent};
use crate::shell::stdin::Input;
use crate::vfs::{base_name, Errno, Node, Origin};

/// The program's name, as the shell asks for it.
pub const NAME: &str = "scp";

/// Directories a `-r` upload may nest (each is a recursive `sink`).
const MAX_DEPTH: usize = 32;
/// A control record's buffer in `sink` (`char buf[2048]`).
const RECORD_MAX: usize = 2047;
/// Bytes `sink` reads at a time (`allocbuf(…, 4096)`).
const BLOCK: usize = 4096;

/// `exit(1)` somewhere down the protocol.
struct Exit;

/// The remote end of one `scp` run.
struct Scp<'a> {
    sh: &'a mut Sh,
    io: &'a Io,
    input: Input,
    ahead: VecDeque<u8>,
    /// `errs`: the exit status is 1 if any.
    errs: u32,
    recursive: bool,
    preserve: bool,
    target_is_dir: bool,
    /// The modification time a `T` record gave for the next file or directory.
    times: Option<u64>,
}

/// `scp [-dfprtT…] ARGS`.
pub async fn scp(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, operands) = super::args(argv, b"lciPSoF");
    let allowed = b"dfl:prtTvBCc:i:P:q1246S:o:F:";
    for (flag, _) in &opts {
        if *flag == b':' || !allowed.contains(flag) {
            let msg = format!("scp: invalid option -- '{}'\n", char::from(*flag));
            sh.write(&io.stderr, msg.as_bytes()).await;
            return usage(sh, io).await;
        }
    }
    let has = |f: u8| opts.iter().any(|(o, _)| *o == f);
    let mut run = Scp {
        sh,
        io,
        input: Input::new(io),
        ahead: VecDeque::new(),
        errs: 0,
        recursive: has(b'r'),
        preserve: has(b'p'),
        target_is_dir: has(b'd'),
        times: None,
    };
    if has(b'f') {
        // The client answers before the first file.
        if run.response().await.is_err() {
            return 1;
        }
        run.source(&operands).await;
        return i32::from(run.errs != 0);
    }
    if has(b't') {
        if operands.len() != 1 {
            run.run_err("ambiguous target").await;
            return 1;
        }
        let target = operands.into_iter().next().unwrap_or_default();
        return match run.sink(&target, 0).await {
            Ok(()) => i32::from(run.errs != 0),
            Err(Exit) => 1,
        };
    }
    if operands.len() < 2 {
        return usage(run.sh, io).await;
    }
    // A copy to or from another host would start dbclient: never here.
    run.sh.write(&io.stderr, b"lost connection\n").await;
    1
}

async fn usage(sh: &mut Sh, io: &Io) -> i32 {
    sh.write(
        &io.stderr,
        b"usage: scp [-1246BCpqrv] [-c cipher] [-F ssh_config] [-i identity_file]\n           [-l limit] [-P port] [-S program]\n           [[user@]host1:]file1 [...] [[user@]host2:]file2\n",
    )
    .await;
    1
}

impl Scp<'_> {
    /// One byte from the client; `None` at the end of input.
    async fn byte(&mut self) -> Option<u8> {
        if self.ahead.is_empty() {
            let bytes = self.input.read(self.sh, BLOCK).await?;
            self.ahead.extend(bytes);
        }
        self.ahead.pop_front()
    }

    /// Up to `max` bytes, as soon as there are some.
    async fn some(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.ahead.is_empty() {
            return self.input.read(self.sh, max).await;
        }
        let n = max.min(self.ahead.len());
        Some(self.ahead.drain(..n).collect())
    }

    async fn send(&mut self, bytes: &[u8]) {
        let out = self.io.stdout.clone();
        self.sh.write(&out, bytes).await;
    }

    /// `run_err`: `\x01scp: MESSAGE\n` to the client, counted.
    async fn run_err(&mut self, message: impl AsRef<[u8]>) {
        self.errs += 1;
        let mut m = b"\x01scp: ".to_vec();
        m.extend_from_slice(message.as_ref());
        m.push(b'\n');
        self.send(&m).await;
    }

    /// `SCREWUP`: a stream it cannot follow ends the run.
    async fn screwup(&mut self, why: &str) -> Exit {
        self.run_err(format!("protocol error: {why}")).await;
        Exit
    }

    /// `response`: the client's answer, `Err` when it is fatal or input ended.
    async fn response(&mut self) -> Result<bool, Exit> {
        let Some(first) = self.byte().await else {
            return Err(Exit);
        };
        if first == 0 {
            return Ok(true);
        }
        // An error text follows, up to its newline (the remote end shows none).
        loop {
            match self.byte().await {
                Some(b'\n') => break,
                Some(_) => {}
                None => return Err(Exit),
            }
        }
        self.errs += 1;
        if first == 2 {
            return Err(Exit);
        }
        Ok(false)
    }

    fn cwd(&self) -> Vec<u8> {
        self.sh.cwd().to_vec()
    }

    /// What is at `path`: `None` if nothing, else whether it is a directory.
    fn stat(&self, path: &[u8]) -> Option<bool> {
        let cwd = self.cwd();
        self.sh
            .vfs()
            .lookup(&cwd, path, true)
            .ok()
            .map(|(_, node)| node.is_dir())
    }

    async fn sink(&mut self, target: &[u8], depth: usize) -> Result<(), Exit> {
        if self.target_is_dir && self.stat(target) != Some(true) {
            let why = match self.stat(target) {
                Some(_) => Errno::NotDir,
                None => Errno::NoEnt,
            };
            self.run_err(problem(target, why)).await;
            return Err(Exit);
        }
        self.send(b"\0").await;
        let target_is_dir = self.stat(target) == Some(true);
        let mut first = true;
        loop {
            let at_start = std::mem::replace(&mut first, false);
            let Some(lead) = self.byte().await else {
                return Ok(());
            };
            if lead == b'\n' {
                return Err(self.screwup("unexpected <newline>").await);
            }
            let mut record = vec![lead];
            let mut ended = false;
            while record.len() < RECORD_MAX {
                let Some(b) = self.byte().await else {
                    return Err(self.screwup("lost connection").await);
                };
                record.push(b);
                if b == b'\n' {
                    ended = true;
                    break;
                }
            }
            match lead {
                1 | 2 => {
                    if lead == 2 {
                        return Err(Exit);
                    }
                    self.errs += 1;
                    continue;
                }
                b'E' => {
                    self.send(b"\0").await;
                    return Ok(());
                }
                _ => {}
            }
            if ended {
                record.pop();
            }
            if lead == b'T' {
                match parse_times(&record) {
                    Ok(mtime) => self.times = Some(mtime),
                    Err(why) => return Err(self.screwup(why).await),
                }
                self.send(b"\0").await;
                continue;
            }
            if lead != b'C' && lead != b'D' {
                if at_start {
                    self.run_err(&record).await;
                    return Err(Exit);
                }
                return Err(self.screwup("expected control record").await);
            }
            let (mode, size, name) = match parse_record(&record) {
                Ok(parsed) => parsed,
                Err(Bad::Protocol(why)) => return Err(self.screwup(why).await),
                Err(Bad::Name(name)) => {
                    let mut m = b"error: unexpected filename: ".to_vec();
                    m.extend_from_slice(&name);
                    self.run_err(m).await;
                    return Err(Exit);
                }
            };
            let path = if target_is_dir {
                let mut p = target.to_vec();
                if target != b"/" {
                    p.push(b'/');
                }
                p.extend_from_slice(&name);
                p
            } else {
                target.to_vec()
            };
            if lead == b'D' {
                if !self.recursive {
                    return Err(self.screwup("received directory without -r").await);
                }
                self.directory(&path, depth).await?;
                continue;
            }
            self.file(&path, &name, mode, size).await?;
        }
    }

    /// A `D` record: the directory, then its records down to `E`.
    async fn directory(&mut self, path: &[u8], depth: usize) -> Result<(), Exit> {
        match self.stat(path) {
            Some(true) => {}
            Some(false) => {
                self.run_err(problem(path, Errno::NotDir)).await;
                return Ok(());
            }
            None => {
                let (cwd, now) = (self.cwd(), self.sh.now_secs());
                if let Err(e) = self.sh.vfs_mut().mkdir(&cwd, path, now) {
                    self.run_err(problem(path, e)).await;
                    return Ok(());
                }
            }
        }
        if depth + 1 >= MAX_DEPTH {
            return Err(self.screwup("expected control record").await);
        }
        let times = self.times.take();
        Box::pin(self.sink(path, depth + 1)).await?;
        if let Some(mtime) = times {
            let cwd = self.cwd();
            let _ = self.sh.vfs_mut().set_mtime(&cwd, path, mtime);
        }
        Ok(())
    }

    /// A `C` record: the file's bytes, then the client's `\0`.
    async fn file(&mut self, path: &[u8], name: &[u8], mode: u32, size: u64) -> Result<(), Exit> {
        let (cwd, now) = (self.cwd(), self.sh.now_secs());
        let existed = self.stat(path).is_some();
        // Written from its start and cut to `size` (`ftruncate`): the same bytes as
        // creating it afresh.
        let opened = match self.stat(path) {
            Some(true) => Err(Errno::IsDir),
            _ => self.sh.vfs_mut().write(&cwd, path, b"", false, now),
        };
        let canonical = match opened {
            Ok(canonical) => canonical,
            Err(e) => {
                self.run_err(problem(path, e)).await;
                return Ok(());
            }
        };
        self.sh
            .vfs_mut()
            .set_origin(&canonical, Origin::Uploaded(busybait_events::lossy(name)));
        self.send(b"\0").await;
        let mut left = size;
        let mut failed: Option<Errno> = None;
        while left > 0 {
            let want = usize::try_from(left.min(BLOCK as u64)).unwrap_or(BLOCK);
            let Some(chunk) = self.some(want).await else {
                self.run_err("dropped connection").await;
                return Err(Exit);
            };
            left = left.saturating_sub(chunk.len() as u64);
            if failed.is_none() {
                // Past a failed write it keeps reading, to stay in step.
                let now = self.sh.now_secs();
                if let Err(e) = self.sh.vfs_mut().write(b"/", &canonical, &chunk, true, now) {
                    self.sh.event(match e {
                        Errno::TooBig => ShellEvent::FileTooBig,
                        _ => ShellEvent::FsFull,
                    });
                    failed = Some(e);
                }
            }
        }
        let umask = self.sh.umask();
        let set = if self.preserve {
            // `fchmod(omode)` when it existed or lacked u+w; else open's mode.
            if existed || mode & 0o200 == 0 {
                Some(mode)
            } else {
                Some(mode & !umask)
            }
        } else {
            (!existed).then_some(mode & !(umask | 0o7000))
        };
        if let Some(set) = set {
            let _ = self.sh.vfs_mut().chmod(b"/", &canonical, |_| set);
        }
        if let Some(mtime) = self.times.take().filter(|_| failed.is_none()) {
            let _ = self.sh.vfs_mut().set_mtime(b"/", &canonical, mtime);
        }
        // The upload is whole: it is a sample now.
        self.sh.vfs_mut().finish(&canonical);
        self.response().await?;
        match failed {
            Some(e) => self.run_err(problem(path, e)).await,
            None => self.send(b"\0").await,
        }
        Ok(())
    }

    /// `-f`: each named file as a `C` record and its bytes (a directory only with
    /// `-r`, which this device's scp answers as a file it cannot send).
    async fn source(&mut self, names: &[Vec<u8>]) {
        for name in names {
            let mut name = name.clone();
            while name.len() > 1 && name.ends_with(b"/") {
                name.pop();
            }
            if name.contains(&b'\n') {
                let mut m = name.clone();
                m.extend_from_slice(b": skipping, filename contains a newline");
                self.run_err(m).await;
                continue;
            }
            let cwd = self.cwd();
            let bytes = match self.sh.vfs().read(&cwd, &name) {
                Ok((_, Node::File(meta, _))) => match self.sh.read_file(&cwd, &name) {
                    Ok(bytes) => Ok((meta.mode & 0o7777, bytes)),
                    Err(e) => Err(problem(&name, e)),
                },
                Ok(_) | Err(Errno::IsDir) => {
                    let mut m = name.clone();
                    m.extend_from_slice(b": not a regular file");
                    Err(m)
                }
                Err(e) => Err(problem(&name, e)),
            };
            let (mode, bytes) = match bytes {
                Ok(found) => found,
                Err(m) => {
                    self.run_err(m).await;
                    continue;
                }
            };
            let mut record = format!("C{mode:04o} {} ", bytes.len()).into_bytes();
            record.extend_from_slice(base_name(&name));
            record.push(b'\n');
            self.send(&record).await;
            match self.response().await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(Exit) => return,
            }
            self.send(&bytes).await;
            self.send(b"\0").await;
            if self.response().await.is_err() {
                return;
            }
        }
    }
}

/// `PATH: strerror(errno)`.
fn problem(path: &[u8], e: Errno) -> Vec<u8> {
    let mut m = path.to_vec();
    m.extend_from_slice(format!(": {e}").as_bytes());
    m
}

/// A `T` record's modification time (`Tmtime 0 atime 0`), or what `sink` finds
/// wrong with it.
fn parse_times(record: &[u8]) -> Result<u64, &'static str> {
    let fields = [
        "mtime.sec not delimited",
        "mtime.usec not delimited",
        "atime.sec not delimited",
        "atime.usec not delimited",
    ];
    let mut rest = record.get(1..).unwrap_or_default();
    let mut mtime = 0u64;
    for (i, why) in fields.into_iter().enumerate() {
        // strtol: optional sign, digits (none is a zero).
        let sign = usize::from(rest.first().is_some_and(|b| matches!(b, b'+' | b'-')));
        let digits = rest
            .iter()
            .skip(sign)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = if digits == 0 { 0 } else { sign + digits };
        if i == 0 && rest.first() != Some(&b'-') {
            mtime = rest
                .get(sign..end)
                .unwrap_or_default()
                .iter()
                .fold(0u64, |n, &d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
        }
        rest = rest.get(end..).unwrap_or_default();
        let last = i == 3;
        match rest.first() {
            Some(b' ') if !last => rest = rest.get(1..).unwrap_or_default(),
            None if last => return Ok(mtime),
            _ => return Err(why),
        }
    }
    Ok(mtime)
}

/// Why a `C`/`D` record is refused.
enum Bad {
    /// `protocol error: …`, then exit.
    Protocol(&'static str),
    /// A name with a `/`, `.` or `..`, or none.
    Name(Vec<u8>),
}

/// `Cmmmm SIZE NAME` (or `D…`): mode, size and name.
fn parse_record(record: &[u8]) -> Result<(u32, u64, Vec<u8>), Bad> {
    let mut mode = 0u32;
    for &b in record.get(1..5).unwrap_or_default() {
        if !(b'0'..=b'7').contains(&b) {
            return Err(Bad::Protocol("bad mode"));
        }
        mode = (mode << 3) | u32::from(b - b'0');
    }
    if record.len() < 5 {
        return Err(Bad::Protocol("bad mode"));
    }
    let mut rest = record.get(5..).unwrap_or_default();
    if rest.first() != Some(&b' ') {
        return Err(Bad::Protocol("mode not delimited"));
    }
    rest = rest.get(1..).unwrap_or_default();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let size = rest
        .get(..digits)
        .unwrap_or_default()
        .iter()
        .fold(0u64, |n, &d| {
            n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        });
    rest = rest.get(digits..).unwrap_or_default();
    if rest.first() != Some(&b' ') {
        return Err(Bad::Protocol("size not delimited"));
    }
    let name = rest.get(1..).unwrap_or_default();
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return Err(Bad::Name(name.to_vec()));
    }
    Ok((mode, size, name.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_as_sink_reads_them() {
        assert!(matches!(
            parse_record(b"C0755 12 bot"),
            Ok((0o755, 12, ref n)) if n == b"bot"
        ));
        assert!(matches!(
            parse_record(b"C0855 1 x"),
            Err(Bad::Protocol("bad mode"))
        ));
        assert!(matches!(
            parse_record(b"C0755x1 x"),
            Err(Bad::Protocol("mode not delimited"))
        ));
        assert!(matches!(
            parse_record(b"C0755 1x x"),
            Err(Bad::Protocol("size not delimited"))
        ));
        assert!(matches!(parse_record(b"C0755 1 ../x"), Err(Bad::Name(_))));
        assert!(matches!(parse_record(b"C0755 1 .."), Err(Bad::Name(_))));
        assert_eq!(
            parse_times(b"T1700000000 0 1600000000 0"),
            Ok(1_700_000_000)
        );
        assert_eq!(
            parse_times(b"T1700000000 0 1700000000"),
            Err("atime.sec not delimited")
        );
        assert_eq!(
            parse_times(b"T1700000000 0 1700000000 0 "),
            Err("atime.usec not delimited")
        );
        assert_eq!(parse_times(b"Tx"), Err("mtime.sec not delimited"));
    }
}
