//! libFuzzer entry for `srelab::fuzz::verify_rules` (its doc lists the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| srelab::fuzz::verify_rules::check(data));
