//! SSH's data types on the wire (RFC 4251 §5): reading them from an attacker's
//! packet without trusting a length, and writing them.

use thiserror::Error;

/// A packet's payload ended early or held a value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("malformed packet payload")]
pub struct Malformed;

/// Reads SSH data types from a payload, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `payload` from its start.
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Takes `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < n {
            return Err(Malformed);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// A `byte`.
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        let b = self.bytes(1)?;
        b.first().copied().ok_or(Malformed)
    }

    /// A `boolean` (any non-zero byte is true, RFC 4251).
    pub fn bool(&mut self) -> Result<bool, Malformed> {
        Ok(self.u8()? != 0)
    }

    /// A `uint32`.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.bytes(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| Malformed)?;
        Ok(u32::from_be_bytes(arr))
    }

    /// A `string` (its length is checked against what is left, never trusted).
    pub fn string(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }

    /// A `name-list`, as the raw comma-separated bytes.
    pub fn name_list(&mut self) -> Result<&'a [u8], Malformed> {
        self.string()
    }
}

/// Appends a `uint32`.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a `string`. Lengths past `u32::MAX` cannot occur: every buffer is bounded
/// far below it.
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(s);
}

/// Appends an `mpint` made from unsigned big-endian bytes (leading zeros dropped, a
/// zero byte added when the top bit is set).
pub fn put_mpint(out: &mut Vec<u8>, unsigned: &[u8]) {
    let start = unsigned
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(unsigned.len());
    let digits = unsigned.get(start..).unwrap_or_default();
    let pad = digits.first().is_some_and(|&b| b & 0x80 != 0);
    put_u32(
        out,
        u32::try_from(digits.len() + usize::from(pad)).unwrap_or(u32::MAX),
    );
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_length_is_checked_against_the_rest() {
        let mut r = Reader::new(&[0, 0, 0, 5, b'a', b'b']);
        assert_eq!(r.string(), Err(Malformed));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.string(), Err(Malformed));
        let mut r = Reader::new(&[0, 0, 0, 2, b'a', b'b', 1]);
        assert_eq!(r.string(), Ok(&b"ab"[..]));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.u8(), Err(Malformed));
    }

    #[test]
    fn mpint_encoding_follows_rfc4251() {
        let enc = |v: &[u8]| {
            let mut out = Vec::new();
            put_mpint(&mut out, v);
            out
        };
        assert_eq!(enc(&[0, 0]), vec![0, 0, 0, 0]);
        assert_eq!(enc(&[0x09, 0xa3]), vec![0, 0, 0, 2, 0x09, 0xa3]);
        assert_eq!(enc(&[0, 0x80]), vec![0, 0, 0, 2, 0, 0x80]);
    }
}
