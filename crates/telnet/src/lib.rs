//! The telnet door: BusyBox `telnetd` and `login` over a pty, as a sans-IO state
//! machine in front of the device.
//!
//! A [`Session`] is fed client bytes and the time, and is polled for bytes to send,
//! events to record and its next deadline (the quinn-proto shape). Layers, outside
//! in: [`codec`] (what BusyBox telnetd does with client bytes, and what we record of
//! them), then the pty's line discipline and `login` in [`session`], which starts
//! the device's shell on the pty (`busybait_device::terminal`). No tokio, no socket,
//! no host file.

pub mod codec;
pub mod session;

pub use busybait_device::clock::Now;
pub use session::Session;
