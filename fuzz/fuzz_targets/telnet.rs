//! The telnet codec on arbitrary bytes: the RFC observer and BusyBox's IAC filter
//! never panic, the observer's subnegotiation limit holds, and IAC escaping doubles
//! exactly the 0xff bytes.
#![no_main]

use busybait_telnet::codec::{escape_iac, BusyboxIacFilter, TelnetObserver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut observer = TelnetObserver::new(64);
    let mut observed = Vec::new();
    // Two feeds: state carried across a split must not matter for safety.
    let (a, b) = data.split_at(data.len() / 2);
    if observer.feed(a, &mut observed).is_ok() {
        let _ = observer.feed(b, &mut observed);
    }
    observer.finish(&mut observed);
    let mut filter = BusyboxIacFilter::new();
    let mut filtered = Vec::new();
    filter.feed(a, &mut filtered);
    filter.feed(b, &mut filtered);
    let mut escaped = Vec::new();
    escape_iac(data, &mut escaped);
    let iacs = data.iter().filter(|&&b| b == 0xff).count();
    assert_eq!(escaped.len(), data.len() + iacs);
});
