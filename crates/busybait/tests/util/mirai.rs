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
        let mut tmp = [0u8; 4096];
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
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
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
