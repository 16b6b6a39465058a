//! BusyBox ash, emulated: the parser ([`parse`]) and, in the following modules, the
//! resumable interpreter and the applets.

pub mod parse;
