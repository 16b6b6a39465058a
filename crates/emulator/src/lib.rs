//! The sans-IO BusyBox device that attackers talk to.
//!
//! Everything here is a deterministic state machine: a [`Session`] is fed client
//! bytes and the time, and is polled for bytes to send, events to record and its next
//! deadline. There is no tokio, no socket and no host file access in this crate; the
//! network and disk edges live in the `busybait` binary and `busybait-store`.
//!
//! Layers, outside in: [`telnet`] (what BusyBox telnetd does with client bytes, and
//! what we record of them), the login and tty model in [`session`], the credential
//! policy in [`auth`], and the device facts in [`profile`].

pub mod auth;
pub mod limits;
pub mod lineedit;
pub mod profile;
pub mod session;
pub mod shell;
pub mod telnet;
pub mod vfs;

pub use auth::{AuthMode, AuthPolicy};
pub use limits::Limits;
pub use profile::{Device, Profile};
pub use session::{FetchId, Now, Session, SessionConfig};
