//! libFuzzer entry for `srelab::fuzz::prom_answer` (its doc lists the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| srelab::fuzz::prom_answer::check(data));
