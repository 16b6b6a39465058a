//! The key exchange's arithmetic: `curve25519-sha256` (RFC 8731), the exchange hash
//! (RFC 4253 §8) and the derivation of each direction's keys (RFC 4253 §7.2).

use sha2::{Digest, Sha256};

use crate::algorithms::Negotiated;
use crate::cipher::DirectionKeys;
use crate::hostkey::HostKey;
use crate::wire::{put_mpint, put_string, Reader};

/// Why a client's key exchange message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KexError {
    /// The client's public value is not 32 bytes.
    #[error("bad curve25519 public value")]
    BadPublicValue,
    /// The shared secret is all zeros (a low-order point).
    #[error("curve25519 shared secret is zero")]
    ZeroSecret,
    /// The message did not parse.
    #[error("malformed key exchange message")]
    Malformed,
}

/// What the exchange hash covers besides the key exchange's own values.
#[derive(Debug, Clone)]
pub struct Transcript<'a> {
    /// The client's identification line, without CR LF.
    pub client_ident: &'a [u8],
    /// The server's.
    pub server_ident: &'a [u8],
    /// The client's KEXINIT payload.
    pub client_kexinit: &'a [u8],
    /// The server's.
    pub server_kexinit: &'a [u8],
}

/// A finished exchange: the reply to send and what the keys are derived from.
#[derive(Clone)]
pub struct Exchange {
    /// The KEX_ECDH_REPLY payload.
    pub reply: Vec<u8>,
    /// The exchange hash `H`.
    pub hash: Vec<u8>,
    /// The shared secret as an encoded mpint.
    pub shared_mpint: Vec<u8>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exchange")
    }
}

/// Answers a client's `SSH_MSG_KEX_ECDH_INIT` for curve25519-sha256.
pub fn curve25519(
    init: &[u8],
    transcript: &Transcript<'_>,
    ephemeral: [u8; 32],
    host_key: &HostKey,
) -> Result<Exchange, KexError> {
    let mut r = Reader::new(init);
    r.u8().map_err(|_| KexError::Malformed)?;
    let q_c = r.string().map_err(|_| KexError::Malformed)?;
    let q_c: [u8; 32] = q_c.try_into().map_err(|_| KexError::BadPublicValue)?;
    let secret = x25519_dalek::StaticSecret::from(ephemeral);
    let q_s = x25519_dalek::PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(q_c));
    if !shared.was_contributory() {
        return Err(KexError::ZeroSecret);
    }
    let mut shared_mpint = Vec::new();
    put_mpint(&mut shared_mpint, shared.as_bytes());
    let k_s = host_key.public_blob();
    let mut h = Sha256::new();
    let mut field = Vec::new();
    for part in [
        transcript.client_ident,
        transcript.server_ident,
        transcript.client_kexinit,
        transcript.server_kexinit,
        &k_s,
        &q_c,
        q_s.as_bytes(),
    ] {
        field.clear();
        put_string(&mut field, part);
        h.update(&field);
    }
    h.update(&shared_mpint);
    let hash = h.finalize().to_vec();
    let mut reply = vec![crate::msg::KEX_ECDH_REPLY];
    put_string(&mut reply, &k_s);
    put_string(&mut reply, q_s.as_bytes());
    put_string(&mut reply, &host_key.sign(&hash));
    Ok(Exchange {
        reply,
        hash,
        shared_mpint,
    })
}

/// RFC 4253 §7.2: `HASH(K || H || letter || session_id)`, extended by
/// `HASH(K || H || K1 || …)` to `len` bytes.
fn derive(shared_mpint: &[u8], hash: &[u8], letter: u8, session_id: &[u8], len: usize) -> Vec<u8> {
    let mut out = Sha256::new()
        .chain_update(shared_mpint)
        .chain_update(hash)
        .chain_update([letter])
        .chain_update(session_id)
        .finalize()
        .to_vec();
    while out.len() < len {
        let more = Sha256::new()
            .chain_update(shared_mpint)
            .chain_update(hash)
            .chain_update(&out)
            .finalize();
        out.extend_from_slice(&more);
    }
    out.truncate(len);
    out
}

/// Both directions' keys: client to server, then server to client.
pub fn derive_keys(
    exchange: &Exchange,
    session_id: &[u8],
    negotiated: &Negotiated,
) -> (DirectionKeys, DirectionKeys) {
    let k = &exchange.shared_mpint;
    let h = &exchange.hash;
    let direction = |cipher: crate::algorithms::CipherAlgorithm,
                     mac: Option<crate::algorithms::MacAlgorithm>,
                     [iv, key, mac_letter]: [u8; 3]| DirectionKeys {
        cipher,
        iv: derive(k, h, iv, session_id, cipher.iv_len()),
        key: derive(k, h, key, session_id, cipher.key_len()),
        mac: mac.map(|m| (m, derive(k, h, mac_letter, session_id, m.output_len()))),
    };
    (
        direction(negotiated.cipher_cs, negotiated.mac_cs, *b"ACE"),
        direction(negotiated.cipher_sc, negotiated.mac_sc, *b"BDF"),
    )
}
