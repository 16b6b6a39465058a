//! `login` on the pty in canonical mode: the prompts, the line discipline while it
//! reads (echo, erase, signals, `tcflush`), the password and its verdict.

use super::*;

impl Session {
    pub(super) fn prompt_for_username(&mut self, empty_lines_left: u8) {
        // login: tcflush(0, TCIFLUSH) drops type-ahead, then the prompt.
        self.flush_tty_input();
        self.tty_echo = true;
        let prompt = format!("{} login: ", self.config.device().hostname);
        self.output(prompt.as_bytes());
        self.phase = Phase::Username { empty_lines_left };
    }

    /// One byte reaching the pty from telnetd.
    pub(super) fn tty_input(&mut self, now: Now, b: u8) {
        if !self.pty.count_typed(now, b) {
            return self.after_shell(now);
        }
        if matches!(self.phase, Phase::Shell) {
            self.pty.shell_input(now, b);
            return self.after_shell(now);
        }
        self.canonical_input(now, b);
        while let Some(line) = self.tty_ready.pop_front() {
            if !self.login_read_line(now, line) {
                break;
            }
        }
    }

    /// The n_tty line discipline in canonical mode with BusyBox telnetd's termios
    /// (ICRNL, ISIG, IEXTEN, ECHO, ECHOE, ECHOK, ECHOKE, ECHOCTL, ONLCR, XTABS).
    pub(super) fn canonical_input(&mut self, now: Now, b: u8) {
        let c = if b == b'\r' { b'\n' } else { b };
        match c {
            // VINTR, VQUIT, VSUSP: echoed, the input queue is flushed, and the signal
            // goes to login.
            0x03 | 0x1c | 0x1a => {
                // isig(): without NOFLSH, both queues are flushed, so the echo of
                // what came in the same write is lost too.
                self.flush_tty_input();
                self.pty.discard_unsent_output();
                if self.tty_echo {
                    self.output(&[b'^', c + 0x40]);
                }
                self.login_signal(now, c);
            }
            // VEOF (not echoed): hands over what was typed without a newline (the
            // readers keep reading); on an empty line it is end of file.
            0x04 => {
                if self.tty_line.is_empty() {
                    let line = std::mem::take(&mut self.tty_delivered);
                    self.tty_ready.push_back(line);
                } else {
                    let part = std::mem::take(&mut self.tty_line);
                    self.tty_delivered.extend(part);
                }
            }
            // VERASE
            0x7f => {
                if let Some(erased) = self.tty_line.pop() {
                    if self.tty_echo {
                        self.echo_erase(erased);
                    }
                }
            }
            // VWERASE, as n_tty does it (BSD ALTWERASE): back over anything up to and
            // including a run of alphanumerics.
            0x17 => {
                let mut seen_alnum = false;
                while let Some(&last) = self.tty_line.last() {
                    if last.is_ascii_alphanumeric() || last == b'_' {
                        seen_alnum = true;
                    } else if seen_alnum {
                        break;
                    }
                    self.tty_line.pop();
                    if self.tty_echo {
                        self.echo_erase(last);
                    }
                }
            }
            // VKILL
            0x15 => {
                while let Some(erased) = self.tty_line.pop() {
                    if self.tty_echo {
                        self.echo_erase(erased);
                    }
                }
            }
            b'\n' => {
                if self.tty_echo {
                    self.output(b"\r\n");
                }
                let mut line = std::mem::take(&mut self.tty_delivered);
                line.append(&mut self.tty_line);
                line.push(b'\n');
                self.tty_ready.push_back(line);
            }
            _ => {
                if self.tty_delivered.len() + self.tty_line.len() >= TTY_LINE_MAX {
                    return;
                }
                self.tty_line.push(c);
                if self.tty_echo {
                    self.echo_char(c);
                }
            }
        }
    }

    pub(super) fn flush_tty_input(&mut self) {
        self.tty_line.clear();
        self.tty_delivered.clear();
        self.tty_ready.clear();
    }

    pub(super) fn echo_char(&mut self, c: u8) {
        match c {
            b'\t' => {
                let spaces = 8 - self.pty.column() % 8;
                self.output(b"        ".get(..spaces).unwrap_or_default());
            }
            0..=0x1f => self.output(&[b'^', c + 0x40]),
            0x7f => self.output(b"^?"),
            _ => self.output(&[c]),
        }
    }

    pub(super) fn echo_erase(&mut self, erased: u8) {
        if erased < 0x20 && erased != b'\t' {
            self.output(b"\x08 \x08\x08 \x08");
        } else {
            self.output(b"\x08 \x08");
        }
    }

    pub(super) fn login_signal(&mut self, now: Now, c: u8) {
        match (&self.phase, c) {
            // SIGTSTP to an orphaned process group (login's) is discarded.
            (_, 0x1a) => {}
            // During the password read SIGINT is caught: the read fails like a wrong password.
            (Phase::Password { username }, 0x03) => {
                let username = username.clone();
                self.password_entered(now, username, None);
            }
            // SIGINT or SIGQUIT kill login; telnetd closes the connection.
            _ => self.close(now, CloseReason::DeviceClosed),
        }
    }

    /// `login` reads one line; returns false when it stopped reading lines.
    pub(super) fn login_read_line(&mut self, now: Now, line: Vec<u8>) -> bool {
        match &self.phase {
            Phase::Username { empty_lines_left } => {
                let empty_lines_left = *empty_lines_left;
                let Some(start) = line.iter().position(|b| !is_c_space(*b)) else {
                    if line.last() != Some(&b'\n') {
                        // EOF at the prompt: login exits.
                        self.close(now, CloseReason::DeviceClosed);
                        return false;
                    }
                    if empty_lines_left <= 1 {
                        self.close(now, CloseReason::DeviceClosed);
                        return false;
                    }
                    let prompt = format!("{} login: ", self.config.device().hostname);
                    self.output(prompt.as_bytes());
                    self.phase = Phase::Username {
                        empty_lines_left: empty_lines_left - 1,
                    };
                    return true;
                };
                let rest = line.get(start + 1..).unwrap_or_default();
                let newline_in_reach = rest.iter().take(USERNAME_FGETS).any(|&b| b == b'\n');
                if !newline_in_reach {
                    // fgets() came back without a newline: login exits.
                    self.close(now, CloseReason::DeviceClosed);
                    return false;
                }
                let name = line.get(start..).unwrap_or_default();
                let end = name.iter().position(|&b| b <= b' ').unwrap_or(name.len());
                let username = name.get(..end).unwrap_or_default().to_vec();
                self.output(b"Password: ");
                self.tty_echo = false;
                self.phase = Phase::Password { username };
                true
            }
            Phase::Password { username } => {
                let username = username.clone();
                let password = match line.iter().position(|&b| b == b'\n') {
                    Some(end) => Some(line.get(..end).unwrap_or_default().to_vec()),
                    None if line.is_empty() => None,
                    None => Some(line),
                };
                self.password_entered(now, username, password);
                // After a success the rest of the queue is the shell's type-ahead.
                if matches!(self.phase, Phase::Shell) {
                    let pending: Vec<u8> = self.tty_ready.drain(..).flatten().collect();
                    let mut partial = std::mem::take(&mut self.tty_delivered);
                    partial.append(&mut self.tty_line);
                    for b in pending.into_iter().chain(partial) {
                        if self.is_closed() {
                            break;
                        }
                        self.pty.shell_input(now, b);
                        self.after_shell(now);
                    }
                }
                false
            }
            // Lines typed during the pause wait for the tcflush at the next prompt.
            _ => {
                self.tty_ready.push_front(line);
                false
            }
        }
    }

    pub(super) fn password_entered(
        &mut self,
        now: Now,
        username: Vec<u8>,
        password: Option<Vec<u8>>,
    ) {
        // bb_ask_noecho(): echo back on, then "\n".
        self.tty_echo = true;
        self.output(b"\r\n");
        let pass = password.clone().unwrap_or_default();
        let ok = password.is_some()
            && self
                .config
                .state
                .auth
                .check(now.mono, self.peer.src.ip(), &username, &pass);
        let (username, password) = (lossy(&username), lossy(&pass));
        if ok {
            self.event(now, EventKind::LoginSuccess { username, password });
            self.login_deadline = None;
            self.phase = Phase::Shell;
            self.pty.start_login_shell(now);
        } else {
            self.event(now, EventKind::LoginFailed { username, password });
            self.pause_until = Some(now.mono + self.config.limits.failed_login_delay);
            self.phase = Phase::FailedPause;
        }
    }
}
