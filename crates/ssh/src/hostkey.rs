//! The sensor's host keys: made once per sensor from the operating system's
//! randomness, kept by the edge in the data dir as PKCS#8 PEM (so `openssl pkey`
//! reads them), and used to sign each key exchange. An RSA key serves two signature
//! algorithms (`rsa-sha2-256` and `ssh-rsa`).

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use p256::ecdsa::signature::Signer;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use crate::algorithms::HostKeyAlgorithm;
use crate::wire::{put_mpint, put_string};

/// Bits of the RSA host keys made here (Dropbear's default).
pub const RSA_BITS: usize = 2048;

/// A host key with its private half.
#[derive(Clone)]
pub enum HostKey {
    /// `ssh-ed25519`.
    Ed25519(ed25519_dalek::SigningKey),
    /// `ecdsa-sha2-nistp256`.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// `ssh-rsa` and `rsa-sha2-256`.
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostKey({} {})",
            self.algorithm().name(),
            self.fingerprint()
        )
    }
}

/// A stored host key could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a PKCS#8 PEM Ed25519, NIST P-256 or RSA private key")]
pub struct BadHostKey;

/// `rand_core` 0.6's interface over the session generator (RSA key generation
/// wants one).
struct Rng06(crate::rng::SessionRng);

impl rand_core::RngCore for Rng06 {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes(self.0.array())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(self.0.array())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Rng06 {}

impl HostKey {
    /// A key of `algorithm` from 32 secret random bytes (an RSA key takes a while:
    /// tests load a made one instead).
    pub fn from_seed(algorithm: HostKeyAlgorithm, seed: [u8; 32]) -> Self {
        match algorithm {
            HostKeyAlgorithm::Ed25519 => {
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            HostKeyAlgorithm::EcdsaP256 => {
                // A scalar out of range (probability about 2^-32) is hashed again.
                let mut candidate = seed;
                loop {
                    if let Ok(key) = p256::ecdsa::SigningKey::from_bytes(&candidate.into()) {
                        return Self::EcdsaP256(key);
                    }
                    candidate = Sha256::digest(candidate).into();
                }
            }
            HostKeyAlgorithm::RsaSha256 | HostKeyAlgorithm::SshRsa => {
                let mut rng = Rng06(crate::rng::SessionRng::new(seed));
                loop {
                    if let Ok(key) = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS) {
                        return Self::Rsa(Box::new(key));
                    }
                }
            }
        }
    }

    /// The key's type, as its public blob names it.
    pub fn algorithm(&self) -> HostKeyAlgorithm {
        match self {
            Self::Ed25519(_) => HostKeyAlgorithm::Ed25519,
            Self::EcdsaP256(_) => HostKeyAlgorithm::EcdsaP256,
            Self::Rsa(_) => HostKeyAlgorithm::SshRsa,
        }
    }

    /// Whether this key signs with `algorithm`.
    pub fn serves(&self, algorithm: HostKeyAlgorithm) -> bool {
        match self {
            Self::Rsa(_) => matches!(
                algorithm,
                HostKeyAlgorithm::RsaSha256 | HostKeyAlgorithm::SshRsa
            ),
            _ => self.algorithm() == algorithm,
        }
    }

    /// The signature algorithms this key serves.
    pub fn algorithms(&self) -> Vec<HostKeyAlgorithm> {
        match self {
            Self::Rsa(_) => vec![HostKeyAlgorithm::RsaSha256, HostKeyAlgorithm::SshRsa],
            _ => vec![self.algorithm()],
        }
    }

    /// The public key blob (`K_S`).
    pub fn public_blob(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_string(&mut out, self.algorithm().name().as_bytes());
        match self {
            Self::Ed25519(k) => put_string(&mut out, k.verifying_key().as_bytes()),
            Self::EcdsaP256(k) => {
                put_string(&mut out, b"nistp256");
                put_string(
                    &mut out,
                    k.verifying_key().to_encoded_point(false).as_bytes(),
                );
            }
            Self::Rsa(k) => {
                put_mpint(&mut out, &k.e().to_bytes_be());
                put_mpint(&mut out, &k.n().to_bytes_be());
            }
        }
        out
    }

    /// The signature blob over `data` (the exchange hash) with `algorithm` (which
    /// this key must serve; an RSA key signs with SHA-256 for anything but `ssh-rsa`).
    pub fn sign(&self, algorithm: HostKeyAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Ed25519(k) => {
                put_string(&mut out, b"ssh-ed25519");
                let sig: ed25519_dalek::Signature = k.sign(data);
                put_string(&mut out, &sig.to_bytes());
            }
            Self::EcdsaP256(k) => {
                put_string(&mut out, b"ecdsa-sha2-nistp256");
                let sig: p256::ecdsa::Signature = k.sign(data);
                let (r, s) = sig.split_bytes();
                let mut inner = Vec::new();
                put_mpint(&mut inner, &r);
                put_mpint(&mut inner, &s);
                put_string(&mut out, &inner);
            }
            Self::Rsa(k) => {
                // Dropbear pads the signature to the modulus length.
                let (name, sig) = if algorithm == HostKeyAlgorithm::SshRsa {
                    let signer = rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new((**k).clone());
                    (
                        "ssh-rsa",
                        rsa::signature::SignatureEncoding::to_vec(&signer.sign(data)),
                    )
                } else {
                    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone());
                    (
                        "rsa-sha2-256",
                        rsa::signature::SignatureEncoding::to_vec(&signer.sign(data)),
                    )
                };
                let size = k.size();
                let mut padded = vec![0u8; size.saturating_sub(sig.len())];
                padded.extend_from_slice(&sig);
                put_string(&mut out, name.as_bytes());
                put_string(&mut out, &padded);
            }
        }
        out
    }

    /// OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's digest.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_blob())
    }

    /// The private key as PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String, BadHostKey> {
        let le = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
        let pem = match self {
            Self::Ed25519(k) => k.to_pkcs8_pem(le).map_err(|_| BadHostKey)?,
            Self::EcdsaP256(k) => {
                p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(k, le).map_err(|_| BadHostKey)?
            }
            Self::Rsa(k) => {
                rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&**k, le).map_err(|_| BadHostKey)?
            }
        };
        Ok(pem.to_string())
    }

    /// A key from PKCS#8 PEM.
    pub fn from_pem(pem: &str) -> Result<Self, BadHostKey> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Ed25519(k));
        }
        if let Ok(k) = p256::pkcs8::DecodePrivateKey::from_pkcs8_pem(pem) {
            return Ok(Self::EcdsaP256(k));
        }
        rsa::pkcs8::DecodePrivateKey::from_pkcs8_pem(pem)
            .map(|k| Self::Rsa(Box::new(k)))
            .map_err(|_| BadHostKey)
    }
}

/// OpenSSH's `SHA256:` fingerprint of a public key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", base64_unpadded(&Sha256::digest(blob)))
}

/// Standard base64 without `=` padding (as in OpenSSH fingerprints).
pub fn base64_unpadded(data: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64Unpadded::encode_string(data)
}

/// A 2048-bit RSA host key made once for the tests (generating one in a debug build
/// takes seconds).
#[cfg(any(test, feature = "testing"))]
pub const TEST_RSA_KEY: &str = include_str!("../testdata/rsa2048.pem");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_pem_and_sign_verifiably() {
        for alg in [HostKeyAlgorithm::Ed25519, HostKeyAlgorithm::EcdsaP256] {
            let key = HostKey::from_seed(alg, [42; 32]);
            let again = HostKey::from_pem(&key.to_pem().unwrap()).unwrap();
            assert_eq!(again.public_blob(), key.public_blob());
            assert_eq!(again.algorithm(), alg);
            let sig = key.sign(alg, b"hash");
            assert!(crate::verify::signature(
                alg.name().as_bytes(),
                &key.public_blob(),
                &sig,
                b"hash"
            ));
        }
        let rsa = HostKey::from_pem(TEST_RSA_KEY).unwrap();
        assert_eq!(rsa.algorithm(), HostKeyAlgorithm::SshRsa);
        for alg in [HostKeyAlgorithm::RsaSha256, HostKeyAlgorithm::SshRsa] {
            assert!(rsa.serves(alg));
            let sig = rsa.sign(alg, b"hash");
            assert!(
                crate::verify::signature(alg.name().as_bytes(), &rsa.public_blob(), &sig, b"hash"),
                "{alg:?}"
            );
        }
        assert_eq!(
            HostKey::from_pem(&rsa.to_pem().unwrap())
                .unwrap()
                .public_blob(),
            rsa.public_blob()
        );
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        assert_eq!(base64_unpadded(b"f"), "Zg");
        assert_eq!(base64_unpadded(b"fo"), "Zm8");
        assert_eq!(base64_unpadded(b"foo"), "Zm9v");
        assert_eq!(base64_unpadded(b"foobar"), "Zm9vYmFy");
    }
}
