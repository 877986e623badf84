#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blockseal_fuzz::targets::disk_image(data));
