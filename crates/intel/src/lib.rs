//! Sans-IO analysis of what busybait captured: static triage of dropped files
//! ([`triage`]), Mirai configuration recovery ([`mirai`]) and family labels for
//! sessions ([`classify`]). No I/O, no execution, no tokio: everything takes bytes or
//! session facts and returns data.

pub mod classify;
pub mod mirai;
pub mod triage;
