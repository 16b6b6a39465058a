//! Attacker text made safe for the operator's terminal.
//!
//! A bot chooses its user name, password, command lines, URLs and telnet
//! fingerprint, and what it makes the device print. Printed raw, an escape sequence in
//! any of them reaches the operator's terminal: OSC 52 writes the clipboard, OSC 0 the
//! window title, others move the cursor to hide or fake lines. Every field the CLI
//! prints from the store goes through [`escape`] (a line of text) or [`json_line`] (a
//! stored event); a replayed recording goes through [`ReplayFilter`], which keeps the
//! cursor and colour sequences a session really drew and drops the rest.

use std::fmt::Write;

/// `text` with every C0 control, DEL, C1 control and bidirectional override written
/// as an escape (`\u{1b}`, `\r`, `\u{9b}`, `\u{202e}`): one line, shown as it is.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hostile(c) {
            out.push_str(&c.escape_default().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest value shown in a table cell (JSON output has them whole).
pub const MAX_CELL: usize = 80;

/// [`escape`], shortened to [`MAX_CELL`] characters with `…` for a table cell.
pub fn cell(text: &str) -> String {
    shortened(text, MAX_CELL)
}

/// [`escape`], shortened to `max` characters with `…`.
pub fn shortened(text: &str, max: usize) -> String {
    let s = escape(text);
    if s.chars().count() > max {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        return format!("{cut}…");
    }
    s
}

/// JSON text from the store safe to print: JSON escapes C0 in strings itself (and
/// its layout's newlines must stay), but not DEL, C1 or bidirectional overrides,
/// which are written as `\uXXXX` here (still the same JSON value).
pub fn json_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if is_hostile(c) && !matches!(c, '\u{0}'..='\u{1f}') {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters a terminal acts on, and the bidirectional overrides that make a
/// line read other than it is.
fn is_hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Passes what a session drew (text, line controls, CSI sequences: cursor moves,
/// erasing, colours) and drops what a terminal would act on beyond the screen: OSC
/// (title, clipboard, hyperlinks), DCS, APC, PM and SOS strings, and C1 controls.
#[derive(Debug, Default)]
pub struct ReplayFilter {
    state: ReplayState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ReplayState {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// In a CSI sequence (kept).
    Csi,
    /// In a CSI sequence begun by the C1 control (dropped).
    DroppedCsi,
    /// In a string sequence (OSC, DCS, …; dropped) up to its terminator.
    String,
    /// ESC inside a string sequence: `\` ends it.
    StringEscape,
}

/// Longest CSI sequence passed on; longer ones are dropped (a real one is short).
const MAX_CSI: usize = 32;

impl ReplayFilter {
    /// Filters the next piece of output (sequences may span pieces).
    pub fn filter(&mut self, input: &str, out: &mut String) {
        let mut csi = String::new();
        for c in input.chars() {
            self.state = match (self.state, c) {
                (ReplayState::Text, '\u{1b}') => ReplayState::Escape,
                (ReplayState::Text, c) if matches!(c, '\n' | '\r' | '\t' | '\u{8}' | '\u{7}') => {
                    out.push(c);
                    ReplayState::Text
                }
                // The C1 forms of CSI and of the string sequences.
                (ReplayState::Text, '\u{9b}') => ReplayState::DroppedCsi,
                (ReplayState::Text, '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}') => {
                    ReplayState::String
                }
                (ReplayState::Text, c) if is_hostile(c) => ReplayState::Text,
                (ReplayState::Text, c) => {
                    out.push(c);
                    ReplayState::Text
                }
                (ReplayState::Escape, '[') => {
                    csi.clear();
                    csi.push_str("\u{1b}[");
                    ReplayState::Csi
                }
                (ReplayState::Escape, ']' | 'P' | '_' | '^' | 'X') => ReplayState::String,
                // Two-byte sequences (ESC 7, ESC 8, ESC M…) are screen operations.
                (ReplayState::Escape, c) if ('\u{30}'..='\u{7e}').contains(&c) => {
                    out.push('\u{1b}');
                    out.push(c);
                    ReplayState::Text
                }
                (ReplayState::Escape, _) => ReplayState::Text,
                (ReplayState::Csi, c) if ('\u{40}'..='\u{7e}').contains(&c) => {
                    csi.push(c);
                    if csi.len() <= MAX_CSI {
                        out.push_str(&csi);
                    }
                    csi.clear();
                    ReplayState::Text
                }
                (ReplayState::Csi, c) if ('\u{20}'..='\u{3f}').contains(&c) => {
                    csi.push(c);
                    ReplayState::Csi
                }
                (ReplayState::Csi, _) => ReplayState::Text,
                (ReplayState::DroppedCsi, c) if ('\u{20}'..='\u{3f}').contains(&c) => {
                    ReplayState::DroppedCsi
                }
                (ReplayState::DroppedCsi, _) => ReplayState::Text,
                (ReplayState::String, '\u{7}' | '\u{9c}') => ReplayState::Text,
                (ReplayState::String, '\u{1b}') => ReplayState::StringEscape,
                (ReplayState::String, _) => ReplayState::String,
                (ReplayState::StringEscape, '\\') => ReplayState::Text,
                (ReplayState::StringEscape, _) => ReplayState::String,
            };
        }
        // A CSI cut between pieces is dropped whole rather than split.
        if self.state == ReplayState::Csi {
            self.state = ReplayState::Text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_and_override() {
        assert_eq!(
            escape("echo \u{1b}]52;c;ZXZpbA==\u{7}\r\n"),
            "echo \\u{1b}]52;c;ZXZpbA==\\u{7}\\r\\n"
        );
        assert_eq!(escape("a\u{9b}31mb\u{7f}"), "a\\u{9b}31mb\\u{7f}");
        assert_eq!(escape("txt.\u{202e}exe"), "txt.\\u{202e}exe");
        assert_eq!(escape("ordinary äöü"), "ordinary äöü");
        let long = "a".repeat(200);
        assert_eq!(cell(&long).chars().count(), MAX_CELL);
        assert!(cell(&long).ends_with('…'));
    }

    #[test]
    fn json_lines_stay_json_without_terminal_controls() {
        let line = "{\n  \"input\": \"x\u{9b}2J\u{7f}\u{202e}\"\n}";
        let safe = json_line(line);
        assert_eq!(safe, "{\n  \"input\": \"x\\u009b2J\\u007f\\u202e\"\n}");
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        let b: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn replay_keeps_drawing_and_drops_strings_and_c1() {
        let mut f = ReplayFilter::default();
        let mut out = String::new();
        f.filter(
            "# \u{1b}[31mred\u{1b}[0m\r\n\u{1b}]0;title\u{7}\u{1b}]52;c;ZXZpbA==\u{1b}\\ok\u{9b}2J\u{1b}P+q\u{1b}\\\u{8}",
            &mut out,
        );
        assert_eq!(out, "# \u{1b}[31mred\u{1b}[0m\r\nok\u{8}");
        // A string sequence spanning pieces stays dropped until its end.
        let mut out = String::new();
        f.filter("a\u{1b}]52;c;", &mut out);
        f.filter("ZXZpbA==\u{7}b", &mut out);
        assert_eq!(out, "ab");
    }
}
