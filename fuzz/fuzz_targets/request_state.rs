#![no_main]
//! `streamable_core::fuzz::request_state` under libFuzzer (see `fuzz/README.md`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamable_core::fuzz::request_state(data));
