//! The SSH door: the device's Dropbear, as a sans-IO state machine in front of the
//! same device the telnet door leads to.
//!
//! Layers, outside in: the identification exchange ([`ident`]), the binary packet
//! protocol ([`packet`], [`cipher`]), the key exchange ([`algorithms`], [`kex`],
//! [`hostkey`]) and then authentication and channels in [`session`]. Bytes and a
//! clock in; bytes, events and deadlines out. No tokio, no socket, no host file.

pub mod algorithms;
pub mod cipher;
pub mod hostkey;
pub mod ident;
pub mod kex;
pub mod msg;
pub mod packet;
pub mod rng;
pub mod session;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;
pub mod wire;
