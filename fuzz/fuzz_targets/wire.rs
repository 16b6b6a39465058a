//! The packet path on arbitrary bytes: a capture file of anything, and each link
//! decoder on any frame. Nothing panics; frame numbers count up from 1.
#![no_main]

use busybait_wire::capture::read_frames;
use busybait_wire::{decode, Analyzer, LinkType, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut analyzer = Analyzer::new(Limits {
        max_sources: 64,
        max_targets_per_source: 16,
        max_pairs: 64,
        streams: busybait_wire::stream::StreamLimits {
            max_flows: 16,
            depth: 4096,
            max_pending: 1024,
            max_pending_total: 4096,
            idle_timeout: 60.0,
        },
    });
    let mut last = 0;
    let _ = read_frames(data, |f| {
        assert_eq!(f.number, last + 1);
        last = f.number;
        analyzer.frame(f.number, f.time, f.link, f.data);
    });
    for link in [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ] {
        if let Ok(p) = decode(link, data) {
            analyzer.packet(1, 0.0, &p);
        }
    }
    let _ = analyzer.finish();
});
