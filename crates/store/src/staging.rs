//! `staging/<session>.log`: the content of files a session is still writing, kept on
//! disk as it grows, so that a crash of the sensor loses nothing. A finished file
//! becomes a sample through [`crate::samples`]; the session's log goes when the session
//! ends. What a crash leaves behind is [`Staging::recover`]ed at the next start.
//!
//! One append-only file per session (0600: staged bytes are never executable), not a
//! directory of files: creating and deleting inodes was a quarter of the CPU of a
//! Mirai loader session on ext4. For the same reason a finished session's log is
//! emptied and handed to a later session rather than deleted (ext4 scans past every
//! recently deleted inode when it allocates one): up to [`MAX_FREE_LOGS`] empty logs
//! wait for reuse, so a log's name need not be its session's. Records: `S` + u32
//! length + the session id, `P` + u32 length + `SRC DST` (first), then per write `W` +
//! u32 path length + path + u64 offset + u32 length + bytes (integers little-endian;
//! offset 0 starts the file afresh). A torn last record is ignored; an empty log is
//! nothing staged. Logs without `S` (earlier versions) are named after their session,
//! and directories `staging/<session>/` left by earlier versions are still recovered.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::StoreError;

/// Directory in the data dir.
pub const STAGING_DIR: &str = "staging";

/// Emptied logs kept for reuse at most (more are deleted).
pub const MAX_FREE_LOGS: usize = 256;

/// The staging area of a data dir.
#[derive(Debug, Clone)]
pub struct Staging {
    dir: PathBuf,
    /// Emptied logs waiting for a session.
    free: Arc<Mutex<Vec<PathBuf>>>,
}

/// A file a crashed session was writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The session's id, as its log is named.
    pub session: String,
    /// Its peer, if it was recorded.
    pub peer: Option<(SocketAddr, SocketAddr)>,
    /// The file on the device.
    pub path: Vec<u8>,
    /// The bytes staged before the crash.
    pub data: Vec<u8>,
}

impl Staging {
    /// Opens (creating) `data_dir/staging`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join(STAGING_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(Self {
            dir,
            free: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The staging of one session; nothing is created before the first bytes come.
    pub fn session(&self, id: &str, src: SocketAddr, dst: SocketAddr) -> SessionStaging {
        SessionStaging {
            log: None,
            dir: self.dir.clone(),
            free: self.free.clone(),
            id: id.to_string(),
            peer: (src, dst),
            sizes: HashMap::new(),
            logged: 0,
        }
    }

    /// Reads and removes what crashed sessions left, oldest name first.
    pub fn recover(&self) -> Result<Vec<Recovered>, StoreError> {
        let entries: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        // A rewrite cut short by the crash: the log it was to replace is still whole.
        for half_done in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "compact"))
        {
            std::fs::remove_file(half_done).map_err(|e| StoreError::io(half_done, e))?;
        }
        let mut left: Vec<PathBuf> = entries
            .into_iter()
            .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "log"))
            .collect();
        left.sort();
        let mut out = Vec::new();
        for path in left {
            let session = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                recover_dir(&path, &session, &mut out)?;
                std::fs::remove_dir_all(&path).map_err(|e| StoreError::io(&path, e))?;
            } else {
                let log = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
                replay(&log, &session, &mut out);
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                self.free
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|p| *p != path);
            }
        }
        Ok(out)
    }
}

/// Largest file a log is trusted to describe.
const MAX_RECOVERED_FILE: usize = 256 << 20;

/// Rebuilds the files of one session's log, in the order they were first written
/// (`session` names it unless the log says).
fn replay(log: &[u8], session: &str, out: &mut Vec<Recovered>) {
    let mut session = session.to_string();
    let mut peer = None;
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut rest = log;
    while let Some((&kind, after)) = rest.split_first() {
        let Some((first, after)) = take_field(after) else {
            break;
        };
        match kind {
            b'S' => {
                session = String::from_utf8_lossy(first).into_owned();
                rest = after;
            }
            b'P' => {
                peer = std::str::from_utf8(first).ok().and_then(parse_peer);
                rest = after;
            }
            b'W' => {
                let Some(offset) = after.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                    break;
                };
                let Some((data, after)) = after.get(8..).and_then(take_field) else {
                    break;
                };
                let i = *index.entry(first.to_vec()).or_insert_with(|| {
                    files.push((first.to_vec(), Vec::new()));
                    files.len() - 1
                });
                if let Some((_, content)) = files.get_mut(i) {
                    let offset = u64::from_le_bytes(offset) as usize;
                    if offset == 0 {
                        content.clear();
                    }
                    let end = offset.saturating_add(data.len());
                    if end > MAX_RECOVERED_FILE {
                        // Not a log this sensor wrote (its files are far smaller).
                        break;
                    }
                    if content.len() < end {
                        content.resize(end, 0);
                    }
                    if let Some(dst) = content.get_mut(offset..end) {
                        dst.copy_from_slice(data);
                    }
                }
                rest = after;
            }
            _ => break,
        }
    }
    for (path, data) in files {
        if !data.is_empty() {
            out.push(Recovered {
                session: session.clone(),
                peer,
                path,
                data,
            });
        }
    }
}

/// `SRC DST`, as a session's staging records its addresses.
fn parse_peer(text: &str) -> Option<(SocketAddr, SocketAddr)> {
    let (src, dst) = text.trim().split_once(' ')?;
    Some((src.parse().ok()?, dst.parse().ok()?))
}

/// A u32-length-prefixed field and what follows it.
fn take_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let field = bytes.get(4..4 + len)?;
    Some((field, bytes.get(4 + len..)?))
}

/// The layout of earlier versions: `peer`, `<n>.path`, `<n>.data` in a directory.
fn recover_dir(dir: &Path, session: &str, out: &mut Vec<Recovered>) -> Result<(), StoreError> {
    let peer = std::fs::read_to_string(dir.join("peer"))
        .ok()
        .and_then(|t| parse_peer(&t));
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| StoreError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    names.sort();
    for data_path in names {
        let data = std::fs::read(&data_path).map_err(|e| StoreError::io(&data_path, e))?;
        let path = std::fs::read(data_path.with_extension("path")).unwrap_or_default();
        if !data.is_empty() {
            out.push(Recovered {
                session: session.to_string(),
                peer,
                path,
                data,
            });
        }
    }
    Ok(())
}

/// One session's staging log.
#[derive(Debug)]
pub struct SessionStaging {
    /// The log, once the first bytes came (a reused empty one, or a new one).
    log: Option<PathBuf>,
    dir: PathBuf,
    free: Arc<Mutex<Vec<PathBuf>>>,
    id: String,
    peer: (SocketAddr, SocketAddr),
    /// Current size of each staged file.
    sizes: HashMap<Vec<u8>, u64>,
    /// Bytes in the log.
    logged: u64,
}

/// Log bytes beyond twice the staged files' size that trigger a rewrite of the log
/// (a bot rewriting one file again and again must not grow it without end).
const COMPACT_SLACK: u64 = 1 << 20;

impl SessionStaging {
    /// Records `data` written at `offset` of `path` (0: the file starts afresh). The
    /// log is opened, appended to and closed: a session holds no descriptor.
    pub fn write(&mut self, path: &[u8], offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let mut record = Vec::with_capacity(64 + path.len() + data.len());
        let log = match &self.log {
            Some(log) => log.clone(),
            None => {
                self.header(&mut record);
                let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
                reused.unwrap_or_else(|| self.dir.join(format!("{}.log", self.id)))
            }
        };
        record.push(b'W');
        push_field(&mut record, path);
        record.extend_from_slice(&offset.to_le_bytes());
        push_field(&mut record, data);
        let io = |e| StoreError::io(&log, e);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(io)?;
        file.write_all(&record).map_err(io)?;
        self.log = Some(log);
        self.logged += record.len() as u64;
        let end = offset.saturating_add(data.len() as u64);
        let size = self.sizes.entry(path.to_vec()).or_insert(0);
        *size = if offset == 0 { end } else { (*size).max(end) };
        let live: u64 = self.sizes.values().sum();
        if self.logged > live.saturating_mul(2).saturating_add(COMPACT_SLACK) {
            self.compact()?;
        }
        Ok(())
    }

    /// The records that open a log: whose it is.
    fn header(&self, record: &mut Vec<u8>) {
        record.push(b'S');
        push_field(record, self.id.as_bytes());
        let peer = format!("{} {}", self.peer.0, self.peer.1);
        record.push(b'P');
        push_field(record, peer.as_bytes());
    }

    /// Rewrites the log as one record per file (written aside, renamed over it).
    fn compact(&mut self) -> Result<(), StoreError> {
        let Some(path) = self.log.clone() else {
            return Ok(());
        };
        let io = |e| StoreError::io(&path, e);
        let old = std::fs::read(&path).map_err(io)?;
        let mut files = Vec::new();
        replay(&old, "", &mut files);
        let mut log = Vec::new();
        self.header(&mut log);
        for f in &files {
            log.push(b'W');
            push_field(&mut log, &f.path);
            log.extend_from_slice(&0u64.to_le_bytes());
            push_field(&mut log, &f.data);
        }
        let tmp = path.with_extension("compact");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&log).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        self.logged = log.len() as u64;
        Ok(())
    }

    /// The session ended and its files are samples: the log is emptied for a later
    /// session (or deleted when enough wait already).
    pub fn remove(self) -> Result<(), StoreError> {
        let Some(log) = self.log else {
            return Ok(());
        };
        let io = |e| StoreError::io(&log, e);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() >= MAX_FREE_LOGS {
            return std::fs::remove_file(&log).map_err(io);
        }
        OpenOptions::new()
            .write(true)
            .open(&log)
            .and_then(|f| f.set_len(0))
            .map_err(io)?;
        free.push(log);
        Ok(())
    }
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> (tempfile::TempDir, Staging, SocketAddr, SocketAddr) {
        let tmp = tempfile::tempdir().unwrap();
        let staging = Staging::open(tmp.path()).unwrap();
        let src: SocketAddr = "127.0.0.5:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:2323".parse().unwrap();
        (tmp, staging, src, dst)
    }

    #[test]
    fn staged_files_survive_until_removed_and_are_recovered_once() {
        let (_tmp, staging, src, dst) = area();
        let mut a = staging.session("00000000000a", src, dst);
        a.write(b"/tmp/upnp", 0, b"\x7fELF").unwrap();
        a.write(b"/tmp/upnp", 4, b"\x01\x02").unwrap();
        a.write(b"/tmp/x", 0, b"old content").unwrap();
        a.write(b"/tmp/x", 0, b"new").unwrap();
        let b = staging.session("00000000000b", src, dst);
        b.remove().unwrap();
        let mut c = staging.session("00000000000c", src, dst);
        c.write(b"/var/gone", 0, b"z").unwrap();
        c.remove().unwrap();
        // `a` "crashed": never removed.
        let recovered = staging.recover().unwrap();
        assert_eq!(
            recovered,
            [
                Recovered {
                    session: "00000000000a".into(),
                    peer: Some((src, dst)),
                    path: b"/tmp/upnp".to_vec(),
                    data: b"\x7fELF\x01\x02".to_vec(),
                },
                Recovered {
                    session: "00000000000a".into(),
                    peer: Some((src, dst)),
                    path: b"/tmp/x".to_vec(),
                    data: b"new".to_vec(),
                },
            ]
        );
        assert_eq!(staging.recover().unwrap(), []);
    }

    #[test]
    fn rewriting_a_file_again_and_again_keeps_the_log_bounded() {
        let (tmp, staging, src, dst) = area();
        let mut a = staging.session("00000000000e", src, dst);
        let log = tmp.path().join("staging/00000000000e.log");
        for round in 0..100u8 {
            a.write(b"/tmp/x", 0, &[round; 64 * 1024]).unwrap();
            let size = std::fs::metadata(&log).unwrap().len();
            assert!(
                size <= 2 * 64 * 1024 + COMPACT_SLACK + 1024,
                "round {round}: {size}"
            );
        }
        a.write(b"/tmp/y", 0, b"tail").unwrap();
        let recovered = staging.recover().unwrap();
        let got: Vec<(&[u8], usize, u8)> = recovered
            .iter()
            .map(|r| (r.path.as_slice(), r.data.len(), r.data[0]))
            .collect();
        assert_eq!(
            got,
            [(&b"/tmp/x"[..], 65_536, 99), (&b"/tmp/y"[..], 4, b't')]
        );
        assert_eq!(recovered[0].peer, Some((src, dst)));
    }

    #[test]
    fn an_ended_sessions_log_is_emptied_and_reused_under_the_next_sessions_id() {
        let (tmp, staging, src, dst) = area();
        let mut first = staging.session("0000000000f1", src, dst);
        first.write(b"/tmp/a", 0, b"first").unwrap();
        first.remove().unwrap();
        let log = tmp.path().join("staging/0000000000f1.log");
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        let mut second = staging.session("0000000000f2", src, dst);
        second.write(b"/tmp/b", 0, b"second").unwrap();
        // Still the one file (no inode made or freed), now holding the second session.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("staging"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["0000000000f1.log"]);
        let recovered = staging.recover().unwrap();
        assert_eq!(
            recovered,
            [Recovered {
                session: "0000000000f2".into(),
                peer: Some((src, dst)),
                path: b"/tmp/b".to_vec(),
                data: b"second".to_vec(),
            }]
        );
        assert!(!log.exists());
    }

    #[test]
    fn a_torn_last_record_is_ignored() {
        let (tmp, staging, src, dst) = area();
        let mut a = staging.session("00000000000d", src, dst);
        a.write(b"/var/upnp", 0, b"0123456789").unwrap();
        a.write(b"/var/upnp", 10, b"abcdef").unwrap();
        let log = tmp.path().join("staging/00000000000d.log");
        let bytes = std::fs::read(&log).unwrap();
        std::fs::write(&log, &bytes[..bytes.len() - 3]).unwrap();
        let recovered = staging.recover().unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].data, b"0123456789");
        assert!(!log.exists());
    }
}
