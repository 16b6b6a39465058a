//! The sensor's host keys: made once per sensor from the operating system's
//! randomness, kept by the edge in the data dir as PKCS#8 PEM (so `openssl pkey`
//! reads them), and used to sign each key exchange.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};

use crate::algorithms::HostKeyAlgorithm;
use crate::wire::{put_mpint, put_string};

/// A host key with its private half.
#[derive(Clone)]
pub enum HostKey {
    /// `ssh-ed25519`.
    Ed25519(ed25519_dalek::SigningKey),
    /// `ecdsa-sha2-nistp256`.
    EcdsaP256(p256::ecdsa::SigningKey),
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
#[error("not a PKCS#8 PEM Ed25519 or NIST P-256 private key")]
pub struct BadHostKey;

impl HostKey {
    /// A key of `algorithm` from 32 secret random bytes.
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
        }
    }

    /// The key's signature algorithm.
    pub fn algorithm(&self) -> HostKeyAlgorithm {
        match self {
            Self::Ed25519(_) => HostKeyAlgorithm::Ed25519,
            Self::EcdsaP256(_) => HostKeyAlgorithm::EcdsaP256,
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
        }
        out
    }

    /// The signature blob over `data` (the exchange hash).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_string(&mut out, self.algorithm().name().as_bytes());
        match self {
            Self::Ed25519(k) => {
                let sig: ed25519_dalek::Signature = k.sign(data);
                put_string(&mut out, &sig.to_bytes());
            }
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(data);
                let (r, s) = sig.split_bytes();
                let mut inner = Vec::new();
                put_mpint(&mut inner, &r);
                put_mpint(&mut inner, &s);
                put_string(&mut out, &inner);
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
        };
        Ok(pem.to_string())
    }

    /// A key from PKCS#8 PEM.
    pub fn from_pem(pem: &str) -> Result<Self, BadHostKey> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Ed25519(k));
        }
        p256::pkcs8::DecodePrivateKey::from_pkcs8_pem(pem)
            .map(Self::EcdsaP256)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_pem_and_sign_verifiably() {
        use ed25519_dalek::Verifier;
        for alg in [HostKeyAlgorithm::Ed25519, HostKeyAlgorithm::EcdsaP256] {
            let key = HostKey::from_seed(alg, [42; 32]);
            let again = HostKey::from_pem(&key.to_pem().unwrap()).unwrap();
            assert_eq!(again.public_blob(), key.public_blob());
            assert_eq!(again.algorithm(), alg);
        }
        let HostKey::Ed25519(k) = HostKey::from_seed(HostKeyAlgorithm::Ed25519, [1; 32]) else {
            unreachable!()
        };
        let blob = HostKey::Ed25519(k.clone()).sign(b"hash");
        let sig = ed25519_dalek::Signature::from_slice(&blob[4 + 11 + 4..]).unwrap();
        k.verifying_key().verify(b"hash", &sig).unwrap();
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        assert_eq!(base64_unpadded(b"f"), "Zg");
        assert_eq!(base64_unpadded(b"fo"), "Zm8");
        assert_eq!(base64_unpadded(b"foo"), "Zm9v");
        assert_eq!(base64_unpadded(b"foobar"), "Zm9vYmFy");
    }
}
