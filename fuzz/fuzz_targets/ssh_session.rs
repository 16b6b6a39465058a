//! A whole SSH `Session` under attack: either raw bytes from the first byte on
//! (identification, clear packets), or a client that completes the key exchange
//! and logs in and then sends arbitrary messages (channels, requests, data into the
//! shell) with the clock moving, on the oracle device or the camera (whose scp
//! takes uploads). Nothing panics, what the session holds stays within
//! its budgets (libFuzzer's `-rss_limit_mb` and `-malloc_limit_mb` in `scripts/fuzz`
//! check the real allocations), and once closed it stays closed.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_device::{AuthMode, Now};
use busybait_events::{Peer, Protocol, SessionId};
use busybait_ssh::algorithms::{DropbearVersion, HostKeyAlgorithm};
use busybait_ssh::hostkey::HostKey;
use busybait_ssh::msg;
use busybait_ssh::session::{Server, Session, SshConfig, SshLimits};
use busybait_ssh::testing::{client_kexinit, password_request, Client};
use busybait_device::terminal::{Limits, SessionConfig};
use libfuzzer_sys::fuzz_target;

/// The door's configuration for one of two devices: the oracle (no scp), or the
/// camera, whose Dropbear has scp (uploads into the file system and samples).
fn config(camera: bool) -> Arc<SshConfig> {
    static CONFIGS: [OnceLock<Arc<SshConfig>>; 2] = [OnceLock::new(), OnceLock::new()];
    let profile = if camera { "ipcam-mipsel" } else { "oracle" };
    CONFIGS[usize::from(camera)]
        .get_or_init(|| {
            let door = Arc::new(
                SessionConfig::builtin(
                    profile,
                    AuthMode::AcceptAll,
                    Default::default(),
                    Limits::default(),
                )
                .expect("a built-in profile"),
            );
            let keys = vec![
                HostKey::from_seed(HostKeyAlgorithm::Ed25519, [1; 32]),
                HostKey::from_seed(HostKeyAlgorithm::EcdsaP256, [2; 32]),
            ];
            Arc::new(SshConfig {
                device: door,
                server: Server::new(
                    DropbearVersion::V2022_83,
                    true,
                    keys,
                    65536,
                    "/usr/lib/sftp-server",
                ),
                limits: SshLimits::default(),
            })
        })
        .clone()
}

/// Message types the structured half chooses from.
const KINDS: &[u8] = &[
    msg::CHANNEL_OPEN,
    msg::CHANNEL_REQUEST,
    msg::CHANNEL_DATA,
    msg::CHANNEL_WINDOW_ADJUST,
    msg::CHANNEL_EOF,
    msg::CHANNEL_CLOSE,
    msg::GLOBAL_REQUEST,
    msg::USERAUTH_REQUEST,
    msg::SERVICE_REQUEST,
    msg::KEXINIT,
    msg::IGNORE,
    msg::EXT_INFO,
    msg::CHANNEL_EXTENDED_DATA,
    200,
];

fn drain(session: &mut Session, now: Now) -> Vec<u8> {
    let mut out = Vec::new();
    session.poll_transmit(&mut out);
    while session.poll_event().is_some() {}
    while session.poll_sample().is_some() {}
    while session.poll_staged().is_some() {}
    while session.poll_terminal().is_some() {}
    while let Some((id, _)) = session.poll_fetch() {
        session.handle_fetch_result(now, id, busybait_device::shell::FetchResult::Refused);
    }
    out
}

fn bounded(session: &Session) {
    let budget = busybait_device::shell::budget::Budgets::default().memory_bytes;
    // Each of the few channels may hold a shell at its budget.
    assert!(session.memory_used() <= 8 * (budget + (4 << 20)));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut now = Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    };
    let peer = Peer {
        src: "127.0.0.5:40000".parse().expect("address"),
        dst: "127.0.0.1:2222".parse().expect("address"),
        protocol: Protocol::Ssh,
    };
    let config = config(mode & 2 != 0);
    let mut session = Session::new(config.clone(), SessionId::from_u64(1), peer, now, [3; 32]);
    if mode & 1 == 0 {
        // Raw bytes from the start.
        let mut rest = rest;
        while let Some((&n, tail)) = rest.split_first() {
            let take = usize::from(n % 64).min(tail.len());
            let (piece, after) = tail.split_at(take);
            now = now.after(Duration::from_millis(u64::from(n) * 10));
            session.handle_timeout(now);
            session.handle_input(now, piece);
            drain(&mut session, now);
            bounded(&session);
            rest = after;
        }
        return;
    }
    // A client that gets in, then sends what the input says.
    let mut client = Client::new([4; 32]);
    let greeting = drain(&mut session, now);
    client.greeting(&greeting).expect("greeting");
    let hello = client.hello(client_kexinit(
        "curve25519-sha256,kex-strict-c-v00@openssh.com",
        "aes128-ctr",
        "chacha20-poly1305@openssh.com",
        false,
    ));
    session.handle_input(now, &hello);
    let out = drain(&mut session, now);
    let newkeys = client
        .finish_kex(&config.server.lists, &out, true)
        .expect("kex");
    session.handle_input(now, &newkeys);
    assert!(drain(&mut session, now).is_empty());
    let login = client.seal(&password_request("root", "xc3511"));
    session.handle_input(now, &login);
    let out = drain(&mut session, now);
    let replies = client.packets(&out).expect("the login's reply");
    assert_eq!(replies, [vec![msg::USERAUTH_SUCCESS]]);
    let mut rest = rest;
    while let Some((&head, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let take = usize::from(len).min(tail.len());
        let (body, after) = tail.split_at(take);
        let kind = KINDS[usize::from(head) % KINDS.len()];
        let mut payload = vec![kind];
        payload.extend_from_slice(body);
        now = now.after(Duration::from_millis(u64::from(head >> 4) * 50));
        session.handle_timeout(now);
        let wire = client.seal(&payload);
        session.handle_input(now, &wire);
        for _ in 0..64 {
            if !session.is_computing() {
                break;
            }
            session.handle_timeout(now);
        }
        let out = drain(&mut session, now);
        // The server's packets always parse for a client with the right keys.
        if !session.is_closed() {
            client.packets(&out).expect("the server's packets");
        }
        bounded(&session);
        rest = after;
    }
    let was_closed = session.is_closed();
    session.handle_input(now, b"more");
    if was_closed {
        assert!(session.is_closed());
    }
});
