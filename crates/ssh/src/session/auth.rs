//! User authentication as Dropbear's server does it (svr-auth.c, svr-authpasswd.c,
//! svr-authpubkey.c): `publickey,password`, one user name per connection, a counted
//! failure costs 250-350 ms and the tenth ends the connection, `none` and refused
//! keys fail at once and are not counted. Passwords go through the device's
//! credential policy, the same one the telnet door's `login` uses; a key that the
//! source planted in root's `authorized_keys` lets it in, as on the real device.

use std::time::Duration;

use busybait_device::clock::Now;
use busybait_events::{lossy, EventKind};
use md5::{Digest, Md5};

use super::Session;
use crate::hostkey::fingerprint;
use crate::msg;
use crate::wire::{put_string, Reader};

/// `MAX_USERNAME_LEN`: longer names are invalid users.
const MAX_USERNAME_LEN: usize = 100;
/// `DROPBEAR_MAX_PASSWORD_LEN`: longer passwords are not even tried.
const MAX_PASSWORD_LEN: usize = 100;

/// Signature algorithms Dropbear 2022.83 takes in `publickey` requests.
const PUBKEY_ALGORITHMS: &[&[u8]] = &[
    b"ssh-ed25519",
    b"sk-ssh-ed25519@openssh.com",
    b"ecdsa-sha2-nistp256",
    b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521",
    b"sk-ecdsa-sha2-nistp256@openssh.com",
    b"rsa-sha2-256",
    b"ssh-rsa",
];

/// Where authentication is.
#[derive(Debug, Default)]
pub(super) struct AuthState {
    /// Authenticated.
    pub(super) done: bool,
    /// The user name of the first request (another one later is fatal).
    user: Option<Vec<u8>>,
    /// Counted failures.
    failures: u32,
    /// The reply a running failure delay holds back (none: the connection ends).
    delayed: Option<Option<Vec<u8>>>,
    /// A digest of the last key blob recorded (OpenSSH offers a key, then signs
    /// with it: one event).
    last_key: Option<[u8; 8]>,
}

impl AuthState {
    /// Bytes it holds on the heap.
    pub(super) fn heap(&self) -> usize {
        self.user.as_ref().map_or(0, Vec::capacity)
            + self
                .delayed
                .as_ref()
                .and_then(Option::as_ref)
                .map_or(0, Vec::capacity)
    }
}

impl Session {
    pub(super) fn service_request(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Ok(name) = r.u8().and_then(|_| r.string()) else {
            return self.fatal(now);
        };
        let accepted = name == b"ssh-userauth" || (name == b"ssh-connection" && self.auth.done);
        if !accepted {
            // "Unrecognised SSH_MSG_SERVICE_REQUEST", "Request for connection before auth".
            return self.fatal(now);
        }
        let mut out = vec![msg::SERVICE_ACCEPT];
        put_string(&mut out, name);
        self.send(out);
    }

    pub(super) fn userauth_request(&mut self, now: Now, payload: &[u8]) {
        if self.auth.done {
            return;
        }
        let mut r = Reader::new(payload);
        let parsed =
            (|| Ok::<_, crate::wire::Malformed>((r.u8()?, r.string()?, r.string()?, r.string()?)))(
            );
        let Ok((_, user, service, method)) = parsed else {
            return self.fatal(now);
        };
        if user.contains(&0) {
            // "Attempted username with a null byte".
            return self.fatal(now);
        }
        // Dropbear's check is `len != 14 && strncmp(...) != 0`: only a name of another
        // length that does not start with the right one is refused.
        if service.len() != 14 && !service.starts_with(b"ssh-connection") {
            return self.fatal(now);
        }
        match &self.auth.user {
            Some(first) if first.as_slice() != user => {
                // "Client trying multiple usernames".
                return self.fatal(now);
            }
            Some(_) => {}
            None => self.auth.user = Some(user.to_vec()),
        }
        let rest = r.rest();
        match method {
            b"none" => self.auth_failure(now, false),
            b"password" => self.password(now, user, rest),
            b"publickey" => self.publickey(now, user, rest, payload),
            other => {
                let request = "userauth".to_string();
                let detail = lossy(other);
                self.record_request(
                    now,
                    EventKind::SshRequest {
                        request,
                        detail,
                        granted: false,
                    },
                );
                self.auth_failure(now, true)
            }
        }
    }

    fn password(&mut self, now: Now, user: &[u8], rest: &[u8]) {
        let mut r = Reader::new(rest);
        let Ok(change) = r.bool() else {
            return self.fatal(now);
        };
        if change {
            // No password changes: a counted failure.
            return self.auth_failure(now, true);
        }
        let Ok(password) = r.string() else {
            return self.fatal(now);
        };
        let ok = user.len() <= MAX_USERNAME_LEN
            && password.len() <= MAX_PASSWORD_LEN
            && self
                .config
                .device
                .state
                .auth
                .check(now.mono, self.peer.src.ip(), user, password);
        let (username, password) = (lossy(user), lossy(password));
        if ok {
            self.event(now, EventKind::LoginSuccess { username, password });
            self.auth_success();
        } else {
            self.event(now, EventKind::LoginFailed { username, password });
            self.auth_failure(now, true);
        }
    }

    fn publickey(&mut self, now: Now, user: &[u8], rest: &[u8], payload: &[u8]) {
        let mut r = Reader::new(rest);
        let parsed = (|| Ok::<_, crate::wire::Malformed>((r.bool()?, r.string()?, r.string()?)))();
        let Ok((signed, algorithm, blob)) = parsed else {
            return self.fatal(now);
        };
        // What the signature covers: the request up to the end of the key blob.
        let covered_len = payload.len() - r.rest().len();
        let digest: [u8; 8] = {
            let full = sha2::Sha256::digest(blob);
            let mut d = [0u8; 8];
            d.copy_from_slice(full.get(..8).unwrap_or(&[0; 8]));
            d
        };
        if self.auth.last_key != Some(digest) {
            self.auth.last_key = Some(digest);
            let key_type = Reader::new(blob)
                .string()
                .map(lossy)
                .unwrap_or_else(|_| lossy(algorithm));
            let md5 = Md5::digest(blob);
            let colon: Vec<String> = md5.iter().map(|b| format!("{b:02x}")).collect();
            self.record_request(
                now,
                EventKind::ClientPublicKey {
                    username: lossy(user),
                    fingerprint: colon.join(":"),
                    fingerprint_sha256: fingerprint(blob),
                    key: {
                        use base64ct::Encoding;
                        base64ct::Base64::encode_string(blob)
                    },
                    key_type,
                },
            );
        }
        let valid_user = user == b"root";
        if !valid_user || !PUBKEY_ALGORITHMS.contains(&algorithm) || !self.key_planted(now, blob) {
            return self.auth_failure(now, false);
        }
        if !signed {
            let mut out = vec![msg::USERAUTH_PK_OK];
            put_string(&mut out, algorithm);
            put_string(&mut out, blob);
            return self.send(out);
        }
        let Ok(signature) = r.string() else {
            return self.fatal(now);
        };
        let Some(session_id) = self.kex.session_id() else {
            return self.fatal(now);
        };
        let mut message = Vec::new();
        put_string(&mut message, session_id);
        message.extend_from_slice(payload.get(..covered_len).unwrap_or_default());
        if crate::verify::signature(algorithm, blob, signature, &message) {
            self.event(
                now,
                EventKind::LoginSuccess {
                    username: lossy(user),
                    password: String::new(),
                },
            );
            self.auth_success();
        } else {
            self.auth_failure(now, true);
        }
    }

    /// Whether `blob` is one of the keys this source planted in root's
    /// `authorized_keys` (options before the key type are skipped).
    fn key_planted(&self, now: Now, blob: &[u8]) -> bool {
        let planted = self
            .config
            .device
            .state
            .planted_keys(self.peer.src.ip(), now.mono);
        planted.iter().any(|line| {
            line.split(|b| b.is_ascii_whitespace())
                .any(|field| !field.is_empty() && decode_base64(field).as_deref() == Some(blob))
        })
    }

    fn auth_success(&mut self) {
        self.auth.done = true;
        self.auth_deadline = None;
        self.send(vec![msg::USERAUTH_SUCCESS]);
        // zlib@openssh.com starts after the success message, both ways.
        if self.kex.zlib_sc {
            self.writer.start_compression();
        }
        if self.kex.zlib_cs {
            self.reader.start_decompression();
        }
    }

    /// `send_msg_userauth_failure(0, counted)`: a counted failure is delayed, and the
    /// last allowed one is never sent (the connection closes after the delay).
    fn auth_failure(&mut self, now: Now, counted: bool) {
        let mut out = vec![msg::USERAUTH_FAILURE];
        put_string(&mut out, b"publickey,password");
        out.push(0);
        if !counted {
            return self.send(out);
        }
        self.auth.failures += 1;
        let limits = &self.config.limits;
        let jitter_ns = u64::try_from(limits.auth_failure_jitter.as_nanos())
            .unwrap_or(1)
            .max(1);
        let random = u64::from_be_bytes(self.rng.array::<8>()) % jitter_ns;
        let delay = limits.auth_failure_delay + Duration::from_nanos(random);
        self.paused_until = Some(now.mono + delay);
        let last = self.auth.failures >= limits.max_auth_tries;
        self.auth.delayed = Some((!last).then_some(out));
    }

    /// A failure delay has run out.
    pub(super) fn auth_delay_over(&mut self, now: Now) {
        match self.auth.delayed.take() {
            Some(Some(reply)) => self.send(reply),
            Some(None) => {
                // "Max auth tries reached - user '%s'".
                let value = u64::from(self.config.limits.max_auth_tries);
                self.event(
                    now,
                    EventKind::LimitHit {
                        limit: "ssh_max_auth_tries",
                        value,
                    },
                );
                self.fatal(now);
            }
            None => {}
        }
    }
}

/// Decodes padded standard base64 (an `authorized_keys` key).
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(std::str::from_utf8(text).ok()?).ok()
}
