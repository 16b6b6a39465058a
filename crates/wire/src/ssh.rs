//! SSH on the wire, on any port: the identification line that opens a client's
//! stream and the KEXINIT that follows it in clear, which name the client (its
//! version line) and fingerprint it (HASSH: MD5 of its kex, cipher, MAC and
//! compression lists, client to server, as sent).

use md5::{Digest, Md5};
use serde::Serialize;

/// Client bytes looked at for the hello at most: an identification line and a
/// KEXINIT (OpenSSH's is about 1.5 KB).
pub const MAX_HELLO: usize = 4096;
/// Ports an SSH scanner aims at.
pub const SSH_PORTS: [u16; 2] = [22, 2222];

/// What a client's opening says about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hello {
    /// The identification line (CR and LF removed).
    pub version: String,
    /// HASSH, when the KEXINIT was seen whole.
    pub hassh: Option<String>,
    /// What HASSH is the digest of.
    pub hassh_algorithms: Option<String>,
}

/// What the bytes so far allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not SSH (no `SSH-` line).
    NotSsh,
    /// More bytes needed.
    NeedMore,
    /// As much as will be known.
    Done(Hello),
}

/// Reads a client's opening from the start of its stream. `complete`: no more bytes
/// will come (the stream ended, or [`MAX_HELLO`] is reached).
pub fn parse_hello(bytes: &[u8], complete: bool) -> Parsed {
    if !bytes.starts_with(b"SSH-") {
        return Parsed::NotSsh;
    }
    let Some(end) = bytes.iter().take(256).position(|&b| b == b'\n') else {
        return if complete || bytes.len() >= 256 {
            Parsed::Done(Hello {
                version: line(bytes.get(..bytes.len().min(255)).unwrap_or_default()),
                hassh: None,
                hassh_algorithms: None,
            })
        } else {
            Parsed::NeedMore
        };
    };
    let version = line(bytes.get(..end).unwrap_or_default());
    let rest = bytes.get(end + 1..).unwrap_or_default();
    let done = |hassh: Option<(String, String)>| {
        let (hassh, hassh_algorithms) = hassh.unzip();
        Parsed::Done(Hello {
            version: version.clone(),
            hassh,
            hassh_algorithms,
        })
    };
    match kexinit_hassh(rest) {
        Some(Some(h)) => done(Some(h)),
        Some(None) => done(None),
        None if complete || bytes.len() >= MAX_HELLO => done(None),
        None => Parsed::NeedMore,
    }
}

fn line(bytes: &[u8]) -> String {
    let kept: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\r').collect();
    String::from_utf8_lossy(&kept).into_owned()
}

/// The HASSH of the clear KEXINIT packet at the start of `bytes`: `None` if it is
/// not all there yet, `Some(None)` if it is not a KEXINIT.
fn kexinit_hassh(bytes: &[u8]) -> Option<Option<(String, String)>> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if !(12..=35_000).contains(&len) {
        return Some(None);
    }
    let packet = bytes.get(4..4 + len)?;
    let (&padding, body) = packet.split_first()?;
    let payload = body.get(..body.len().checked_sub(usize::from(padding))?);
    let Some(payload) = payload else {
        return Some(None);
    };
    if payload.first() != Some(&20) {
        return Some(None);
    }
    let mut rest = payload.get(17..).unwrap_or_default();
    let mut lists: Vec<&[u8]> = Vec::new();
    for _ in 0..7 {
        let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let Some(list) = rest.get(4..4 + n) else {
            return Some(None);
        };
        lists.push(list);
        rest = rest.get(4 + n..).unwrap_or_default();
    }
    let pick = |i: usize| {
        lists
            .get(i)
            .map(|l| String::from_utf8_lossy(l).into_owned())
    };
    let algorithms = format!("{};{};{};{}", pick(0)?, pick(2)?, pick(4)?, pick(6)?);
    let hassh = hex::encode(Md5::digest(algorithms.as_bytes()));
    Some(Some((hassh, algorithms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![20u8];
        payload.extend_from_slice(&[0; 16]);
        for l in lists {
            payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
            payload.extend_from_slice(l.as_bytes());
        }
        payload.extend_from_slice(&[0; 5]);
        let padding = 8 - (payload.len() + 5) % 8 + 8;
        let mut packet = ((payload.len() + 1 + padding) as u32)
            .to_be_bytes()
            .to_vec();
        packet.push(padding as u8);
        packet.extend_from_slice(&payload);
        packet.extend(std::iter::repeat_n(0, padding));
        packet
    }

    #[test]
    fn a_clients_version_and_hassh_come_from_its_first_bytes() {
        let mut stream = b"SSH-2.0-libssh2_1.11.0\r\n".to_vec();
        stream.extend(kexinit([
            "curve25519-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ]));
        assert_eq!(parse_hello(&stream[..30], false), Parsed::NeedMore);
        let Parsed::Done(hello) = parse_hello(&stream, false) else {
            panic!("not done");
        };
        assert_eq!(hello.version, "SSH-2.0-libssh2_1.11.0");
        assert_eq!(
            hello.hassh_algorithms.as_deref(),
            Some("curve25519-sha256;aes128-ctr;hmac-sha2-256;none")
        );
        assert_eq!(
            hello.hassh,
            Some(hex::encode(Md5::digest(
                b"curve25519-sha256;aes128-ctr;hmac-sha2-256;none"
            )))
        );
        let Parsed::Done(ident_only) = parse_hello(&stream[..30], true) else {
            panic!("not done");
        };
        assert_eq!(ident_only.hassh, None);
        assert_eq!(parse_hello(b"GET / HTTP/1.1\r\n", false), Parsed::NotSsh);
        // Junk after the line: the version alone.
        let Parsed::Done(junk) = parse_hello(b"SSH-2.0-x\r\n\xff\xff\xff\xff", false) else {
            panic!("not done");
        };
        assert_eq!((junk.version.as_str(), junk.hassh), ("SSH-2.0-x", None));
    }
}
