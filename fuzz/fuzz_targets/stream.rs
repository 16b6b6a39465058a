//! TCP reassembly on arbitrary segments: a few flows, any sequence numbers, flags
//! and lengths, in any order. Nothing panics, held bytes stay within their bound,
//! every piece handed over is new bytes after at most `TAIL` old ones, and no
//! direction hands over more than `depth` bytes.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use busybait_wire::stream::{Segment, StreamLimits, Streams, TAIL};
use libfuzzer_sys::fuzz_target;

const LIMITS: StreamLimits = StreamLimits {
    max_flows: 4,
    depth: 4096,
    max_pending: 512,
    max_pending_total: 1024,
    idle_timeout: 30.0,
};

fuzz_target!(|data: &[u8]| {
    let mut streams = Streams::new(LIMITS);
    let mut handed: HashMap<(IpAddr, u16, IpAddr, u16, bool), u64> = HashMap::new();
    let mut check = |c: busybait_wire::stream::Chunk<'_>| {
        if c.end {
            assert!(c.bytes.is_empty());
            return false;
        }
        assert!(c.new_from <= TAIL && c.new_from < c.bytes.len());
        let key = (c.flow.client.0, c.flow.client.1, c.flow.server.0, c.flow.server.1, c.from_client);
        let total = handed.entry(key).or_default();
        *total += (c.bytes.len() - c.new_from) as u64;
        assert!(*total <= u64::from(LIMITS.depth));
        if let Some(head) = c.head {
            assert!(c.from_client && head.len() <= 512 && c.head_before <= head.len());
        }
        // Losing interest now and then, as the detectors do.
        c.bytes.first() != Some(&0)
    };
    let mut rest = data;
    let mut time = 0.0;
    // Each record: flags, seq (4), time step, length, payload.
    while let [flags, s0, s1, s2, s3, step, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(n);
        rest = after;
        time += f64::from(*step);
        let peer = |i: u8| (IpAddr::V4(Ipv4Addr::new(10, 0, 0, i % 3)), 1000 + u16::from(i % 2));
        let (a, b) = (peer(flags >> 5), peer(flags >> 3));
        let (src, dst) = if flags & 1 == 1 { (a, b) } else { (b, a) };
        let segment = Segment {
            src,
            dst,
            seq: u32::from_be_bytes([*s0, *s1, *s2, *s3]),
            ack: (flags & 2 == 2).then_some(u32::from_be_bytes([*s3, *s2, *s1, *s0])),
            syn: flags & 4 == 4,
            fin: flags & 0x40 == 0x40 && flags & 0x80 == 0,
            rst: flags & 0xc0 == 0xc0,
            payload,
        };
        streams.segment(time, &segment, &mut check);
        assert!(streams.held() <= LIMITS.max_pending_total);
        assert!(streams.len() <= LIMITS.max_flows);
    }
    streams.finish(&mut check);
    assert_eq!(streams.held(), 0);
    assert!(streams.is_empty());
});
