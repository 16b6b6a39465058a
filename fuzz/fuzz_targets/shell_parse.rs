//! The ash parser on arbitrary bytes: errors, never panics or overflows the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = busybait_device::shell::parse::parse(data);
});
