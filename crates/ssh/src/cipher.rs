//! One direction's packet protection after NEWKEYS: `chacha20-poly1305@openssh.com`
//! (OpenSSH's PROTOCOL.chacha20poly1305), or a block cipher (AES or triple DES, in
//! CTR or an older build's CBC mode) with an encrypt-and-MAC HMAC (RFC 4253
//! §6.3-6.4, RFC 4344).

use aes::{Aes128, Aes256};
use chacha20::cipher::{
    generic_array::GenericArray, BlockDecryptMut, BlockEncryptMut, KeyIvInit, StreamCipher,
    StreamCipherSeek,
};
use chacha20::ChaCha20Legacy;
use des::TdesEde3;
use hmac::{Hmac, Mac};
use poly1305::universal_hash::KeyInit;
use poly1305::Poly1305;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::algorithms::{CipherAlgorithm, MacAlgorithm};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type TdesCtr = ctr::Ctr64BE<TdesEde3>;

/// Which way a direction's cipher runs (CBC's two differ; CTR's are one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Packets sent.
    Encrypt,
    /// Packets received.
    Decrypt,
}

/// A direction's keys, as derived at NEWKEYS.
#[derive(Clone)]
pub struct DirectionKeys {
    /// The cipher.
    pub cipher: CipherAlgorithm,
    /// Its key.
    pub key: Vec<u8>,
    /// Its IV (CTR's initial counter).
    pub iv: Vec<u8>,
    /// The MAC and its key, when the cipher has none of its own.
    pub mac: Option<(MacAlgorithm, Vec<u8>)>,
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

/// One direction's protection.
pub enum Protection {
    /// Before the first NEWKEYS: no encryption, no MAC.
    Clear,
    /// `chacha20-poly1305@openssh.com`: K_2 for the payload and the Poly1305 key,
    /// K_1 for the length.
    ChaCha(Box<ChaChaKeys>),
    /// A block cipher (its CTR keystream or CBC chain runs on across packets) with
    /// an HMAC.
    Block {
        /// The running cipher.
        cipher: BlockCipher,
        /// The MAC and its key.
        mac: MacAlgorithm,
        /// The MAC key.
        mac_key: Vec<u8>,
    },
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Clear => "Clear",
            Self::ChaCha(_) => "ChaCha",
            Self::Block { .. } => "Block",
        })
    }
}

/// `chacha20-poly1305@openssh.com`'s two keys (boxed: most connections never get
/// this far, and the enum stays small for them).
pub struct ChaChaKeys {
    /// K_2, the first 32 bytes of the derived key: the payload and Poly1305 key.
    pub main: [u8; 32],
    /// K_1, the last 32: the length.
    pub header: [u8; 32],
}

/// A block cipher in CTR mode, or in CBC mode one way (one flat enum of boxes: a
/// connection that never finishes its key exchange keeps this small).
pub enum BlockCipher {
    /// `aes128-ctr`.
    Aes128Ctr(Box<Aes128Ctr>),
    /// `aes256-ctr`.
    Aes256Ctr(Box<Aes256Ctr>),
    /// `3des-ctr`.
    TdesCtr(Box<TdesCtr>),
    /// `aes128-cbc`, sending.
    Aes128CbcEncrypt(Box<cbc::Encryptor<Aes128>>),
    /// `aes128-cbc`, receiving.
    Aes128CbcDecrypt(Box<cbc::Decryptor<Aes128>>),
    /// `aes256-cbc`, sending.
    Aes256CbcEncrypt(Box<cbc::Encryptor<Aes256>>),
    /// `aes256-cbc`, receiving.
    Aes256CbcDecrypt(Box<cbc::Decryptor<Aes256>>),
    /// `3des-cbc`, sending.
    TdesCbcEncrypt(Box<cbc::Encryptor<TdesEde3>>),
    /// `3des-cbc`, receiving.
    TdesCbcDecrypt(Box<cbc::Decryptor<TdesEde3>>),
}

/// Runs `cipher` over each whole block of `data` (the packet layer only ever hands
/// over whole blocks; a partial tail is left as it is).
fn each_block<const N: usize>(data: &mut [u8], mut f: impl FnMut(&mut [u8])) {
    for block in data.chunks_exact_mut(N) {
        f(block);
    }
}

impl BlockCipher {
    /// The cipher for `alg`, one way.
    fn new(
        alg: CipherAlgorithm,
        key: &[u8],
        iv: &[u8],
        way: Direction,
    ) -> Result<Self, BadKeyLength> {
        fn init<C: KeyIvInit>(key: &[u8], iv: &[u8]) -> Result<Box<C>, BadKeyLength> {
            C::new_from_slices(key, iv)
                .map(Box::new)
                .map_err(|_| BadKeyLength)
        }
        let enc = way == Direction::Encrypt;
        Ok(match alg {
            CipherAlgorithm::Aes128Ctr => Self::Aes128Ctr(init(key, iv)?),
            CipherAlgorithm::Aes256Ctr => Self::Aes256Ctr(init(key, iv)?),
            CipherAlgorithm::TripleDesCtr => Self::TdesCtr(init(key, iv)?),
            CipherAlgorithm::Aes128Cbc if enc => Self::Aes128CbcEncrypt(init(key, iv)?),
            CipherAlgorithm::Aes128Cbc => Self::Aes128CbcDecrypt(init(key, iv)?),
            CipherAlgorithm::Aes256Cbc if enc => Self::Aes256CbcEncrypt(init(key, iv)?),
            CipherAlgorithm::Aes256Cbc => Self::Aes256CbcDecrypt(init(key, iv)?),
            CipherAlgorithm::TripleDesCbc if enc => Self::TdesCbcEncrypt(init(key, iv)?),
            CipherAlgorithm::TripleDesCbc => Self::TdesCbcDecrypt(init(key, iv)?),
            CipherAlgorithm::ChaCha20Poly1305 => return Err(BadKeyLength),
        })
    }

    /// Encrypts or decrypts (whichever way it was made) `data`, whole blocks of it.
    pub fn apply(&mut self, data: &mut [u8]) {
        match self {
            Self::Aes128Ctr(s) => s.apply_keystream(data),
            Self::Aes256Ctr(s) => s.apply_keystream(data),
            Self::TdesCtr(s) => s.apply_keystream(data),
            Self::Aes128CbcEncrypt(c) => each_block::<16>(data, |b| {
                c.encrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
            Self::Aes256CbcEncrypt(c) => each_block::<16>(data, |b| {
                c.encrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
            Self::TdesCbcEncrypt(c) => each_block::<8>(data, |b| {
                c.encrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
            Self::Aes128CbcDecrypt(c) => each_block::<16>(data, |b| {
                c.decrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
            Self::Aes256CbcDecrypt(c) => each_block::<16>(data, |b| {
                c.decrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
            Self::TdesCbcDecrypt(c) => each_block::<8>(data, |b| {
                c.decrypt_block_mut(GenericArray::from_mut_slice(b));
            }),
        }
    }

    /// The block size: what packets are padded to.
    pub fn block_size(&self) -> usize {
        match self {
            Self::TdesCtr(_) | Self::TdesCbcEncrypt(_) | Self::TdesCbcDecrypt(_) => 8,
            _ => 16,
        }
    }
}

/// Keys were of the wrong length (a bug in derivation, never the client's doing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("derived key material of the wrong length")]
pub struct BadKeyLength;

impl Protection {
    /// The protection that `keys` set up, for sending or receiving.
    pub fn new(keys: &DirectionKeys, way: Direction) -> Result<Self, BadKeyLength> {
        match keys.cipher {
            CipherAlgorithm::ChaCha20Poly1305 => {
                let main: [u8; 32] = keys
                    .key
                    .get(..32)
                    .and_then(|k| k.try_into().ok())
                    .ok_or(BadKeyLength)?;
                let header: [u8; 32] = keys
                    .key
                    .get(32..64)
                    .and_then(|k| k.try_into().ok())
                    .ok_or(BadKeyLength)?;
                Ok(Self::ChaCha(Box::new(ChaChaKeys { main, header })))
            }
            alg => {
                let cipher = BlockCipher::new(alg, &keys.key, &keys.iv, way)?;
                let (mac, mac_key) = keys.mac.clone().ok_or(BadKeyLength)?;
                Ok(Self::Block {
                    cipher,
                    mac,
                    mac_key,
                })
            }
        }
    }

    /// The cipher's block size for padding (Dropbear pads to 8 for none and ChaCha).
    pub fn block_size(&self) -> usize {
        match self {
            Self::Clear | Self::ChaCha(_) => 8,
            Self::Block { cipher, .. } => cipher.block_size(),
        }
    }

    /// Bytes of the MAC or tag after each packet.
    pub fn tag_len(&self) -> usize {
        match self {
            Self::Clear => 0,
            Self::ChaCha(_) => 16,
            Self::Block { mac, .. } => mac.output_len(),
        }
    }

    /// Whether the length field is outside the padded, encrypted body (AEAD).
    pub fn is_aead(&self) -> bool {
        matches!(self, Self::ChaCha(_))
    }
}

/// A ChaCha20 (64-bit nonce, as OpenSSH uses it) keystream for packet `seq`.
fn chacha(key: &[u8; 32], seq: u32) -> ChaCha20Legacy {
    let nonce = u64::from(seq).to_be_bytes();
    ChaCha20Legacy::new(key.into(), &nonce.into())
}

/// The Poly1305 key of packet `seq`: the first 32 bytes of K_2's block 0.
fn poly_key(main: &[u8; 32], seq: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    chacha(main, seq).apply_keystream(&mut key);
    key
}

/// Decrypts the 4-byte length field of a ChaCha packet (without changing any state).
pub fn chacha_length(header: &[u8; 32], seq: u32, encrypted: [u8; 4]) -> u32 {
    let mut len = encrypted;
    chacha(header, seq).apply_keystream(&mut len);
    u32::from_be_bytes(len)
}

/// Checks a ChaCha packet's tag over its encrypted length and body, and decrypts the
/// body in place. `packet` is length field plus body; false on a bad tag.
pub fn chacha_open(main: &[u8; 32], seq: u32, packet: &mut [u8], tag: &[u8]) -> bool {
    let key = poly_key(main, seq);
    let computed = Poly1305::new(&key.into()).compute_unpadded(packet);
    if !bool::from(computed.as_slice().ct_eq(tag)) {
        return false;
    }
    let mut stream = chacha(main, seq);
    stream.seek(64u64);
    if let Some(body) = packet.get_mut(4..) {
        stream.apply_keystream(body);
    }
    true
}

/// Encrypts a ChaCha packet (length field plus body) in place and returns its tag.
pub fn chacha_seal(main: &[u8; 32], header: &[u8; 32], seq: u32, packet: &mut [u8]) -> [u8; 16] {
    if let Some(len) = packet.get_mut(..4) {
        chacha(header, seq).apply_keystream(len);
    }
    let mut stream = chacha(main, seq);
    stream.seek(64u64);
    if let Some(body) = packet.get_mut(4..) {
        stream.apply_keystream(body);
    }
    let key = poly_key(main, seq);
    Poly1305::new(&key.into()).compute_unpadded(packet).into()
}

/// The HMAC of `seq || packet` (encrypt-and-MAC: over the plaintext packet).
pub fn hmac(alg: MacAlgorithm, key: &[u8], seq: u32, packet: &[u8]) -> Vec<u8> {
    match alg {
        MacAlgorithm::HmacSha1 | MacAlgorithm::HmacSha1_96 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| <Hmac<Sha1> as Mac>::new(&Default::default()));
            m.update(&seq.to_be_bytes());
            m.update(packet);
            let mut tag = m.finalize().into_bytes().to_vec();
            tag.truncate(alg.output_len());
            tag
        }
        MacAlgorithm::HmacSha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
            m.update(&seq.to_be_bytes());
            m.update(packet);
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// Compares a received MAC with the computed one in constant time.
pub fn mac_matches(computed: &[u8], received: &[u8]) -> bool {
    bool::from(computed.ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha_seal_and_open_are_inverse_and_the_tag_protects_the_length() {
        let main = [7u8; 32];
        let header = [9u8; 32];
        let plain = b"\x00\x00\x00\x0c\x04\x05hello!!!!".to_vec();
        let mut packet = plain.clone();
        let tag = chacha_seal(&main, &header, 3, &mut packet);
        assert_ne!(packet, plain);
        let len = chacha_length(&header, 3, packet[..4].try_into().unwrap());
        assert_eq!(len, 12);
        let mut tampered = packet.clone();
        tampered[0] ^= 1;
        assert!(!chacha_open(&main, 3, &mut tampered, &tag));
        assert!(chacha_open(&main, 3, &mut packet, &tag));
        assert_eq!(packet[4..], plain[4..]);
    }
}
