//! The SSH packet reader fed arbitrary bytes in pieces, in clear and under each
//! cipher (CTR, CBC, triple DES and ChaCha20-Poly1305) with each MAC, with or
//! without `zlib@openssh.com`: nothing panics, what it buffers stays
//! within one packet and a read, no payload inflates past the limit, and after an
//! error it is never asked again (as the session closes).
#![no_main]

use busybait_ssh::algorithms::{CipherAlgorithm, MacAlgorithm};
use busybait_ssh::cipher::DirectionKeys;
use busybait_ssh::packet::PacketReader;
use libfuzzer_sys::fuzz_target;

const MAX_PACKET: u32 = 35_000;

/// Every cipher a profile's Dropbear offers.
const CIPHERS: [CipherAlgorithm; 7] = [
    CipherAlgorithm::ChaCha20Poly1305,
    CipherAlgorithm::Aes128Ctr,
    CipherAlgorithm::Aes256Ctr,
    CipherAlgorithm::Aes128Cbc,
    CipherAlgorithm::Aes256Cbc,
    CipherAlgorithm::TripleDesCtr,
    CipherAlgorithm::TripleDesCbc,
];

/// Every MAC, with its key length.
const MACS: [(MacAlgorithm, usize); 3] = [
    (MacAlgorithm::HmacSha1, 20),
    (MacAlgorithm::HmacSha256, 32),
    (MacAlgorithm::HmacSha1_96, 20),
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((&algorithms, rest)) = rest.split_first() else {
        return;
    };
    let mut reader = PacketReader::new(MAX_PACKET);
    // 0: in clear; then each cipher, with each MAC where it needs one.
    let cipher = usize::from(algorithms % 8)
        .checked_sub(1)
        .and_then(|i| CIPHERS.get(i).copied());
    if let Some(cipher) = cipher {
        let (mac, mac_len) = MACS[usize::from(algorithms >> 3) % MACS.len()];
        let keys = DirectionKeys {
            cipher,
            key: vec![mode; cipher.key_len()],
            iv: vec![mode; cipher.iv_len()],
            mac: (!cipher.is_aead()).then(|| (mac, vec![mode; mac_len])),
        };
        reader.rekey(&keys).expect("keys");
    }
    if mode & 0x80 != 0 {
        reader.start_decompression();
    }
    for piece in rest.chunks(usize::from((mode >> 2) & 0x1f).max(1)) {
        reader.push(piece);
        loop {
            match reader.next_packet() {
                Ok(Some(payload)) => assert!(
                    payload.len()
                        <= busybait_ssh::packet::MAX_INFLATED_PAYLOAD.max(MAX_PACKET as usize)
                ),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(reader.pending().len() <= MAX_PACKET as usize + 64 + piece.len());
    }
});
