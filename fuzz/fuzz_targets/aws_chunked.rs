//! The aws-chunked framing check on arbitrary bodies cut at arbitrary points: never a panic,
//! and the verdict does not depend on how the body was cut into reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3api::limits::ChunkCheck;

fuzz_target!(|input: (u16, u32, Vec<u8>)| {
    let (cut, decoded, body) = input;
    let max = 64;
    let decoded = (decoded % 4 != 0).then_some(u64::from(decoded % 10_000));
    let mut whole = ChunkCheck::new(max, decoded);
    let whole_result = whole.feed(&body);
    let mut split = ChunkCheck::new(max, decoded);
    let step = usize::from(cut % 97) + 1;
    let mut split_result = Ok(());
    for piece in body.chunks(step) {
        split_result = split.feed(piece);
        if split_result.is_err() {
            break;
        }
    }
    assert_eq!(whole_result, split_result);
});
