//! Every value and key family of the KV schema, and write batches as a replicated log holds
//! them, decoded from arbitrary bytes: never a panic (a corrupt record is an error, never a
//! crash of the reader); what decodes re-encodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metadata::dualtrack::MigrationState;
use metadata::schema::{decode, parse_pending_key};
use metadata::{BucketInfo, MultipartUpload, ObjectVersion, UploadedPart};

fuzz_target!(|data: &[u8]| {
    let key = b"v/bucket/key";
    let _ = decode::<BucketInfo>(key, data);
    let _ = decode::<ObjectVersion>(key, data);
    let _ = decode::<MultipartUpload>(key, data);
    let _ = decode::<UploadedPart>(key, data);
    let _ = decode::<MigrationState>(key, data);
    let _ = parse_pending_key(data);
    if let Ok(b) = metadata::WriteBatch::decode(data) {
        assert_eq!(metadata::WriteBatch::decode(&b.encode()).expect("our own encoding decodes"), b);
    }
    if let Ok(v) = decode::<ObjectVersion>(key, data) {
        let again: ObjectVersion = decode(key, &metadata::schema::encode(&v)).expect("our own encoding decodes");
        assert_eq!(again, v);
    }
});
