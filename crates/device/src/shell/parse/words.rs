//! Words: literal text, single and double quotes, backslashes, backquotes and the
//! `$` expansions (`$name`, `${…}` with its operators, `$(…)`, `$((…))`), read into
//! [`Part`]s; here-document delimiters are words with their quotes removed.

use super::*;

impl Parser<'_> {
    /// One word, or None if the cursor is at a metacharacter.
    pub(super) fn word(&mut self) -> Result<Option<Word>, SyntaxError> {
        let mut parts = Vec::new();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_meta(b) {
                break;
            }
            match b {
                b'\'' => {
                    self.pos += 1;
                    let end = self
                        .rest()
                        .iter()
                        .position(|&c| c == b'\'')
                        .ok_or(SyntaxError::Unterminated)?;
                    let text = self.rest().get(..end).unwrap_or_default().to_vec();
                    self.pos += end + 1;
                    parts.push(Part::Quoted(text));
                }
                b'"' => {
                    self.pos += 1;
                    parts.push(Part::Double(self.double_quoted()?));
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\n') => self.pos += 1,
                        Some(c) => {
                            self.pos += 1;
                            parts.push(Part::Quoted(vec![c]));
                        }
                        None => parts.push(Part::Lit(vec![b'\\'])),
                    }
                }
                b'$' => parts.push(self.dollar()?),
                b'`' => parts.push(self.backquote()?),
                _ => {
                    self.pos += 1;
                    match parts.last_mut() {
                        Some(Part::Lit(v)) => v.push(b),
                        _ => parts.push(Part::Lit(vec![b])),
                    }
                }
            }
        }
        Ok((self.pos > start).then_some(parts))
    }

    pub(super) fn double_quoted(&mut self) -> Result<Vec<Part>, SyntaxError> {
        self.quoted_text(false)
    }

    /// The inside of `"…"`, or with `heredoc` a whole here-document body (where `"`
    /// is an ordinary character and the end of input ends it).
    pub(super) fn quoted_text(&mut self, heredoc: bool) -> Result<Vec<Part>, SyntaxError> {
        let mut parts = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                if heredoc {
                    return Ok(parts);
                }
                return Err(SyntaxError::Unterminated);
            };
            match b {
                b'"' if !heredoc => {
                    self.pos += 1;
                    return Ok(parts);
                }
                b'\\'
                    if matches!(self.peek_at(1), Some(b'$' | b'`' | b'\\' | b'\n'))
                        || (!heredoc && self.peek_at(1) == Some(b'"')) =>
                {
                    let c = self.peek_at(1).unwrap_or(b'\\');
                    self.pos += 2;
                    if c != b'\n' {
                        push_quoted(&mut parts, c);
                    }
                }
                b'$' => parts.push(self.dollar()?),
                b'`' => parts.push(self.backquote()?),
                _ => {
                    self.pos += 1;
                    push_quoted(&mut parts, b);
                }
            }
        }
    }

    pub(super) fn backquote(&mut self) -> Result<Part, SyntaxError> {
        self.pos += 1;
        let mut inner = Vec::new();
        loop {
            match self.peek() {
                None => return Err(SyntaxError::Unterminated),
                Some(b'`') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') if matches!(self.peek_at(1), Some(b'`' | b'\\' | b'$')) => {
                    inner.push(self.peek_at(1).unwrap_or(b'\\'));
                    self.pos += 2;
                }
                Some(c) => {
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        self.enter()?;
        let list = parse_nested(&inner, self.depth);
        self.leave();
        Ok(Part::Command(Arc::new(list?)))
    }

    pub(super) fn dollar(&mut self) -> Result<Part, SyntaxError> {
        self.pos += 1;
        match self.peek() {
            Some(b'(') if self.peek_at(1) == Some(b'(') => {
                self.pos += 2;
                let start = self.pos;
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        None => return Err(SyntaxError::Unterminated),
                        Some(b'(') => depth += 1,
                        Some(b')') if depth == 0 && self.peek_at(1) == Some(b')') => break,
                        Some(b')') => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    self.pos += 1;
                }
                let raw = self.src.get(start..self.pos).unwrap_or_default().to_vec();
                self.pos += 2;
                let mut p = Parser {
                    src: &raw,
                    pos: 0,
                    depth: self.depth,
                    case_arms: 0,
                    heredoc: None,
                };
                Ok(Part::Arith(p.arith_parts()?))
            }
            Some(b'(') => {
                self.pos += 1;
                self.enter()?;
                let list = self.list(&[])?;
                self.leave();
                self.skip_blank_and_newlines();
                if self.peek() != Some(b')') {
                    return Err(SyntaxError::Unterminated);
                }
                self.pos += 1;
                Ok(Part::Command(Arc::new(list)))
            }
            Some(b'{') => {
                self.pos += 1;
                let length = self.peek() == Some(b'#') && self.peek_at(1) != Some(b'}');
                if length {
                    self.pos += 1;
                }
                let mut name = self.param_name().ok_or(SyntaxError::BadSubstitution)?;
                // Inside braces a positional parameter may have several digits: ${10}.
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                        self.pos += 1;
                        name.push(char::from(d));
                    }
                }
                let op = match self.peek() {
                    Some(b'}') => None,
                    Some(c) if !length => {
                        let colon = c == b':';
                        if colon {
                            self.pos += 1;
                        }
                        let op = self
                            .peek()
                            .filter(|o| matches!(o, b'-' | b'=' | b'?' | b'+' | b'#' | b'%'));
                        let mut op = op.ok_or(SyntaxError::BadSubstitution)?;
                        self.pos += 1;
                        // `##` and `%%`: the longest match (kept as `H` and `P`).
                        if matches!(op, b'#' | b'%') && self.peek() == Some(op) {
                            self.pos += 1;
                            op = if op == b'#' { b'H' } else { b'P' };
                        }
                        let mut word = Vec::new();
                        while let Some(b) = self.peek() {
                            match b {
                                b'}' => break,
                                b'$' => word.push(self.dollar()?),
                                b'"' => {
                                    self.pos += 1;
                                    word.push(Part::Double(self.double_quoted()?));
                                }
                                b'\'' => {
                                    self.pos += 1;
                                    let end = self
                                        .rest()
                                        .iter()
                                        .position(|&c| c == b'\'')
                                        .ok_or(SyntaxError::Unterminated)?;
                                    word.push(Part::Quoted(
                                        self.rest().get(..end).unwrap_or_default().to_vec(),
                                    ));
                                    self.pos += end + 1;
                                }
                                _ => {
                                    self.pos += 1;
                                    match word.last_mut() {
                                        Some(Part::Lit(v)) => v.push(b),
                                        _ => word.push(Part::Lit(vec![b])),
                                    }
                                }
                            }
                        }
                        Some((op, colon, word))
                    }
                    _ => return Err(SyntaxError::BadSubstitution),
                };
                if self.peek() != Some(b'}') {
                    return Err(SyntaxError::Unterminated);
                }
                self.pos += 1;
                Ok(Part::Param(ParamExp { name, length, op }))
            }
            _ => match self.param_name() {
                Some(name) => Ok(Part::Param(ParamExp {
                    name,
                    length: false,
                    op: None,
                })),
                None => Ok(Part::Lit(vec![b'$'])),
            },
        }
    }

    pub(super) fn param_name(&mut self) -> Option<String> {
        match self.peek() {
            Some(c)
                if matches!(c, b'?' | b'$' | b'#' | b'@' | b'*' | b'!' | b'-')
                    || c.is_ascii_digit() =>
            {
                self.pos += 1;
                Some((c as char).to_string())
            }
            Some(c) if is_name_start(c) => self.name(),
            _ => None,
        }
    }

    /// The inside of `$((…))`: literal text with `$` expansions.
    pub(super) fn arith_parts(&mut self) -> Result<Vec<Part>, SyntaxError> {
        let mut parts = Vec::new();
        while let Some(b) = self.peek() {
            if b == b'$' {
                parts.push(self.dollar()?);
            } else {
                self.pos += 1;
                match parts.last_mut() {
                    Some(Part::Lit(v)) => v.push(b),
                    _ => parts.push(Part::Lit(vec![b])),
                }
            }
        }
        Ok(parts)
    }
}

/// The text of a word with its quotes removed (a here-document's delimiter).
pub(super) fn flatten_literal(word: &[Part], out: &mut Vec<u8>) {
    for part in word {
        match part {
            Part::Lit(t) | Part::Quoted(t) => out.extend_from_slice(t),
            Part::Double(inner) => flatten_literal(inner, out),
            Part::Param(p) => {
                out.push(b'$');
                out.extend_from_slice(p.name.as_bytes());
            }
            Part::Command(_) | Part::Arith(_) => {}
        }
    }
}

fn push_quoted(parts: &mut Vec<Part>, b: u8) {
    match parts.last_mut() {
        Some(Part::Quoted(v)) => v.push(b),
        _ => parts.push(Part::Quoted(vec![b])),
    }
}
