//! `busybait-loadgen`: plays Mirai-style telnet sessions against a sensor on loopback
//! and reports sessions per second, latency percentiles, errors, and the target's CPU
//! time and peak RSS (from `/proc/PID`). It refuses any target outside 127.0.0.0/8:
//! this tool loads our own sensor, nothing else.
//!
//! Scenarios: `scanner` (Mirai's login and `/bin/busybox MIRAI` probe), `loader` (the
//! Mirai loader's echo path: ECCHI probes, `ps`, mounts, `kami` probes, `cat
//! /bin/echo`, ten 128-byte `echo -ne` lines, run, clean up; the target should have no
//! download tools, e.g. `download_tools = []`), `idle` (log in and hold the session).

// A command-line tool: its report goes to stdout, its complaints to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[derive(Parser, Debug)]
#[command(name = "busybait-loadgen", version, about)]
struct Args {
    /// The sensor's telnet address (127.0.0.0/8 only).
    #[arg(long, value_name = "ADDR:PORT")]
    target: SocketAddr,
    /// What each session does.
    #[arg(long, value_enum, default_value = "loader")]
    scenario: Scenario,
    /// Sessions in total.
    #[arg(long, default_value_t = 1000)]
    sessions: u64,
    /// Sessions at once.
    #[arg(long, default_value_t = 32)]
    concurrency: u64,
    /// For `idle`: how long each session stays logged in.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    hold: u64,
    /// The target's pid, for its CPU time and peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Give up on a session after this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Scanner,
    Loader,
    Idle,
    /// One connection per request, as bots send exploits: the JAWS `/shell` line
    /// of a dropper (no download: it writes and runs a file), its answer read to the
    /// close. Needs a sensor with `--http` on a profile that exposes `jaws-shell`.
    HttpExploit,
    /// A request begun and left unfinished for `hold` seconds (memory per idle
    /// connection), then completed.
    HttpIdle,
}

/// The exploit request of `http-exploit`.
const HTTP_EXPLOIT: &[u8] = b"GET /shell?cd+/var;echo+-e+'\\x7fELF\\x01\\x01\\x01'>x.arm7;chmod+777+x.arm7;./x.arm7+jaws HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Hello, world\r\n\r\n";

/// The Mirai loader's marker reply.
const TOKEN: &[u8] = b"ECCHI: applet not found";
/// Bytes buffered per session while waiting for a marker.
const MAX_BUFFER: usize = 4 * 1024 * 1024;

/// A session's connection and what it has read but not consumed.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn until(&mut self, needle: &[u8]) -> anyhow::Result<()> {
        let mut scanned = 0;
        loop {
            if let Some(i) = self
                .buf
                .get(scanned..)
                .and_then(|b| b.windows(needle.len()).position(|w| w == needle))
            {
                self.buf.drain(..scanned + i + needle.len());
                return Ok(());
            }
            scanned = self.buf.len().saturating_sub(needle.len());
            if self.buf.len() > MAX_BUFFER {
                bail!("more than {MAX_BUFFER} bytes without {needle:?}");
            }
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!(
                    "closed while waiting for {:?}",
                    String::from_utf8_lossy(needle)
                );
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.stream.write_all(line.as_bytes()).await?;
        self.stream.write_all(b"\r\n").await?;
        Ok(())
    }

    async fn cmd(&mut self, line: &str) -> anyhow::Result<()> {
        self.send(line).await?;
        self.until(TOKEN).await
    }
}

/// Source address of session `i`: spread over 127.1.0.0 and up, so per-address
/// caps apply as they would to many bots.
fn source(i: u64) -> IpAddr {
    let i = i + 2;
    IpAddr::V4(Ipv4Addr::new(
        127,
        1 + ((i >> 16) % 254) as u8,
        (i >> 8) as u8,
        i as u8,
    ))
}

async fn connect(target: SocketAddr, i: u64) -> anyhow::Result<Conn> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source(i), 0))?;
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(Conn {
        stream,
        buf: Vec::new(),
    })
}

async fn login(c: &mut Conn) -> anyhow::Result<()> {
    c.until(b"login: ").await?;
    c.send("root").await?;
    c.until(b"Password: ").await?;
    c.send("xc3511").await?;
    c.until(b"# ").await
}

/// Sends `request` and reads the answer to the close; fails unless it is a `200`.
async fn http_request(c: &mut Conn, request: &[u8]) -> anyhow::Result<()> {
    c.stream.write_all(request).await?;
    let mut answer = Vec::new();
    (&mut c.stream)
        .take(MAX_BUFFER as u64)
        .read_to_end(&mut answer)
        .await?;
    if !answer.starts_with(b"HTTP/1.1 200 ") && !answer.starts_with(b"HTTP/1.0 200 ") {
        bail!(
            "answer {:?}",
            String::from_utf8_lossy(answer.get(..answer.len().min(80)).unwrap_or_default())
        );
    }
    Ok(())
}

async fn session(args: &Args, i: u64) -> anyhow::Result<()> {
    let mut c = connect(args.target, i).await?;
    match args.scenario {
        Scenario::HttpExploit => return http_request(&mut c, HTTP_EXPLOIT).await,
        Scenario::HttpIdle => {
            c.stream.write_all(b"GET / HTTP/1.1\r\n").await?;
            tokio::time::sleep(Duration::from_secs(args.hold)).await;
            return http_request(&mut c, b"Host: 127.0.0.1\r\n\r\n").await;
        }
        _ => {}
    }
    login(&mut c).await?;
    match args.scenario {
        Scenario::Scanner => {
            c.send("enable").await?;
            c.send("system").await?;
            c.send("shell").await?;
            c.send("sh").await?;
            c.send("/bin/busybox MIRAI").await?;
            c.until(b"MIRAI: applet not found").await?;
        }
        Scenario::Loader => {
            c.send("enable\r\nshell\r\nsh").await?;
            c.cmd("/bin/busybox ECCHI").await?;
            c.cmd("/bin/busybox ps; /bin/busybox ECCHI").await?;
            c.cmd("/bin/busybox cat /proc/mounts; /bin/busybox ECCHI")
                .await?;
            c.cmd("/bin/busybox echo -e '\\x6b\\x61\\x6d\\x69/var' > /var/.nippon; /bin/busybox cat /var/.nippon; /bin/busybox rm /var/.nippon; /bin/busybox ECCHI").await?;
            c.cmd("cd /var/; /bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI").await?;
            c.cmd("/bin/busybox cat /bin/echo; /bin/busybox ECCHI")
                .await?;
            c.cmd("/bin/busybox wget; /bin/busybox tftp; /bin/busybox ECCHI")
                .await?;
            // A synthetic 1,280-byte "binary": an ELF header and filler, no code.
            for line in 0..10u32 {
                let hex: String = (0..128u32)
                    .map(|j| {
                        let b = match (line, j) {
                            (0, 0) => 0x7f,
                            (0, 1) => b'E'.into(),
                            (0, 2) => b'L'.into(),
                            (0, 3) => b'F'.into(),
                            _ => (line * 128 + j) * 7 % 251,
                        };
                        format!("\\x{b:02x}")
                    })
                    .collect();
                let redirect = if line == 0 { ">" } else { ">>" };
                c.cmd(&format!(
                    "echo -ne '{hex}' {redirect} upnp; /bin/busybox ECCHI"
                ))
                .await?;
            }
            c.send("./upnp; ./dvrHelper telnet.loader; /bin/busybox IHCCE")
                .await?;
            c.until(b"IHCCE: applet not found").await?;
            c.cmd("rm -rf upnp; /bin/busybox ECCHI").await?;
        }
        Scenario::Idle => {
            tokio::time::sleep(Duration::from_secs(args.hold)).await;
            c.send("echo still-here").await?;
            c.until(b"still-here\r\n").await?;
        }
        Scenario::HttpExploit | Scenario::HttpIdle => {}
    }
    Ok(())
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A `/proc/PID/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// This tool loads our own sensor on loopback and nothing else.
fn check_target(target: SocketAddr) -> anyhow::Result<()> {
    if !target.ip().is_loopback() {
        bail!("refusing {target}: busybait-loadgen only loads a sensor on 127.0.0.0/8");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    check_target(args.target)?;
    // The clock tick (USER_HZ) is 100 on Linux.
    let ticks_before = args.pid.and_then(cpu_ticks);
    let rss_before = args.pid.and_then(|p| status_kib(p, "VmRSS"));
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (args, next, errors) = (args.clone(), next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.sessions {
                    return latencies;
                }
                let t = Instant::now();
                let limit = Duration::from_secs(args.timeout);
                match tokio::time::timeout(limit, session(&args, i)).await {
                    Ok(Ok(())) => latencies.push(t.elapsed()),
                    Ok(Err(e)) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("session {i}: {e:#}");
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("a worker panicked")?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let ok = latencies.len() as u64;
    println!("scenario      {:?}", args.scenario);
    println!(
        "sessions      {ok} ok, {} errors, concurrency {}",
        errors.load(Ordering::Relaxed),
        args.concurrency
    );
    println!("elapsed       {:.2} s", elapsed.as_secs_f64());
    println!(
        "rate          {:.1} sessions/s",
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency ms    p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if let Some(pid) = args.pid {
        if let (Some(before), Some(after)) = (ticks_before, cpu_ticks(pid)) {
            let cpu = (after.saturating_sub(before)) as f64 / 100.0;
            println!(
                "target cpu    {cpu:.2} s ({:.3} ms per session)",
                cpu * 1000.0 / ok.max(1) as f64
            );
        }
        println!(
            "target rss    before {} KiB, now {} KiB, peak {} KiB",
            rss_before.unwrap_or(0),
            status_kib(pid, "VmRSS").unwrap_or(0),
            status_kib(pid, "VmHWM").unwrap_or(0)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        // Checked as data: nothing here connects anywhere.
        assert!(check_target("127.0.0.1:23".parse().unwrap()).is_ok());
        assert!(check_target("127.9.8.7:2323".parse().unwrap()).is_ok());
        assert!(check_target("[::1]:23".parse().unwrap()).is_ok());
        let err = check_target("192.0.2.1:23".parse().unwrap()).unwrap_err();
        assert!(err
            .to_string()
            .contains("only loads a sensor on 127.0.0.0/8"));
    }

    #[test]
    fn sources_stay_on_loopback() {
        for i in [0, 1, 255, 65_535, 1 << 20, u64::from(u32::MAX)] {
            assert!(source(i).is_loopback(), "{i}");
        }
    }
}
