//! The key exchange's arithmetic: every method Dropbear 2022.83 offers
//! (`curve25519-sha256` RFC 8731, `ecdh-sha2-nistp256/384/521` RFC 5656,
//! `diffie-hellman-group14-sha256/sha1` RFC 8268/4253), the exchange hash
//! (RFC 4253 §8) and the derivation of each direction's keys (RFC 4253 §7.2).

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U2048};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::algorithms::{KexMethod, Negotiated};
use crate::cipher::DirectionKeys;
use crate::hostkey::HostKey;
use crate::rng::SessionRng;
use crate::wire::{put_mpint, put_string, Reader};

/// Why a client's key exchange message was refused (Dropbear closes silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KexError {
    /// The client's public value is malformed or off the curve ("Bad curve25519",
    /// "ECC error").
    #[error("bad public value")]
    BadPublicValue,
    /// The shared secret is degenerate ("Bad curve25519", "Diffie-Hellman error").
    #[error("degenerate shared secret")]
    Degenerate,
    /// The message did not parse, or bytes follow the value ("Bad kex value").
    #[error("malformed key exchange message")]
    Malformed,
}

/// The exchange hash's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1 (group14-sha1).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384 (nistp384).
    Sha384,
    /// SHA-512 (nistp521).
    Sha512,
}

impl HashAlgorithm {
    fn of(method: KexMethod) -> Self {
        match method {
            KexMethod::Curve25519Sha256
            | KexMethod::Curve25519Libssh
            | KexMethod::EcdhP256
            | KexMethod::Dh14Sha256 => Self::Sha256,
            KexMethod::EcdhP384 => Self::Sha384,
            KexMethod::EcdhP521 => Self::Sha512,
            KexMethod::Dh14Sha1 => Self::Sha1,
        }
    }

    /// The digest of the concatenated parts.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }
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
    /// The KEXDH_REPLY / KEX_ECDH_REPLY payload.
    pub reply: Vec<u8>,
    /// The exchange hash `H`.
    pub hash: Vec<u8>,
    /// The shared secret as an encoded mpint.
    pub shared_mpint: Vec<u8>,
    /// The method's hash, for the key derivation.
    pub hash_algorithm: HashAlgorithm,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exchange")
    }
}

/// The 2048-bit MODP group's prime (RFC 3526 §3), generator 2.
const GROUP14_PRIME: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

/// Bits of the server's group14 exponent: twice the strength of the ciphers it
/// protects, as OpenSSH chooses (the value is never visible to the client).
const DH_EXPONENT_BITS: usize = 512;

/// The server's value and the shared secret for one method: (what goes into the
/// hash and reply for the client's and the server's values, K unsigned big-endian).
struct Values {
    client_field: Vec<u8>,
    server_field: Vec<u8>,
    shared: Vec<u8>,
}

/// Answers a client's `SSH_MSG_KEXDH_INIT` / `SSH_MSG_KEX_ECDH_INIT` (both are
/// message 30) for `method`.
pub fn exchange(
    method: KexMethod,
    init: &[u8],
    transcript: &Transcript<'_>,
    rng: &mut SessionRng,
    host_key: (&HostKey, crate::algorithms::HostKeyAlgorithm),
) -> Result<Exchange, KexError> {
    let (host_key, signature_algorithm) = host_key;
    let mut r = Reader::new(init);
    r.u8().map_err(|_| KexError::Malformed)?;
    let client = r.string().map_err(|_| KexError::Malformed)?;
    if !r.rest().is_empty() {
        return Err(KexError::Malformed);
    }
    let values = match method {
        KexMethod::Curve25519Sha256 | KexMethod::Curve25519Libssh => curve25519(client, rng)?,
        KexMethod::EcdhP256 => ecdh_p256(client, rng)?,
        KexMethod::EcdhP384 => ecdh_p384(client, rng)?,
        KexMethod::EcdhP521 => ecdh_p521(client, rng)?,
        KexMethod::Dh14Sha256 | KexMethod::Dh14Sha1 => group14(client, rng)?,
    };
    let mut shared_mpint = Vec::new();
    put_mpint(&mut shared_mpint, &values.shared);
    let k_s = host_key.public_blob();
    let mut fields = Vec::new();
    for part in [
        transcript.client_ident,
        transcript.server_ident,
        transcript.client_kexinit,
        transcript.server_kexinit,
        &k_s,
    ] {
        put_string(&mut fields, part);
    }
    fields.extend_from_slice(&values.client_field);
    fields.extend_from_slice(&values.server_field);
    let hash_algorithm = HashAlgorithm::of(method);
    let hash = hash_algorithm.digest(&[&fields, &shared_mpint]);
    let mut reply = vec![crate::msg::KEX_ECDH_REPLY];
    put_string(&mut reply, &k_s);
    reply.extend_from_slice(&values.server_field);
    put_string(&mut reply, &host_key.sign(signature_algorithm, &hash));
    Ok(Exchange {
        reply,
        hash,
        shared_mpint,
        hash_algorithm,
    })
}

fn strings(client: &[u8], server: &[u8], shared: Vec<u8>) -> Values {
    let (mut client_field, mut server_field) = (Vec::new(), Vec::new());
    put_string(&mut client_field, client);
    put_string(&mut server_field, server);
    Values {
        client_field,
        server_field,
        shared,
    }
}

fn curve25519(client: &[u8], rng: &mut SessionRng) -> Result<Values, KexError> {
    let q_c: [u8; 32] = client.try_into().map_err(|_| KexError::BadPublicValue)?;
    let secret = x25519_dalek::StaticSecret::from(rng.array::<32>());
    let q_s = x25519_dalek::PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(q_c));
    if !shared.was_contributory() {
        return Err(KexError::Degenerate);
    }
    Ok(strings(client, q_s.as_bytes(), shared.as_bytes().to_vec()))
}

/// ECDH on one NIST curve (each curve crate has the same API).
macro_rules! ecdh_on {
    ($name:ident, $krate:ident, $len:expr, $top_mask:expr) => {
        fn $name(client: &[u8], rng: &mut SessionRng) -> Result<Values, KexError> {
            use $krate::elliptic_curve::sec1::ToEncodedPoint;
            let peer =
                $krate::PublicKey::from_sec1_bytes(client).map_err(|_| KexError::BadPublicValue)?;
            let mut secret = None;
            // A scalar out of range is drawn again (rare but for P-521's top byte,
            // which is masked to the order's bit length).
            for _ in 0..64 {
                let mut bytes = [0u8; $len];
                rng.fill(&mut bytes);
                if let Some(top) = bytes.first_mut() {
                    *top &= $top_mask;
                }
                if let Ok(s) = $krate::SecretKey::from_slice(&bytes) {
                    secret = Some(s);
                    break;
                }
            }
            let secret = secret.ok_or(KexError::Degenerate)?;
            let q_s = secret.public_key().to_encoded_point(false);
            let shared = $krate::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
            Ok(strings(
                client,
                q_s.as_bytes(),
                shared.raw_secret_bytes().to_vec(),
            ))
        }
    };
}

ecdh_on!(ecdh_p256, p256, 32, 0xff);
ecdh_on!(ecdh_p384, p384, 48, 0xff);
ecdh_on!(ecdh_p521, p521, 66, 0x01);

fn group14(client: &[u8], rng: &mut SessionRng) -> Result<Values, KexError> {
    // `e` is an mpint: positive, at most the prime's 256 bytes (and a sign byte).
    if client.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(KexError::BadPublicValue);
    }
    let start = client.iter().position(|&b| b != 0).unwrap_or(client.len());
    let digits = client.get(start..).unwrap_or_default();
    if digits.len() > 256 {
        return Err(KexError::BadPublicValue);
    }
    let mut padded = [0u8; 256];
    if let Some(tail) = padded.get_mut(256 - digits.len()..) {
        tail.copy_from_slice(digits);
    }
    let p = U2048::from_be_hex(GROUP14_PRIME);
    let e = U2048::from_be_bytes(padded);
    // Dropbear: e must lie in [2, p-2] ("Diffie-Hellman error").
    let p_minus_1 = p.wrapping_sub(&U2048::ONE);
    if e < U2048::from_u8(2) || e >= p_minus_1 {
        return Err(KexError::Degenerate);
    }
    let mut y_bytes = [0u8; 256];
    if let Some(low) = y_bytes.get_mut(256 - DH_EXPONENT_BITS / 8..) {
        rng.fill(low);
    }
    let y = U2048::from_be_bytes(y_bytes);
    let params = DynResidueParams::new(&p);
    let f = DynResidue::new(&U2048::from_u8(2), params)
        .pow_bounded_exp(&y, DH_EXPONENT_BITS)
        .retrieve();
    let k = DynResidue::new(&e, params)
        .pow_bounded_exp(&y, DH_EXPONENT_BITS)
        .retrieve();
    let (mut client_field, mut server_field) = (Vec::new(), Vec::new());
    put_mpint(&mut client_field, &e.to_be_bytes());
    put_mpint(&mut server_field, &f.to_be_bytes());
    Ok(Values {
        client_field,
        server_field,
        shared: k.to_be_bytes().to_vec(),
    })
}

/// RFC 4253 §7.2: `HASH(K || H || letter || session_id)`, extended by
/// `HASH(K || H || K1 || …)` to `len` bytes.
fn derive(
    alg: HashAlgorithm,
    shared_mpint: &[u8],
    hash: &[u8],
    letter: u8,
    session_id: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut out = alg.digest(&[shared_mpint, hash, &[letter], session_id]);
    while out.len() < len {
        let more = alg.digest(&[shared_mpint, hash, &out]);
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
    let (k, h, alg) = (
        &exchange.shared_mpint,
        &exchange.hash,
        exchange.hash_algorithm,
    );
    let direction = |cipher: crate::algorithms::CipherAlgorithm,
                     mac: Option<crate::algorithms::MacAlgorithm>,
                     [iv, key, mac_letter]: [u8; 3]| DirectionKeys {
        cipher,
        iv: derive(alg, k, h, iv, session_id, cipher.iv_len()),
        key: derive(alg, k, h, key, session_id, cipher.key_len()),
        mac: mac.map(|m| (m, derive(alg, k, h, mac_letter, session_id, m.key_len()))),
    };
    (
        direction(negotiated.cipher_cs, negotiated.mac_cs, *b"ACE"),
        direction(negotiated.cipher_sc, negotiated.mac_sc, *b"BDF"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group14_agrees_with_a_client_computing_the_other_side() {
        // The client's side with the same arithmetic: x = 3, e = 2^3 = 8.
        let p = U2048::from_be_hex(GROUP14_PRIME);
        let params = DynResidueParams::new(&p);
        let mut rng = SessionRng::new([1; 32]);
        let values = group14(&[8], &mut rng).unwrap();
        let mut r = Reader::new(&values.server_field);
        let f_bytes = r.string().unwrap();
        let mut padded = [0u8; 256];
        let digits = &f_bytes[f_bytes.iter().position(|&b| b != 0).unwrap()..];
        padded[256 - digits.len()..].copy_from_slice(digits);
        let f = U2048::from_be_bytes(padded);
        let k = DynResidue::new(&f, params)
            .pow_bounded_exp(&U2048::from_u8(3), 2)
            .retrieve();
        assert_eq!(values.shared, k.to_be_bytes().to_vec());
        assert_eq!(group14(&[1], &mut rng).err(), Some(KexError::Degenerate));
        assert_eq!(
            group14(&[0x80, 1], &mut rng).err(),
            Some(KexError::BadPublicValue)
        );
    }

    #[test]
    fn every_nist_curve_agrees_with_the_client() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let mut rng = SessionRng::new([2; 32]);
        let client = p256::SecretKey::from_slice(&[7; 32]).unwrap();
        let q_c = client.public_key().to_encoded_point(false);
        let values = ecdh_p256(q_c.as_bytes(), &mut rng).unwrap();
        let q_s = &values.server_field[4..];
        let server = p256::PublicKey::from_sec1_bytes(q_s).unwrap();
        let shared = p256::ecdh::diffie_hellman(client.to_nonzero_scalar(), server.as_affine());
        assert_eq!(values.shared, shared.raw_secret_bytes().to_vec());
        let c384 = p384::SecretKey::from_slice(&[7; 48]).unwrap();
        let q384 = c384.public_key().to_encoded_point(false);
        assert_eq!(
            ecdh_p384(q384.as_bytes(), &mut rng).unwrap().shared.len(),
            48
        );
        let mut k521 = [7u8; 66];
        k521[0] = 1;
        let c521 = p521::SecretKey::from_slice(&k521).unwrap();
        let q521 = c521.public_key().to_encoded_point(false);
        assert_eq!(
            ecdh_p521(q521.as_bytes(), &mut rng).unwrap().shared.len(),
            66
        );
        assert_eq!(
            ecdh_p256(&[4; 65], &mut rng).err(),
            Some(KexError::BadPublicValue)
        );
    }
}
