//! busybait's eyes on the wire (`busybait watch`): reads pcap and pcapng captures,
//! decodes Ethernet (with VLAN tags), Linux cooked and raw IP frames, and finds what
//! Mirai-class bots do on a network: the scanner's `seq == dst` SYNs, telnet scanning
//! and brute force, Mirai's telnet client fingerprint, the loader's shell content, the
//! scan report to 48101, the C2 handshake and the downloader's `GET /bins/`, and the
//! web exploits of the exploit table (the HTTP door's).
//!
//! Sans-IO like the device: frames go in through [`Analyzer::frame`] (or any
//! [`std::io::Read`] through [`capture::read_frames`]), a [`Report`] comes out; every
//! table has a bound ([`Limits`]) and what it could not track is counted.

pub mod capture;
pub mod detect;
pub mod exploits;
pub mod indicators;
mod maps;
pub mod packet;
pub mod ssh;
pub mod stream;

pub use detect::{Alert, Analyzer, Counters, Evidence, Limits, Report, Severity};
pub use packet::{decode, LinkType, Packet};
