//! `staging/<session>/`: the content of files a session is still writing, kept on disk
//! as it grows, so that a crash of the sensor loses nothing. A finished file becomes a
//! sample through [`crate::samples`]; the session's staging directory goes when the
//! session ends. What a crash leaves behind is [`Staging::recover`]ed at the next start.
//!
//! Layout: `peer` (`SRC DST`), and per file `<n>.path` (the device path) and `<n>.data`
//! (its bytes so far). Files are 0600: staged bytes are never executable.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Directory in the data dir.
pub const STAGING_DIR: &str = "staging";

/// The staging area of a data dir.
#[derive(Debug, Clone)]
pub struct Staging {
    dir: PathBuf,
}

/// A file a crashed session was writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The session's id, as its directory is named.
    pub session: String,
    /// Its peer, if the `peer` file survived.
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
        Ok(Self { dir })
    }

    /// The staging of one session; nothing is created before the first bytes come.
    pub fn session(&self, id: &str, src: SocketAddr, dst: SocketAddr) -> SessionStaging {
        SessionStaging {
            dir: self.dir.join(id),
            peer: (src, dst),
            created: false,
            files: HashMap::new(),
        }
    }

    /// Reads and removes what crashed sessions left, oldest directory name first.
    pub fn recover(&self) -> Result<Vec<Recovered>, StoreError> {
        let mut sessions: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        sessions.sort();
        let mut out = Vec::new();
        for dir in sessions {
            let session = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let peer = std::fs::read_to_string(dir.join("peer"))
                .ok()
                .and_then(|t| {
                    let (src, dst) = t.trim().split_once(' ')?;
                    Some((src.parse().ok()?, dst.parse().ok()?))
                });
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| StoreError::io(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "data"))
                .collect();
            names.sort();
            for data_path in names {
                let data = std::fs::read(&data_path).map_err(|e| StoreError::io(&data_path, e))?;
                let path = std::fs::read(data_path.with_extension("path")).unwrap_or_default();
                if !data.is_empty() {
                    out.push(Recovered {
                        session: session.clone(),
                        peer,
                        path,
                        data,
                    });
                }
            }
            std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(out)
    }
}

/// One session's staged files.
#[derive(Debug)]
pub struct SessionStaging {
    dir: PathBuf,
    peer: (SocketAddr, SocketAddr),
    created: bool,
    /// Device path → open staged copy.
    files: HashMap<Vec<u8>, File>,
}

impl SessionStaging {
    /// Writes `data` at `offset` of the staged copy of `path` (0: start afresh).
    pub fn write(&mut self, path: &[u8], offset: u64, data: &[u8]) -> Result<(), StoreError> {
        if !self.created {
            std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
            let peer = self.dir.join("peer");
            std::fs::write(&peer, format!("{} {}\n", self.peer.0, self.peer.1))
                .map_err(|e| StoreError::io(&peer, e))?;
            self.created = true;
        }
        let next = self.files.len();
        let file = match self.files.entry(path.to_vec()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let name = self.dir.join(format!("{next}.path"));
                std::fs::write(&name, path).map_err(|e| StoreError::io(&name, e))?;
                let name = self.dir.join(format!("{next}.data"));
                let file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&name)
                    .map_err(|e| StoreError::io(&name, e))?;
                v.insert(file)
            }
        };
        let io = |e| StoreError::io(&self.dir, e);
        if offset == 0 {
            file.set_len(0).map_err(io)?;
        }
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.write_all(data).map_err(io)?;
        Ok(())
    }

    /// The session ended and its files are samples: the staged copies go.
    pub fn remove(self) -> Result<(), StoreError> {
        drop(self.files);
        if self.created {
            std::fs::remove_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_survive_until_removed_and_are_recovered_once() {
        let tmp = tempfile::tempdir().unwrap();
        let staging = Staging::open(tmp.path()).unwrap();
        let src: SocketAddr = "127.0.0.5:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:2323".parse().unwrap();
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
}
