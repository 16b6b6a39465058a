//! The HTTP door: the device's web server as a sans-IO state machine (bytes and a
//! clock in; bytes, events, files and downloads out). A request is read within
//! [`HttpLimits`]; one that matches an entry of the exploit table the profile
//! exposes runs its command line in the device's shell (a terminal on pipes, the same
//! per-source device every door reaches) and gets the vulnerable
//! endpoint's answer; any other gets the server's own pages.

pub mod readback;
pub mod request;
pub mod response;
pub mod session;

use std::time::Duration;

/// What one HTTP connection may send and take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// The request line and headers, bytes.
    pub max_head_bytes: usize,
    /// Headers per request.
    pub max_headers: usize,
    /// The body, bytes (by `Content-Length`).
    pub max_body_bytes: usize,
    /// Body bytes kept in `busybait.http.request` (all of it is hashed).
    pub max_logged_body_bytes: usize,
    /// Command output kept for the answer.
    pub max_output_bytes: usize,
    /// The whole request must arrive within this (slow clients get `408`).
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 8192,
            max_headers: 64,
            max_body_bytes: 65_536,
            max_logged_body_bytes: 2048,
            max_output_bytes: 65_536,
            request_timeout: Duration::from_secs(30),
        }
    }
}
