//! What one session's shell may hold and do: one memory budget for every value it
//! holds, and a budget of work per line.
//!
//! Per-object limits alone do not hold a hostile shell: `x=$x$x` in a loop makes
//! each step cheap to count and expensive to do. So:
//!
//! * **Memory** is charged by capacity, not length. What the shell keeps between
//!   commands (variables, positional parameters, functions, aliases, traps, history,
//!   the state subshells and nested shells saved, descriptors, the file-system
//!   overlay) is *measured* by walking it ([`super::exec::Sh::measure`]); values built
//!   while a command runs (expanded words, argument lists, pipes, command
//!   substitutions, here-documents, `eval`'s parse trees) are *reserved* before they
//!   are made and released when the command that made them ends. The walk runs again
//!   after every [`MEASURE_EVERY`] units of work, and nothing grows faster than work
//!   is counted, so what it has not seen yet is bounded by that.
//! * **Work** is counted in bytes copied or compared, plus [`STEP_WORK`] per step
//!   (command, loop round). A line yields after every slice of work so that a hostile
//!   session never holds up another one, and stalls (a command still running, as far
//!   as the client can tell) once its line budget is spent.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::parse::{AndOr, Command, Compound, List, ParamExp, Part, Pipeline, Redir};

/// Work one step (a command, a loop round) costs, besides the bytes it moves.
pub const STEP_WORK: u64 = 64;

/// Work between two measurements of what the shell holds.
pub const MEASURE_EVERY: u64 = 256 * 1024;

/// What a map entry costs besides its key and value bytes (node share, pointers).
const ENTRY_OVERHEAD: usize = 64;

/// The budgets of one session's shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// Bytes the shell may hold at once. Past it the shell dies as BusyBox ash does
    /// when malloc fails (`sh: out of memory`, exit).
    pub memory_bytes: usize,
    /// Work one command line may do. Past it the line stalls: no output, no prompt,
    /// no more work, until `^C`, a disconnect or the idle limit.
    pub line_work: u64,
    /// Work between two yields to the edge (one `handle_input` or `handle_timeout`
    /// call does about this much at most).
    pub slice_work: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            memory_bytes: 16 * 1024 * 1024,
            line_work: 256 * 1024 * 1024,
            slice_work: 1024 * 1024,
        }
    }
}

/// The running account of one shell against its [`Budgets`].
#[derive(Debug, Default, Clone)]
pub struct Meter {
    /// What the shell keeps, as last measured (plus the changes counted since).
    pub held: usize,
    /// What values being built on this line have reserved.
    pub transient: usize,
    /// The most `held + transient` has been.
    pub peak: usize,
    /// Work done on this line.
    pub line_work: u64,
    /// Work done since the last yield.
    pub slice_work: u64,
    /// Work done since the last measurement.
    pub unmeasured: u64,
    /// A reservation failed where no error could be returned (a write into a pipe):
    /// the next checkpoint ends the shell.
    pub exhausted: bool,
}

impl Meter {
    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.held.saturating_add(self.transient)
    }

    /// Counts `units` of work.
    pub fn work(&mut self, units: u64) {
        self.line_work = self.line_work.saturating_add(units);
        self.slice_work = self.slice_work.saturating_add(units);
        self.unmeasured = self.unmeasured.saturating_add(units);
    }

    /// Reserves `bytes` (and counts making them as work); false, and nothing
    /// reserved, if that would pass `limit`.
    pub fn reserve(&mut self, bytes: usize, limit: usize) -> bool {
        self.work(bytes as u64);
        let after = self.used().saturating_add(bytes);
        if after > limit {
            self.exhausted = true;
            return false;
        }
        self.transient += bytes;
        self.peak = self.peak.max(after);
        true
    }

    /// Where the reservations stand, to release back to with [`Meter::release_to`].
    pub fn mark(&self) -> usize {
        self.transient
    }

    /// Releases what was reserved since `mark`.
    pub fn release_to(&mut self, mark: usize) {
        self.transient = self.transient.min(mark);
    }

    /// Takes a new measurement of what the shell keeps.
    pub fn measured(&mut self, held: usize) {
        self.held = held;
        self.unmeasured = 0;
        self.peak = self.peak.max(self.used());
    }

    /// A new line starts: its work counts from zero and nothing is in flight.
    pub fn new_line(&mut self) {
        self.transient = 0;
        self.line_work = 0;
        self.slice_work = 0;
        self.exhausted = false;
    }
}

/// Heap bytes a value holds (capacity, not length).
pub trait HeapSize {
    /// Bytes on the heap behind `self`.
    fn heap_size(&self) -> usize;
}

impl HeapSize for Vec<u8> {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for String {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for Vec<Vec<u8>> {
    fn heap_size(&self) -> usize {
        self.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.iter().map(Vec::capacity).sum::<usize>()
    }
}

impl<V: HeapSize> HeapSize for BTreeMap<String, V> {
    fn heap_size(&self) -> usize {
        self.iter()
            .map(|(k, v)| ENTRY_OVERHEAD + k.capacity() + v.heap_size())
            .sum()
    }
}

impl HeapSize for (Vec<u8>, bool) {
    fn heap_size(&self) -> usize {
        self.0.capacity()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

fn vec_of<T: HeapSize>(v: &[T], capacity: usize) -> usize {
    capacity * std::mem::size_of::<T>() + v.iter().map(HeapSize::heap_size).sum::<usize>()
}

impl HeapSize for Part {
    fn heap_size(&self) -> usize {
        match self {
            Part::Lit(b) | Part::Quoted(b) => b.capacity(),
            Part::Double(parts) | Part::Arith(parts) => vec_of(parts, parts.capacity()),
            Part::Param(p) => p.heap_size(),
            Part::Command(list) => std::mem::size_of::<List>() + list.heap_size(),
        }
    }
}

impl HeapSize for Vec<Part> {
    fn heap_size(&self) -> usize {
        vec_of(self, self.capacity())
    }
}

impl HeapSize for ParamExp {
    fn heap_size(&self) -> usize {
        self.name.capacity() + self.op.as_ref().map_or(0, |(_, _, word)| word.heap_size())
    }
}

impl HeapSize for Redir {
    fn heap_size(&self) -> usize {
        self.target.heap_size()
    }
}

impl HeapSize for Vec<Redir> {
    fn heap_size(&self) -> usize {
        vec_of(self, self.capacity())
    }
}

impl HeapSize for Command {
    fn heap_size(&self) -> usize {
        match self {
            Command::Simple {
                assigns,
                words,
                redirs,
            } => {
                assigns.capacity() * std::mem::size_of::<(String, Vec<Part>)>()
                    + assigns
                        .iter()
                        .map(|(n, w)| n.capacity() + w.heap_size())
                        .sum::<usize>()
                    + vec_of(words, words.capacity())
                    + redirs.heap_size()
            }
            Command::Compound(compound, redirs) => compound.heap_size() + redirs.heap_size(),
            Command::FuncDef(name, body) => {
                name.capacity() + std::mem::size_of::<Command>() + body.heap_size()
            }
        }
    }
}

fn list_arc(list: &Arc<List>) -> usize {
    std::mem::size_of::<List>() + list.heap_size()
}

impl HeapSize for Compound {
    fn heap_size(&self) -> usize {
        match self {
            Compound::Subshell(l) | Compound::Group(l) => list_arc(l),
            Compound::If(clauses, otherwise) => {
                clauses
                    .iter()
                    .map(|(c, b)| list_arc(c) + list_arc(b) + 16)
                    .sum::<usize>()
                    + otherwise.as_ref().map_or(0, list_arc)
            }
            Compound::For(name, words, body) => {
                name.capacity()
                    + words.as_ref().map_or(0, |w| vec_of(w, w.capacity()))
                    + list_arc(body)
            }
            Compound::While(_, cond, body) => list_arc(cond) + list_arc(body),
            Compound::Case(word, arms) => {
                word.heap_size()
                    + arms
                        .iter()
                        .map(|(patterns, body)| {
                            vec_of(patterns, patterns.capacity()) + list_arc(body) + 48
                        })
                        .sum::<usize>()
            }
        }
    }
}

impl HeapSize for Pipeline {
    fn heap_size(&self) -> usize {
        vec_of(&self.commands, self.commands.capacity())
    }
}

impl HeapSize for AndOr {
    fn heap_size(&self) -> usize {
        self.first.heap_size()
            + self.rest.capacity() * std::mem::size_of::<(bool, Pipeline)>()
            + self.rest.iter().map(|(_, p)| p.heap_size()).sum::<usize>()
    }
}

impl HeapSize for List {
    fn heap_size(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<(AndOr, bool)>()
            + self.0.iter().map(|(a, _)| a.heap_size()).sum::<usize>()
    }
}

impl super::exec::Sh {
    /// Walks what the shell keeps between commands and returns its heap bytes: each
    /// variable table once however many frames share it, saved frames and nested
    /// shells, functions (each body once), aliases, traps, history, `local` shadows,
    /// descriptors and what their pipes hold, and the file-system overlay.
    pub fn measure(&self) -> usize {
        let mut seen_vars: Vec<usize> = Vec::new();
        let mut seen_bodies: std::collections::HashSet<usize> = Default::default();
        let mut vars = |v: &super::exec::Vars| {
            let at = Arc::as_ptr(v) as usize;
            if seen_vars.contains(&at) {
                0
            } else {
                seen_vars.push(at);
                v.heap_size()
            }
        };
        let mut funcs = |f: &super::exec::Funcs| -> usize {
            f.iter()
                .map(|(name, body)| {
                    let body_size = if seen_bodies.insert(Arc::as_ptr(body) as usize) {
                        std::mem::size_of::<Command>() + body.heap_size()
                    } else {
                        0
                    };
                    ENTRY_OVERHEAD + name.capacity() + body_size
                })
                .sum()
        };
        let mut total = self.cwd.capacity()
            + self.arg0.capacity()
            + self.script.as_ref().map_or(0, |(n, _)| n.capacity())
            + vars(&self.vars)
            + self.positional.heap_size()
            + funcs(&self.funcs);
        for s in self.saved.iter().chain(&self.levels) {
            total += s.cwd.heap_size()
                + s.vars.as_ref().map_or(0, &mut vars)
                + s.funcs.as_ref().map_or(0, &mut funcs)
                + s.positional.heap_size()
                + s.arg0.heap_size()
                + s.script
                    .as_ref()
                    .and_then(Option::as_ref)
                    .map_or(0, |(n, _)| n.capacity());
        }
        total += self.aliases.heap_size()
            + self.line_aliases.heap_size()
            + self.traps.heap_size()
            + self.history.heap_size()
            + self
                .readonly
                .iter()
                .map(|n| ENTRY_OVERHEAD + n.capacity())
                .sum::<usize>();
        for shadowed in &self.locals {
            total += shadowed
                .iter()
                .map(|(n, v)| ENTRY_OVERHEAD + n.capacity() + v.heap_size())
                .sum::<usize>();
        }
        for (_, sink) in &self.fds {
            if let super::exec::Sink::Capture(buf) = sink {
                total += buf.lock().map_or(0, |b| b.capacity());
            }
        }
        total += self.killed.capacity() * 4
            + self
                .ulimits
                .iter()
                .map(|(_, v)| v.capacity() + 32)
                .sum::<usize>()
            + self.vfs.memory_used();
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_and_release_to_their_mark() {
        let mut m = Meter::default();
        m.measured(100);
        let mark = m.mark();
        assert!(m.reserve(800, 1000));
        assert!(!m.reserve(101, 1000), "100 held + 800 + 101 > 1000");
        assert!(m.exhausted);
        assert_eq!(m.used(), 900);
        assert_eq!(m.peak, 900);
        m.release_to(mark);
        assert_eq!(m.used(), 100);
        assert_eq!(m.line_work, 901, "making values is work, even refused ones");
    }

    #[test]
    fn parse_trees_are_sized_by_what_they_hold() {
        let small = super::super::parse::parse(b"echo a").unwrap_or_default();
        let text = format!("echo {}", "a".repeat(10_000));
        let big = super::super::parse::parse(text.as_bytes()).unwrap_or_default();
        assert!(big.heap_size() >= 10_000);
        assert!(small.heap_size() < 1_000);
    }
}
