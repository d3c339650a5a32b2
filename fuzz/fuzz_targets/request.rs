//! libFuzzer entry for `srelab::fuzz::request` (its doc lists the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| srelab::fuzz::request::check(data));
