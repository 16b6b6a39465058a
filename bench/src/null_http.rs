//! `busybait-null-http`: the smallest HTTP server that answers `busybait-loadgen`'s
//! HTTP scenarios: it reads a request head (and a `Content-Length` body), answers a
//! fixed `200` with a short body and closes, with no parsing beyond that, no
//! emulation and no logging: this machine's limit for that load. Loopback only.

// A command-line tool: it reports its address on stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use anyhow::bail;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request read.
const MAX_REQUEST: usize = 64 * 1024;

/// What every request gets.
const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 15\r\n\r\nlistening tun0\n";

/// The declared body length in a head, 0 without one.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

async fn serve(mut stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf.get(..end).unwrap_or_default();
            if buf.len() >= end + 4 + content_length(head) {
                break;
            }
        }
        if buf.len() > MAX_REQUEST {
            bail!("request too long");
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    stream.write_all(ANSWER).await?;
    stream.shutdown().await?;
    Ok(())
}

/// The null server listens on loopback only.
fn check_listen(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("refusing {addr}: the null HTTP server listens on loopback only");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    check_listen(addr)?;
    let listener = TcpListener::bind(addr).await?;
    println!("listening http {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = serve(stream).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_listened_on() {
        assert!(check_listen("127.0.0.1:0".parse().unwrap()).is_ok());
        assert!(check_listen("0.0.0.0:0".parse().unwrap()).is_err());
    }

    #[test]
    fn a_body_is_waited_for_by_its_length() {
        assert_eq!(content_length(b"POST / HTTP/1.1\r\nContent-Length: 12"), 12);
        assert_eq!(content_length(b"GET / HTTP/1.1\r\nHost: x"), 0);
    }
}
