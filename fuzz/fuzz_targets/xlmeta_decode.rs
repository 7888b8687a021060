//! The xl.meta decoder on arbitrary bytes: never a panic; whatever decodes re-encodes to a
//! file that decodes to the same versions (MinIO v1 records read from `xl.json` aside: they
//! have no xl.meta form, and the legacy track refuses to write a file that would keep one;
//! those read from an xl.meta are written back); `inspect` (the CLI's view) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ecstore::xlmeta::inspect(data);
    if let Ok(m) = ecstore::xlmeta::decode(data) {
        let again = ecstore::xlmeta::decode(&ecstore::xlmeta::encode(&m)).expect("our own encoding decodes");
        let kept: Vec<_> =
            m.versions.iter().filter(|v| v.kind != ecstore::xlmeta::VersionType::Legacy || v.v1_raw.is_some()).collect();
        assert_eq!(again.versions.len(), kept.len());
        for (a, b) in again.versions.iter().zip(kept) {
            assert_eq!((&a.version_id, a.mod_time_ns, a.kind), (&b.version_id, b.mod_time_ns, b.kind));
        }
        for v in &m.versions {
            let _ = ecstore::legacy::mapping::from_xl("b", "k", &m, v);
        }
    }
});
