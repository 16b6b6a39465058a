//! The session's randomness: a ChaCha20 keystream from a seed the edge draws from
//! the operating system. Seeded, so a test's session is reproducible; a fresh seed
//! per session, so a sensor's are not.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

/// A cryptographically strong generator for cookies, padding and ephemeral keys.
pub struct SessionRng {
    stream: ChaCha20,
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
            stream: ChaCha20::new(&seed.into(), &[0u8; 12].into()),
        }
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        out.fill(0);
        self.stream.apply_keystream(out);
    }

    /// An array of random bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}
