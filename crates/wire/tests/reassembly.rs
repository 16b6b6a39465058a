//! TCP reassembly under the content detectors: markers split across segments, out
//! of order, overlapping (first copy wins), retransmitted, across a sequence-number
//! wrap and across holes; and the bounds (flow table, depth, held bytes), each with
//! its counter.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use busybait_pcapgen::attacks::TcpFlow;
use busybait_pcapgen::Capture;
use busybait_wire::capture::read_frames;
use busybait_wire::stream::StreamLimits;
use busybait_wire::{Analyzer, Limits, Report};

const T0: f64 = 1_790_000_000.0;

fn analyse_with(cap: &Capture, limits: Limits) -> Report {
    let mut a = Analyzer::new(limits);
    read_frames(cap.bytes(), |f| a.frame(f.number, f.time, f.link, f.data)).unwrap();
    a.finish()
}

fn analyse(cap: &Capture) -> Report {
    analyse_with(cap, Limits::default())
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// (count, packet of the first evidence) of the ECCHI alert, if any.
fn ecchi(r: &Report) -> Option<(u64, u64)> {
    r.alerts
        .iter()
        .find(|a| a.id == "mirai-shell-content" && a.title.ends_with("Mirai loader probe"))
        .map(|a| (a.count, a.evidence[0].packet))
}

fn open(cap: &mut Capture, n: u8) -> TcpFlow {
    TcpFlow::open(
        cap,
        (Ipv4Addr::new(10, 0, 2, n), 40_000 + u16::from(n)),
        (ip("192.0.2.23"), 23),
        T0 + f64::from(n),
    )
}

#[test]
fn a_marker_split_across_segments_is_seen_once() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 1);
    cap.frame(T0 + 1.0, &flow.frame(true, 0, b"enable\r\n/bin/bus"));
    cap.frame(T0 + 1.1, &flow.frame(true, 16, b"ybox ECCHI\r\n"));
    let r = analyse(&cap);
    // Handshake 3, then the two halves: the second completes the marker.
    assert_eq!(ecchi(&r), Some((1, 5)));
    assert_eq!(r.counters.streams.flows, 1);
}

#[test]
fn out_of_order_segments_are_put_back_in_order() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 2);
    cap.frame(T0 + 1.0, &flow.frame(true, 16, b"ybox ECCHI\r\n"));
    cap.frame(T0 + 1.1, &flow.frame(true, 0, b"enable\r\n/bin/bus"));
    // A segment that arrives ahead and alone would match nothing: in order it does.
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), Some((1, 5)));
    assert_eq!(r.counters.streams.out_of_order, 1);
}

#[test]
fn overlapping_bytes_keep_the_first_copy_and_retransmissions_count_once() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 3);
    cap.frame(T0 + 1.0, &flow.frame(true, 0, b"/bin/busybox ECCHI\r\n"));
    // A whole retransmission, then an overlap that rewrites the marker's bytes and
    // adds new ones: neither is counted again, the new bytes are still read.
    cap.frame(T0 + 1.1, &flow.frame(true, 0, b"/bin/busybox ECCHI\r\n"));
    cap.frame(
        T0 + 1.2,
        &flow.frame(true, 13, b"XXXXX\r\n/bin/busybox IHCCE\r\n"),
    );
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), Some((1, 4)));
    assert!(r
        .alerts
        .iter()
        .any(|a| a.title.ends_with("Mirai loader run marker") && a.count == 1));
    assert_eq!(r.counters.streams.retransmitted, 1);
    assert_eq!(r.counters.streams.overlapping, 1);

    // The reverse: the first copy is harmless, a later overlapping copy holds the
    // marker. The first copy is what the receiver kept, so nothing fires.
    let mut cap = Capture::default();
    let flow = open(&mut cap, 4);
    cap.frame(T0 + 1.0, &flow.frame(true, 0, b"/bin/busybox ECXXX\r\n"));
    cap.frame(T0 + 1.1, &flow.frame(true, 0, b"/bin/busybox ECCHI\r\n"));
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), None);
    assert_eq!(r.counters.streams.retransmitted, 1);
}

#[test]
fn overlapping_held_segments_keep_the_first_copy() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 5);
    // Two held segments overlap each other; the first one held wins. The in-order
    // segment then overlaps the held one by two bytes.
    cap.frame(T0 + 1.0, &flow.frame(true, 10, b"busybox ECCHI\r\n"));
    cap.frame(T0 + 1.1, &flow.frame(true, 10, b"busybox EC"));
    cap.frame(T0 + 1.2, &flow.frame(true, 0, b"echo;/bin/bu"));
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), Some((1, 6)));
    assert_eq!(r.counters.streams.out_of_order, 2);
    // The shorter second copy, and the held segment's overlap with the in-order
    // one (which ends at 12).
    assert_eq!(r.counters.streams.overlapping, 2);
}

#[test]
fn a_marker_across_the_sequence_number_wrap_is_seen() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 6);
    // The client's ISN is 2^32 - 101: offset 100 is sequence number 0.
    let filler = vec![b'a'; 90];
    cap.frame(T0 + 1.0, &flow.frame(true, 0, &filler));
    cap.frame(T0 + 1.1, &flow.frame(true, 90, b"/bin/busybox ECCHI"));
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), Some((1, 5)));
}

#[test]
fn a_hole_never_filled_is_skipped_and_its_edges_do_not_join() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 7);
    cap.frame(T0 + 1.0, &flow.frame(true, 0, b"/bin/busy"));
    // Bytes 9..20 were lost by the capture. What follows the hole would complete
    // the marker if the edges were glued together; the real marker after it counts.
    cap.frame(
        T0 + 1.1,
        &flow.frame(true, 20, b"box ECCHI; /bin/busybox IHCCE\r\n"),
    );
    let r = analyse(&cap);
    assert_eq!(ecchi(&r), None);
    let ihcce = r
        .alerts
        .iter()
        .find(|a| a.title.ends_with("Mirai loader run marker"))
        .unwrap();
    // Found when the capture ended and the held bytes were given up on: the
    // evidence names the last packet.
    assert_eq!(ihcce.count, 1);
    assert_eq!(ihcce.evidence[0].packet, 5);
    assert_eq!(r.counters.streams.gaps, 1);
}

#[test]
fn held_bytes_are_bounded_per_direction() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 8);
    // A hole at 0..100, then 40 segments of 100 bytes behind it, the marker in the
    // last: once more than 1,000 bytes would be held the hole is given up on, and
    // the rest arrives in order.
    for i in 0..40u32 {
        let mut payload = vec![b'.'; 100];
        if i == 39 {
            payload[50..68].copy_from_slice(b"/bin/busybox ECCHI");
        }
        cap.frame(
            T0 + 1.0 + f64::from(i) / 100.0,
            &flow.frame(true, 100 + i * 100, &payload),
        );
    }
    let limits = Limits {
        streams: StreamLimits {
            max_pending: 1000,
            ..StreamLimits::default()
        },
        ..Limits::default()
    };
    let r = analyse_with(&cap, limits);
    // Frames 4.. are the segments; the marker is in the last (frame 43).
    assert_eq!(ecchi(&r), Some((1, 43)));
    assert_eq!(r.counters.streams.gaps, 1);
    // Held: offsets 100..1100 (ten segments); the tenth reaches past 1,000 bytes
    // from the hole, which is then skipped.
    assert_eq!(r.counters.streams.out_of_order, 10);
}

#[test]
fn the_flow_table_evicts_the_oldest_and_counts_them() {
    let mut cap = Capture::default();
    let flows: Vec<TcpFlow> = (1..=20).map(|n| open(&mut cap, n)).collect();
    for (i, flow) in flows.iter().enumerate() {
        cap.frame(
            T0 + 30.0 + i as f64,
            &flow.frame(true, 0, b"/bin/busybox ECCHI\r\n"),
        );
    }
    let limits = Limits {
        streams: StreamLimits {
            max_flows: 8,
            ..StreamLimits::default()
        },
        ..Limits::default()
    };
    let r = analyse_with(&cap, limits);
    let s = &r.counters.streams;
    // 20 handshakes into 8 places evict 12; the 12 evicted flows come back with
    // their data (as flows already open) and evict the 8 left and 4 of their own;
    // those 8 come back in turn.
    assert_eq!((s.flows, s.evicted), (40, 32));
    // Every client's marker is still found: one alert per pair.
    let per_client: Vec<IpAddr> = r
        .alerts
        .iter()
        .filter(|a| a.id == "mirai-shell-content")
        .map(|a| a.src)
        .collect();
    assert_eq!(per_client.len(), 20);
}

#[test]
fn inspection_stops_at_the_depth() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 9);
    cap.frame(T0 + 1.0, &flow.frame(true, 0, &[b'.'; 1000]));
    cap.frame(T0 + 1.1, &flow.frame(true, 1000, b"/bin/busybox ECCHI"));
    let limits = Limits {
        streams: StreamLimits {
            depth: 1000,
            ..StreamLimits::default()
        },
        ..Limits::default()
    };
    let r = analyse_with(&cap, limits);
    assert_eq!(ecchi(&r), None);
    assert_eq!(r.counters.streams.depth_reached, 1);
    // With the default depth the same capture fires.
    assert_eq!(ecchi(&analyse(&cap)), Some((1, 5)));
}

#[test]
fn failed_logins_split_across_segments_count() {
    let mut cap = Capture::default();
    let flow = open(&mut cap, 10);
    let mut at = 0;
    for _ in 0..3 {
        cap.frame(T0 + 2.0, &flow.frame(false, at, b"Login inc"));
        cap.frame(T0 + 2.1, &flow.frame(false, at + 9, b"orrect\r\nlogin: "));
        at += 24;
    }
    let r = analyse(&cap);
    let brute = r
        .alerts
        .iter()
        .find(|a| a.id == "telnet-bruteforce")
        .unwrap();
    assert_eq!(
        brute.title,
        "telnet brute force: 1 connections, 3 failed logins"
    );
}
