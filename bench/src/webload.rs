//! busybait-webload: latency of the console's pages under a few concurrent clients
//! (loopback only). Each client asks for each path in turn, `--rounds` times, after
//! one warm-up round; per path it prints the p50, p95, p99 and worst latency of the
//! whole answers, and fails if any answer is not 200.

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Measures the console's page latency (loopback only)")]
struct Args {
    /// The console (127.0.0.1:PORT).
    #[arg(long)]
    addr: SocketAddr,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Rounds over the paths, per client.
    #[arg(long, default_value_t = 25)]
    rounds: usize,
    /// The paths to ask for.
    #[arg(required = true)]
    paths: Vec<String>,
}

fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let took = started.elapsed();
    anyhow::ensure!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(answer.get(..answer.len().min(200)).unwrap_or_default())
    );
    Ok(took)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "the console must be on loopback"
    );
    for path in &args.paths {
        get(args.addr, path).with_context(|| format!("warming {path}"))?;
    }
    let threads: Vec<_> = (0..args.clients)
        .map(|_| {
            let (addr, paths, rounds) = (args.addr, args.paths.clone(), args.rounds);
            std::thread::spawn(move || -> anyhow::Result<Vec<(usize, Duration)>> {
                let mut took = Vec::new();
                for _ in 0..rounds {
                    for (i, path) in paths.iter().enumerate() {
                        took.push((i, get(addr, path)?));
                    }
                }
                Ok(took)
            })
        })
        .collect();
    let mut by_path: Vec<Vec<Duration>> = vec![Vec::new(); args.paths.len()];
    for t in threads {
        let took = t
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        for (i, d) in took {
            if let Some(v) = by_path.get_mut(i) {
                v.push(d);
            }
        }
    }
    println!(
        "{:<48} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (path, mut took) in args.paths.iter().zip(by_path) {
        took.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<48} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            path,
            took.len(),
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.95)),
            ms(percentile(&took, 0.99)),
            ms(took.last().copied().unwrap_or_default())
        );
    }
    Ok(())
}
