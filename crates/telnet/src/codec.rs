//! Telnet, both ways we need to read it.
//!
//! * [`TelnetObserver`] parses the client's bytes the way RFC 854/855 defines them, for
//!   the *record*: every option verb, every subnegotiation (with a length cap), NAWS
//!   sizes and the client fingerprint.
//! * [`BusyboxIacFilter`] reproduces, bug for bug, what BusyBox 1.35 `telnetd`
//!   (`safe_write_to_pty_decode_iac()`) passes on to the pty: it is what decides what
//!   the emulated device *sees*, so that malformed or truncated negotiation is handled
//!   as the real device handles it (for example the bytes of an unknown
//!   subnegotiation are typed into the login prompt, as on the real device).
//!
//! The server side never answers a client's negotiation: BusyBox telnetd sends its
//! 12-byte opening ([`BUSYBOX_OPENING`]) and only listens.

use busybait_events::TelnetVerb;

/// Interpret As Command.
pub const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const NOP: u8 = 241;
const AYT: u8 = 246;
const WILL: u8 = 251;
const DONT: u8 = 254;
/// Telnet option: negotiate about window size.
pub const OPT_NAWS: u8 = 31;
/// Telnet option: new environment (RFC 1572).
pub const OPT_NEW_ENVIRON: u8 = 39;

/// What BusyBox 1.35 telnetd sends first: IAC DO ECHO, IAC DO NAWS, IAC WILL ECHO,
/// IAC WILL SGA.
pub const BUSYBOX_OPENING: [u8; 12] = [
    0xff, 0xfd, 0x01, 0xff, 0xfd, 0x1f, 0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03,
];

/// How many telnet commands the fingerprint keeps at most.
pub const FINGERPRINT_MAX_COMMANDS: usize = 24;
/// How many bytes of one command the fingerprint keeps at most.
pub const FINGERPRINT_MAX_COMMAND_BYTES: usize = 48;

/// Something the observer saw that the record wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// IAC WILL/WONT/DO/DONT option.
    Option(TelnetVerb, u8),
    /// A complete NAWS subnegotiation.
    WindowSize(u16, u16),
    /// Any other complete subnegotiation: option and payload.
    Subnegotiation(u8, Vec<u8>),
    /// A NEW-ENVIRON variable the client sent (`IS`/`INFO`).
    EnvironVar(Vec<u8>, Vec<u8>),
    /// The fingerprint is complete: the client sent its first data byte.
    Fingerprint(String),
}

/// The client sent a subnegotiation longer than the configured cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("telnet subnegotiation longer than {0} bytes")]
pub struct SubnegTooLong(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObsState {
    Data,
    Iac,
    Verb(u8),
    SbOption,
    Sb,
    SbIac,
}

/// RFC 854/855 parser for recording what the client negotiates.
#[derive(Debug)]
pub struct TelnetObserver {
    state: ObsState,
    sb_option: u8,
    sb_data: Vec<u8>,
    max_subneg: usize,
    seen_options: Vec<(TelnetVerb, u8)>,
    current: Vec<u8>,
    fingerprint: Vec<String>,
    fingerprint_emitted: bool,
}

impl TelnetObserver {
    /// A parser whose subnegotiations may hold at most `max_subneg` bytes.
    pub fn new(max_subneg: usize) -> Self {
        Self {
            state: ObsState::Data,
            sb_option: 0,
            sb_data: Vec::new(),
            max_subneg,
            seen_options: Vec::new(),
            current: Vec::new(),
            fingerprint: Vec::new(),
            fingerprint_emitted: false,
        }
    }

    /// Feeds client bytes; what is worth recording is pushed to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Observed>) -> Result<(), SubnegTooLong> {
        for &b in input {
            self.step(b, out)?;
        }
        Ok(())
    }

    /// Emits the fingerprint if the client negotiated but the fingerprint is not out yet
    /// (the session is ending).
    pub fn finish(&mut self, out: &mut Vec<Observed>) {
        self.complete_fingerprint(out);
    }

    fn step(&mut self, b: u8, out: &mut Vec<Observed>) -> Result<(), SubnegTooLong> {
        self.state = match self.state {
            ObsState::Data => {
                if b == IAC {
                    self.current.clear();
                    self.current.push(b);
                    ObsState::Iac
                } else {
                    self.complete_fingerprint(out);
                    ObsState::Data
                }
            }
            ObsState::Iac => {
                self.current.push(b);
                match b {
                    IAC => {
                        // An escaped 0xFF is data.
                        self.complete_fingerprint(out);
                        ObsState::Data
                    }
                    WILL..=DONT => ObsState::Verb(b),
                    SB => ObsState::SbOption,
                    _ => {
                        self.push_command();
                        ObsState::Data
                    }
                }
            }
            ObsState::Verb(verb) => {
                self.current.push(b);
                let verb = match verb {
                    WILL => TelnetVerb::Will,
                    252 => TelnetVerb::Wont,
                    253 => TelnetVerb::Do,
                    _ => TelnetVerb::Dont,
                };
                if !self.seen_options.contains(&(verb, b)) {
                    self.seen_options.push((verb, b));
                    out.push(Observed::Option(verb, b));
                }
                self.push_command();
                ObsState::Data
            }
            ObsState::SbOption => {
                self.current.push(b);
                self.sb_option = b;
                self.sb_data.clear();
                ObsState::Sb
            }
            ObsState::Sb => {
                self.push_current_capped(b);
                if b == IAC {
                    ObsState::SbIac
                } else {
                    self.push_sb(b)?;
                    ObsState::Sb
                }
            }
            ObsState::SbIac => {
                self.push_current_capped(b);
                match b {
                    IAC => {
                        self.push_sb(IAC)?;
                        ObsState::Sb
                    }
                    SE => {
                        match (self.sb_option, &self.sb_data[..]) {
                            (OPT_NAWS, &[w0, w1, h0, h1]) => out.push(Observed::WindowSize(
                                u16::from_be_bytes([w0, w1]),
                                u16::from_be_bytes([h0, h1]),
                            )),
                            (option, data) => {
                                out.push(Observed::Subnegotiation(option, data.to_vec()));
                                if option == OPT_NEW_ENVIRON {
                                    parse_new_environ(data, out);
                                }
                            }
                        }
                        self.push_command();
                        ObsState::Data
                    }
                    // IAC <cmd> inside a subnegotiation: the subnegotiation was never
                    // terminated; end it here.
                    _ => {
                        self.push_command();
                        ObsState::Data
                    }
                }
            }
        };
        Ok(())
    }

    fn push_sb(&mut self, b: u8) -> Result<(), SubnegTooLong> {
        if self.sb_data.len() >= self.max_subneg {
            return Err(SubnegTooLong(self.max_subneg));
        }
        self.sb_data.push(b);
        Ok(())
    }

    fn push_current_capped(&mut self, b: u8) {
        if self.current.len() < FINGERPRINT_MAX_COMMAND_BYTES {
            self.current.push(b);
        }
    }

    fn push_command(&mut self) {
        if !self.fingerprint_emitted && self.fingerprint.len() < FINGERPRINT_MAX_COMMANDS {
            self.fingerprint.push(hex::encode(&self.current));
        }
        self.current.clear();
    }

    /// The fingerprint ends at the first data byte (or the end of the session).
    fn complete_fingerprint(&mut self, out: &mut Vec<Observed>) {
        if self.fingerprint_emitted {
            return;
        }
        self.fingerprint_emitted = true;
        if !self.fingerprint.is_empty() {
            out.push(Observed::Fingerprint(self.fingerprint.join(" ")));
        }
        self.fingerprint = Vec::new();
    }
}

/// RFC 1572 `IS`/`INFO` payload: `(VAR|USERVAR name [VALUE value])*`, `ESC` quoting.
fn parse_new_environ(data: &[u8], out: &mut Vec<Observed>) {
    const VAR: u8 = 0;
    const VALUE: u8 = 1;
    const ESC: u8 = 2;
    const USERVAR: u8 = 3;
    let Some((&kind, mut rest)) = data.split_first() else {
        return;
    };
    if kind != 0 && kind != 2 {
        return; // SEND, not a value
    }
    let mut current: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
    let flush = |c: &mut Option<(Vec<u8>, Option<Vec<u8>>)>, out: &mut Vec<Observed>| {
        if let Some((name, value)) = c.take() {
            out.push(Observed::EnvironVar(name, value.unwrap_or_default()));
        }
    };
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            VAR | USERVAR => {
                flush(&mut current, out);
                current = Some((Vec::new(), None));
            }
            VALUE => {
                if let Some((_, value)) = current.as_mut() {
                    *value = Some(Vec::new());
                }
            }
            _ => {
                let byte = if b == ESC {
                    let Some((&escaped, tail)) = rest.split_first() else {
                        break;
                    };
                    rest = tail;
                    escaped
                } else {
                    b
                };
                match current.as_mut() {
                    Some((_, Some(value))) => value.push(byte),
                    Some((name, None)) => name.push(byte),
                    None => {}
                }
            }
        }
    }
    flush(&mut current, out);
}

/// What BusyBox telnetd does with a piece of client input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Bytes written to the pty.
    Tty(Vec<u8>),
    /// TIOCSWINSZ with (columns, rows).
    WindowSize(u16, u16),
    /// Are-You-There: BusyBox answers IAC NOP if nothing else is queued for the client.
    AreYouThere,
}

/// Bug-compatible port of BusyBox 1.35 `safe_write_to_pty_decode_iac()`.
///
/// BusyBox processes whatever one `read()` delivered; so does this filter with
/// whatever one [`BusyboxIacFilter::feed`] call delivers. It holds no bytes back
/// except a dangling IAC, exactly as BusyBox does.
#[derive(Debug, Default)]
pub struct BusyboxIacFilter {
    buffered_iac: bool,
}

impl BusyboxIacFilter {
    /// Creates a filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Processes one read's worth of client bytes.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Filtered>) {
        // telnetd: "Ignore trailing NUL if it is there", once per read().
        let input = input.strip_suffix(&[0]).unwrap_or(input);
        let joined;
        let (mut buf, mut resume_iac) = if self.buffered_iac && !input.is_empty() {
            // The IAC that ended the previous read starts this one.
            self.buffered_iac = false;
            joined = [&[IAC][..], input].concat();
            (&joined[..], true)
        } else {
            (input, false)
        };
        while !buf.is_empty() {
            let consumed = if resume_iac {
                resume_iac = false;
                self.handle_iac(buf, out)
            } else if buf.first() != Some(&IAC) {
                let wr = buf.iter().position(|&b| b == IAC).unwrap_or(buf.len());
                let mut rc = buf
                    .iter()
                    .take(wr)
                    .position(|&b| b == b'\r')
                    .map_or(wr, |i| i + 1);
                push_tty(out, buf.get(..rc).unwrap_or_default());
                if rc < wr
                    && buf.get(rc - 1) == Some(&b'\r')
                    && matches!(buf.get(rc), Some(b'\n') | Some(0))
                {
                    rc += 1;
                }
                rc
            } else if buf.len() <= 1 {
                self.buffered_iac = true;
                1
            } else {
                self.handle_iac(buf, out)
            };
            buf = buf.get(consumed..).unwrap_or_default();
        }
    }

    /// `buf` starts with IAC and holds at least two bytes. Returns bytes consumed.
    fn handle_iac(&mut self, buf: &[u8], out: &mut Vec<Filtered>) -> usize {
        let wr = buf.len();
        let Some(&cmd) = buf.get(1) else {
            return wr;
        };
        if cmd == IAC {
            push_tty(out, &[IAC]);
            return 2;
        }
        if cmd == AYT {
            out.push(Filtered::AreYouThere);
            return 2;
        }
        if (SE..=249).contains(&cmd) {
            return 2;
        }
        if wr <= 2 {
            // BusyBox: "only 2 bytes of the IAC is in the buffer, we just eat them".
            return 2;
        }
        if cmd == SB && buf.get(2) == Some(&OPT_NAWS) {
            if wr <= 6 {
                // BusyBox: "incomplete, can't process": eats the whole read.
                return wr;
            }
            if let Some(&[w0, w1, h0, h1]) = buf.get(3..7) {
                out.push(Filtered::WindowSize(
                    u16::from_be_bytes([w0, w1]),
                    u16::from_be_bytes([h0, h1]),
                ));
            }
            return 7;
        }
        3
    }
}

fn push_tty(out: &mut Vec<Filtered>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(Filtered::Tty(v)) = out.last_mut() {
        v.extend_from_slice(bytes);
    } else {
        out.push(Filtered::Tty(bytes.to_vec()));
    }
}

/// Doubles every 0xFF of device output (the pty's writer does this on the way out).
pub use busybait_device::terminal::escape_iac;

/// What BusyBox answers to Are-You-There.
pub const AYT_REPLY: [u8; 2] = [IAC, NOP];

#[cfg(test)]
mod tests {
    use super::*;

    const MIRAI_REPLY: &[u8] = &[
        0xff, 0xfc, 0x01, 0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0,
        0xff, 0xfd, 0x01, 0xff, 0xfd, 0x03,
    ];

    fn observe(chunks: &[&[u8]]) -> Vec<Observed> {
        let mut o = TelnetObserver::new(64);
        let mut out = Vec::new();
        for c in chunks {
            o.feed(c, &mut out).unwrap();
        }
        out
    }

    fn filter(chunks: &[&[u8]]) -> Vec<Filtered> {
        let mut f = BusyboxIacFilter::new();
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn mirai_fingerprint() {
        let out = observe(&[MIRAI_REPLY, b"root\r\n"]);
        assert_eq!(
            out,
            vec![
                Observed::Option(TelnetVerb::Wont, 1),
                Observed::Option(TelnetVerb::Will, 31),
                Observed::WindowSize(80, 24),
                Observed::Option(TelnetVerb::Do, 1),
                Observed::Option(TelnetVerb::Do, 3),
                Observed::Fingerprint("fffc01 fffb1f fffa1f00500018fff0 fffd01 fffd03".into()),
            ]
        );
    }

    #[test]
    fn subnegotiations_and_environment_are_recorded() {
        let out = observe(&[
            b"\xff\xfa\x18\x00XTERM\xff\xf0",
            b"\xff\xfa\x27\x00\x00USER\x01root\x03X\x02\x01Y\x01v\xff\xf0",
        ]);
        assert_eq!(
            out,
            vec![
                Observed::Subnegotiation(24, b"\x00XTERM".to_vec()),
                Observed::Subnegotiation(39, b"\x00\x00USER\x01root\x03X\x02\x01Y\x01v".to_vec()),
                Observed::EnvironVar(b"USER".to_vec(), b"root".to_vec()),
                Observed::EnvironVar(b"X\x01Y".to_vec(), b"v".to_vec()),
            ]
        );
    }

    #[test]
    fn options_logged_once() {
        let out = observe(&[&[0xff, 0xfb, 0x18, 0xff, 0xfb, 0x18], b"x"]);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn unterminated_subneg_is_capped() {
        let mut o = TelnetObserver::new(8);
        let mut out = Vec::new();
        let mut input = vec![0xff, 0xfa, 0x18];
        input.extend(std::iter::repeat_n(b'a', 9));
        assert_eq!(o.feed(&input, &mut out), Err(SubnegTooLong(8)));
    }

    #[test]
    fn busybox_filter_mirai_reply_passes_nothing() {
        let out = filter(&[MIRAI_REPLY]);
        assert_eq!(out, vec![Filtered::WindowSize(80, 24)]);
    }

    #[test]
    fn busybox_filter_crlf_and_crnul() {
        assert_eq!(
            filter(&[b"root\r\nab\r\0c\n"]),
            vec![Filtered::Tty(b"root\rab\rc\n".to_vec())]
        );
        // CR at the end of one read, LF in the next: BusyBox passes both.
        assert_eq!(
            filter(&[b"root\r", b"\n"]),
            vec![Filtered::Tty(b"root\r\n".to_vec())]
        );
    }

    #[test]
    fn busybox_filter_drops_one_trailing_nul_per_read() {
        assert_eq!(filter(&[b"a\0"]), vec![Filtered::Tty(b"a".to_vec())]);
        assert_eq!(filter(&[b"\0a"]), vec![Filtered::Tty(b"\0a".to_vec())]);
        assert_eq!(filter(&[b"ab\0\0"]), vec![Filtered::Tty(b"ab\0".to_vec())]);
        assert_eq!(filter(&[b"\0"]), vec![]);
    }

    #[test]
    fn busybox_filter_unknown_subneg_leaks_payload() {
        let input = [0xff, 0xfa, 0x18, 0x00, b'x', b't', 0xff, 0xf0];
        assert_eq!(filter(&[&input]), vec![Filtered::Tty(vec![0, b'x', b't'])]);
    }

    #[test]
    fn busybox_filter_dangling_iac() {
        assert_eq!(
            filter(&[b"a\xff", b"\xffb"]),
            vec![Filtered::Tty(b"a\xffb".to_vec())]
        );
        // Truncated 3-byte command at the end of a read: BusyBox eats 2 bytes.
        assert_eq!(
            filter(&[&[0xff, 0xfb], b"\x01x"]),
            vec![Filtered::Tty(b"\x01x".to_vec())]
        );
        // Truncated NAWS: the whole read is eaten.
        assert_eq!(filter(&[&[0xff, 0xfa, 0x1f, 0, 80, b'q']]), vec![]);
    }

    #[test]
    fn iac_escape_on_output() {
        let mut out = Vec::new();
        escape_iac(&[1, 0xff, 2], &mut out);
        assert_eq!(out, vec![1, 0xff, 0xff, 2]);
    }
}
