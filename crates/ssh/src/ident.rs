//! The identification exchange as Dropbear's server does it
//! (`read_session_identification` and `ident_readln` in common-session.c): one line,
//! read a byte at a time up to `\n` or 255 bytes, every `\r` dropped; a line that
//! does not start with `SSH-`, or names a version other than `2.x` or `1.99`, ends
//! the connection without a word.

/// Dropbear's `linebuf` holds 255 characters and the terminating NUL.
pub const MAX_IDENT_LINE: usize = 255;

/// What the reader made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    /// No whole line yet.
    Incomplete,
    /// The client's identification, and how many input bytes it took (the rest are
    /// the first binary packets).
    Accepted {
        /// The line as Dropbear keeps it (no `\r`, no `\n`).
        line: Vec<u8>,
        /// Input bytes consumed.
        consumed: usize,
    },
    /// Not an SSH 2 client: the server closes. `consumed` bytes were read; the rest
    /// is unread input (the kernel answers the close with a reset).
    Refused {
        /// The line as read.
        line: Vec<u8>,
        /// Input bytes consumed.
        consumed: usize,
    },
}

/// Reads the client's identification line.
#[derive(Debug, Default)]
pub struct IdentReader {
    line: Vec<u8>,
}

impl IdentReader {
    /// Feeds received bytes; once a line is complete, says what it was and how much
    /// of `input` it took.
    pub fn feed(&mut self, input: &[u8]) -> Ident {
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' {
                return self.finish(i + 1);
            }
            if b != b'\r' {
                self.line.push(b);
                if self.line.len() >= MAX_IDENT_LINE {
                    return self.finish(i + 1);
                }
            }
        }
        Ident::Incomplete
    }

    fn finish(&mut self, consumed: usize) -> Ident {
        let line = std::mem::take(&mut self.line);
        let accepted = line.starts_with(b"SSH-2.") || line.starts_with(b"SSH-1.99-");
        if accepted {
            Ident::Accepted { line, consumed }
        } else {
            Ident::Refused { line, consumed }
        }
    }

    /// Bytes held for a line not finished yet.
    pub fn buffered(&self) -> usize {
        self.line.capacity()
    }
}

/// The identification as the exchange hash takes it: Dropbear hashes the C string,
/// so a NUL ends it.
pub fn as_hashed(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    line.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(bytes: &[u8]) -> Ident {
        IdentReader::default().feed(bytes)
    }

    #[test]
    fn a_version_2_line_is_taken_and_the_packets_after_it_are_left() {
        assert_eq!(
            feed(b"SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00"),
            Ident::Accepted {
                line: b"SSH-2.0-OpenSSH_9.2p1".to_vec(),
                consumed: 23
            }
        );
        assert!(matches!(feed(b"SSH-1.99-x\n"), Ident::Accepted { .. }));
        assert!(matches!(feed(b"SSH-2.5-x\n"), Ident::Accepted { .. }));
        assert_eq!(feed(b"SSH-2.0-abc"), Ident::Incomplete);
    }

    #[test]
    fn foreign_and_malformed_lines_are_refused() {
        for line in [
            &b"SSH-1111-OpenSSH_9.0\r\n"[..],
            b"SSH-1.5-x\n",
            b"GET / HTTP/1.1\r\n",
            b"\n",
            b"SSH-\n",
            b"\x00\x00\x01\x0c\x0a\x14\n",
        ] {
            assert!(matches!(feed(line), Ident::Refused { .. }), "{line:?}");
        }
    }

    #[test]
    fn a_line_ends_at_255_bytes_and_carriage_returns_vanish() {
        let mut long = b"SSH-2.0-".to_vec();
        long.extend(std::iter::repeat_n(b'a', 300));
        let Ident::Accepted { line, consumed } = feed(&long) else {
            panic!("refused");
        };
        assert_eq!((line.len(), consumed), (255, 255));
        let Ident::Accepted { line, .. } = feed(b"SSH-2.0-a\rb\r\n") else {
            panic!("refused");
        };
        assert_eq!(line, b"SSH-2.0-ab");
    }
}
