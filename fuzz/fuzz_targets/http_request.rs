//! The HTTP request reader alone, fed arbitrary bytes in pieces under tight limits:
//! nothing panics, what it holds stays within its bounds, and a request it hands
//! out is one whose head and body fit them.
#![no_main]

use busybait_http::request::{Read, RequestReader};
use busybait_http::HttpLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HttpLimits {
        max_head_bytes: 512,
        max_headers: 8,
        max_body_bytes: 256,
        ..HttpLimits::default()
    };
    let mut reader = RequestReader::default();
    // The first byte of each piece is its length.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let take = usize::from(n % 96).min(tail.len());
        let (piece, after) = tail.split_at(take);
        match reader.feed(piece, &limits) {
            Read::Incomplete => {
                assert!(reader.buffered() <= 4 * (limits.max_head_bytes + limits.max_body_bytes));
            }
            Read::Done(request) => {
                assert!(request.body.len() <= limits.max_body_bytes);
                assert!(request.headers.len() <= limits.max_headers);
                return;
            }
            Read::Refused(refusal) => {
                assert!(matches!(refusal.status(), 400 | 413 | 431 | 501));
                return;
            }
        }
        rest = after;
    }
});
