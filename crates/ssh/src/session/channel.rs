//! The connection protocol as Dropbear's server runs it (common-channel.c,
//! svr-chansession.c): `session` channels with its window and packet sizes, the
//! requests it grants and refuses, and its order of EOF, exit-status and CLOSE when
//! the shell ends. Behind each channel is the device's shell: a login shell on a
//! pty, a shell reading a pipe, or one `exec` line. Port forwarding is recorded and
//! refused: nothing is ever forwarded.

use busybait_device::clock::Now;
use busybait_device::terminal::Attach;
use busybait_events::{lossy, EventKind};

use super::Session;
use crate::msg;
use crate::wire::{put_string, put_u32, Reader};

/// `RECV_MAX_CHANNEL_DATA_LEN`: the largest data packet the server accepts, offered
/// in its confirmation.
const RECV_MAX_CHANNEL_DATA: u32 = 32_759;
/// Data per packet the server sends at most (`TRANS_MAX_PAYLOAD_LEN` less headers).
const TRANS_MAX_CHANNEL_DATA: usize = 16_384 - 9;
/// The same for standard error (`EXTENDED_DATA` has a type field more).
const TRANS_MAX_CHANNEL_EXTENDED: usize = 16_384 - 13;
/// Dropbear caps the peer's window and each increment at this.
const MAX_TRANS_WINDOW: u32 = 500_000_000;
/// `MAX_CMD_LEN`: a longer `exec` command is refused.
const MAX_CMD_LEN: usize = 9000;
/// `TERM` longer than this refuses the `pty-req`.
const MAX_TERM_LEN: usize = 200;
/// A channel type name longer than this is unknown.
const MAX_CHANNEL_TYPE_LEN: usize = 64;

/// A pty the client asked for.
#[derive(Debug, Clone, Copy)]
struct Pty {
    width: u16,
    height: u16,
}

/// One open `session` channel.
#[derive(Debug)]
pub struct Channel {
    remote_id: u32,
    remote_window: u32,
    remote_max_packet: u32,
    /// Bytes the client may still send.
    local_window: u32,
    /// Bytes received and passed on (to the pty, or into the shell's stdin pipe)
    /// since the last window adjust.
    consumed: u32,
    /// Bytes received that the shell's stdin pipe holds past a kernel pipe's
    /// capacity: Dropbear has not written them yet, so they get no window back.
    unwritten: usize,
    pty: Option<Pty>,
    agent: bool,
    /// The shell behind the channel.
    pub(super) process: Option<busybait_device::terminal::Terminal>,
    /// Its output waiting for the client's window.
    pub(super) pending: Vec<u8>,
    /// Its standard error (no pty: a pipe of its own), sent as `EXTENDED_DATA`.
    pub(super) pending_err: Vec<u8>,
    got_eof: bool,
    sent_eof: bool,
    sent_close: bool,
    got_close: bool,
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl Session {
    pub(super) fn global_request(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Ok((_, name, want_reply)) =
            (|| Ok::<_, crate::wire::Malformed>((r.u8()?, r.string()?, r.bool()?)))()
        else {
            return self.fatal(now);
        };
        if matches!(name, b"tcpip-forward" | b"cancel-tcpip-forward") {
            let (address, port) = (
                r.string().map(lossy).unwrap_or_default(),
                r.u32().unwrap_or(0),
            );
            self.record_request(
                now,
                EventKind::SshRequest {
                    request: lossy(name),
                    detail: format!("{address}:{port}"),
                    granted: false,
                },
            );
        }
        if want_reply {
            self.send(vec![msg::REQUEST_FAILURE]);
        }
    }

    pub(super) fn channel_open(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let header = (|| {
            Ok::<_, crate::wire::Malformed>((r.u8()?, r.string()?, r.u32()?, r.u32()?, r.u32()?))
        })();
        let Ok((_, kind, sender, window, max_packet)) = header else {
            return self.fatal(now);
        };
        let failure = |reason: u32, text: &[u8]| {
            let mut out = vec![msg::CHANNEL_OPEN_FAILURE];
            put_u32(&mut out, sender);
            put_u32(&mut out, reason);
            put_string(&mut out, text);
            put_string(&mut out, b"");
            out
        };
        match kind {
            b"session" => {}
            b"direct-tcpip" => {
                let target = (|| {
                    Ok::<_, crate::wire::Malformed>((r.string()?, r.u32()?, r.string()?, r.u32()?))
                })();
                let Ok((host, port, orig, orig_port)) = target else {
                    return self.fatal(now);
                };
                self.record_request(
                    now,
                    EventKind::DirectTcpip {
                        dst_ip: lossy(host),
                        dst_port: port,
                        orig_ip: lossy(orig),
                        orig_port,
                    },
                );
                // The device never connects anywhere: the connect fails as it
                // would to a closed port.
                let refused = failure(msg::open_failure::CONNECT_FAILED, b"Connection refused");
                return self.send(refused);
            }
            other => {
                let shown = other
                    .get(..MAX_CHANNEL_TYPE_LEN.min(other.len()))
                    .unwrap_or_default();
                self.record_request(
                    now,
                    EventKind::SshRequest {
                        request: "channel-open".into(),
                        detail: lossy(shown),
                        granted: false,
                    },
                );
                let unknown = failure(msg::open_failure::UNKNOWN_CHANNEL_TYPE, b"");
                return self.send(unknown);
            }
        }
        let max_channels = self.config.limits.max_channels;
        let channels = &mut self.conn().channels;
        let free = channels.iter().position(Option::is_none);
        let index = match free {
            Some(i) => i,
            None if channels.len() < max_channels => {
                channels.push(None);
                channels.len() - 1
            }
            None => {
                let short = failure(msg::open_failure::RESOURCE_SHORTAGE, b"");
                return self.send(short);
            }
        };
        let recv_window = self.config.server.recv_window;
        if let Some(slot) = self.conn().channels.get_mut(index) {
            *slot = Some(Channel {
                remote_id: sender,
                remote_window: window.min(MAX_TRANS_WINDOW),
                remote_max_packet: max_packet.min(16_384),
                local_window: recv_window,
                consumed: 0,
                unwritten: 0,
                pty: None,
                agent: false,
                process: None,
                pending: Vec::new(),
                pending_err: Vec::new(),
                got_eof: false,
                sent_eof: false,
                sent_close: false,
                got_close: false,
            });
        }
        let mut out = vec![msg::CHANNEL_OPEN_CONFIRMATION];
        put_u32(&mut out, sender);
        put_u32(&mut out, u32::try_from(index).unwrap_or(u32::MAX));
        put_u32(&mut out, recv_window);
        put_u32(&mut out, RECV_MAX_CHANNEL_DATA);
        self.send(out);
    }

    /// The channel a message names; an unknown one is fatal ("Unknown channel %d").
    fn named_channel(&mut self, now: Now, r: &mut Reader<'_>) -> Option<usize> {
        let index = r.u8().and_then(|_| r.u32()).ok().map(|i| i as usize);
        match index {
            Some(i) if self.channel_mut(i).is_some() => Some(i),
            _ => {
                self.fatal(now);
                None
            }
        }
    }

    pub(super) fn channel_request(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Some(index) = self.named_channel(now, &mut r) else {
            return;
        };
        let Ok((kind, want_reply)) =
            (|| Ok::<_, crate::wire::Malformed>((r.string()?, r.bool()?)))()
        else {
            return self.fatal(now);
        };
        let granted = self.channel_request_granted(now, index, kind, &mut r);
        let Some(granted) = granted else {
            return; // the request was fatal
        };
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        if want_reply && !channel.sent_close {
            let remote = channel.remote_id;
            let mut out = vec![if granted {
                msg::CHANNEL_SUCCESS
            } else {
                msg::CHANNEL_FAILURE
            }];
            put_u32(&mut out, remote);
            self.send(out);
        }
    }

    /// Carries out a channel request; `None` when it ended the connection.
    fn channel_request_granted(
        &mut self,
        now: Now,
        index: usize,
        kind: &[u8],
        r: &mut Reader<'_>,
    ) -> Option<bool> {
        let busy = self.channel_mut(index)?.process.is_some();
        match kind {
            b"pty-req" => {
                if self.channel_mut(index)?.pty.is_some() {
                    // "Multiple pty requests".
                    self.fatal(now);
                    return None;
                }
                let fields = (|| {
                    Ok::<_, crate::wire::Malformed>((
                        r.string()?,
                        r.u32()?,
                        r.u32()?,
                        r.u32()?,
                        r.u32()?,
                        r.string()?,
                    ))
                })();
                let Ok((term, cols, rows, _, _, _modes)) = fields else {
                    self.fatal(now);
                    return None;
                };
                if !r.rest().is_empty() {
                    // "Bad term mode string".
                    self.fatal(now);
                    return None;
                }
                if term.len() > MAX_TERM_LEN {
                    return Some(false);
                }
                let (width, height) = (clamp_u16(cols), clamp_u16(rows));
                self.channel_mut(index)?.pty = Some(Pty { width, height });
                self.record_request(now, EventKind::ClientSize { width, height });
                Some(true)
            }
            b"env" => {
                if let (Ok(name), Ok(value)) = (r.string(), r.string()) {
                    let (name, value) = (lossy(name), lossy(value));
                    self.record_request(now, EventKind::ClientVar { name, value });
                }
                // Dropbear accepts no variables.
                Some(false)
            }
            b"shell" => {
                if busy {
                    return Some(false);
                }
                self.start_process(now, index, None);
                Some(true)
            }
            b"exec" => {
                let Ok(command) = r.string() else {
                    self.fatal(now);
                    return None;
                };
                if busy || command.len() > MAX_CMD_LEN {
                    return Some(false);
                }
                self.event(
                    now,
                    EventKind::CommandInput {
                        input: lossy(command),
                    },
                );
                self.start_process(now, index, Some(command.to_vec()));
                Some(true)
            }
            b"subsystem" => {
                let Ok(name) = r.string() else {
                    self.fatal(now);
                    return None;
                };
                let sftp = name == b"sftp" && !busy;
                self.record_request(
                    now,
                    EventKind::SshRequest {
                        request: "subsystem".into(),
                        detail: lossy(name),
                        granted: sftp,
                    },
                );
                if sftp {
                    // Granted, then run like `exec`: where the build has no
                    // sftp-server, the shell says so and exits 127.
                    let command = self.config.server.sftp_server.clone();
                    self.start_process(now, index, Some(command));
                }
                Some(sftp)
            }
            b"window-change" => {
                let size = (|| Ok::<_, crate::wire::Malformed>((r.u32()?, r.u32()?)))();
                let Ok((cols, rows)) = size else {
                    self.fatal(now);
                    return None;
                };
                let channel = self.channel_mut(index)?;
                let Some(pty) = channel.pty.as_mut() else {
                    return Some(false);
                };
                let (width, height) = (clamp_u16(cols), clamp_u16(rows));
                pty.width = width;
                pty.height = height;
                if let Some(process) = channel.process.as_mut() {
                    process.resize(width, height);
                }
                self.record_request(now, EventKind::ClientSize { width, height });
                Some(true)
            }
            b"auth-agent-req@openssh.com" => {
                let channel = self.channel_mut(index)?;
                let first = !channel.agent;
                channel.agent = true;
                Some(first)
            }
            other => {
                if other == b"signal" {
                    let name = r.string().map(lossy).unwrap_or_default();
                    self.record_request(
                        now,
                        EventKind::SshRequest {
                            request: "signal".into(),
                            detail: name,
                            granted: false,
                        },
                    );
                }
                Some(false)
            }
        }
    }

    /// Starts the channel's shell: a login shell (on the pty, or reading a pipe) or
    /// one command line.
    fn start_process(&mut self, now: Now, index: usize, command: Option<Vec<u8>>) {
        let device = self.config.device.clone();
        let (id, peer) = (self.id, self.peer);
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        let attach = Attach {
            pty: channel.pty.is_some(),
            width: channel.pty.map_or(0, |p| p.width),
            height: channel.pty.map_or(0, |p| p.height),
            command,
        };
        channel.process = Some(busybait_device::terminal::Terminal::attached(
            device, id, peer, now, attach,
        ));
    }

    pub(super) fn channel_data(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Some(index) = self.named_channel(now, &mut r) else {
            return;
        };
        let Ok(data) = r.string() else {
            return self.fatal(now);
        };
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if channel.got_eof || len > channel.local_window {
            // "Received data after eof", "Oversized packet".
            return self.fatal(now);
        }
        channel.local_window -= len;
        channel.unwritten += data.len();
        if let Some(process) = channel.process.as_mut() {
            process.handle_input(now, data);
        }
        if !data.is_empty() {
            self.conn().terminal.push_back((true, data.to_vec()));
        }
        self.return_window(index);
    }

    /// Gives the client back window for what was passed on since the last adjust,
    /// once that is a third of the window (`RECV_WINDOWEXTEND`).
    fn return_window(&mut self, index: usize) {
        let adjust_at = self.config.server.recv_window / 3;
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        let unwritten = channel.process.as_ref().map_or(0, |p| {
            p.stdin_buffered()
                .saturating_sub(busybait_device::shell::stdin::PIPE_CAPACITY)
        });
        let written = channel.unwritten.saturating_sub(unwritten);
        channel.unwritten = unwritten;
        channel.consumed = channel
            .consumed
            .saturating_add(u32::try_from(written).unwrap_or(u32::MAX));
        if channel.consumed >= adjust_at {
            let (remote, consumed) = (channel.remote_id, channel.consumed);
            channel.local_window += consumed;
            channel.consumed = 0;
            let mut out = vec![msg::CHANNEL_WINDOW_ADJUST];
            put_u32(&mut out, remote);
            put_u32(&mut out, consumed);
            self.send(out);
        }
    }

    pub(super) fn channel_window_adjust(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Some(index) = self.named_channel(now, &mut r) else {
            return;
        };
        let Ok(increment) = r.u32() else {
            return self.fatal(now);
        };
        if let Some(channel) = self.channel_mut(index) {
            channel.remote_window = channel
                .remote_window
                .saturating_add(increment.min(MAX_TRANS_WINDOW))
                .min(MAX_TRANS_WINDOW);
        }
    }

    pub(super) fn channel_eof(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Some(index) = self.named_channel(now, &mut r) else {
            return;
        };
        if let Some(channel) = self.channel_mut(index) {
            channel.got_eof = true;
            if let Some(process) = channel.process.as_mut() {
                process.end_of_stdin(now);
            }
        }
    }

    pub(super) fn channel_close(&mut self, now: Now, payload: &[u8]) {
        let mut r = Reader::new(payload);
        let Some(index) = self.named_channel(now, &mut r) else {
            return;
        };
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        channel.got_close = true;
        let process = channel.process.take();
        let (remote, sent_close) = (channel.remote_id, channel.sent_close);
        if let Some(mut process) = process {
            // The pty's master is gone: the shell is hung up.
            process.close(now, busybait_events::CloseReason::ClientClosed);
            self.collect(index, &mut process);
        }
        if !sent_close {
            let mut out = vec![msg::CHANNEL_CLOSE];
            put_u32(&mut out, remote);
            self.send(out);
        }
        if let Some(slot) = self.conn().channels.get_mut(index) {
            *slot = None;
        }
    }

    /// Moves the shells' output into data packets as the client's windows allow,
    /// takes what else they produced, and ends the channels whose shell has ended.
    pub(super) fn pump(&mut self, now: Now) {
        for index in 0..self.channel_count() {
            if self.is_closed() {
                return;
            }
            self.pump_channel(now, index);
        }
    }

    fn pump_channel(&mut self, now: Now, index: usize) {
        let Some(mut process) = self.channel_mut(index).and_then(|c| c.process.take()) else {
            return;
        };
        self.collect(index, &mut process);
        if let Some(channel) = self.channel_mut(index) {
            channel.process = Some(process);
        }
        // What the shell read from its stdin pipe makes room for more.
        self.return_window(index);
        let Some(mut process) = self.channel_mut(index).and_then(|c| c.process.take()) else {
            return;
        };
        loop {
            // During a key exchange Dropbear reads no channel (`dataallowed`): the
            // shell waits, and nothing piles up in the packets held for NEWKEYS.
            if self.kex.holds_output() {
                break;
            }
            let Some(channel) = self.channel_mut(index) else {
                return;
            };
            if channel.pending.is_empty() {
                process.poll_transmit(&mut channel.pending);
            }
            if channel.pending_err.is_empty() {
                process.poll_stderr(&mut channel.pending_err);
            }
            let stderr = channel.pending.is_empty();
            let (buffer, max) = if stderr {
                (&mut channel.pending_err, TRANS_MAX_CHANNEL_EXTENDED)
            } else {
                (&mut channel.pending, TRANS_MAX_CHANNEL_DATA)
            };
            if buffer.is_empty() || channel.remote_window == 0 {
                break;
            }
            let n = buffer
                .len()
                .min(channel.remote_window as usize)
                .min(max)
                .min(channel.remote_max_packet as usize);
            let chunk: Vec<u8> = buffer.drain(..n).collect();
            if buffer.is_empty() {
                *buffer = Vec::new();
            }
            channel.remote_window -= u32::try_from(n).unwrap_or(u32::MAX);
            let mut out = vec![if stderr {
                msg::CHANNEL_EXTENDED_DATA
            } else {
                msg::CHANNEL_DATA
            }];
            put_u32(&mut out, channel.remote_id);
            if stderr {
                // SSH_EXTENDED_DATA_STDERR.
                put_u32(&mut out, 1);
            }
            put_string(&mut out, &chunk);
            self.send(out);
            self.conn().terminal.push_back((false, chunk));
        }
        let Some(channel) = self.channel_mut(index) else {
            return;
        };
        if !process.is_closed()
            || !channel.pending.is_empty()
            || !channel.pending_err.is_empty()
            || process.has_output()
        {
            channel.process = Some(process);
            return;
        }
        // The shell has ended and all its output is out: EOF, exit-status (or
        // exit-signal), CLOSE, as Dropbear's check_close and closechansess send them.
        let remote = channel.remote_id;
        let send_eof = !channel.sent_eof;
        channel.sent_eof = true;
        channel.sent_close = true;
        let status = process.exit_status().unwrap_or(0);
        self.collect(index, &mut process);
        if send_eof {
            let mut eof = vec![msg::CHANNEL_EOF];
            put_u32(&mut eof, remote);
            self.send(eof);
        }
        let mut exit = vec![msg::CHANNEL_REQUEST];
        put_u32(&mut exit, remote);
        if status == 139 {
            put_string(&mut exit, b"exit-signal");
            exit.push(0);
            put_string(&mut exit, b"SEGV");
            exit.push(0);
            put_string(&mut exit, b"");
            put_string(&mut exit, b"");
        } else {
            put_string(&mut exit, b"exit-status");
            exit.push(0);
            put_u32(&mut exit, u32::try_from(status).unwrap_or(255));
        }
        self.send(exit);
        let mut close = vec![msg::CHANNEL_CLOSE];
        put_u32(&mut close, remote);
        self.send(close);
        let _ = now;
    }
}
