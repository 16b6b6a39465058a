//! The session's randomness: ChaCha20 keystream blocks from a seed the edge draws
//! from the operating system, one stream per call (key and a counter, 40 bytes held:
//! every idle connection carries one). Seeded, so a test's session is
//! reproducible; a fresh seed per session, so a sensor's are not.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

/// A cryptographically strong generator for cookies, padding and ephemeral keys.
pub struct SessionRng {
    key: [u8; 32],
    /// Calls so far: each uses its own nonce, so no keystream is ever reused.
    calls: u64,
}

impl std::fmt::Debug for SessionRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionRng")
    }
}

impl SessionRng {
    /// A generator from 32 secret bytes.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            key: seed,
            calls: 0,
        }
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.calls.to_be_bytes());
        self.calls = self.calls.wrapping_add(1);
        out.fill(0);
        ChaCha20::new(&self.key.into(), &nonce.into()).apply_keystream(out);
    }

    /// An array of random bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_never_repeat_and_seeds_reproduce() {
        let mut a = SessionRng::new([1; 32]);
        let (x, y) = (a.array::<32>(), a.array::<32>());
        assert_ne!(x, y);
        assert_eq!(SessionRng::new([1; 32]).array::<32>(), x);
    }
}
