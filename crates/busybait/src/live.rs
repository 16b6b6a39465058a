//! `busybait watch --interface IF`: the wire detectors on live traffic through
//! libpcap (cargo feature `live`). Capture runs until SIGINT/SIGTERM or the given
//! duration; every few seconds the alerts raised so far are checked and each new one
//! is logged as it appears; the whole report comes at the end, as for a file.
//! Nothing is ever sent: the handle only reads.

use std::time::Duration;

use busybait_wire::indicators::Indicators;
use busybait_wire::Report;

/// How often the alerts so far are looked at for new ones.
#[cfg(feature = "live")]
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// How often a blocked read is woken to look at the clock and the stop flag
/// (libpcap's own read timeout is not honoured on every platform).
#[cfg(feature = "live")]
const WAKE_EVERY: Duration = Duration::from_millis(250);
/// The kernel's capture ring for the interface (see where it is set).
#[cfg(feature = "live")]
const CAPTURE_BUFFER_BYTES: i32 = 32 << 20;

/// Captures on `interface` and returns the report and how the capture ended.
#[cfg(not(feature = "live"))]
pub fn capture(
    interface: &str,
    _filter: Option<&str>,
    _duration: Option<Duration>,
    _indicators: Indicators,
    _fleet: Option<crate::fleet_watch::FleetLink>,
) -> anyhow::Result<(Report, String)> {
    anyhow::bail!(
        "cannot capture on {interface}: this busybait was built without live capture; \
         rebuild with `--features live` (needs libpcap: apt-get install libpcap0.8-dev)"
    )
}

/// Captures on `interface` and returns the report and how the capture ended.
#[cfg(feature = "live")]
pub fn capture(
    interface: &str,
    filter: Option<&str>,
    duration: Option<Duration>,
    indicators: Indicators,
    fleet: Option<crate::fleet_watch::FleetLink>,
) -> anyhow::Result<(Report, String)> {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use anyhow::Context;
    use busybait_wire::{Analyzer, Limits, LinkType};

    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(Arc::clone(&stop))?;
    let mut cap = pcap::Capture::from_device(interface)
        .and_then(|c| {
            // A frame slot is as large as the snap length: libpcap's default 2 MiB
            // ring holds only about 32 of them, and a burst (a login over loopback)
            // fills it while the analyzer works. 32 MiB holds about 500.
            c.promisc(false)
                .snaplen(65_535)
                .buffer_size(CAPTURE_BUFFER_BYTES)
                .timeout(250)
                .immediate_mode(true)
                .open()
        })
        .with_context(|| {
            format!("opening {interface} for capture (root or CAP_NET_RAW is needed)")
        })?;
    if let Some(expr) = filter {
        cap.filter(expr, true)
            .with_context(|| format!("capture filter {expr:?}"))?;
    }
    let linktype = cap.get_datalink();
    let link = LinkType::from_pcap(linktype.0);
    if link.is_none() {
        tracing::warn!(
            interface,
            linktype = linktype.0,
            "no decoder for this interface's link type: frames are only counted"
        );
    }
    // Wakes the read now and then, and at once when asked to stop.
    let breaker = cap.breakloop_handle();
    let done = Arc::new(AtomicBool::new(false));
    let ticker_done = Arc::clone(&done);
    std::thread::Builder::new()
        .name("capture-wake".into())
        .spawn(move || {
            while !ticker_done.load(Ordering::Relaxed) {
                std::thread::sleep(WAKE_EVERY);
                breaker.breakloop();
            }
        })?;
    tracing::info!(
        interface,
        filter = filter.unwrap_or(""),
        "capturing on {interface}"
    );
    let mut analyzer = Analyzer::with_indicators(Limits::default(), indicators);
    let started = Instant::now();
    let mut next_look = started + REPORT_EVERY;
    let mut seen = HashSet::new();
    let mut number = 0u64;
    let mut learned = 0u64;
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break "stopped";
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break "duration reached";
        }
        match cap.next_packet() {
            Ok(packet) => {
                number += 1;
                feed(&mut analyzer, number, link, &packet);
            }
            // A timeout, or a wake-up from the ticker.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {}
            Err(e) => {
                tracing::error!(interface, error = %e, "capture failed; reporting what was seen");
                break "capture failed";
            }
        }
        if let Some(link) = &fleet {
            learn_from_fleet(&mut analyzer, link, &mut learned);
        }
        if Instant::now() >= next_look {
            next_look += REPORT_EVERY;
            for a in analyzer.snapshot().alerts {
                if seen.insert((a.id, a.src, a.dst)) {
                    if let Some(link) = &fleet {
                        link.alert(&a, interface);
                    }
                    tracing::warn!(
                        alert = a.id,
                        src = %a.src,
                        dst = a.dst.map(|d| d.to_string()).unwrap_or_default(),
                        count = a.count,
                        "{}",
                        a.title
                    );
                }
            }
        }
    };
    // What the kernel already holds for us is part of the capture: read it without
    // blocking, then let the ticker go.
    let mut cap = cap.setnonblock().context("draining the capture")?;
    loop {
        match cap.next_packet() {
            Ok(packet) => {
                number += 1;
                feed(&mut analyzer, number, link, &packet);
            }
            // A wake-up from the ticker: not the end of what is held.
            Err(pcap::Error::NoMorePackets) => {}
            _ => break,
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut end = end.to_string();
    if let Ok(stats) = cap.stats() {
        if stats.dropped > 0 || stats.if_dropped > 0 {
            tracing::warn!(
                interface,
                dropped = stats.dropped,
                if_dropped = stats.if_dropped,
                "packets were dropped before busybait saw them"
            );
            end = format!(
                "{end}; {} dropped",
                u64::from(stats.dropped) + u64::from(stats.if_dropped)
            );
        }
    }
    let report = analyzer.finish();
    if let Some(link) = fleet {
        // The alerts not announced during the capture, then wait for them to go.
        for a in &report.alerts {
            if seen.insert((a.id, a.src, a.dst)) {
                link.alert(a, interface);
            }
        }
        link.close();
    }
    Ok((report, end))
}

/// Adds what the fleet's sensors learned since the last look to the analyzer.
#[cfg(feature = "live")]
fn learn_from_fleet(
    analyzer: &mut busybait_wire::Analyzer,
    link: &crate::fleet_watch::FleetLink,
    learned: &mut u64,
) {
    let mut now = 0u64;
    for indicator in link.learned() {
        if analyzer
            .indicators_mut()
            .learn(&indicator.kind, &indicator.value)
        {
            now += 1;
        }
    }
    if now > 0 {
        *learned += now;
        tracing::info!(indicators = now, total = *learned, "learned from the fleet");
    }
}

/// Sets `stop` on SIGINT or SIGTERM (handlers in place before capture starts).
#[cfg(feature = "live")]
fn stop_on_signals(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })?;
    Ok(())
}

/// One captured packet into the analyzer.
#[cfg(feature = "live")]
fn feed(
    analyzer: &mut busybait_wire::Analyzer,
    number: u64,
    link: Option<busybait_wire::LinkType>,
    packet: &pcap::Packet<'_>,
) {
    let ts = packet.header.ts;
    let time = ts.tv_sec as f64 + ts.tv_usec as f64 / 1e6;
    analyzer.frame(number, time, link, packet.data);
}
