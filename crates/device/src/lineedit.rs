//! BusyBox's line editor (`libbb/lineedit.c`, emacs mode), as ash runs it at the
//! prompt of a profile with line editing: the bytes it echoes for each key, measured
//! against the oracle (`terminal` group of the fidelity corpus).
//!
//! Pure state: [`LineEditor::key`] takes one input byte and the shell's history and
//! appends the terminal output to a buffer; the session turns what it returns into a
//! command line, an interrupt or end of file. Tab completion (a tab only beeps),
//! reverse search and the cursor-position report are not emulated: a report, like
//! any escape sequence that is not a key lineedit knows, is swallowed whole
//! (lineedit would type its tail).

/// Debian's `CONFIG_FEATURE_EDITING_MAX_LEN`: a line keeps at most this many bytes
/// minus two (room for the newline and the NUL).
pub const EDITING_MAX_LEN: usize = 1024;

/// Bytes of an escape sequence kept while it is read (longer ones are dropped).
const MAX_ESCAPE_BYTES: usize = 8;

const CLEAR_TO_END: &[u8] = b"\x1b[J";

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    /// Nothing beyond the echo.
    Nothing,
    /// Enter: the line to run.
    Line(Vec<u8>),
    /// `^C`: the line is abandoned.
    Interrupt,
    /// `^D` on an empty line.
    EndOfFile,
}

/// The shell's history as the editor sees it: ash shares one list with `history`.
pub trait History {
    /// Lines in the history.
    fn len(&self) -> usize;
    /// Whether the history is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Line `i` (0 is the oldest).
    fn get(&self, i: usize) -> Option<&[u8]>;
    /// Replaces line `i` (lineedit keeps edits of a recalled line when moving on).
    fn set(&mut self, i: usize, line: &[u8]);
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Esc,
    /// After `ESC [` or `ESC O` (the byte), with the parameter bytes so far.
    Sequence(u8, Vec<u8>),
}

/// Keys that are escape sequences.
enum Key {
    Up,
    Down,
    Right,
    Left,
    Home,
    End,
    Delete,
    Other,
}

/// One prompt's line editor.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: Vec<u8>,
    cursor: usize,
    /// Screen column and row relative to the prompt's line (`cmdedit_x`/`_y`).
    x: usize,
    y: usize,
    width: usize,
    prompt: Vec<u8>,
    escape: Escape,
    /// Which history line is shown; `history.len()` is the line being typed.
    history_at: usize,
    /// The line being typed while history is browsed.
    scratch: Vec<u8>,
}

impl LineEditor {
    /// A new line after `prompt` (already printed) on a terminal `width` wide.
    pub fn start(&mut self, prompt: &[u8], width: u16, history_len: usize) {
        self.width = usize::from(width).max(1);
        self.prompt = prompt.to_vec();
        self.line.clear();
        self.cursor = 0;
        self.escape = Escape::None;
        self.history_at = history_len;
        self.scratch.clear();
        self.put_prompt_position();
    }

    /// The terminal was resized (NAWS; the real device gets SIGWINCH): lineedit's
    /// `cmdedit_setwidth()` redraws the line for the new width, even an unchanged one.
    pub fn set_width(&mut self, width: u16, out: &mut Vec<u8>) {
        let width = usize::from(width).max(1);
        self.width = width;
        let new_y = (self.cursor + self.prompt.len()) / width;
        let back = self.line.len() - self.cursor;
        self.redraw(new_y.max(self.y), back, out);
    }

    /// The text typed so far.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    fn put_prompt_position(&mut self) {
        self.cursor = 0;
        self.y = self.prompt.len() / self.width;
        self.x = self.prompt.len() % self.width;
    }

    /// One input byte.
    pub fn key(&mut self, b: u8, history: &mut dyn History, out: &mut Vec<u8>) -> Edited {
        match std::mem::take(&mut self.escape) {
            Escape::None if b == 0x1b => {
                self.escape = Escape::Esc;
                return Edited::Nothing;
            }
            Escape::None => {}
            Escape::Esc if b == b'[' || b == b'O' => {
                self.escape = Escape::Sequence(b, Vec::new());
                return Edited::Nothing;
            }
            // ESC before any other key is ignored; the key is read as itself.
            Escape::Esc => {}
            Escape::Sequence(kind, mut params) => {
                if (0x40..=0x7e).contains(&b) && !(kind == b'[' && b == b'[' && params.is_empty()) {
                    let key = decode_key(kind, &params, b);
                    self.escape_key(key, history, out);
                } else if params.len() < MAX_ESCAPE_BYTES {
                    params.push(b);
                    self.escape = Escape::Sequence(kind, params);
                } else {
                    // Not a key anyone sends: dropped whole.
                    self.escape = Escape::Sequence(kind, params);
                }
                return Edited::Nothing;
            }
        }
        match b {
            b'\r' | b'\n' => {
                self.put_till_end(out);
                if self.cursor == 0 || self.x != 0 {
                    out.extend_from_slice(b"\r\n");
                }
                return Edited::Line(std::mem::take(&mut self.line));
            }
            0x01 => self.backward(self.cursor, out),
            0x02 => self.backward(1, out),
            0x05 => self.put_till_end(out),
            0x06 => self.forward(out),
            0x08 | 0x7f => self.backspace(out),
            0x0b => {
                self.line.truncate(self.cursor);
                out.extend_from_slice(CLEAR_TO_END);
            }
            0x0c => {
                out.extend_from_slice(b"\x1b[H\x1b[J");
                self.redraw(0, self.line.len() - self.cursor, out);
            }
            0x0e => {
                if self.next_history(history, out) {
                    self.rewrite_from_history(history, out);
                }
            }
            0x10 => {
                if self.previous_history(history, out) {
                    self.rewrite_from_history(history, out);
                }
            }
            0x15 => {
                if self.cursor > 0 {
                    self.line.drain(..self.cursor);
                    let back = self.line.len();
                    self.redraw(self.y, back, out);
                }
            }
            0x17 => {
                while self.cursor > 0 && self.before_cursor_is(u8::is_ascii_whitespace) {
                    self.backspace(out);
                }
                while self.cursor > 0 && !self.before_cursor_is(u8::is_ascii_whitespace) {
                    self.backspace(out);
                }
            }
            0x03 => {
                self.line.clear();
                return Edited::Interrupt;
            }
            0x04 => {
                if self.line.is_empty() {
                    return Edited::EndOfFile;
                }
                self.delete(out);
            }
            // Tab: completion is not emulated; lineedit beeps when a first tab finds
            // no single match, the usual case for what bots type.
            b'\t' => out.push(0x07),
            // Other control keys are ignored.
            0..=0x1f => {}
            _ => self.insert(b, out),
        }
        Edited::Nothing
    }

    fn before_cursor_is(&self, test: fn(&u8) -> bool) -> bool {
        self.cursor
            .checked_sub(1)
            .and_then(|i| self.line.get(i))
            .is_some_and(test)
    }

    fn escape_key(&mut self, key: Key, history: &mut dyn History, out: &mut Vec<u8>) {
        match key {
            Key::Up => {
                if self.previous_history(history, out) {
                    self.rewrite_from_history(history, out);
                } else {
                    out.push(0x07);
                }
            }
            Key::Down => {
                if self.next_history(history, out) {
                    self.rewrite_from_history(history, out);
                }
            }
            Key::Right => self.forward(out),
            Key::Left => self.backward(1, out),
            Key::Home => self.backward(self.cursor, out),
            Key::End => self.put_till_end(out),
            Key::Delete => self.delete(out),
            Key::Other => {}
        }
    }

    fn insert(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.line.len() + 2 >= EDITING_MAX_LEN {
            return;
        }
        if self.cursor == self.line.len() {
            self.line.push(b);
            self.put_glyph(out);
        } else {
            let at = self.cursor;
            self.line.insert(at, b);
            self.put_till_end(out);
            self.backward(self.cursor - (at + 1), out);
        }
    }

    /// `put_cur_glyph_and_inc_cursor()`: the character under the cursor (a space
    /// past the end), wrapping at the margin with CR LF.
    fn put_glyph(&mut self, out: &mut Vec<u8>) {
        match self.line.get(self.cursor) {
            Some(&c) => {
                self.cursor += 1;
                self.x += 1;
                out.push(c);
            }
            None => out.push(b' '),
        }
        if self.x >= self.width {
            // puts("\r"): CR, then the newline ONLCR makes CR LF.
            out.extend_from_slice(b"\r\r\n");
            self.y += 1;
            self.x = 0;
        }
    }

    fn put_till_end(&mut self, out: &mut Vec<u8>) {
        while self.cursor < self.line.len() {
            self.put_glyph(out);
        }
    }

    fn forward(&mut self, out: &mut Vec<u8>) {
        if self.cursor < self.line.len() {
            self.put_glyph(out);
        }
    }

    /// `input_backward()`.
    fn backward(&mut self, num: usize, out: &mut Vec<u8>) {
        let num = num.min(self.cursor);
        if num == 0 {
            return;
        }
        self.cursor -= num;
        if self.x >= num {
            self.x -= num;
            if num <= 4 {
                out.extend(std::iter::repeat_n(0x08, num));
            } else {
                out.extend_from_slice(format!("\x1b[{num}D").as_bytes());
            }
            return;
        }
        let back_from_line_start = num - self.x;
        let lines_up = 1 + (back_from_line_start - 1) / self.width;
        self.x = (self.width * self.y).saturating_sub(back_from_line_start) % self.width;
        self.y = self.y.saturating_sub(lines_up);
        out.extend_from_slice(format!("\r\x1b[{lines_up}A").as_bytes());
        if self.x != 0 {
            out.extend_from_slice(format!("\x1b[{}C", self.x).as_bytes());
        }
    }

    /// `input_delete()`: the character under the cursor.
    fn delete(&mut self, out: &mut Vec<u8>) {
        let at = self.cursor;
        if at >= self.line.len() {
            return;
        }
        self.line.remove(at);
        self.put_till_end(out);
        out.extend_from_slice(CLEAR_TO_END);
        self.backward(self.cursor - at, out);
    }

    fn backspace(&mut self, out: &mut Vec<u8>) {
        if self.cursor > 0 {
            self.backward(1, out);
            self.delete(out);
        }
    }

    /// `redraw()`: up `y` rows, the prompt's line, the text, clear, back `back`.
    fn redraw(&mut self, y: usize, back: usize, out: &mut Vec<u8>) {
        if y > 0 {
            out.extend_from_slice(format!("\x1b[{y}A").as_bytes());
        }
        out.push(b'\r');
        out.extend_from_slice(&self.prompt);
        self.put_prompt_position();
        self.put_till_end(out);
        out.extend_from_slice(CLEAR_TO_END);
        self.backward(back, out);
    }

    /// Keeps the line shown at the history position it came from (lineedit saves a
    /// non-empty line there before moving).
    fn save_at_history(&mut self, history: &mut dyn History) {
        if self.line.is_empty() {
            return;
        }
        if self.history_at >= history.len() {
            self.scratch.clone_from(&self.line);
        } else {
            history.set(self.history_at, &self.line);
        }
    }

    fn previous_history(&mut self, history: &mut dyn History, out: &mut Vec<u8>) -> bool {
        if self.history_at > 0 {
            self.save_at_history(history);
            self.history_at -= 1;
            return true;
        }
        out.push(0x07);
        false
    }

    fn next_history(&mut self, history: &mut dyn History, out: &mut Vec<u8>) -> bool {
        if self.history_at < history.len() {
            self.save_at_history(history);
            self.history_at += 1;
            return true;
        }
        out.push(0x07);
        false
    }

    fn rewrite_from_history(&mut self, history: &dyn History, out: &mut Vec<u8>) {
        let line = match history.get(self.history_at) {
            Some(l) => l.to_vec(),
            None => self.scratch.clone(),
        };
        self.line = line;
        self.line.truncate(EDITING_MAX_LEN - 2);
        self.redraw(self.y, 0, out);
    }
}

/// The key an escape sequence (`ESC [ params final` or `ESC O final`) stands for.
fn decode_key(kind: u8, params: &[u8], last: u8) -> Key {
    match (kind, params, last) {
        (_, b"", b'A') => Key::Up,
        (_, b"", b'B') => Key::Down,
        (_, b"", b'C') => Key::Right,
        (_, b"", b'D') => Key::Left,
        (_, b"", b'H') | (b'[', b"1" | b"7", b'~') => Key::Home,
        (_, b"", b'F') | (b'[', b"4" | b"8", b'~') => Key::End,
        (b'[', b"3", b'~') => Key::Delete,
        _ => Key::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Vec<Vec<u8>>);

    impl History for Lines {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn get(&self, i: usize) -> Option<&[u8]> {
            self.0.get(i).map(Vec::as_slice)
        }
        fn set(&mut self, i: usize, line: &[u8]) {
            if let Some(l) = self.0.get_mut(i) {
                *l = line.to_vec();
            }
        }
    }

    /// Types `keys` after the prompt `~ # ` on an 80-column terminal.
    fn typed(keys: &[u8], history: &mut Lines) -> (Vec<u8>, Vec<Edited>) {
        let mut editor = LineEditor::default();
        editor.start(b"~ # ", 80, history.len());
        let mut out = Vec::new();
        let mut edits = Vec::new();
        for &k in keys {
            let e = editor.key(k, history, &mut out);
            if e != Edited::Nothing {
                edits.push(e);
            }
        }
        (out, edits)
    }

    // The expected bytes are the oracle's (corpus group `terminal`).

    #[test]
    fn backspace_and_delete_erase_with_clear_to_end() {
        for erase in [0x7f, 0x08] {
            let (out, edits) = typed(
                &[b"echo abx".as_slice(), &[erase], b"c\r"].concat(),
                &mut Lines::default(),
            );
            assert_eq!(out, b"echo abx\x08\x1b[Jc\r\n");
            assert_eq!(edits, [Edited::Line(b"echo abc".to_vec())]);
        }
    }

    #[test]
    fn kill_line_redraws_the_prompt() {
        let (out, edits) = typed(b"garbage\x15echo ok\r", &mut Lines::default());
        assert_eq!(out, b"garbage\r~ # \x1b[Jecho ok\r\n");
        assert_eq!(edits, [Edited::Line(b"echo ok".to_vec())]);
    }

    #[test]
    fn word_erase_backs_over_one_word() {
        let (out, edits) = typed(b"echo foo bar\x17baz\r", &mut Lines::default());
        assert_eq!(out, b"echo foo bar\x08\x1b[J\x08\x1b[J\x08\x1b[Jbaz\r\n");
        assert_eq!(edits, [Edited::Line(b"echo foo baz".to_vec())]);
    }

    #[test]
    fn cursor_left_then_insert_redraws_the_tail() {
        let (out, edits) = typed(b"echo ac\x1b[Db\r", &mut Lines::default());
        assert_eq!(out, b"echo ac\x08bc\x08c\r\n");
        assert_eq!(edits, [Edited::Line(b"echo abc".to_vec())]);
    }

    #[test]
    fn a_narrower_terminal_redraws_and_wraps_earlier() {
        let mut editor = LineEditor::default();
        editor.start(b"~ # ", 80, 0);
        let mut out = Vec::new();
        editor.set_width(40, &mut out);
        for &k in b"echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r" {
            editor.key(k, &mut Lines::default(), &mut out);
        }
        assert_eq!(
            out,
            b"\r~ # \x1b[Jecho aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\r\naaaa\r\n"
        );
    }

    #[test]
    fn up_arrow_recalls_the_last_line() {
        let mut history = Lines(vec![b"echo one".to_vec()]);
        let (out, edits) = typed(b"\x1b[A\r", &mut history);
        assert_eq!(out, b"\r~ # echo one\x1b[J\r\n");
        assert_eq!(edits, [Edited::Line(b"echo one".to_vec())]);
    }

    #[test]
    fn up_arrow_without_history_beeps_twice() {
        let (out, _) = typed(b"\x1b[A", &mut Lines::default());
        assert_eq!(out, b"\x07\x07");
    }

    #[test]
    fn ctrl_d_deletes_under_the_cursor_or_ends_an_empty_line() {
        let (out, edits) = typed(b"echo ab\x04c\r", &mut Lines::default());
        assert_eq!(out, b"echo abc\r\n");
        assert_eq!(edits, [Edited::Line(b"echo abc".to_vec())]);
        assert_eq!(typed(b"\x04", &mut Lines::default()).1, [Edited::EndOfFile]);
    }

    #[test]
    fn a_line_wraps_at_the_margin_and_enter_at_the_margin_adds_no_newline() {
        let line = [b'a'; 76];
        let (out, edits) = typed(&[&line[..], b"\r"].concat(), &mut Lines::default());
        assert_eq!(out, [&line[..], b"\r\r\n"].concat());
        assert_eq!(edits, [Edited::Line(line.to_vec())]);
    }

    #[test]
    fn moving_left_across_a_wrap_goes_up_a_row() {
        let line = [b'a'; 77];
        let (out, _) = typed(&[&line[..], b"\x01"].concat(), &mut Lines::default());
        assert!(
            out.ends_with(b"a\r\x1b[1A\x1b[4C"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn a_line_stops_growing_at_the_editing_limit() {
        let line = vec![b'x'; 5000];
        let (_, edits) = typed(&[&line[..], b"\r"].concat(), &mut Lines::default());
        assert_eq!(edits, [Edited::Line(vec![b'x'; EDITING_MAX_LEN - 2])]);
    }

    #[test]
    fn long_escape_sequences_are_dropped_whole() {
        let (out, edits) = typed(b"\x1b[1;2;3;4;5;6;7;8;9Aok\r", &mut Lines::default());
        assert_eq!(out, b"ok\r\n");
        assert_eq!(edits, [Edited::Line(b"ok".to_vec())]);
    }
}
