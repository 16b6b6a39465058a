//! Word expansion, as ash does it: parameters (`$x`, `${x:-…}`, `${x#…}`), command
//! substitution, arithmetic, then field splitting and globbing of what was unquoted.
//! Every value made here is charged to the shell's memory budget and its work.

use std::sync::{Arc, Mutex};

use super::exec::{BoxFut, Flow, Io, Saved, Sh, Sink};
use super::parse::{List, ParamExp, Part, Word};

impl Sh {
    /// Expands a word into fields (splitting and globbing unquoted parts).
    pub fn expand_word<'a>(
        &'a mut self,
        word: &'a Word,
        io: &'a Io,
    ) -> BoxFut<'a, Result<Vec<Vec<u8>>, Flow>> {
        Box::pin(async move {
            let mut pieces = Vec::new();
            // `~` or `~/...` at the start of an unquoted word is $HOME.
            let tilde = match word.first() {
                Some(Part::Lit(lit))
                    if lit.first() == Some(&b'~') && matches!(lit.get(1), None | Some(b'/')) =>
                {
                    let mut home = self.var("HOME").unwrap_or_else(|| b"/".to_vec());
                    home.extend_from_slice(lit.get(1..).unwrap_or_default());
                    Some(home)
                }
                _ => None,
            };
            match tilde {
                Some(home) => {
                    pieces.push(Piece {
                        bytes: home,
                        split: false,
                        glob: false,
                        quoted: true,
                        break_before: false,
                    });
                    self.expand_parts(word.get(1..).unwrap_or_default(), io, false, &mut pieces)
                        .await?;
                }
                None => self.expand_parts(word, io, false, &mut pieces).await?,
            }
            let bytes: usize = pieces.iter().map(|p| p.bytes.len()).sum();
            self.meter.work(bytes as u64);
            Ok(self.split_and_glob(pieces))
        })
    }

    /// Expands without splitting or globbing (assignments, here-strings).
    pub async fn expand_no_split(&mut self, word: &Word, io: &Io) -> Result<Vec<u8>, Flow> {
        let mut pieces = Vec::new();
        self.expand_parts(word, io, true, &mut pieces).await?;
        Ok(pieces.into_iter().flat_map(|p| p.bytes).collect())
    }

    pub(super) fn expand_parts<'a>(
        &'a mut self,
        parts: &'a [Part],
        io: &'a Io,
        quoted: bool,
        out: &'a mut Vec<Piece>,
    ) -> BoxFut<'a, Result<(), Flow>> {
        Box::pin(async move {
            for part in parts {
                match part {
                    Part::Lit(b) => out.push(Piece {
                        bytes: b.clone(),
                        split: false,
                        glob: !quoted,
                        quoted,
                        break_before: false,
                    }),
                    Part::Quoted(b) => out.push(Piece {
                        bytes: b.clone(),
                        split: false,
                        glob: false,
                        quoted: true,
                        break_before: false,
                    }),
                    Part::Double(inner) => {
                        let start = out.len();
                        self.expand_parts(inner, io, true, out).await?;
                        // "$@" with no arguments is no field at all.
                        let all_args = matches!(&inner[..], [Part::Param(p)] if p.name == "@" && p.op.is_none() && !p.length);
                        if out.len() == start && !all_args {
                            // "" is an (empty) field of its own.
                            out.push(Piece {
                                bytes: Vec::new(),
                                split: false,
                                glob: false,
                                quoted: true,
                                break_before: false,
                            });
                        }
                    }
                    Part::Param(p) if quoted && p.name == "@" && p.op.is_none() && !p.length => {
                        // "$@": each argument a field of its own.
                        use super::budget::HeapSize;
                        self.reserve(self.positional.heap_size())?;
                        for (i, arg) in self.positional.iter().enumerate() {
                            out.push(Piece {
                                bytes: arg.clone(),
                                split: false,
                                glob: false,
                                quoted: true,
                                break_before: i > 0,
                            });
                        }
                    }
                    Part::Param(p) => {
                        let v = self.param(p, io).await?;
                        self.reserve(v.capacity())?;
                        out.push(Piece {
                            bytes: v,
                            split: !quoted,
                            glob: false,
                            quoted,
                            break_before: false,
                        });
                    }
                    Part::Command(list) => {
                        let v = self.substitute(list, io).await?;
                        self.reserve(v.capacity())?;
                        out.push(Piece {
                            bytes: v,
                            split: !quoted,
                            glob: false,
                            quoted,
                            break_before: false,
                        });
                    }
                    Part::Arith(parts) => {
                        let mut expr = Vec::new();
                        self.expand_parts(parts, io, true, &mut expr).await?;
                        let text: Vec<u8> = expr.into_iter().flat_map(|p| p.bytes).collect();
                        let value = match super::arith::eval(self, &text) {
                            Ok((v, writes)) => {
                                for (name, n) in writes {
                                    self.set_var(&name, n.to_string().into_bytes());
                                }
                                v.to_string().into_bytes()
                            }
                            Err(msg) => {
                                let mut m = b"arithmetic syntax error".to_vec();
                                if !msg.is_empty() {
                                    m = msg.into_bytes();
                                }
                                self.shell_error(io, &m).await;
                                return Err(Flow::Error(2));
                            }
                        };
                        out.push(Piece {
                            bytes: value,
                            split: !quoted,
                            glob: false,
                            quoted,
                            break_before: false,
                        });
                    }
                }
            }
            Ok(())
        })
    }

    pub(super) async fn param(&mut self, p: &ParamExp, io: &Io) -> Result<Vec<u8>, Flow> {
        let value = match p.name.as_str() {
            "?" => Some(self.status.to_string().into_bytes()),
            "$" => Some(self.pid.to_string().into_bytes()),
            "#" => Some(self.positional.len().to_string().into_bytes()),
            "0" => Some(self.arg0.clone()),
            "@" | "*" => Some(self.positional.join(&b' ')),
            "-" => Some(self.flags.to_vec()),
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let i = n.parse::<usize>().unwrap_or(0);
                self.positional.get(i.wrapping_sub(1)).cloned()
            }
            n => self.var(n),
        };
        if p.length {
            return Ok(value.unwrap_or_default().len().to_string().into_bytes());
        }
        let Some((op, colon, word)) = &p.op else {
            return Ok(value.unwrap_or_default());
        };
        let unset = value.is_none() || (*colon && value.as_ref().is_some_and(Vec::is_empty));
        match op {
            b'-' if unset => self.expand_no_split(word, io).await,
            b'=' if unset => {
                let v = self.expand_no_split(word, io).await?;
                self.set_var(&p.name, v.clone());
                Ok(v)
            }
            b'+' if unset => Ok(Vec::new()),
            b'+' => self.expand_no_split(word, io).await,
            b'?' if unset => {
                let word = self.expand_no_split(word, io).await?;
                let mut msg = p.name.as_bytes().to_vec();
                msg.extend_from_slice(b": ");
                if word.is_empty() {
                    msg.extend_from_slice(b"parameter not set");
                } else {
                    msg.extend_from_slice(&word);
                }
                self.shell_error(io, &msg).await;
                // `ash_msg_and_raise_error` sets the status to 2.
                Err(Flow::Error(2))
            }
            b'#' | b'%' | b'H' | b'P' => {
                let pat = self.expand_no_split(word, io).await?;
                let v = value.unwrap_or_default();
                let prefix = matches!(op, b'#' | b'H');
                let longest = matches!(op, b'H' | b'P');
                let given = self.fuel();
                let mut fuel = given;
                let stripped = strip_affix(&v, &pat, prefix, longest, &mut fuel);
                self.burn(given, fuel);
                match stripped {
                    Some(v) => Ok(v),
                    None => self.stall("work").await.map(|()| Vec::new()),
                }
            }
            _ => Ok(value.unwrap_or_default()),
        }
    }

    pub(super) async fn substitute(&mut self, list: &List, io: &Io) -> Result<Vec<u8>, Flow> {
        self.nest().await?;
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sub_io = Io {
            stdin: io.stdin.clone(),
            stdout: Sink::Capture(buf.clone()),
            stderr: io.stderr.clone(),
            high: io.high.clone(),
        };
        self.save(Saved {
            cwd: Some(self.cwd.clone()),
            vars: Some(self.vars.clone()),
            ..Saved::default()
        });
        let r = self.run_list(list, &sub_io).await;
        self.restore();
        self.nesting -= 1;
        match r {
            Err(Flow::Return(_) | Flow::Break(_) | Flow::Continue(_)) => {}
            r => {
                let s = self.child_status(r, &io.stderr).await?;
                self.status = s;
                self.subst_status = Some(s);
            }
        }
        let mut out = std::mem::take(&mut *buf.lock().unwrap_or_else(|e| e.into_inner()));
        while out.last() == Some(&b'\n') {
            out.pop();
        }
        Ok(out)
    }

    pub(super) fn split_and_glob(&self, pieces: Vec<Piece>) -> Vec<Vec<u8>> {
        // Build fields: split unquoted expansions on $IFS (POSIX: runs of IFS
        // white space separate, each other IFS character ends a field).
        let ifs = self.var("IFS").unwrap_or_else(|| b" \t\n".to_vec());
        let mut fields: Vec<(Vec<u8>, bool, bool)> = Vec::new(); // (bytes, has_glob, any_quoted)
        let mut current: Option<(Vec<u8>, bool, bool)> = None;
        for piece in pieces {
            if piece.break_before {
                fields.push(current.take().unwrap_or_default());
            }
            if piece.split {
                for &b in &piece.bytes {
                    if !ifs.contains(&b) {
                        current
                            .get_or_insert_with(|| (Vec::new(), false, false))
                            .0
                            .push(b);
                    } else if matches!(b, b' ' | b'\t' | b'\n') {
                        if let Some(f) = current.take() {
                            fields.push(f);
                        }
                    } else {
                        fields.push(current.take().unwrap_or_default());
                    }
                }
            } else {
                let c = current.get_or_insert_with(|| (Vec::new(), false, false));
                if piece.glob && piece.bytes.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                    c.1 = true;
                }
                c.2 |= piece.quoted;
                c.0.extend_from_slice(&piece.bytes);
            }
        }
        if let Some(f) = current.take() {
            fields.push(f);
        }
        let mut out = Vec::new();
        for (bytes, has_glob, _) in fields {
            if has_glob {
                let matches = super::glob::expand(&self.vfs, &self.cwd, &bytes);
                if !matches.is_empty() {
                    out.extend(matches);
                    continue;
                }
            }
            out.push(bytes);
        }
        out
    }
}

/// One expanded piece of a word.
#[derive(Debug)]
pub struct Piece {
    bytes: Vec<u8>,
    split: bool,
    glob: bool,
    quoted: bool,
    /// Starts a new field (each word of `"$@"` after the first).
    break_before: bool,
}

/// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`: removes the shortest (or longest)
/// prefix (or suffix) of `value` that the glob `pattern` matches.
/// `None` if `fuel` ran out first.
pub(super) fn strip_affix(
    value: &[u8],
    pattern: &[u8],
    prefix: bool,
    longest: bool,
    fuel: &mut u64,
) -> Option<Vec<u8>> {
    let n = value.len();
    // Cut points, in the order the shortest (or longest) match is found.
    let cuts: Vec<usize> = match (prefix, longest) {
        (true, false) | (false, true) => (0..=n).collect(),
        (true, true) | (false, false) => (0..=n).rev().collect(),
    };
    for i in cuts {
        let (head, tail) = (
            value.get(..i).unwrap_or_default(),
            value.get(i..).unwrap_or_default(),
        );
        let subject = if prefix { head } else { tail };
        if super::glob::matches_within(pattern, subject, fuel)? {
            return Some(if prefix { tail } else { head }.to_vec());
        }
    }
    Some(value.to_vec())
}
