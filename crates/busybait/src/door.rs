//! What the connection loop needs of a door's sans-IO session: the telnet, SSH and
//! HTTP sessions all answer it, so one loop ([`crate::connection`]) carries
//! them all, with the same limits, recording and storage.

use busybait_device::shell::{FetchRequest, FetchResult};
use busybait_device::terminal::{FetchId, Outgoing};
use busybait_device::vfs::{FinishedFile, StagedBytes};
use busybait_device::Now;
use busybait_events::{CloseReason, Event, SessionId};

/// A door's session as the edge drives it.
pub(crate) trait Door {
    fn id(&self) -> SessionId;
    fn is_authenticated(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn handle_input(&mut self, now: Now, input: &[u8]);
    fn handle_timeout(&mut self, now: Now);
    fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult);
    fn poll_transmit_piece(&mut self) -> Option<Outgoing>;
    fn poll_event(&mut self) -> Option<Event>;
    fn poll_sample(&mut self) -> Option<FinishedFile>;
    fn poll_staged(&mut self) -> Option<StagedBytes>;
    fn poll_fetch(&mut self) -> Option<(FetchId, FetchRequest)>;
    fn poll_timeout(&self) -> Option<std::time::Instant>;
    fn close(&mut self, now: Now, reason: CloseReason);
    fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64);
    fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64);
    fn is_computing(&self) -> bool;
    fn memory_used(&self) -> usize;
    /// Whether the bytes on the wire are the terminal's (telnet), so the recording
    /// takes them as they are; otherwise the door hands the terminal's traffic out
    /// through [`Door::poll_terminal`] (SSH: the wire is encrypted).
    fn wire_is_terminal(&self) -> bool {
        true
    }
    /// The next piece of terminal traffic to record: (from the client?, bytes).
    fn poll_terminal(&mut self) -> Option<(bool, Vec<u8>)> {
        None
    }
    /// Whether the connection should end with a reset (the device closed with input
    /// left unread).
    fn wants_reset(&self) -> bool {
        false
    }
}

/// Forwards the trait's methods to the session type's own methods of those names.
macro_rules! forward_door {
    ($t:ty) => {
        fn id(&self) -> SessionId {
            <$t>::id(self)
        }
        fn is_authenticated(&self) -> bool {
            <$t>::is_authenticated(self)
        }
        fn is_closed(&self) -> bool {
            <$t>::is_closed(self)
        }
        fn handle_input(&mut self, now: Now, input: &[u8]) {
            <$t>::handle_input(self, now, input)
        }
        fn handle_timeout(&mut self, now: Now) {
            <$t>::handle_timeout(self, now)
        }
        fn handle_fetch_result(&mut self, now: Now, id: FetchId, result: FetchResult) {
            <$t>::handle_fetch_result(self, now, id, result)
        }
        fn poll_event(&mut self) -> Option<Event> {
            <$t>::poll_event(self)
        }
        fn poll_sample(&mut self) -> Option<FinishedFile> {
            <$t>::poll_sample(self)
        }
        fn poll_staged(&mut self) -> Option<StagedBytes> {
            <$t>::poll_staged(self)
        }
        fn poll_fetch(&mut self) -> Option<(FetchId, FetchRequest)> {
            <$t>::poll_fetch(self)
        }
        fn poll_timeout(&self) -> Option<std::time::Instant> {
            <$t>::poll_timeout(self)
        }
        fn close(&mut self, now: Now, reason: CloseReason) {
            <$t>::close(self, now, reason)
        }
        fn close_for_limit(&mut self, now: Now, limit: &'static str, value: u64) {
            <$t>::close_for_limit(self, now, limit, value)
        }
        fn fail_for_memory(&mut self, now: Now, limit: &'static str, value: u64) {
            <$t>::fail_for_memory(self, now, limit, value)
        }
        fn is_computing(&self) -> bool {
            <$t>::is_computing(self)
        }
        fn memory_used(&self) -> usize {
            <$t>::memory_used(self)
        }
    };
}

impl Door for busybait_telnet::Session {
    forward_door!(busybait_telnet::Session);

    fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        busybait_telnet::Session::poll_transmit_piece(self)
    }
}

impl Door for busybait_ssh::session::Session {
    forward_door!(busybait_ssh::session::Session);

    fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        let mut out = Vec::new();
        self.poll_transmit(&mut out).then_some(Outgoing::Bytes(out))
    }

    fn wire_is_terminal(&self) -> bool {
        false
    }

    fn poll_terminal(&mut self) -> Option<(bool, Vec<u8>)> {
        busybait_ssh::session::Session::poll_terminal(self)
    }

    fn wants_reset(&self) -> bool {
        busybait_ssh::session::Session::wants_reset(self)
    }
}

impl Door for busybait_http::session::Session {
    forward_door!(busybait_http::session::Session);

    fn poll_transmit_piece(&mut self) -> Option<Outgoing> {
        busybait_http::session::Session::poll_transmit_piece(self)
    }

    /// No terminal: the requests and answers are in `busybait.http.request`.
    fn wire_is_terminal(&self) -> bool {
        false
    }
}
