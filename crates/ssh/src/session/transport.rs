//! The transport layer as Dropbear's `process_packet` runs it: which message may
//! come when (`requirenext`), the key exchange and rekeys, strict kex (Debian's
//! Terrapin backport), and the dispatch of everything else to authentication and
//! channels.

use busybait_device::clock::Now;
use busybait_events::EventKind;

use super::Session;
use crate::algorithms::{names, ClientKexInit, Negotiated};
use crate::cipher::DirectionKeys;
use crate::kex::{self, Transcript};
use crate::msg;
use crate::wire::{put_string, put_u32};

/// Every signature algorithm Dropbear 2022.83 is built with, for `server-sig-algs`
/// (sent whatever host keys exist: `buf_put_algolist_all`).
const SERVER_SIG_ALGS: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,\
ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-256,ssh-rsa";

/// The message the server requires next (Dropbear's `requirenext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Expect {
    /// Anything.
    #[default]
    Any,
    /// The client's KEXINIT.
    KexInit,
    /// The client's key exchange value.
    EcdhInit,
    /// The client's NEWKEYS.
    NewKeys,
}

impl Expect {
    fn message(self) -> Option<u8> {
        match self {
            Expect::Any => None,
            Expect::KexInit => Some(msg::KEXINIT),
            Expect::EcdhInit => Some(msg::KEX_ECDH_INIT),
            Expect::NewKeys => Some(msg::NEWKEYS),
        }
    }
}

/// Where the key exchange is.
#[derive(Debug, Default)]
pub(super) struct KexState {
    pub(super) expect: Expect,
    /// The cookie of the KEXINIT the server sent for the exchange in progress (the
    /// payload is made again from it when the hash needs it).
    sent: Option<[u8; 16]>,
    /// The client's KEXINIT payload of the exchange in progress.
    received: Option<Vec<u8>>,
    negotiated: Option<Negotiated>,
    /// The client's guessed kex packet was a wrong guess: the next one is dropped.
    ignore_next: bool,
    /// Keys for the client's direction, taken on at its NEWKEYS.
    keys_cs: Option<Box<DirectionKeys>>,
    /// The exchange hash of the first exchange.
    session_id: Option<Vec<u8>>,
    /// The server has sent NEWKEYS once.
    done_first: bool,
    /// Strict kex (both sides' markers in the first exchange).
    strict: bool,
    /// The client's first KEXINIT asked for EXT_INFO (`ext-info-c`).
    ext_info: bool,
    /// The first KEXINIT was seen (HASSH recorded once).
    seen_first: bool,
    /// `zlib@openssh.com` is on for the server's packets (from authentication on).
    pub(super) zlib_sc: bool,
    /// … and for the client's.
    pub(super) zlib_cs: bool,
}

impl KexState {
    /// Whether a key exchange runs (from the server's KEXINIT to its NEWKEYS): what
    /// is not a key exchange message waits.
    pub(super) fn holds_output(&self) -> bool {
        self.sent.is_some()
    }

    /// Bytes it holds on the heap.
    pub(super) fn heap(&self) -> usize {
        let keys = self.keys_cs.as_ref().map_or(0, |k| {
            std::mem::size_of::<DirectionKeys>() + k.key.capacity() + k.iv.capacity() + 32
        });
        self.received.as_ref().map_or(0, Vec::capacity)
            + self.session_id.as_ref().map_or(0, Vec::capacity)
            + keys
    }

    /// The session identifier, once the first exchange is done.
    pub(super) fn session_id(&self) -> Option<&[u8]> {
        self.session_id.as_deref()
    }
}

impl Session {
    /// Sends a KEXINIT with a fresh cookie and waits for the client's.
    pub(super) fn send_kexinit(&mut self) {
        let cookie = self.rng.array::<16>();
        let payload = self.config.server.lists.kexinit(cookie);
        self.writer
            .seal(&payload, &mut self.rng, &mut self.transmit);
        self.kex.sent = Some(cookie);
        if self.kex.expect == Expect::Any {
            self.kex.expect = Expect::KexInit;
        }
    }

    /// Sends a packet now (key exchange messages, and anything outside one).
    pub(super) fn send_now(&mut self, payload: &[u8]) {
        self.writer.seal(payload, &mut self.rng, &mut self.transmit);
    }

    /// Sends a packet, or holds it while a key exchange runs (Dropbear queues what is
    /// not a kex message from its KEXINIT until its NEWKEYS).
    pub(super) fn send(&mut self, payload: Vec<u8>) {
        if self.kex.holds_output() {
            self.held.push_back(payload);
        } else {
            self.send_now(&payload);
        }
    }

    /// One packet from the client.
    pub(super) fn dispatch(&mut self, now: Now, payload: &[u8]) {
        // The sequence number this packet had.
        let seq = self.reader.seq().wrapping_sub(1);
        let Some(&kind) = payload.first() else {
            // "Bad packet size 0".
            return self.fatal(now);
        };
        if kind == msg::DISCONNECT {
            return self.close(now, busybait_events::CloseReason::ClientClosed);
        }
        let first_strict = self.kex.strict && !self.kex.done_first;
        if !first_strict && matches!(kind, msg::IGNORE | msg::DEBUG | msg::UNIMPLEMENTED) {
            return;
        }
        if let Some(required) = self.kex.expect.message() {
            if kind != required {
                let transport = (1..=49).contains(&kind)
                    && !matches!(
                        kind,
                        msg::SERVICE_REQUEST | msg::SERVICE_ACCEPT | msg::KEXINIT
                    );
                if transport && !first_strict {
                    return self.unimplemented(seq);
                }
                // "Unexpected packet type %d, expected %d".
                return self.fatal(now);
            }
            if self.kex.ignore_next {
                // The client's wrong guess, dropped; `requirenext` stays.
                self.kex.ignore_next = false;
                return;
            }
            return match kind {
                msg::KEXINIT => self.kexinit(now, payload),
                msg::KEX_ECDH_INIT => self.ecdh_init(now, payload),
                _ => self.newkeys(now),
            };
        }
        match kind {
            msg::KEXINIT => {
                // A rekey the client started: the server's KEXINIT goes first.
                self.send_kexinit();
                self.kexinit(now, payload)
            }
            // "Premature kexdh_init message received", "Unexpected newkeys message".
            msg::KEX_ECDH_INIT | msg::NEWKEYS => self.fatal(now),
            msg::SERVICE_REQUEST => self.service_request(now, payload),
            msg::USERAUTH_REQUEST => self.userauth_request(now, payload),
            k if k > 60 && !self.auth.done => {
                // "Received message %d before userauth".
                self.fatal(now)
            }
            msg::GLOBAL_REQUEST => self.global_request(now, payload),
            msg::CHANNEL_OPEN => self.channel_open(now, payload),
            msg::CHANNEL_REQUEST => self.channel_request(now, payload),
            msg::CHANNEL_DATA => self.channel_data(now, payload),
            msg::CHANNEL_WINDOW_ADJUST => self.channel_window_adjust(now, payload),
            msg::CHANNEL_EOF => self.channel_eof(now, payload),
            msg::CHANNEL_CLOSE => self.channel_close(now, payload),
            msg::CHANNEL_SUCCESS
            | msg::CHANNEL_FAILURE
            | msg::REQUEST_SUCCESS
            | msg::REQUEST_FAILURE => {}
            _ => self.unimplemented(seq),
        }
    }

    /// `SSH_MSG_UNIMPLEMENTED` for the packet with this sequence number.
    fn unimplemented(&mut self, seq: u32) {
        // A transport message: sent even during a key exchange.
        let mut out = vec![msg::UNIMPLEMENTED];
        put_u32(&mut out, seq);
        self.send_now(&out);
    }

    fn kexinit(&mut self, now: Now, payload: &[u8]) {
        let Ok(client) = ClientKexInit::parse(payload) else {
            return self.fatal(now);
        };
        if !self.kex.seen_first {
            self.kex.seen_first = true;
            let (hassh, hassh_algorithms) = client.hassh();
            let split = |i: usize| -> Vec<String> {
                names(client.lists.get(i).map(Vec::as_slice).unwrap_or_default())
                    .map(busybait_events::lossy)
                    .collect()
            };
            let lists = [split(0), split(1), split(2), split(4), split(6), split(8)];
            self.event(
                now,
                EventKind::ClientKex {
                    hassh,
                    hassh_algorithms,
                    lists,
                },
            );
            let server_strict = self
                .config
                .server
                .lists
                .kex
                .contains(&crate::algorithms::STRICT_KEX_SERVER);
            self.kex.strict = server_strict && client.strict_kex();
            self.kex.ext_info = names(client.lists.first().map(Vec::as_slice).unwrap_or_default())
                .any(|n| n == b"ext-info-c");
            if self.kex.strict && self.reader.seq() != 1 {
                // "First packet wasn't kexinit".
                return self.fatal(now);
            }
        }
        let negotiated = match self.config.server.lists.negotiate(&client) {
            Ok(n) => n,
            // "No matching algo %s".
            Err(_) => return self.fatal(now),
        };
        if self.config.server.host_key(negotiated.host_key).is_none() {
            return self.fatal(now);
        }
        self.kex.ignore_next = client.first_kex_follows && !negotiated.guessed_right;
        self.kex.negotiated = Some(negotiated);
        self.kex.received = Some(payload.to_vec());
        self.kex.keys_cs = None;
        self.kex.expect = Expect::EcdhInit;
    }

    fn ecdh_init(&mut self, now: Now, payload: &[u8]) {
        let (Some(negotiated), Some(client_kexinit), Some(server_kexinit)) = (
            self.kex.negotiated,
            self.kex.received.take(),
            self.kex
                .sent
                .map(|cookie| self.config.server.lists.kexinit(cookie)),
        ) else {
            return self.fatal(now);
        };
        let Some(host_key) = self.config.server.host_key(negotiated.host_key) else {
            return self.fatal(now);
        };
        let transcript = Transcript {
            client_ident: crate::ident::as_hashed(&self.client_ident),
            server_ident: &self.config.server.ident,
            client_kexinit: &client_kexinit,
            server_kexinit: &server_kexinit,
        };
        let exchange = match kex::exchange(
            negotiated.kex,
            payload,
            &transcript,
            &mut self.rng,
            (host_key, negotiated.host_key),
        ) {
            Ok(e) => e,
            // "Bad kex value", "Bad curve25519", "ECC error", "Diffie-Hellman error".
            Err(_) => return self.fatal(now),
        };
        let session_id = self
            .kex
            .session_id
            .get_or_insert_with(|| exchange.hash.clone())
            .clone();
        let (keys_cs, keys_sc) = kex::derive_keys(&exchange, &session_id, &negotiated);
        self.send_now(&exchange.reply);
        self.send_now(&[msg::NEWKEYS]);
        if self.writer.rekey(&keys_sc).is_err() {
            return self.fatal(now);
        }
        if self.kex.strict {
            self.writer.reset_seq();
        }
        self.kex.zlib_sc = negotiated.zlib_sc;
        if self.auth.done && negotiated.zlib_sc {
            self.writer.start_compression();
        }
        let first = !self.kex.done_first;
        self.kex.done_first = true;
        if first && self.kex.ext_info {
            let mut ext = vec![msg::EXT_INFO];
            put_u32(&mut ext, 1);
            put_string(&mut ext, b"server-sig-algs");
            put_string(&mut ext, SERVER_SIG_ALGS.as_bytes());
            self.send_now(&ext);
        }
        self.kex.keys_cs = Some(Box::new(keys_cs));
        self.kex.sent = None;
        while let Some(held) = self.held.pop_front() {
            self.send_now(&held);
        }
        self.kex.expect = Expect::NewKeys;
    }

    fn newkeys(&mut self, now: Now) {
        let Some(keys) = self.kex.keys_cs.take() else {
            return self.fatal(now);
        };
        if self.reader.rekey(&keys).is_err() {
            return self.fatal(now);
        }
        if self.kex.strict {
            self.reader.reset_seq();
        }
        if let Some(n) = self.kex.negotiated {
            self.kex.zlib_cs = n.zlib_cs;
            if self.auth.done && n.zlib_cs {
                self.reader.start_decompression();
            }
        }
        self.kex.negotiated = None;
        self.kex.expect = Expect::Any;
    }
}
