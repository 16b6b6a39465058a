//! One device, many doors: the emulated device's state that outlives a session and
//! that every door (telnet now; SSH and the web server to come) shares.
//!
//! A real DVR answers on 23, 22 and 80 at once, and a bot that logged in over Telnet
//! and later comes back through SSH or an exploit of the web server is on the same
//! box: the credential it got in with still works (and only that one, by default),
//! the files it wrote are still there, the keys it planted are in
//! `/root/.ssh/authorized_keys`. Each door asks [`DeviceState`] for a shell
//! ([`DeviceState::open_shell`]) and hands it back when its session ends
//! ([`DeviceState::close_shell`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::{AuthPolicy, Credential};
use crate::clock::Now;
use crate::profile::Device;
use crate::shell::{Shell, ShellConfig};
use crate::vfs::{BaseFs, Content, FinishedFile, Node, SourceFiles, Vfs, VfsLimits};

/// Where root's SSH keys live (what a bot plants to come back in).
pub const AUTHORIZED_KEYS: &[u8] = b"/root/.ssh/authorized_keys";

/// Bytes of `authorized_keys` read at most.
const MAX_AUTHORIZED_KEYS: u64 = 64 * 1024;

/// The device and everything about it that sessions share.
#[derive(Debug)]
pub struct DeviceState {
    /// The device's facts.
    pub device: Arc<Device>,
    /// Its file system as shipped, shared by all sessions.
    pub base: Arc<BaseFs>,
    /// Which credentials it accepts, and which one each source got in with.
    pub auth: AuthPolicy,
    /// What each source left on it, kept for its next visit.
    pub files: SourceFiles,
    /// How much one source may write.
    pub vfs_limits: VfsLimits,
    /// The shell's settings and budgets.
    pub shell: ShellConfig,
}

impl DeviceState {
    /// A shell for a session from `src` that has just got in: the device's file system
    /// as that source left it, its pid given.
    pub fn open_shell(&self, src: IpAddr, pid: u32, now: Now) -> Shell {
        let vfs = self
            .files
            .take(src, now.mono)
            .unwrap_or_else(|| Vfs::new(self.base.clone(), self.vfs_limits));
        Shell::with_vfs(self.device.clone(), vfs, self.shell.clone(), pid, now)
    }

    /// A session's shell is done: what the source was still writing is finished (and
    /// returned, to be stored as samples), and what it wrote stays on the device.
    pub fn close_shell(&self, src: IpAddr, shell: Shell, now: Instant) -> Vec<FinishedFile> {
        let Some(mut vfs) = shell.into_vfs() else {
            return Vec::new();
        };
        vfs.finish_all();
        let finished = vfs.take_finished();
        self.files.put(src, vfs, now);
        finished
    }

    /// The credential `src` got in with, while the policy remembers it.
    pub fn credential_of(&self, src: IpAddr, now: Instant) -> Option<Credential> {
        self.auth.credential_of(src, now)
    }

    /// The SSH keys `src` planted in root's `authorized_keys`, one per line, while its
    /// files are kept.
    pub fn planted_keys(&self, src: IpAddr, now: Instant) -> Vec<Vec<u8>> {
        self.files
            .peek(src, now, |vfs| match vfs.read(b"/", AUTHORIZED_KEYS) {
                Ok((_, Node::File(_, content))) if !matches!(content, Content::Proc(_)) => {
                    Some(content.slice(0, content.len().min(MAX_AUTHORIZED_KEYS)))
                }
                _ => None,
            })
            .flatten()
            .map(|text| {
                text.split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets per-source state past its retention; returns (sources with files,
    /// sources with credential state) left.
    pub fn expire(&self, now: Instant) -> (usize, usize) {
        (self.files.expire(now), self.auth.expire(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{parse_credential_table, AuthMode, MIRAI_CREDENTIALS_TSV};
    use crate::profile::Profile;
    use crate::shell::{State, Wait};
    use std::time::{Duration, UNIX_EPOCH};

    fn state() -> DeviceState {
        let profile = Profile::builtin()
            .unwrap()
            .into_iter()
            .find(|p| p.name == "oracle")
            .unwrap();
        let device = Arc::new(Device::new(Arc::new(profile), 7));
        let base = Arc::new(BaseFs::new(&device, 1_700_000_000));
        DeviceState {
            device,
            base,
            auth: AuthPolicy::new(
                AuthMode::Sticky,
                parse_credential_table(MIRAI_CREDENTIALS_TSV),
                Duration::from_secs(3600),
                100,
            ),
            files: SourceFiles::new(Duration::from_secs(3600), 100, 1 << 20),
            vfs_limits: VfsLimits::default(),
            shell: ShellConfig::default(),
        }
    }

    fn run(shell: &mut Shell, now: Now, line: &[u8]) {
        shell.start(line, now);
        loop {
            match shell.poll(now) {
                State::Finished(_) | State::Idle => return,
                State::Waiting(Wait::Stalled) => panic!("stalled"),
                State::Waiting(_) => shell.respond(None),
            }
        }
    }

    #[test]
    fn a_source_finds_its_credential_files_and_keys_through_any_door() {
        let state = state();
        let now = Now {
            mono: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        };
        let bot: IpAddr = "127.0.0.7".parse().unwrap();
        let other: IpAddr = "127.0.0.8".parse().unwrap();
        assert!(state.auth.check(now.mono, bot, b"root", b"xc3511"));
        assert_eq!(
            state.credential_of(bot, now.mono),
            Some((b"root".to_vec(), b"xc3511".to_vec()))
        );
        assert_eq!(state.credential_of(other, now.mono), None);

        // One door: the bot plants a key and drops a file.
        let mut shell = state.open_shell(bot, 400, now);
        run(
            &mut shell,
            now,
            b"mkdir -p /root/.ssh; echo 'ssh-rsa AAAAB3NzaC1yc2E bot@c2' >> /root/.ssh/authorized_keys; echo x > /tmp/.b",
        );
        let finished = state.close_shell(bot, shell, now.mono);
        let paths: Vec<&[u8]> = finished.iter().map(|f| f.path.as_slice()).collect();
        assert_eq!(paths, [&b"/root/.ssh/authorized_keys"[..], b"/tmp/.b"]);
        assert_eq!(
            state.planted_keys(bot, now.mono),
            [b"ssh-rsa AAAAB3NzaC1yc2E bot@c2".to_vec()]
        );
        assert!(state.planted_keys(other, now.mono).is_empty());

        // Another door, later: the same device, as the bot left it.
        let later = now.after(Duration::from_secs(60));
        let mut shell = state.open_shell(bot, 401, later);
        run(&mut shell, later, b"cat /tmp/.b > /tmp/.c");
        let vfs = shell.vfs().unwrap();
        let Ok((_, Node::File(_, content))) = vfs.read(b"/", b"/tmp/.c") else {
            panic!("no /tmp/.c");
        };
        assert_eq!(content.slice(0, 10), b"x\n");
        // Another source sees a fresh device.
        let fresh = state.open_shell(other, 402, later);
        assert!(fresh.vfs().unwrap().read(b"/", b"/tmp/.b").is_err());
    }
}
