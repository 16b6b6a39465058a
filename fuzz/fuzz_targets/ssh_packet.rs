//! The SSH packet reader fed arbitrary bytes in pieces, in clear and under each
//! cipher, with or without `zlib@openssh.com`: nothing panics, what it buffers stays
//! within one packet and a read, no payload inflates past the limit, and after an
//! error it is never asked again (as the session closes).
#![no_main]

use busybait_ssh::algorithms::{CipherAlgorithm, MacAlgorithm};
use busybait_ssh::cipher::DirectionKeys;
use busybait_ssh::packet::PacketReader;
use libfuzzer_sys::fuzz_target;

const MAX_PACKET: u32 = 35_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut reader = PacketReader::new(MAX_PACKET);
    let cipher = match mode % 4 {
        0 => None,
        1 => Some(CipherAlgorithm::ChaCha20Poly1305),
        2 => Some(CipherAlgorithm::Aes128Ctr),
        _ => Some(CipherAlgorithm::Aes256Ctr),
    };
    if let Some(cipher) = cipher {
        let keys = DirectionKeys {
            cipher,
            key: vec![mode; cipher.key_len()],
            iv: vec![mode; cipher.iv_len()],
            mac: (!cipher.is_aead()).then(|| (MacAlgorithm::HmacSha1, vec![mode; 20])),
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
                    payload.len() <= busybait_ssh::packet::MAX_INFLATED_PAYLOAD.max(MAX_PACKET as usize)
                ),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(reader.pending().len() <= MAX_PACKET as usize + 64 + piece.len());
    }
});
