//! Sans-IO analysis of what busybait captured: static triage of dropped files
//! ([`triage`]), Mirai configuration recovery ([`mirai`]), family labels for
//! sessions ([`classify`]) and the events the sensor adds to every session's own
//! ([`enrich`]). No I/O, no execution, no tokio: everything takes bytes, events or
//! session facts and returns data.

pub mod classify;
pub mod enrich;
pub mod exploits;
pub mod mirai;
pub mod recent;
pub mod sshkeys;
pub mod triage;
