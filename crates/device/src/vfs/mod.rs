//! The emulated device's file system: never the host's.
//!
//! A [`BaseFs`] is built once per device from its profile (directories, applet links,
//! `/etc`, a synthetic `/bin/busybox` of the profile's size and architecture, `/proc`
//! files generated on read) and shared by every session behind an `Arc`. Each session
//! writes into its own copy-on-write [`Vfs`] overlay; copying a file shares its
//! content (`cp /bin/echo dvrHelper` costs a pointer). Paths are plain byte strings
//! resolved here (`.`, `..`, symlinks with a loop limit); nothing reaches the host.
//! The overlay has caps on bytes and files; hitting one is `ENOSPC`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::profile::Device;

/// Symlinks followed in one lookup before `ELOOP`, as Linux.
mod base;
mod sources;

use base::dir;
pub use base::{applet_path, BaseFs, DROPBEAR_PATH};
pub use sources::SourceFiles;

const MAX_SYMLINKS: usize = 40;
/// Longest path accepted (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Longest name in a directory (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The errors the file system can give, with Linux's texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Errno {
    /// ENOENT
    #[error("No such file or directory")]
    NoEnt,
    /// ENOTDIR
    #[error("Not a directory")]
    NotDir,
    /// EISDIR
    #[error("Is a directory")]
    IsDir,
    /// EROFS
    #[error("Read-only file system")]
    ReadOnly,
    /// EEXIST
    #[error("File exists")]
    Exists,
    /// ENOTEMPTY
    #[error("Directory not empty")]
    NotEmpty,
    /// ELOOP
    #[error("Symbolic link loop")]
    Loop,
    /// ENOSPC
    #[error("No space left on device")]
    NoSpace,
    /// EFBIG
    #[error("File too large")]
    TooBig,
    /// EACCES
    #[error("Permission denied")]
    Access,
    /// EINVAL
    #[error("Invalid argument")]
    Invalid,
    /// ENAMETOOLONG
    #[error("File name too long")]
    NameTooLong,
    /// EBUSY
    #[error("Resource busy")]
    Busy,
}

/// Owner, mode and time of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (and setuid/sticky), without the file type.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// Files whose content is generated when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    /// `/proc/cpuinfo`
    CpuInfo,
    /// `/proc/mounts`
    Mounts,
    /// `/proc/meminfo`
    MemInfo,
    /// `/proc/version`
    Version,
    /// `/proc/uptime`
    Uptime,
    /// `/proc/loadavg`
    LoadAvg,
}

/// What a regular file holds.
#[derive(Clone, Debug, Eq)]
pub enum Content {
    /// Literal bytes (shared between copies; appended to in place when not shared).
    Bytes(Arc<Vec<u8>>),
    /// The device's BusyBox: a synthetic ELF executable (a real header, then
    /// deterministic filler) or the operator's real image, built once per sensor and
    /// shared (every Mirai loader `cat`s it whole).
    Elf(Arc<Vec<u8>>),
    /// Generated on read.
    Proc(ProcFile),
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        // Shared bytes first: every `/bin/busybox ...` compares the multi-megabyte
        // image with itself.
        match (self, other) {
            (Content::Bytes(a), Content::Bytes(b)) => Arc::ptr_eq(a, b) || a == b,
            (Content::Elf(a), Content::Elf(b)) => Arc::ptr_eq(a, b) || a == b,
            (Content::Proc(a), Content::Proc(b)) => a == b,
            _ => false,
        }
    }
}

impl Content {
    /// The bytes of a stored file; empty for generated ones.
    fn stored(&self) -> &[u8] {
        match self {
            Content::Bytes(b) => b,
            Content::Elf(image) => image,
            Content::Proc(_) => &[],
        }
    }

    /// Size in bytes (generated files report 0, as in /proc).
    pub fn len(&self) -> u64 {
        self.stored().len() as u64
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole stored bytes, shared (no copy); `None` for a generated file.
    pub fn shared(&self) -> Option<Arc<Vec<u8>>> {
        match self {
            Content::Bytes(b) | Content::Elf(b) => Some(b.clone()),
            Content::Proc(_) => None,
        }
    }

    /// Bytes `[start, start+len)` of a stored (not generated) file.
    pub fn slice(&self, start: u64, len: u64) -> Vec<u8> {
        let end = start.saturating_add(len).min(self.len());
        self.stored()
            .get(start as usize..end as usize)
            .unwrap_or_default()
            .to_vec()
    }
}

/// The header followed by filler up to `size` bytes.
fn synthetic_elf(header: &[u8], size: u64) -> Arc<Vec<u8>> {
    let body_start = header.len() as u64;
    Arc::new(
        header
            .iter()
            .copied()
            .chain((body_start..size).map(elf_filler))
            .collect(),
    )
}

/// Filler for the body of the synthetic BusyBox: deterministic, code-like entropy
/// (not zeros, which no stripped binary has), no host data.
fn elf_filler(i: u64) -> u8 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x >> 56) as u8
}

/// Kind of a special file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialFile {
    /// /dev/null
    Null,
    /// /dev/zero
    Zero,
    /// /dev/urandom, /dev/random
    Random,
    /// /dev/tty, /dev/console
    Tty,
}

/// One file-system object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory (its children are the paths below it).
    Dir(Meta),
    /// A regular file.
    File(Meta, Content),
    /// A symbolic link.
    Symlink(Meta, Vec<u8>),
    /// A character device.
    Char(Meta, SpecialFile),
}

impl Node {
    /// The node's metadata.
    pub fn meta(&self) -> &Meta {
        match self {
            Node::Dir(m) | Node::File(m, _) | Node::Symlink(m, _) | Node::Char(m, _) => m,
        }
    }

    fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Node::Dir(m) | Node::File(m, _) | Node::Symlink(m, _) | Node::Char(m, _) => m,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir(_))
    }

    /// The `ls -l` type character.
    pub fn type_char(&self) -> char {
        match self {
            Node::Dir(_) => 'd',
            Node::File(..) => '-',
            Node::Symlink(..) => 'l',
            Node::Char(..) => 'c',
        }
    }

    /// Size as `ls -l` shows it.
    pub fn size(&self) -> u64 {
        match self {
            Node::File(_, c) => c.len(),
            Node::Symlink(_, t) => t.len() as u64,
            Node::Dir(_) => 0,
            Node::Char(..) => 0,
        }
    }
}

/// Caps on what one overlay may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VfsLimits {
    /// Bytes of file content written.
    pub max_bytes: u64,
    /// Files and directories created.
    pub max_nodes: usize,
    /// Bytes of one file.
    pub max_file_bytes: u64,
}

impl Default for VfsLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_nodes: 4096,
            max_file_bytes: 8 * 1024 * 1024,
        }
    }
}

pub use busybait_events::FileOrigin as Origin;

/// A file the attacker finished writing: what the capture stores as a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedFile {
    /// Where it was on the device.
    pub path: Vec<u8>,
    /// Its content.
    pub data: Arc<Vec<u8>>,
    /// How it got there.
    pub origin: Origin,
}

/// One session's view: the shared base plus its own changes.
#[derive(Debug, Clone)]
pub struct Vfs {
    base: Arc<BaseFs>,
    /// Changed paths; `None` is a deletion.
    overlay: BTreeMap<Vec<u8>, Option<Node>>,
    bytes: u64,
    limits: VfsLimits,
    /// Files written since they were last captured, with how they came.
    dirty: BTreeMap<Vec<u8>, Origin>,
    /// Captured files not yet taken by the session.
    finished: Vec<FinishedFile>,
    /// Of each file being written, the bytes already handed out for staging.
    staged: BTreeMap<Vec<u8>, u64>,
    /// Files written since staging last looked.
    changed: BTreeSet<Vec<u8>>,
}

/// New bytes of a file being written, for the edge to stage on disk so that a crash
/// loses nothing: write `data` at `offset` (0 means start the staged copy afresh).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedBytes {
    /// The file on the device.
    pub path: Vec<u8>,
    /// Where `data` goes in the staged copy.
    pub offset: u64,
    /// The new bytes.
    pub data: Vec<u8>,
}

impl StagedBytes {
    /// Folds a later delta of the same file into this one, so that a queue holds one
    /// entry per file however many writes a command line makes.
    pub fn merge(&mut self, next: StagedBytes) {
        match next.offset.checked_sub(self.offset) {
            Some(at) if at <= self.data.len() as u64 => {
                self.data
                    .truncate(usize::try_from(at).unwrap_or(usize::MAX));
                self.data.extend_from_slice(&next.data);
            }
            // A fresh start of the file (offset 0) supersedes what is pending.
            _ => *self = next,
        }
    }
}

/// Pending staged bytes, one entry per file.
pub type StagedQueue = BTreeMap<Vec<u8>, StagedBytes>;

/// Adds `bytes` to `queue`, merged into the file's pending entry if it has one.
pub fn queue_staged(queue: &mut StagedQueue, bytes: StagedBytes) {
    match queue.get_mut(&bytes.path) {
        Some(pending) => pending.merge(bytes),
        None => {
            queue.insert(bytes.path.clone(), bytes);
        }
    }
}

/// Joins `path` to `cwd` and normalises `.` and `..` lexically (symlinks are handled
/// during lookup).
pub fn absolute(cwd: &[u8], path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let joined: Vec<u8>;
    let full: &[u8] = if path.first() == Some(&b'/') {
        path
    } else {
        joined = [cwd, b"/", path].concat();
        &joined
    };
    for part in full.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = Vec::with_capacity(full.len());
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

fn parent_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => path.get(..i).unwrap_or(b"/"),
    }
}

/// The last component of a path.
pub fn base_name(path: &[u8]) -> &[u8] {
    let trimmed = if path.len() > 1 {
        path.strip_suffix(b"/").unwrap_or(path)
    } else {
        path
    };
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => trimmed.get(i + 1..).unwrap_or_default(),
        None => trimmed,
    }
}

impl Vfs {
    /// A fresh view of `base`.
    pub fn new(base: Arc<BaseFs>, limits: VfsLimits) -> Self {
        Self {
            base,
            overlay: BTreeMap::new(),
            bytes: 0,
            limits,
            dirty: BTreeMap::new(),
            finished: Vec::new(),
            staged: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }

    /// Captures a written file now (it was executed, chmod-ed, removed, overwritten,
    /// or the session ends). Empty files and copies of base files are not samples.
    pub fn finish(&mut self, canonical: &[u8]) {
        self.staged.remove(canonical);
        let Some(origin) = self.dirty.remove(canonical) else {
            return;
        };
        if let Some(Node::File(_, Content::Bytes(data))) = self.get(canonical) {
            if !data.is_empty() {
                let data = data.clone();
                self.finished.push(FinishedFile {
                    path: canonical.to_vec(),
                    data,
                    origin,
                });
            }
        }
    }

    /// Captures every file still being written (the session ends).
    pub fn finish_all(&mut self) {
        let paths: Vec<Vec<u8>> = self.dirty.keys().cloned().collect();
        for p in paths {
            self.finish(&p);
        }
        self.changed.clear();
    }

    /// What files being written gained since the last call (see [`StagedBytes`]).
    pub fn take_staged(&mut self) -> Vec<StagedBytes> {
        let mut out = Vec::new();
        for path in std::mem::take(&mut self.changed) {
            if !self.dirty.contains_key(&path) {
                continue;
            }
            let Some(Node::File(_, Content::Bytes(data))) = self.get(&path) else {
                continue;
            };
            let len = data.len() as u64;
            let done = self.staged.get(&path).copied().unwrap_or(0);
            let (offset, new) = if len < done {
                (0, data.as_slice())
            } else {
                let from = usize::try_from(done).unwrap_or(usize::MAX);
                (done, data.get(from..).unwrap_or_default())
            };
            if new.is_empty() && offset > 0 {
                continue;
            }
            out.push(StagedBytes {
                path: path.clone(),
                offset,
                data: new.to_vec(),
            });
            self.staged.insert(path, len);
        }
        out
    }

    /// Captures a download that went to stdout (`wget -O - URL | sh`): it never becomes
    /// a file, so it is a sample at once, with the path `-`.
    pub fn capture_stream(&mut self, data: &[u8], url: String) {
        if !data.is_empty() {
            self.finished.push(FinishedFile {
                path: b"-".to_vec(),
                data: Arc::new(data.to_vec()),
                origin: Origin::Downloaded(url),
            });
        }
    }

    /// Records how a file being written came (a download tool's URL, an upload's
    /// name).
    pub fn set_origin(&mut self, canonical: &[u8], origin: Origin) {
        self.dirty.insert(canonical.to_vec(), origin);
    }

    /// Captured files since the last call.
    pub fn take_finished(&mut self) -> Vec<FinishedFile> {
        std::mem::take(&mut self.finished)
    }

    /// The shared base.
    pub fn base(&self) -> &BaseFs {
        &self.base
    }

    fn get(&self, path: &[u8]) -> Option<&Node> {
        match self.overlay.get(path) {
            Some(entry) => entry.as_ref(),
            None => self.base.nodes.get(path),
        }
    }

    /// Resolves symlinks in every component (and in the last one if `follow`);
    /// returns the canonical path and its node.
    pub fn lookup(&self, cwd: &[u8], path: &[u8], follow: bool) -> Result<(Vec<u8>, &Node), Errno> {
        let canonical = self.resolve(cwd, path, follow)?;
        let node = self.get(&canonical).ok_or(Errno::NoEnt)?;
        Ok((canonical, node))
    }

    /// Canonical path of `path` (which need not exist; its parent must).
    pub fn resolve(&self, cwd: &[u8], path: &[u8], follow: bool) -> Result<Vec<u8>, Errno> {
        if path.is_empty() {
            return Err(Errno::NoEnt);
        }
        if path.len() > PATH_MAX {
            return Err(Errno::NameTooLong);
        }
        let mut pending: Vec<Vec<u8>> = absolute(cwd, path)
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .rev()
            .collect();
        let trailing_slash = path.ends_with(b"/");
        let mut current: Vec<u8> = b"/".to_vec();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part.len() > NAME_MAX {
                return Err(Errno::NameTooLong);
            }
            if part == b".." {
                current = parent_of(&current).to_vec();
                continue;
            }
            if part == b"." {
                continue;
            }
            match self.get(&current) {
                Some(Node::Dir(_)) => {}
                Some(_) => return Err(Errno::NotDir),
                None => return Err(Errno::NoEnt),
            }
            let next = if current == b"/" {
                [b"/", &part[..]].concat()
            } else {
                [&current[..], b"/", &part[..]].concat()
            };
            let last = pending.is_empty();
            if let Some(Node::Symlink(_, target)) = self.get(&next) {
                if !last || follow || trailing_slash {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::Loop);
                    }
                    let target = target.clone();
                    if target.first() == Some(&b'/') {
                        current = b"/".to_vec();
                    }
                    for p in target.split(|&b| b == b'/').filter(|p| !p.is_empty()).rev() {
                        pending.push(p.to_vec());
                    }
                    continue;
                }
            }
            current = next;
        }
        if trailing_slash {
            match self.get(&current) {
                Some(Node::Dir(_)) | None => {}
                Some(_) => return Err(Errno::NotDir),
            }
        }
        Ok(current)
    }

    /// Names in a directory, sorted (without `.` and `..`).
    pub fn list(&self, dir: &[u8]) -> Vec<Vec<u8>> {
        let prefix: Vec<u8> = if dir == b"/" {
            b"/".to_vec()
        } else {
            [dir, b"/"].concat()
        };
        let mut names: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for (source_is_overlay, path, present) in self
            .base
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| (false, k, true))
            .chain(
                self.overlay
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (true, k, v.is_some())),
            )
        {
            let rest = path.get(prefix.len()..).unwrap_or_default();
            if rest.is_empty() || rest.contains(&b'/') {
                continue;
            }
            if source_is_overlay || !names.contains_key(rest) {
                names.insert(rest.to_vec(), present);
            }
        }
        names
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(n, _)| n)
            .collect()
    }

    fn writable(&self, path: &[u8]) -> Result<(), Errno> {
        match self.base.mount_for(path) {
            Some(m) if m.fstype == "proc" || m.fstype == "sysfs" => Err(Errno::NoEnt),
            Some(m) if !m.writable => Err(Errno::ReadOnly),
            _ => Ok(()),
        }
    }

    fn check_parent(&self, path: &[u8]) -> Result<(), Errno> {
        match self.get(parent_of(path)) {
            Some(Node::Dir(_)) => Ok(()),
            Some(_) => Err(Errno::NotDir),
            None => Err(Errno::NoEnt),
        }
    }

    fn put(&mut self, path: Vec<u8>, node: Node) -> Result<(), Errno> {
        let old = self.get(&path).map(|n| match n {
            Node::File(_, Content::Bytes(b)) => b.len() as u64,
            _ => 0,
        });
        let new = match &node {
            Node::File(_, Content::Bytes(b)) => b.len() as u64,
            _ => 0,
        };
        if new > self.limits.max_file_bytes {
            return Err(Errno::TooBig);
        }
        let bytes = self.bytes - old.unwrap_or(0).min(self.bytes) + new;
        let is_new = !self.overlay.contains_key(&path);
        if bytes > self.limits.max_bytes || (is_new && self.overlay.len() >= self.limits.max_nodes)
        {
            return Err(Errno::NoSpace);
        }
        self.bytes = bytes;
        self.overlay.insert(path, Some(node));
        Ok(())
    }

    /// Opens for writing as the shell's `>`/`>>` do: creates or truncates (or
    /// appends), following a symlink at the end. Returns the canonical path.
    pub fn write(
        &mut self,
        cwd: &[u8],
        path: &[u8],
        data: &[u8],
        append: bool,
        now: u64,
    ) -> Result<Vec<u8>, Errno> {
        let canonical = self.resolve(cwd, path, true)?;
        match self.get(&canonical) {
            Some(Node::Dir(_)) => return Err(Errno::IsDir),
            Some(Node::Char(..)) => return Ok(canonical),
            Some(Node::File(_, Content::Proc(_))) => return Err(Errno::Access),
            _ => {}
        }
        self.check_parent(&canonical)?;
        self.writable(&canonical)?;
        if !append {
            // Truncating a file being written captures what it held.
            self.finish(&canonical);
        } else if let Some(Some(Node::File(meta, Content::Bytes(bytes)))) =
            self.overlay.get_mut(&canonical)
        {
            // Appending (an `echo -ne … >> upnp` chain) grows the file in place.
            if (bytes.len() + data.len()) as u64 > self.limits.max_file_bytes {
                return Err(Errno::TooBig);
            }
            let total = self.bytes + data.len() as u64;
            if total > self.limits.max_bytes {
                return Err(Errno::NoSpace);
            }
            Arc::make_mut(bytes).extend_from_slice(data);
            meta.mtime = now;
            self.bytes = total;
            self.dirty
                .entry(canonical.clone())
                .or_insert(Origin::Written);
            self.changed.insert(canonical.clone());
            return Ok(canonical);
        }
        let (meta, mut content) = match self.get(&canonical) {
            Some(Node::File(meta, c)) => (
                *meta,
                if append {
                    c.slice(0, c.len())
                } else {
                    Vec::new()
                },
            ),
            _ => (
                Meta {
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    mtime: now,
                },
                Vec::new(),
            ),
        };
        content.extend_from_slice(data);
        let meta = Meta { mtime: now, ..meta };
        self.put(
            canonical.clone(),
            Node::File(meta, Content::Bytes(Arc::new(content))),
        )?;
        self.dirty
            .entry(canonical.clone())
            .or_insert(Origin::Written);
        self.changed.insert(canonical.clone());
        Ok(canonical)
    }

    /// Reads a whole file (generated files are produced by `generate`).
    pub fn read(&self, cwd: &[u8], path: &[u8]) -> Result<(Vec<u8>, Node), Errno> {
        let (canonical, node) = self.lookup(cwd, path, true)?;
        let node = node.clone();
        match &node {
            Node::Dir(_) => Err(Errno::IsDir),
            _ => Ok((canonical, node)),
        }
    }

    /// Creates a directory.
    pub fn mkdir(&mut self, cwd: &[u8], path: &[u8], now: u64) -> Result<(), Errno> {
        let canonical = self.resolve(cwd, path, false)?;
        if self.get(&canonical).is_some() {
            return Err(Errno::Exists);
        }
        self.check_parent(&canonical)?;
        self.writable(&canonical)?;
        self.put(canonical, dir(0o755, now))
    }

    /// Removes a file or symlink.
    pub fn unlink(&mut self, cwd: &[u8], path: &[u8]) -> Result<(), Errno> {
        let canonical = self.resolve(cwd, path, false)?;
        match self.get(&canonical) {
            None => Err(Errno::NoEnt),
            Some(Node::Dir(_)) => Err(Errno::IsDir),
            Some(_) => {
                self.writable(&canonical)?;
                self.finish(&canonical);
                self.remove_entry(canonical);
                Ok(())
            }
        }
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, cwd: &[u8], path: &[u8]) -> Result<(), Errno> {
        let canonical = self.resolve(cwd, path, false)?;
        match self.get(&canonical) {
            None => Err(Errno::NoEnt),
            Some(Node::Dir(_)) => {
                if !self.list(&canonical).is_empty() {
                    return Err(Errno::NotEmpty);
                }
                if canonical == b"/" || self.base.mounts.iter().any(|m| m.path == canonical) {
                    return Err(Errno::Busy);
                }
                self.writable(&canonical)?;
                self.remove_entry(canonical);
                Ok(())
            }
            Some(_) => Err(Errno::NotDir),
        }
    }

    fn remove_entry(&mut self, path: Vec<u8>) {
        if let Some(Some(Node::File(_, Content::Bytes(b)))) = self.overlay.get(&path) {
            self.bytes = self.bytes.saturating_sub(b.len() as u64);
        }
        if self.base.nodes.contains_key(&path) {
            self.overlay.insert(path, None);
        } else {
            self.overlay.remove(&path);
        }
    }

    /// Places `node` at `path` (for `cp`, `mv`, `ln`): the parent must exist and be
    /// writable; an existing file is replaced, a directory is an error.
    pub fn place(
        &mut self,
        cwd: &[u8],
        path: &[u8],
        node: Node,
        follow: bool,
    ) -> Result<Vec<u8>, Errno> {
        let canonical = self.resolve(cwd, path, follow)?;
        if let Some(Node::Dir(_)) = self.get(&canonical) {
            return Err(Errno::IsDir);
        }
        self.check_parent(&canonical)?;
        self.writable(&canonical)?;
        self.finish(&canonical);
        self.put(canonical.clone(), node)?;
        Ok(canonical)
    }

    /// Changes permission bits.
    pub fn chmod(
        &mut self,
        cwd: &[u8],
        path: &[u8],
        mode: impl FnOnce(u32) -> u32,
    ) -> Result<(), Errno> {
        let (canonical, node) = self.lookup(cwd, path, true)?;
        let mut node = node.clone();
        if let Node::File(_, Content::Proc(_)) = node {
            return Err(Errno::Access);
        }
        self.writable(&canonical)?;
        let m = node.meta_mut();
        m.mode = mode(m.mode) & 0o7777;
        self.put(canonical.clone(), node)?;
        // `chmod 777 dvrHelper` after a download: the file is done.
        self.finish(&canonical);
        Ok(())
    }

    /// Sets a file's modification time (`utimes`).
    pub fn set_mtime(&mut self, cwd: &[u8], path: &[u8], mtime: u64) -> Result<(), Errno> {
        let (canonical, node) = self.lookup(cwd, path, true)?;
        let mut node = node.clone();
        if let Node::File(_, Content::Proc(_)) = node {
            return Err(Errno::Access);
        }
        self.writable(&canonical)?;
        node.meta_mut().mtime = mtime;
        self.put(canonical, node)
    }

    /// Bytes held by this overlay.
    pub fn bytes_used(&self) -> u64 {
        self.bytes
    }

    /// Heap bytes this view holds of its own (not the shared base): file contents,
    /// paths and the bookkeeping of files being written.
    pub fn memory_used(&self) -> usize {
        /// What a node or map entry costs besides its path.
        const NODE_OVERHEAD: usize = 128;
        let paths = |m: usize, total: usize| m * NODE_OVERHEAD + total;
        usize::try_from(self.bytes).unwrap_or(usize::MAX)
            + paths(
                self.overlay.len(),
                self.overlay.keys().map(Vec::capacity).sum(),
            )
            + paths(
                self.dirty.len(),
                self.dirty
                    .iter()
                    .map(|(k, o)| k.capacity() + o.heap_size())
                    .sum(),
            )
            + paths(
                self.staged.len(),
                self.staged.keys().map(Vec::capacity).sum(),
            )
            + paths(
                self.changed.len(),
                self.changed.iter().map(Vec::capacity).sum(),
            )
            + self
                .finished
                .iter()
                .map(|f| f.data.capacity() + f.path.capacity())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn vfs(profile: &str) -> Vfs {
        let p = Profile::builtin()
            .unwrap()
            .into_iter()
            .find(|p| p.name == profile)
            .unwrap();
        let device = Device::new(Arc::new(p), 1);
        Vfs::new(
            Arc::new(BaseFs::new(&device, 1_600_000_000)),
            VfsLimits {
                max_bytes: 1000,
                max_nodes: 10,
                max_file_bytes: 5000,
            },
        )
    }

    #[test]
    fn absolute_normalises() {
        assert_eq!(absolute(b"/var", b"../tmp/./x/"), b"/tmp/x");
        assert_eq!(absolute(b"/", b"../../.."), b"/");
        assert_eq!(absolute(b"/a", b"/b//c"), b"/b/c");
    }

    #[test]
    fn symlinks_resolve_and_loops_stop() {
        let mut v = vfs("oracle");
        let (p, node) = v.lookup(b"/", b"/bin/echo", true).unwrap();
        assert_eq!(p, b"/bin/busybox");
        assert!(matches!(node, Node::File(_, Content::Elf(_))));
        v.place(
            b"/",
            b"/tmp/a",
            Node::Symlink(*node.meta(), b"/tmp/b".to_vec()),
            false,
        )
        .unwrap();
        let m = Meta {
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        v.place(b"/", b"/tmp/b", Node::Symlink(m, b"a".to_vec()), false)
            .unwrap();
        assert_eq!(v.lookup(b"/", b"/tmp/a", true).unwrap_err(), Errno::Loop);
        assert_eq!(
            v.lookup(b"/tmp", b"../bin/../bin/sh", true).unwrap().0,
            b"/bin/busybox"
        );
    }

    #[test]
    fn writes_respect_mounts_and_caps() {
        let mut v = vfs("xiongmai-dvr");
        assert_eq!(
            v.write(b"/", b"/var/.nippon", b"kami/var\n", false, 5),
            Ok(b"/var/.nippon".to_vec())
        );
        assert_eq!(v.read(b"/", b"/var/.nippon").map(|(_, n)| n.size()), Ok(9));
        assert_eq!(
            v.write(b"/", b"/proc/.nippon", b"x", false, 5),
            Err(Errno::NoEnt)
        );
        assert_eq!(
            v.write(b"/", b"/etc/x", b"x", false, 5),
            Err(Errno::ReadOnly)
        );
        assert_eq!(
            v.write(b"/", b"/nonexist/x", b"x", false, 5),
            Err(Errno::NoEnt)
        );
        assert_eq!(
            v.write(b"/", b"/var/big", &[0; 1001], false, 5),
            Err(Errno::NoSpace)
        );
        v.unlink(b"/", b"/var/.nippon").unwrap();
        assert_eq!(v.bytes_used(), 0);
        assert_eq!(v.unlink(b"/", b"/var/.nippon"), Err(Errno::NoEnt));
    }

    #[test]
    fn copies_share_content_and_listing_merges() {
        let mut v = vfs("oracle");
        let (_, node) = v.lookup(b"/", b"/bin/echo", true).unwrap();
        let node = node.clone();
        v.place(b"/var", b"dvrHelper", node, false).unwrap();
        assert_eq!(v.bytes_used(), 0, "a copy of a base file costs nothing");
        assert_eq!(
            v.list(b"/var"),
            vec![b"dvrHelper".to_vec(), b"run".to_vec(), b"tmp".to_vec()]
        );
        v.unlink(b"/", b"/bin/busybox").unwrap();
        assert!(!v.list(b"/bin").contains(&b"busybox".to_vec()));
    }

    #[test]
    fn long_and_odd_paths_are_errors_not_panics() {
        let v = vfs("oracle");
        let long = vec![b'a'; 5000];
        assert_eq!(v.lookup(b"/", &long, true).unwrap_err(), Errno::NameTooLong);
        assert_eq!(
            v.lookup(b"/", b"/bin/busybox/x", true).unwrap_err(),
            Errno::NotDir
        );
        assert_eq!(v.lookup(b"/", b"/\0", true).unwrap_err(), Errno::NoEnt);
        assert_eq!(v.lookup(b"/", b"", true).unwrap_err(), Errno::NoEnt);
    }

    #[test]
    fn source_files_are_kept_for_a_while_and_bounded() {
        let store = SourceFiles::new(std::time::Duration::from_secs(60), 2, 1 << 20);
        let t0 = std::time::Instant::now();
        let mut v = vfs("oracle");
        v.write(b"/", b"/tmp/x", b"hello", false, 1).unwrap();
        let a: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        store.put(a, v, t0);
        let back = store
            .take(a, t0 + std::time::Duration::from_secs(59))
            .unwrap();
        assert_eq!(back.read(b"/", b"/tmp/x").unwrap().1.size(), 5);
        store.put(a, back, t0);
        assert!(store
            .take(a, t0 + std::time::Duration::from_secs(61))
            .is_none());
        for i in 0..5u8 {
            store.put(std::net::IpAddr::from([127, 0, 1, i]), vfs("oracle"), t0);
        }
        assert_eq!(store.saved.lock().unwrap().by_source.len(), 2);
        // The sweep keeps what is recent and drops the rest.
        let b: std::net::IpAddr = "127.0.0.3".parse().unwrap();
        store.put(b, vfs("oracle"), t0 + std::time::Duration::from_secs(30));
        assert_eq!(store.expire(t0 + std::time::Duration::from_secs(61)), 1);
        assert!(store
            .take(b, t0 + std::time::Duration::from_secs(61))
            .is_some());
        assert_eq!(store.expire(t0 + std::time::Duration::from_secs(61)), 0);
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn source_files_are_bounded_in_bytes_oldest_out_first() {
        let with_file = |bytes: usize| {
            let mut v = vfs("oracle");
            v.write(b"/", b"/tmp/x", &vec![b'x'; bytes], false, 1)
                .unwrap();
            v
        };
        let size = with_file(300).memory_used();
        let store = SourceFiles::new(std::time::Duration::from_secs(60), 100, size * 7 / 2);
        let t0 = std::time::Instant::now();
        let ip = |i: u8| std::net::IpAddr::from([127, 0, 2, i]);
        for i in 0..4u8 {
            let at = t0 + std::time::Duration::from_secs(u64::from(i));
            store.put(ip(i), with_file(300), at);
        }
        // Three fit; the fourth pushed the oldest out.
        assert_eq!(store.bytes(), 3 * size);
        assert!(store.take(ip(0), t0).is_none());
        assert!(store.take(ip(3), t0).is_some());
        // An overlay larger than all the room is not kept at all.
        let mut big = vfs("oracle");
        for i in 0..9 {
            let path = format!("/tmp/{i}");
            big.write(b"/", path.as_bytes(), &[b'x'; 100], false, 1)
                .unwrap();
        }
        assert!(big.memory_used() > size * 7 / 2);
        store.put(ip(9), big, t0);
        assert!(store.take(ip(9), t0).is_none());
        assert!(store.take(ip(1), t0).is_some() && store.take(ip(2), t0).is_some());
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn elf_content_is_the_header_then_filler() {
        let v = vfs("router-mips");
        let (_, node) = v.read(b"/", b"/bin/echo").unwrap();
        let Node::File(_, c) = node else { panic!() };
        let head = c.slice(0, 20);
        assert_eq!(&head[..6], b"\x7fELF\x01\x02");
        assert_eq!(&head[18..20], &[0, 8]);
        assert_eq!(c.len(), 512516);
        assert_eq!(c.slice(512510, 100).len(), 6);
    }
}
