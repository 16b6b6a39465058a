//! Sample triage on arbitrary bytes: truncated and malformed ELF headers, broken UPX
//! markers and half XOR tables must never panic, and a recovered Mirai configuration
//! rests on at least two known table plaintexts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let triage = busybait_intel::triage::triage(data);
    assert_eq!(triage.size, data.len() as u64);
    if let Some(config) = busybait_intel::mirai::recover_config(data) {
        assert!(
            config.anchors.len() >= 2,
            "a key is accepted on two known plaintexts"
        );
    }
});
