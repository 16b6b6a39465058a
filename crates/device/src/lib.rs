//! The sans-IO BusyBox device behind every door: what the bot finds once it is in.
//!
//! Profiles ([`profile`]: the device's facts), the credential policy ([`auth`]), the
//! virtual file system ([`vfs`]: the shared base image and each source's own
//! changes), BusyBox ash ([`shell`]: parser, interpreter with its budgets, applets) and
//! its line editor ([`lineedit`]), and the terminal every door opens on it
//! ([`terminal`]: the pty or pipes and the shell driven on them). The doors
//! (`busybait-telnet`, `-ssh`, `-http`) put their protocol in front of it. Everything
//! is a deterministic state machine fed bytes and the time ([`clock`]); there is no
//! tokio, no socket and no host file access in this crate.

pub mod applets;
pub mod auth;
pub mod clock;
pub mod lineedit;
pub mod profile;
pub mod shell;
pub mod state;
pub mod terminal;
pub mod vfs;

pub use auth::{AuthMode, AuthPolicy};
pub use clock::Now;
pub use profile::{Device, Profile};
pub use state::DeviceState;
