#![no_main]
//! `streamable_core::fuzz::jsonrpc` under libFuzzer (see `fuzz/README.md`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamable_core::fuzz::jsonrpc(data));
