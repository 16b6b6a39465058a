//! `busybait-null-sensor`: the smallest telnet server that answers
//! `busybait-loadgen`'s scripts with the bytes a BusyBox device would send (the
//! telnetd options, the prompts, each command's marker reply, a megabyte for `cat
//! /bin/echo`), with no emulation, no recording and no logging: the physical limit
//! of this machine for that load. Loopback only.

// A command-line tool: it reports its address on stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use anyhow::bail;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The size of the "binary" `cat /bin/echo` sends (the xiongmai profile's busybox).
const BINARY_BYTES: usize = 1_017_444;
/// Longest line read.
const MAX_LINE: u64 = 64 * 1024;

async fn serve(stream: TcpStream, binary: &'static [u8]) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    // BusyBox telnetd's options, then login's prompt.
    write
        .write_all(b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03\r\n(none) login: ")
        .await?;
    let mut state = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        match state {
            0 => {
                write.write_all(b"root\r\nPassword: ").await?;
                state = 1;
            }
            1 => {
                write
                    .write_all(b"\r\n\r\n\r\nBusyBox v1.35.0 built-in shell (ash)\r\n\r\n# ")
                    .await?;
                state = 2;
            }
            _ => {
                let mut reply = Vec::with_capacity(64);
                reply.extend_from_slice(text.as_bytes());
                reply.extend_from_slice(b"\r\n");
                if text.contains("cat /bin/echo") {
                    write.write_all(&reply).await?;
                    write.write_all(binary).await?;
                    reply.clear();
                }
                for (word, out) in [
                    ("still-here", &b"still-here\r\n"[..]),
                    ("telnet.loader", b"listening tun0\r\n"),
                    ("MIRAI", b"MIRAI: applet not found\r\n"),
                    ("IHCCE", b"IHCCE: applet not found\r\n"),
                    ("ECCHI", b"ECCHI: applet not found\r\n"),
                ] {
                    if text.contains(word) {
                        reply.extend_from_slice(out);
                    }
                }
                reply.extend_from_slice(b"# ");
                write.write_all(&reply).await?;
            }
        }
    }
}

/// The null sensor listens on loopback only.
fn check_listen(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("refusing {addr}: the null sensor listens on loopback only");
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
    println!("listening telnet {}", listener.local_addr()?);
    let mut binary = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    binary.extend((8..BINARY_BYTES).map(|i| (i * 7 % 251) as u8));
    let binary: &'static [u8] = Box::leak(binary.into_boxed_slice());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = serve(stream, binary).await;
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
        assert!(check_listen("[::]:0".parse().unwrap()).is_err());
    }
}
