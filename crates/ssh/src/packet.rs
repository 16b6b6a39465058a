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
    /// A compressed payload did not inflate, or inflated past the limit
    /// ("bad packet, oversized decompressed").
    #[error("bad compressed payload")]
    BadCompression,
}

/// Largest payload after inflating (Dropbear's `RECV_MAX_PAYLOAD_LEN` and its
/// zlib allowance).
pub const MAX_INFLATED_PAYLOAD: usize = 32_768 + 21;

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
    /// `zlib@openssh.com` once it has started (boxed: most connections never do).
    inflate: Option<Box<flate2::Decompress>>,
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
            inflate: None,
        }
    }

    /// Inflates every payload from now on with a fresh stream (`zlib@openssh.com`
    /// after authentication, and again after each rekey).
    pub fn start_decompression(&mut self) {
        self.inflate = Some(Box::new(flate2::Decompress::new(true)));
    }

    /// Takes on new keys (after the client's NEWKEYS). The compression stream
    /// belongs to the old keys and ends with them, as in OpenSSH and Dropbear: the
    /// caller starts a new one if the new keys compress.
    pub fn rekey(&mut self, keys: &DirectionKeys) -> Result<(), cipher::BadKeyLength> {
        self.protection = Protection::new(keys, cipher::Direction::Decrypt)?;
        self.inflate = None;
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
                    Protection::Block { cipher, .. } => {
                        cipher.apply(head);
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
            Protection::Block {
                cipher,
                mac,
                mac_key,
            } => {
                if let Some(rest) = packet.get_mut(block..) {
                    cipher.apply(rest);
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
        match &mut self.inflate {
            None => Ok(Some(payload)),
            Some(z) => inflate(z, &payload).map(Some),
        }
    }
}

/// Inflates one payload with the connection's stream, refusing more than
/// [`MAX_INFLATED_PAYLOAD`].
fn inflate(z: &mut flate2::Decompress, input: &[u8]) -> Result<Vec<u8>, PacketError> {
    let mut out: Vec<u8> = Vec::with_capacity((input.len() * 2 + 64).min(MAX_INFLATED_PAYLOAD + 1));
    let start_in = z.total_in();
    loop {
        if out.len() == out.capacity() {
            if out.len() > MAX_INFLATED_PAYLOAD {
                return Err(PacketError::BadCompression);
            }
            out.reserve(
                out.len()
                    .clamp(64, MAX_INFLATED_PAYLOAD + 1 - out.len())
                    .max(1),
            );
        }
        let used = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        let rest = input.get(used..).unwrap_or_default();
        let (in_before, out_before) = (z.total_in(), z.total_out());
        z.decompress_vec(rest, &mut out, flate2::FlushDecompress::Sync)
            .map_err(|_| PacketError::BadCompression)?;
        if out.len() > MAX_INFLATED_PAYLOAD {
            return Err(PacketError::BadCompression);
        }
        let consumed_all =
            usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX) >= input.len();
        let room = out.len() < out.capacity();
        if consumed_all && room {
            return Ok(out);
        }
        let progress = z.total_in() != in_before || z.total_out() != out_before;
        if !progress && room {
            // Stuck with room to spare: the input is not a whole deflate block.
            return Err(PacketError::BadCompression);
        }
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
    /// `zlib@openssh.com` once it has started.
    deflate: Option<Box<flate2::Compress>>,
}

impl Default for PacketWriter {
    fn default() -> Self {
        Self {
            protection: Protection::Clear,
            seq: 0,
            deflate: None,
        }
    }
}

impl PacketWriter {
    /// Takes on new keys (after the server's NEWKEYS), ending the old keys'
    /// compression stream as [`PacketReader::rekey`] does.
    pub fn rekey(&mut self, keys: &DirectionKeys) -> Result<(), cipher::BadKeyLength> {
        self.protection = Protection::new(keys, cipher::Direction::Encrypt)?;
        self.deflate = None;
        Ok(())
    }

    /// Restarts the sequence numbers (strict kex, at NEWKEYS).
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Deflates every payload from now on with a fresh stream, flushed at each
    /// packet (level 6, as OpenSSH and Dropbear).
    pub fn start_compression(&mut self) {
        self.deflate = Some(Box::new(flate2::Compress::new(
            flate2::Compression::default(),
            true,
        )));
    }

    /// Frames, pads, protects and appends one packet carrying `payload` to `out`.
    pub fn seal(&mut self, payload: &[u8], rng: &mut SessionRng, out: &mut Vec<u8>) {
        let deflated;
        let payload = match &mut self.deflate {
            None => payload,
            Some(z) => {
                deflated = deflate(z, payload);
                &deflated
            }
        };
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
            Protection::Block {
                cipher: blocks,
                mac,
                mac_key,
            } => {
                let tag = cipher::hmac(*mac, mac_key, seq, packet);
                blocks.apply(packet);
                out.extend_from_slice(&tag);
            }
        }
    }
}

/// Deflates one payload with the connection's stream and a sync flush.
fn deflate(z: &mut flate2::Compress, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8 + 64);
    let start_in = z.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.len().max(64));
        }
        let used = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        let rest = input.get(used..).unwrap_or_default();
        let (in_before, out_before) = (z.total_in(), z.total_out());
        if z.compress_vec(rest, &mut out, flate2::FlushCompress::Sync)
            .is_err()
        {
            return out;
        }
        let consumed_all =
            usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX) >= input.len();
        let room = out.len() < out.capacity();
        // A sync flush is complete when it left room in the buffer.
        if consumed_all && room {
            return out;
        }
        if room && z.total_in() == in_before && z.total_out() == out_before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::{CipherAlgorithm, MacAlgorithm};

    fn keys(cipher: CipherAlgorithm) -> DirectionKeys {
        keys_with(cipher, MacAlgorithm::HmacSha256)
    }

    fn keys_with(cipher: CipherAlgorithm, mac: MacAlgorithm) -> DirectionKeys {
        DirectionKeys {
            cipher,
            key: (0..cipher.key_len() as u8).collect(),
            iv: vec![5; cipher.iv_len()],
            mac: (!cipher.is_aead()).then(|| (mac, vec![3; mac.key_len()])),
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
        for (cipher, mac, block) in [
            (CipherAlgorithm::ChaCha20Poly1305, MacAlgorithm::HmacSha1, 8),
            (CipherAlgorithm::Aes128Ctr, MacAlgorithm::HmacSha256, 16),
            (CipherAlgorithm::Aes256Ctr, MacAlgorithm::HmacSha1, 16),
            (CipherAlgorithm::Aes128Cbc, MacAlgorithm::HmacSha1_96, 16),
            (CipherAlgorithm::Aes256Cbc, MacAlgorithm::HmacSha1, 16),
            (CipherAlgorithm::TripleDesCtr, MacAlgorithm::HmacSha1_96, 8),
            (CipherAlgorithm::TripleDesCbc, MacAlgorithm::HmacSha256, 8),
        ] {
            let mut rng = SessionRng::new([2; 32]);
            let mut w = PacketWriter::default();
            w.rekey(&keys_with(cipher, mac)).unwrap();
            let mut r = PacketReader::new(35000);
            r.rekey(&keys_with(cipher, mac)).unwrap();
            // Padded to the cipher's block: one packet's length (field included,
            // except under AEAD) is a multiple of it, and its tag follows.
            let mut one = Vec::new();
            w.seal(b"\x05", &mut rng, &mut one);
            let framed = one.len() - mac.output_len() * usize::from(!cipher.is_aead());
            let framed = if cipher.is_aead() {
                framed - 16 - 4
            } else {
                framed
            };
            assert_eq!(framed % block, 0, "{cipher:?}");
            r.push(&one);
            assert_eq!(r.next_packet().unwrap(), Some(b"\x05".to_vec()));
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
            assert_eq!(r.seq(), 41);
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
    fn compressed_payloads_round_trip_and_a_bomb_is_refused() {
        let mut rng = SessionRng::new([3; 32]);
        let mut w = PacketWriter::default();
        let mut r = PacketReader::new(35000);
        w.start_compression();
        r.start_decompression();
        let payloads: Vec<Vec<u8>> = (0..20).map(|n| vec![b'a' + n as u8; 100 * n + 1]).collect();
        let mut wire = Vec::new();
        for p in &payloads {
            w.seal(p, &mut rng, &mut wire);
        }
        r.push(&wire);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| r.next_packet().unwrap()).collect();
        assert_eq!(got, payloads);
        // New keys start new streams both ways: a reader that kept the old stream
        // would take the fresh zlib header as corrupt data.
        w.rekey(&keys(CipherAlgorithm::Aes128Ctr)).unwrap();
        r.rekey(&keys(CipherAlgorithm::Aes128Ctr)).unwrap();
        w.start_compression();
        r.start_decompression();
        let mut wire = Vec::new();
        for p in &payloads {
            w.seal(p, &mut rng, &mut wire);
        }
        r.push(&wire);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| r.next_packet().unwrap()).collect();
        assert_eq!(got, payloads);
        // New keys without compression: payloads go as they are.
        w.rekey(&keys(CipherAlgorithm::Aes128Ctr)).unwrap();
        let mut wire = Vec::new();
        w.seal(b"\x05plain", &mut rng, &mut wire);
        r.rekey(&keys(CipherAlgorithm::Aes128Ctr)).unwrap();
        r.push(&wire);
        assert_eq!(r.next_packet().unwrap(), Some(b"\x05plain".to_vec()));
        // 40 KB of zeros deflates to a few bytes and must not be taken.
        let mut bomb_writer = PacketWriter::default();
        bomb_writer.start_compression();
        let mut bomb = Vec::new();
        bomb_writer.seal(&vec![0u8; 40_000], &mut rng, &mut bomb);
        let mut reader = PacketReader::new(35000);
        reader.start_decompression();
        reader.push(&bomb);
        assert_eq!(reader.next_packet(), Err(PacketError::BadCompression));
    }

    #[test]
    fn a_flipped_bit_fails_the_mac() {
        for cipher in [
            CipherAlgorithm::ChaCha20Poly1305,
            CipherAlgorithm::Aes128Ctr,
            CipherAlgorithm::Aes128Cbc,
            CipherAlgorithm::TripleDesCbc,
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
