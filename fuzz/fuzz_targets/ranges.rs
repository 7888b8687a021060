//! Range headers, x-amz-copy-source-range and x-amz-copy-source on arbitrary strings: never
//! a panic, and every satisfiable range lies inside the object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, &str)| {
    let (size, s) = input;
    if let Some(Some(r)) = s3api::ranges::object_range(s, size) {
        assert!(r.start <= r.end && r.end <= size, "{r:?} outside {size}");
    }
    if let Ok(r) = s3api::ranges::parse_copy_range(s, size) {
        assert!(r.start < r.end && r.end <= size, "{r:?} outside {size}");
    }
    let _ = s3s::dto::CopySource::parse(s);
});
