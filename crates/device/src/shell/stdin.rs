//! Standard input from a door's pipe. A command an SSH client runs with `exec` reads
//! what the client sends on the channel (`ssh dvr 'cat > .x' < bot`, `scp -t`), as
//! it reads a pipe on the device: it waits for bytes, and for the end of input.
//!
//! The door writes into the [`Pipe`] and ends it; commands take bytes out as they
//! read. The door lets its client send more only for what the pipe took, and the
//! pipe takes at most [`PIPE_CAPACITY`] ahead of the readers, so what a session
//! holds here is bounded by its channel window plus that capacity. What a reader
//! gathers (all of its input, for `cat` or `wc`) is charged to the shell's memory
//! budget like any other value.
//!
//! A shell with no door pipe (a telnet login's terminal) reads as an empty input:
//! bots do not type into running commands.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::exec::{Io, Sh, Wait};

/// Linux's default pipe capacity: how far a writer gets ahead of its reader.
pub const PIPE_CAPACITY: usize = 65_536;

/// The pipe between a door and the shell's standard input.
#[derive(Debug, Default)]
pub struct Pipe {
    /// Bytes written and not yet read.
    buffered: Vec<u8>,
    /// The writer closed its end.
    closed: bool,
    /// Bytes the readers took out, since the pipe was made.
    taken: u64,
}

impl Pipe {
    /// Bytes written and not yet read.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// Bytes the readers took out so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Adds what the door received (nothing once it closed).
    pub fn write(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.buffered.extend_from_slice(bytes);
        }
    }

    /// The door's end of input.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Takes up to `max` bytes, or up to and including the first newline when
    /// `line`; `None` while a line is incomplete and more may come.
    fn take(&mut self, max: usize, line: bool) -> Option<Vec<u8>> {
        let end = if line {
            match self.buffered.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if self.closed => self.buffered.len(),
                None => return None,
            }
        } else {
            self.buffered.len()
        }
        .min(max);
        self.taken += end as u64;
        Some(self.buffered.drain(..end).collect())
    }
}

/// Bytes open on a command's fd 0 (a redirection, a here-document, a pipe from
/// another command), with the offset every command reading them shares, as
/// processes share an open file's offset: `while read l; do ...; done < f` reads
/// line after line, while each `read l < f` opens the file afresh.
#[derive(Debug, Clone)]
pub struct OpenInput {
    bytes: Arc<Vec<u8>>,
    offset: Arc<AtomicUsize>,
}

impl OpenInput {
    /// `bytes` opened at their start.
    pub fn new(bytes: Arc<Vec<u8>>) -> Self {
        Self {
            bytes,
            offset: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// What no reader has taken yet.
    fn rest(&self) -> &[u8] {
        let at = self.offset.load(Ordering::Relaxed);
        self.bytes.get(at..).unwrap_or_default()
    }

    /// Takes up to `max` bytes.
    fn take(&self, max: usize) -> &[u8] {
        let rest = self.rest();
        let taken = rest.get(..max.min(rest.len())).unwrap_or_default();
        self.offset.fetch_add(taken.len(), Ordering::Relaxed);
        taken
    }

    /// Takes one line, its newline included (the last one may lack it); empty at
    /// the end.
    pub fn take_line(&self) -> &[u8] {
        let rest = self.rest();
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        self.take(end)
    }

    /// Takes everything left (shared, not copied, when nothing was read yet).
    pub fn take_all(&self) -> Arc<Vec<u8>> {
        let at = self.offset.swap(self.bytes.len(), Ordering::Relaxed);
        if at == 0 {
            self.bytes.clone()
        } else {
            Arc::new(self.bytes.get(at..).unwrap_or_default().to_vec())
        }
    }
}

/// How much a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Whatever is there, as soon as there is something (at most this many bytes).
    Some(usize),
    /// One line, newline included (the last one may lack it).
    Line,
}

impl Sh {
    /// Whether standard input's terminal is a door's pipe.
    pub fn has_stdin_pipe(&self) -> bool {
        self.chan().stdin.is_some()
    }

    /// Reads from the door's pipe (fd 0 when no redirection or pipeline replaced
    /// it): waits until there is what `want` asks for, or the end of input. `None`
    /// at the end of input, with no pipe, or when the command is interrupted.
    pub async fn read_pipe(&mut self, want: Want) -> Option<Vec<u8>> {
        loop {
            {
                let mut c = self.chan();
                if c.interrupted || c.memory_failed {
                    return None;
                }
                let pipe = c.stdin.as_mut()?;
                if pipe.buffered.is_empty() && pipe.closed {
                    return None;
                }
                let got = match want {
                    Want::Some(max) if !pipe.buffered.is_empty() => pipe.take(max, false),
                    Want::Some(_) => None,
                    Want::Line => pipe.take(usize::MAX, true),
                };
                if let Some(bytes) = got {
                    drop(c);
                    self.work(bytes.len() as u64);
                    return Some(bytes);
                }
            }
            self.block(Wait::Stdin).await;
        }
    }

    /// All of a command's standard input: its redirection or pipe, or else the
    /// door's pipe read to its end. What comes from the door is charged to the
    /// memory budget; past it the read stops and the shell dies at its next step.
    pub async fn stdin_all(&mut self, io: &Io) -> Arc<Vec<u8>> {
        if let Some(input) = &io.stdin {
            return input.take_all();
        }
        let mut all = Vec::new();
        while let Some(bytes) = self.read_pipe(Want::Some(PIPE_CAPACITY)).await {
            if self.reserve(bytes.len()).is_err() {
                break;
            }
            all.extend_from_slice(&bytes);
        }
        Arc::new(all)
    }

    /// [`Sh::stdin_all`] as an owned buffer.
    pub async fn stdin_bytes(&mut self, io: &Io) -> Vec<u8> {
        let all = self.stdin_all(io).await;
        Arc::try_unwrap(all).unwrap_or_else(|shared| shared.as_ref().clone())
    }
}

/// A command's standard input read a piece at a time (`scp -t`, which answers each
/// record before the next arrives): a redirection's bytes, or the door's pipe.
#[derive(Debug)]
pub struct Input {
    /// A redirection or a pipe from another command.
    given: Option<OpenInput>,
}

impl Input {
    /// Standard input as `io` has it.
    pub fn new(io: &Io) -> Self {
        Self {
            given: io.stdin.clone(),
        }
    }

    /// Up to `max` bytes, waiting for some; `None` at the end of input.
    pub async fn read(&mut self, sh: &mut Sh, max: usize) -> Option<Vec<u8>> {
        match &mut self.given {
            Some(given) => {
                let taken = given.take(max);
                (!taken.is_empty()).then(|| taken.to_vec())
            }
            None => sh.read_pipe(Want::Some(max)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_waits_for_its_newline_unless_the_pipe_is_closed() {
        let mut pipe = Pipe::default();
        pipe.write(b"abc");
        assert_eq!(pipe.take(usize::MAX, true), None);
        pipe.write(b"\nde");
        assert_eq!(pipe.take(usize::MAX, true), Some(b"abc\n".to_vec()));
        assert_eq!(pipe.take(usize::MAX, true), None);
        pipe.close();
        pipe.write(b"ignored");
        assert_eq!(pipe.take(usize::MAX, true), Some(b"de".to_vec()));
        assert_eq!(pipe.taken(), 6);
        assert_eq!(pipe.buffered(), 0);
    }

    #[test]
    fn readers_of_one_open_input_share_its_offset() {
        let input = OpenInput::new(Arc::new(b"one\ntwo\nthree".to_vec()));
        let reader = input.clone();
        assert_eq!(input.take_line(), b"one\n");
        assert_eq!(reader.take_line(), b"two\n");
        assert_eq!(*input.take_all(), b"three");
        assert_eq!(reader.take_line(), b"");
        // Opened again: from the start.
        let again = OpenInput::new(input.bytes.clone());
        assert!(Arc::ptr_eq(&again.take_all(), &input.bytes));
    }

    #[test]
    fn a_read_takes_no_more_than_it_asked() {
        let mut pipe = Pipe::default();
        pipe.write(b"0123456789");
        assert_eq!(pipe.take(4, false), Some(b"0123".to_vec()));
        assert_eq!(pipe.buffered(), 6);
        assert_eq!(pipe.taken(), 4);
    }
}
