//! The binary packet protocol (RFC 4253 §6): framing, padding, sequence numbers and
//! each direction's protection. The reader trusts no length: a packet longer than
//! the limit, or not a whole number of blocks, ends the connection before its body
//! is buffered.

use crate::cipher::{self, DirectionKeys, Protection};
use crate::rng::SessionRng;

/// Dropbear's `MIN_PACKET_LEN`: no packet (length field to padding) is shorter.
pub const MIN_PACKET_LEN: usize = 16;

/// Why the stream of packets cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The length field is out of range or not a whole number of blocks.
    #[error("bad packet length {0}")]
    BadLength(u32),
    /// The MAC or tag did not match.
    #[error("bad packet MAC")]
    BadMac,
    /// The padding length is impossible.
    #[error("bad padding length")]
    BadPadding,
}

/// Reads packets from the client.
#[derive(Debug)]
pub struct PacketReader {
    protection: Protection,
    seq: u32,
    /// Received bytes; `start` is where the next packet begins.
    input: Vec<u8>,
    start: usize,
    /// The length of the packet being received, once its first block is read (for
    /// CTR the first block is decrypted in place, then).
    current: Option<u32>,
    max_packet_len: u32,
}

impl PacketReader {
    /// A reader that refuses packets longer than `max_packet_len` (length field value).
    pub fn new(max_packet_len: u32) -> Self {
        Self {
            protection: Protection::Clear,
            seq: 0,
            input: Vec::new(),
            start: 0,
            current: None,
            max_packet_len,
        }
    }

    /// Takes on new keys (after the client's NEWKEYS).
    pub fn rekey(&mut self, keys: &DirectionKeys) -> Result<(), cipher::BadKeyLength> {
        self.protection = Protection::new(keys)?;
        Ok(())
    }

    /// The sequence number of the next packet.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Restarts the sequence numbers (strict kex, at NEWKEYS).
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.input.len() {
            self.input.clear();
            self.start = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes held (for the session's memory account).
    pub fn buffered(&self) -> usize {
        self.input.capacity()
    }

    /// Bytes received and not yet part of a whole packet.
    pub fn pending(&self) -> &[u8] {
        self.input.get(self.start..).unwrap_or_default()
    }

    /// Takes whatever is buffered out (the bytes after the identification line that
    /// arrived with it are pushed back in by the caller).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.pending().to_vec();
        self.input.clear();
        self.start = 0;
        rest
    }

    /// The next whole packet's payload, if one has arrived.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, PacketError> {
        let result = self.try_next();
        if matches!(result, Ok(None)) && self.start > 0 {
            // Compact once per read, not once per packet: a burst of small packets
            // costs linear work.
            self.input.drain(..self.start);
            self.start = 0;
            if self.input.capacity() > 4 * self.input.len().max(4096) {
                self.input.shrink_to(self.input.len().max(4096));
            }
        }
        result
    }

    fn try_next(&mut self) -> Result<Option<Vec<u8>>, PacketError> {
        let block = self.protection.block_size();
        let aead = self.protection.is_aead();
        let tag_len = self.protection.tag_len();
        let seq = self.seq;
        let avail = self.input.len() - self.start;
        let len = match self.current {
            Some(len) => len,
            None => {
                let first = if aead { 4 } else { block };
                let Some(head) = self.input.get_mut(self.start..self.start + first) else {
                    return Ok(None);
                };
                let len = match &mut self.protection {
                    Protection::Clear => read_u32(head),
                    Protection::ChaCha(keys) => {
                        let enc: [u8; 4] = (&*head).try_into().unwrap_or([0; 4]);
                        cipher::chacha_length(&keys.header, seq, enc)
                    }
                    Protection::Ctr { stream, .. } => {
                        stream.apply(head);
                        read_u32(head)
                    }
                };
                // Dropbear: the whole packet (length field included, or not for
                // AEAD) is a multiple of the block size and at least MIN_PACKET_LEN.
                let framed = if aead { len as usize } else { len as usize + 4 };
                if len > self.max_packet_len
                    || framed % block != 0
                    || (len as usize + 4) < MIN_PACKET_LEN
                {
                    return Err(PacketError::BadLength(len));
                }
                self.current = Some(len);
                len
            }
        };
        let total = 4 + len as usize + tag_len;
        if avail < total {
            return Ok(None);
        }
        let start = self.start;
        let Some(packet) = self.input.get_mut(start..start + 4 + len as usize) else {
            return Ok(None);
        };
        let tag_range = start + 4 + len as usize..start + total;
        match &mut self.protection {
            Protection::Clear => {}
            Protection::ChaCha(keys) => {
                let main = &keys.main;
                let mut tag = [0u8; 16];
                tag.copy_from_slice(self.input.get(tag_range).unwrap_or(&[0; 16]));
                let Some(packet) = self.input.get_mut(start..start + 4 + len as usize) else {
                    return Ok(None);
                };
                if !cipher::chacha_open(main, seq, packet, &tag) {
                    return Err(PacketError::BadMac);
                }
            }
            Protection::Ctr {
                stream,
                mac,
                mac_key,
            } => {
                if let Some(rest) = packet.get_mut(block..) {
                    stream.apply(rest);
                }
                let computed = cipher::hmac(*mac, mac_key, seq, packet);
                let received = self.input.get(tag_range).unwrap_or_default();
                if !cipher::mac_matches(&computed, received) {
                    return Err(PacketError::BadMac);
                }
            }
        }
        let packet = self
            .input
            .get(start..start + 4 + len as usize)
            .unwrap_or_default();
        let padding = usize::from(packet.get(4).copied().unwrap_or(0));
        let payload_len = (len as usize).checked_sub(1 + padding);
        let payload = match payload_len {
            Some(n) if padding >= 4 => packet.get(5..5 + n).unwrap_or_default().to_vec(),
            _ => return Err(PacketError::BadPadding),
        };
        self.start += total;
        self.current = None;
        self.seq = self.seq.wrapping_add(1);
        Ok(Some(payload))
    }
}

fn read_u32(b: &[u8]) -> u32 {
    let mut arr = [0u8; 4];
    for (d, s) in arr.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_be_bytes(arr)
}

/// Writes packets to the client.
#[derive(Debug)]
pub struct PacketWriter {
    protection: Protection,
    seq: u32,
}

impl Default for PacketWriter {
    fn default() -> Self {
        Self {
            protection: Protection::Clear,
            seq: 0,
        }
    }
}

impl PacketWriter {
    /// Takes on new keys (after the server's NEWKEYS).
    pub fn rekey(&mut self, keys: &DirectionKeys) -> Result<(), cipher::BadKeyLength> {
        self.protection = Protection::new(keys)?;
        Ok(())
    }

    /// Restarts the sequence numbers (strict kex, at NEWKEYS).
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Frames, pads, protects and appends one packet carrying `payload` to `out`.
    pub fn seal(&mut self, payload: &[u8], rng: &mut SessionRng, out: &mut Vec<u8>) {
        let block = self.protection.block_size();
        let aead = self.protection.is_aead();
        // Dropbear's encrypt_packet: pad to the block size with at least 4 bytes
        // (the length field counted, except under AEAD), and to MIN_PACKET_LEN.
        let counted = payload.len() + 1 + if aead { 0 } else { 4 };
        let mut padding = block - counted % block;
        if padding < 4 {
            padding += block;
        }
        if payload.len() + 5 + padding < MIN_PACKET_LEN {
            padding += block;
        }
        let len = payload.len() + 1 + padding;
        let at = out.len();
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        out.push(u8::try_from(padding).unwrap_or(u8::MAX));
        out.extend_from_slice(payload);
        let pad_at = out.len();
        out.resize(pad_at + padding, 0);
        if let Some(pad) = out.get_mut(pad_at..) {
            rng.fill(pad);
        }
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let Some(packet) = out.get_mut(at..) else {
            return;
        };
        match &mut self.protection {
            Protection::Clear => {}
            Protection::ChaCha(keys) => {
                let tag = cipher::chacha_seal(&keys.main, &keys.header, seq, packet);
                out.extend_from_slice(&tag);
            }
            Protection::Ctr {
                stream,
                mac,
                mac_key,
            } => {
                let tag = cipher::hmac(*mac, mac_key, seq, packet);
                stream.apply(packet);
                out.extend_from_slice(&tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::{CipherAlgorithm, MacAlgorithm};

    fn keys(cipher: CipherAlgorithm) -> DirectionKeys {
        DirectionKeys {
            cipher,
            key: (0..cipher.key_len() as u8).collect(),
            iv: vec![5; cipher.iv_len()],
            mac: (!cipher.is_aead()).then(|| (MacAlgorithm::HmacSha256, vec![3; 32])),
        }
    }

    #[test]
    fn clear_packets_are_padded_as_dropbear_pads_them() {
        let mut rng = SessionRng::new([1; 32]);
        let mut w = PacketWriter::default();
        let mut out = Vec::new();
        w.seal(&[21], &mut rng, &mut out);
        // NEWKEYS: 4 + 1 + 1 = 6, padded to 16 with 10 bytes (MIN_PACKET_LEN).
        assert_eq!(out.len(), 16);
        assert_eq!(&out[..5], &[0, 0, 0, 12, 10]);
    }

    #[test]
    fn every_cipher_round_trips_across_reads_of_any_size() {
        for cipher in [
            CipherAlgorithm::ChaCha20Poly1305,
            CipherAlgorithm::Aes128Ctr,
            CipherAlgorithm::Aes256Ctr,
        ] {
            let mut rng = SessionRng::new([2; 32]);
            let mut w = PacketWriter::default();
            w.rekey(&keys(cipher)).unwrap();
            let mut r = PacketReader::new(35000);
            r.rekey(&keys(cipher)).unwrap();
            let payloads: Vec<Vec<u8>> = (0..40).map(|n| vec![n as u8; n * 7 + 1]).collect();
            let mut wire = Vec::new();
            for p in &payloads {
                w.seal(p, &mut rng, &mut wire);
            }
            let mut got = Vec::new();
            for chunk in wire.chunks(13) {
                r.push(chunk);
                while let Some(p) = r.next_packet().unwrap() {
                    got.push(p);
                }
            }
            assert_eq!(got, payloads, "{cipher:?}");
            assert_eq!(r.seq(), 40);
        }
    }

    #[test]
    fn a_long_or_ragged_length_is_refused_before_the_body_arrives() {
        let mut r = PacketReader::new(35000);
        r.push(&[0x7f, 0xff, 0xff, 0xf0, 4, 0, 0, 0]);
        assert_eq!(r.next_packet(), Err(PacketError::BadLength(0x7fff_fff0)));
        let mut r = PacketReader::new(35000);
        r.push(&[0, 0, 0, 13, 4, 0, 0, 0]);
        assert_eq!(r.next_packet(), Err(PacketError::BadLength(13)));
    }

    #[test]
    fn a_flipped_bit_fails_the_mac() {
        for cipher in [
            CipherAlgorithm::ChaCha20Poly1305,
            CipherAlgorithm::Aes128Ctr,
        ] {
            let mut rng = SessionRng::new([2; 32]);
            let mut w = PacketWriter::default();
            w.rekey(&keys(cipher)).unwrap();
            let mut wire = Vec::new();
            w.seal(b"\x05hello", &mut rng, &mut wire);
            let last = wire.len() - 20;
            wire[last] ^= 0x40;
            let mut r = PacketReader::new(35000);
            r.rekey(&keys(cipher)).unwrap();
            r.push(&wire);
            assert_eq!(r.next_packet(), Err(PacketError::BadMac), "{cipher:?}");
        }
    }
}
