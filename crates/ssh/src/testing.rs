//! A minimal SSH client on the crate's own primitives, for the session's tests, the
//! fuzz targets and benchmarks: it speaks to a [`Session`](crate::session::Session)
//! in memory (sans-IO, like the server) and knows one suite, curve25519-sha256 with
//! ssh-ed25519. Built with the `testing` feature; the sensor never contains it.

use sha2::{Digest, Sha256};

use crate::algorithms::{ClientKexInit, ServerLists};
use crate::kex::{derive_keys, Exchange, HashAlgorithm};
use crate::msg;
use crate::packet::{PacketReader, PacketWriter};
use crate::rng::SessionRng;
use crate::wire::{put_mpint, put_string, Reader};

/// The identification line the client sends.
pub const CLIENT_IDENT: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";

/// A client's KEXINIT with these lists (MACs and compression as OpenSSH offers them).
pub fn client_kexinit(kex: &str, cipher_cs: &str, cipher_sc: &str, follows: bool) -> Vec<u8> {
    let mut out = vec![msg::KEXINIT];
    out.extend_from_slice(&[7; 16]);
    for list in [
        kex,
        "ssh-ed25519,ecdsa-sha2-nistp256",
        cipher_cs,
        cipher_sc,
        "hmac-sha2-256,hmac-sha1",
        "hmac-sha2-256,hmac-sha1",
        "none,zlib@openssh.com",
        "none,zlib@openssh.com",
        "",
        "",
    ] {
        put_string(&mut out, list.as_bytes());
    }
    out.push(u8::from(follows));
    out.extend_from_slice(&[0; 4]);
    out
}

/// What went wrong in the client (the server misbehaved, in a test's eyes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("test client: {0}")]
pub struct ClientError(pub &'static str);

/// The client side of one connection.
#[derive(Debug)]
pub struct Client {
    reader: PacketReader,
    writer: PacketWriter,
    rng: SessionRng,
    /// The server's identification line (with CR LF), once read.
    pub server_ident: Vec<u8>,
    /// The server's KEXINIT payload.
    pub server_kexinit: Vec<u8>,
    /// The exchange hash of the first key exchange.
    pub session_id: Vec<u8>,
    kexinit: Vec<u8>,
    secret: [u8; 32],
}

impl Client {
    /// A client whose randomness comes from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            reader: PacketReader::new(1 << 20),
            writer: PacketWriter::default(),
            rng: SessionRng::new(seed),
            server_ident: Vec::new(),
            server_kexinit: Vec::new(),
            session_id: Vec::new(),
            kexinit: Vec::new(),
            secret: [5; 32],
        }
    }

    /// Reads the server's identification line and KEXINIT from its first bytes.
    pub fn greeting(&mut self, out: &[u8]) -> Result<(), ClientError> {
        let end = out
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(ClientError("no identification line"))?
            + 2;
        self.server_ident = out.get(..end).unwrap_or_default().to_vec();
        self.reader.push(out.get(end..).unwrap_or_default());
        let kexinit = self
            .reader
            .next_packet()
            .map_err(|_| ClientError("bad packet"))?
            .ok_or(ClientError("no KEXINIT"))?;
        if kexinit.first() != Some(&msg::KEXINIT) {
            return Err(ClientError("first packet is not KEXINIT"));
        }
        self.server_kexinit = kexinit;
        Ok(())
    }

    /// The client's identification, KEXINIT and curve25519 value, as bytes to send.
    pub fn hello(&mut self, kexinit: Vec<u8>) -> Vec<u8> {
        let q_c = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(self.secret));
        let mut init = vec![msg::KEX_ECDH_INIT];
        put_string(&mut init, q_c.as_bytes());
        let mut wire = CLIENT_IDENT.to_vec();
        wire.extend_from_slice(b"\r\n");
        wire.extend(self.seal(&kexinit));
        wire.extend(self.seal(&init));
        self.kexinit = kexinit;
        wire
    }

    /// Checks the server's KEX_ECDH_REPLY and NEWKEYS, takes on the new keys, and
    /// returns the client's NEWKEYS to send. `strict`: both sides restart their
    /// sequence numbers (strict kex).
    pub fn finish_kex(
        &mut self,
        server: &ServerLists,
        out: &[u8],
        strict: bool,
    ) -> Result<Vec<u8>, ClientError> {
        let replies = self.packets(out)?;
        let [reply, newkeys] = replies.as_slice() else {
            return Err(ClientError("not KEX_ECDH_REPLY and NEWKEYS"));
        };
        if newkeys.as_slice() != [msg::NEWKEYS] {
            return Err(ClientError("no NEWKEYS"));
        }
        let bad = |_| ClientError("malformed KEX_ECDH_REPLY");
        let mut r = Reader::new(reply);
        r.u8().map_err(bad)?;
        let k_s = r.string().map_err(bad)?.to_vec();
        let q_s: [u8; 32] = r
            .string()
            .map_err(bad)?
            .try_into()
            .map_err(|_| ClientError("Q_S is not 32 bytes"))?;
        let signature = r.string().map_err(bad)?.to_vec();
        let secret = x25519_dalek::StaticSecret::from(self.secret);
        let q_c = x25519_dalek::PublicKey::from(&secret);
        let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(q_s));
        let mut k = Vec::new();
        put_mpint(&mut k, shared.as_bytes());
        let server_ident = self
            .server_ident
            .strip_suffix(b"\r\n")
            .unwrap_or(&self.server_ident);
        let mut h = Sha256::new();
        for part in [
            CLIENT_IDENT,
            server_ident,
            &self.kexinit,
            &self.server_kexinit,
            &k_s,
            q_c.as_bytes(),
            &q_s,
        ] {
            let mut field = Vec::new();
            put_string(&mut field, part);
            h.update(&field);
        }
        h.update(&k);
        let hash = h.finalize().to_vec();
        if !crate::verify::signature(b"ssh-ed25519", &k_s, &signature, &hash) {
            return Err(ClientError("the host key's signature does not verify"));
        }
        if self.session_id.is_empty() {
            self.session_id = hash.clone();
        }
        let exchange = Exchange {
            reply: Vec::new(),
            hash,
            shared_mpint: k,
            hash_algorithm: HashAlgorithm::Sha256,
        };
        let client = ClientKexInit::parse(&self.kexinit).map_err(|_| ClientError("own KEXINIT"))?;
        let negotiated = server
            .negotiate(&client)
            .map_err(|_| ClientError("no common algorithms"))?;
        let (cs, sc) = derive_keys(&exchange, &self.session_id, &negotiated);
        self.reader.rekey(&sc).map_err(|_| ClientError("keys"))?;
        let newkeys = self.seal(&[msg::NEWKEYS]);
        self.writer.rekey(&cs).map_err(|_| ClientError("keys"))?;
        if strict {
            self.reader.reset_seq();
            self.writer.reset_seq();
        }
        Ok(newkeys)
    }

    /// One packet carrying `payload`, as bytes to send.
    pub fn seal(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        self.writer.seal(payload, &mut self.rng, &mut wire);
        wire
    }

    /// The packets in what the server sent.
    pub fn packets(&mut self, out: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
        self.reader.push(out);
        let mut packets = Vec::new();
        while let Some(p) = self
            .reader
            .next_packet()
            .map_err(|_| ClientError("bad packet from the server"))?
        {
            packets.push(p);
        }
        Ok(packets)
    }
}

/// A `password` USERAUTH_REQUEST.
pub fn password_request(user: &str, password: &str) -> Vec<u8> {
    let mut req = vec![msg::USERAUTH_REQUEST];
    put_string(&mut req, user.as_bytes());
    put_string(&mut req, b"ssh-connection");
    put_string(&mut req, b"password");
    req.push(0);
    put_string(&mut req, password.as_bytes());
    req
}
