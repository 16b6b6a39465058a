//! Every limit an attacker can push against inside one session, with its default.
//!
//! The edge's own limits (connections, queues) are in the binary's config; these are
//! the ones the sans-IO doors and their terminal enforce themselves (telnet's login
//! and subnegotiation limits are telnet's alone). Hitting one ends the session with a
//! `busybait.limit` event naming it.

use std::time::Duration;

/// Per-session limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From the start of login to a shell; BusyBox login's own alarm (60 s) prints
    /// `Login timed out after N seconds`.
    pub login_timeout: Duration,
    /// No input for this long ends the session.
    pub idle_timeout: Duration,
    /// No session lives longer than this.
    pub session_lifetime: Duration,
    /// Bytes typed without a newline.
    pub max_line_bytes: usize,
    /// Bytes in one telnet subnegotiation.
    pub max_subneg_bytes: usize,
    /// Bytes of output waiting for the client.
    pub max_output_bytes: usize,
    /// BusyBox's pause after a wrong password (`LOGIN_FAIL_DELAY`).
    pub failed_login_delay: Duration,
    /// Wrong passwords before login exits and the connection closes.
    pub max_login_attempts: u32,
    /// Time between the opening bytes and the login prompt (the real device execs
    /// `login` in between; client bytes arriving meanwhile are echoed and discarded).
    pub login_start_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            session_lifetime: Duration::from_secs(3600),
            max_line_bytes: 64 * 1024,
            max_subneg_bytes: 512,
            max_output_bytes: 1024 * 1024,
            failed_login_delay: Duration::from_secs(3),
            max_login_attempts: 3,
            login_start_delay: Duration::from_millis(10),
        }
    }
}
