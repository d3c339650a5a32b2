//! libFuzzer entry for `srelab::fuzz::http1_response` (its doc lists the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| srelab::fuzz::http1_response::check(data));
