//! Redirections (`>`, `>>`, `<>`, `<`, here-documents, `N>&M`, `N>&-`) as ash
//! applies them to a command's descriptors, and reading whole (bounded) files for
//! them and for the applets: a stored file's bytes shared, a generated one
//! (`/proc`) made.

use std::sync::Arc;

use crate::vfs::Errno;

use super::exec::{Io, Sh, Sink, MAX_READ};
use super::parse::{Redir, RedirOp};
use super::stdin::OpenInput;

impl Sh {
    /// Applies redirections; `None` if one failed (the error is printed).
    pub(super) async fn redirect(&mut self, redirs: &[Redir], io: &Io) -> Option<Io> {
        let mut io = io.clone();
        for r in redirs {
            let target = match self.expand_word(&r.target, &io).await {
                Ok(mut fields) if fields.len() == 1 => fields.pop().unwrap_or_default(),
                Ok(_) => {
                    self.shell_error(&io, b"ambiguous redirect").await;
                    return None;
                }
                Err(_) => return None,
            };
            let sink_for = |sh: &mut Sh, append: bool| -> Result<Sink, Errno> {
                let now = sh.now_secs();
                let cwd = sh.cwd.clone();
                match sh.vfs.lookup(&cwd, &target, true) {
                    Ok((_, crate::vfs::Node::Char(_, crate::vfs::SpecialFile::Null))) => {
                        return Ok(Sink::Null)
                    }
                    Ok((_, crate::vfs::Node::Char(_, crate::vfs::SpecialFile::Tty))) => {
                        return Ok(Sink::Tty)
                    }
                    _ => {}
                }
                let path = sh.vfs.write(&cwd, &target, b"", append, now)?;
                Ok(Sink::File(path))
            };
            match r.op {
                RedirOp::Out | RedirOp::Append | RedirOp::ReadWrite => {
                    let append = r.op != RedirOp::Out;
                    match sink_for(self, append) {
                        Ok(sink) => io.set_output(r.fd, Some(sink)),
                        Err(e) => {
                            let msg = create_error(&target, e);
                            self.shell_error(&io, &msg).await;
                            return None;
                        }
                    }
                }
                RedirOp::HereDoc => {
                    if r.fd == 0 {
                        io.stdin = Some(OpenInput::new(Arc::new(target)));
                    }
                }
                RedirOp::In => {
                    let cwd = self.cwd.clone();
                    match self.read_shared(&cwd, &target) {
                        Ok(bytes) => {
                            if r.fd == 0 {
                                io.stdin = Some(OpenInput::new(bytes));
                            }
                        }
                        Err(e) => {
                            let mut msg = b"can't open ".to_vec();
                            msg.extend_from_slice(&target);
                            msg.extend_from_slice(format!(": {e}").as_bytes());
                            self.shell_error(&io, &msg).await;
                            return None;
                        }
                    }
                }
                RedirOp::Dup => {
                    let sink = match target.as_slice() {
                        b"-" if r.fd > 2 => {
                            io.set_output(r.fd, None);
                            continue;
                        }
                        b"-" => Some(Sink::Null),
                        [d @ b'1'..=b'9'] => io.output(d - b'0', &self.fds),
                        _ => None,
                    };
                    match sink {
                        Some(s) => io.set_output(r.fd, Some(s)),
                        None => {
                            let mut msg = target.clone();
                            msg.extend_from_slice(b": Bad file descriptor");
                            self.shell_error(&io, &msg).await;
                            return None;
                        }
                    }
                }
            }
        }
        Some(io)
    }

    /// Reads a whole (bounded) file, sharing a stored file's bytes instead of copying
    /// them.
    pub fn read_shared(&self, cwd: &[u8], path: &[u8]) -> Result<Arc<Vec<u8>>, Errno> {
        let (_, node) = self.vfs.read(cwd, path)?;
        if let crate::vfs::Node::File(_, content) = &node {
            if content.len() <= MAX_READ {
                if let Some(bytes) = content.shared() {
                    return Ok(bytes);
                }
            }
        }
        self.read_file(cwd, path).map(Arc::new)
    }

    /// Reads a whole (bounded) file, generated ones included.
    pub fn read_file(&self, cwd: &[u8], path: &[u8]) -> Result<Vec<u8>, Errno> {
        let (_, node) = self.vfs.read(cwd, path)?;
        Ok(match node {
            crate::vfs::Node::File(_, content) => match content {
                crate::vfs::Content::Proc(kind) => super::procfs::generate(self, kind),
                c => c.slice(0, c.len().min(MAX_READ)),
            },
            crate::vfs::Node::Char(_, crate::vfs::SpecialFile::Zero) => vec![0; 4096],
            crate::vfs::Node::Char(..) => Vec::new(),
            crate::vfs::Node::Symlink(..) | crate::vfs::Node::Dir(_) => Vec::new(),
        })
    }
}

/// `can't create X: <why>` as ash words it (ENOENT reads "nonexistent directory").
pub fn create_error(target: &[u8], e: Errno) -> Vec<u8> {
    let mut msg = b"can't create ".to_vec();
    msg.extend_from_slice(target);
    let why = match e {
        Errno::NoEnt => "nonexistent directory".to_string(),
        other => other.to_string(),
    };
    msg.extend_from_slice(format!(": {why}").as_bytes());
    msg
}
