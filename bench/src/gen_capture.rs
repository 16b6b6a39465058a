//! `busybait-gen-capture`: writes a large labelled capture for the wire benchmark
//! (`bench/wire.sh`): every attack kind `pcapgen` knows, in benign background, and
//! its ground truth as `detection<TAB>source` lines beside it. It only writes files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write a labelled synthetic capture (pcap) and its ground truth")]
struct Args {
    /// The capture to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Write at least this many MiB.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// Labelled attacks of each kind.
    #[arg(long, default_value_t = 50)]
    per_kind: u64,
    /// Seed (the same seed, the same file).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bytes = args.mib << 20;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    // About 250 bytes a frame: spread the attacks over the whole file.
    let attacks = args.per_kind * busybait_pcapgen::mixed::ATTACK_KINDS as u64;
    let (frames, written, truth) = busybait_pcapgen::mixed::write_mixed_bytes(
        &mut out,
        args.seed,
        bytes / 250,
        attacks,
        bytes,
    )?;
    out.flush()?;
    let truth_path = args.out.with_extension("truth.tsv");
    let mut t = std::io::BufWriter::new(std::fs::File::create(&truth_path)?);
    for (id, src) in &truth {
        writeln!(t, "{id}\t{src}")?;
    }
    t.flush()?;
    eprintln!(
        "{}: {frames} frames, {written} bytes, {} labelled alerts ({})",
        args.out.display(),
        truth.len(),
        truth_path.display()
    );
    Ok(())
}
