//! Helpers for tests that hold thousands of raw connections to the sensor: the
//! open-file limit, and whether the sensor has closed a connection.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// How long [`closes`] waits for the sensor to close a connection.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Raises this process's open-file limit to the hard limit (20,000 on CI machines).
pub fn raise_fd_limit(need: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).unwrap();
    let have = limit.current.unwrap_or(u64::MAX);
    assert!(
        have >= need,
        "this test needs {need} open files; the hard limit is {have} (raise it with ulimit -Hn)"
    );
}

/// Reads what has arrived without waiting; `false` once the peer has closed.
pub fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Reads until the sensor closes the connection (`false` if it does not within
/// [`CLOSE_WAIT`]).
pub fn closes(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
