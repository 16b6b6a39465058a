//! Checking a client's `publickey` signature (RFC 4252 §7) for the key types
//! busybait can verify: `ssh-ed25519` and `ecdsa-sha2-nistp256`. Other types fail
//! as a bad signature does.

use p256::ecdsa::signature::Verifier;

use crate::wire::Reader;

/// Whether `signature` (an SSH signature blob) by the key `blob` is valid over
/// `message`, for the algorithm the client named.
pub fn signature(algorithm: &[u8], blob: &[u8], signature: &[u8], message: &[u8]) -> bool {
    let mut key = Reader::new(blob);
    let mut sig = Reader::new(signature);
    let (Ok(key_type), Ok(sig_type)) = (key.string(), sig.string()) else {
        return false;
    };
    // An RSA key blob is `ssh-rsa` whatever hash its signatures use.
    let key_matches =
        key_type == algorithm || (key_type == b"ssh-rsa" && algorithm == b"rsa-sha2-256");
    if !key_matches || sig_type != algorithm {
        return false;
    }
    match algorithm {
        b"ssh-ed25519" => {
            let (Ok(public), Ok(raw)) = (key.string(), sig.string()) else {
                return false;
            };
            let Ok(public) = <[u8; 32]>::try_from(public) else {
                return false;
            };
            let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(&public) else {
                return false;
            };
            let Ok(raw) = ed25519_dalek::Signature::from_slice(raw) else {
                return false;
            };
            public.verify_strict(message, &raw).is_ok()
        }
        b"ecdsa-sha2-nistp256" => {
            let (Ok(b"nistp256"), Ok(point), Ok(inner)) =
                (key.string(), key.string(), sig.string())
            else {
                return false;
            };
            let Ok(public) = p256::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                return false;
            };
            let mut inner = Reader::new(inner);
            let (Ok(r), Ok(s)) = (inner.string(), inner.string()) else {
                return false;
            };
            let Some(signature) = ecdsa_signature(r, s) else {
                return false;
            };
            public.verify(message, &signature).is_ok()
        }
        b"rsa-sha2-256" | b"ssh-rsa" => {
            let (Ok(e), Ok(n), Ok(raw)) = (key.string(), key.string(), sig.string()) else {
                return false;
            };
            let (e, n) = (
                rsa::BigUint::from_bytes_be(e),
                rsa::BigUint::from_bytes_be(n),
            );
            let Ok(public) = rsa::RsaPublicKey::new(n, e) else {
                return false;
            };
            let Ok(raw) = rsa::pkcs1v15::Signature::try_from(raw) else {
                return false;
            };
            if algorithm == b"ssh-rsa" {
                rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(public)
                    .verify(message, &raw)
                    .is_ok()
            } else {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public)
                    .verify(message, &raw)
                    .is_ok()
            }
        }
        _ => false,
    }
}

/// An ECDSA signature from two SSH mpints (at most 33 bytes each for P-256).
fn ecdsa_signature(r: &[u8], s: &[u8]) -> Option<p256::ecdsa::Signature> {
    let field = |v: &[u8]| -> Option<[u8; 32]> {
        let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
        let digits = v.get(start..)?;
        let mut out = [0u8; 32];
        let at = 32usize.checked_sub(digits.len())?;
        out.get_mut(at..)?.copy_from_slice(digits);
        Some(out)
    };
    p256::ecdsa::Signature::from_scalars(field(r)?, field(s)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::put_string;
    use ed25519_dalek::Signer;

    #[test]
    fn an_ed25519_signature_verifies_and_a_tampered_one_does_not() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, key.verifying_key().as_bytes());
        let mut sig = Vec::new();
        put_string(&mut sig, b"ssh-ed25519");
        put_string(&mut sig, &key.sign(b"message").to_bytes());
        assert!(signature(b"ssh-ed25519", &blob, &sig, b"message"));
        assert!(!signature(b"ssh-ed25519", &blob, &sig, b"messagf"));
        assert!(!signature(b"ssh-rsa", &blob, &sig, b"message"));
        assert!(!signature(b"ssh-ed25519", &blob[..10], &sig, b"message"));
    }
}
