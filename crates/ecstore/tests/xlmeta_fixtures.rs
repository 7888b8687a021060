//! The xl.meta decoder against real files written by MinIO (vendored in `tests/fixtures`),
//! and against hostile input: truncated, wrong magic, absurd lengths, CRC mismatch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::io::Read;
use std::path::PathBuf;

use rustfs_ecstore::xlmeta::{self, VersionType};

fn fixtures() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    assert!(p.join("README.md").is_file(), "the vendored fixtures folder {} is missing", p.display());
    p
}

fn unzip(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .filter_map(|i| {
            let mut f = z.by_index(i).unwrap();
            if f.is_dir() {
                return None;
            }
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            Some((f.name().to_string(), b))
        })
        .collect()
}

#[test]
fn old_map_layout_v1_0() {
    let f = fixtures();
    let m = xlmeta::decode(&std::fs::read(f.join("minio/xl.meta")).unwrap()).unwrap();
    assert_eq!((m.major, m.minor), (1, 0));
    assert_eq!(m.versions.len(), 1);
    let v = &m.versions[0];
    assert_eq!(v.kind, VersionType::Object);
    assert_eq!(v.version_id, None, "the null version");
    assert_eq!(v.mod_time_ns, 1610300046404396813);
    let o = v.object.as_ref().unwrap();
    assert_eq!((o.erasure_data, o.erasure_parity, o.erasure_block_size), (2, 2, 10 << 20));
    assert_eq!(o.erasure_distribution, [3, 4, 1, 2]);
    assert_eq!(o.data_dir, "70869277-e3b9-41e9-a6c8-0c193adb5f9a");
    assert_eq!((o.size, o.part_numbers.clone(), o.part_sizes.clone()), (6482, vec![1], vec![6482]));
    assert_eq!(o.meta_user.get("etag").map(String::as_str), Some("eb460a70e9e7eb0f36b2e28512318bb0"));
    assert_eq!(o.meta_user.get("content-type").map(String::as_str), Some("application/json"));
}

#[test]
fn many_parts_v1_3() {
    let f = fixtures();
    let m = xlmeta::decode(&std::fs::read(f.join("minio/xl-many-parts.meta")).unwrap()).unwrap();
    assert_eq!((m.major, m.minor), (1, 3));
    assert_eq!(m.versions.len(), 7);
    let o = m.versions[0].object.as_ref().unwrap();
    assert_eq!(m.versions[0].version_id.as_deref(), Some("8edd0b2c-0888-4a38-8184-9e213b6f92fb"));
    assert_eq!(o.part_numbers.len(), 9016);
    assert_eq!(o.part_sizes.iter().sum::<i64>(), o.size);
    assert_eq!(o.size, 56747702861);
    assert_eq!((o.erasure_data, o.erasure_parity), (12, 4));
    // Newest first.
    assert!(m.versions.windows(2).all(|w| w[0].mod_time_ns >= w[1].mod_time_ns));
}

#[test]
fn compressed_v1_2_with_many_versions() {
    let f = fixtures();
    let raw = zstd::decode_all(std::fs::File::open(f.join("minio/xl.meta-v1.2.zst")).unwrap()).unwrap();
    let m = xlmeta::decode(&raw).unwrap();
    assert_eq!((m.major, m.minor), (1, 2));
    assert_eq!(m.versions.len(), 855);
    assert!(m.versions.iter().all(|v| v.version_id.is_some()));
    assert_eq!(m.versions[0].version_id.as_deref(), Some("dbaf9ae8-dae0-40a6-80f2-1c39e807382c"));
    assert!(m.versions.windows(2).all(|w| w[0].mod_time_ns >= w[1].mod_time_ns));
}

#[test]
fn inline_and_not_inline() {
    let f = fixtures();
    let files = unzip(&f.join("minio/xl-meta-inline-notinline.zip"));
    let get = |n: &str| &files.iter().find(|(name, _)| name == n).unwrap().1;
    let inline = xlmeta::decode(get("disk1/testbucket/file/xl.meta")).unwrap();
    let v = &inline.versions[0];
    assert_eq!(v.object.as_ref().unwrap().size, 132096);
    let data = inline.inline_data(v).expect("disk1 carries the data inline");
    assert_eq!(data.len(), 66080);
    let not_inline = xlmeta::decode(get("disk2/testbucket/file/xl.meta")).unwrap();
    assert!(not_inline.inline_data(&not_inline.versions[0]).is_none());
    let dd = &not_inline.versions[0].object.as_ref().unwrap().data_dir;
    assert_eq!(get(&format!("disk2/testbucket/file/{dd}/part.1")).len(), 66080);
}

#[test]
fn consistent_across_ten_drives() {
    let f = fixtures();
    let files = unzip(&f.join("minio/xl-meta-consist.zip"));
    assert_eq!(files.len(), 10);
    let metas: Vec<_> = files.iter().map(|(_, b)| xlmeta::decode(b).unwrap()).collect();
    let first = &metas[0].versions[0];
    assert_eq!(first.object.as_ref().unwrap().size, 141250);
    let mut indexes: Vec<i64> = metas.iter().map(|m| m.versions[0].object.as_ref().unwrap().erasure_index).collect();
    indexes.sort();
    assert_eq!(indexes, (1..=10).collect::<Vec<_>>(), "each drive holds its own shard index");
    for m in &metas {
        assert_eq!(m.versions[0].mod_time_ns, first.mod_time_ns);
        assert_eq!(m.versions[0].object.as_ref().unwrap().data_dir, first.object.as_ref().unwrap().data_dir);
    }
}

#[test]
fn cicd_corpus_and_recent_minio() {
    let f = fixtures();
    let disk4 =
        xlmeta::decode(&std::fs::read(f.join("minio/cicd-corpus/disk4/bucket/testobj/xl.meta")).unwrap()).unwrap();
    let ids: Vec<_> = disk4.versions.iter().map(|v| v.version_id.clone().unwrap()).collect();
    assert_eq!(ids, ["163c7c9d-e856-41ed-93ae-2adccecc8211", "50051050-62bc-4928-b0d3-65f4f828a0c7"]);
    for v in &disk4.versions {
        let o = v.object.as_ref().unwrap();
        assert_eq!(o.size, 644520);
    }
    for (name, size, etag) in [
        ("object_small_txt", 19, "a9b8c09f13f33f570d02bd4db1fb5d97-1"),
        ("object_large_bin", 300000, "12cee8ab04937dc3326fcd2acc58bbe5-1"),
    ] {
        let hex = std::fs::read_to_string(f.join(format!("rustfs/{name}.xlmeta.hex"))).unwrap();
        let raw = hex::decode(hex.split_whitespace().collect::<String>()).unwrap();
        let m = xlmeta::decode(&raw).unwrap();
        assert_eq!((m.major, m.minor), (1, 3));
        let o = m.versions[0].object.as_ref().unwrap();
        assert_eq!(o.size, size);
        assert_eq!(o.meta_user.get("etag").map(String::as_str), Some(etag));
    }
}

#[test]
fn hostile_input_gives_offsets_not_panics() {
    let f = fixtures();
    let good = std::fs::read(f.join("minio/xl-many-parts.meta")).unwrap();
    // Every truncation is an error (never a panic), with an offset inside the file.
    for cut in (0..good.len()).step_by(97) {
        let e = xlmeta::decode(&good[..cut]).unwrap_err();
        assert!(e.offset <= cut, "cut {cut}: {e}");
    }
    let mut wrong = good.clone();
    wrong[..4].copy_from_slice(b"XL3 ");
    assert!(xlmeta::decode(&wrong).unwrap_err().problem.contains("magic"));
    // A flipped byte inside the metadata breaks the CRC.
    let mut flipped = good.clone();
    flipped[40] ^= 0x01;
    let e = xlmeta::decode(&flipped).unwrap_err();
    assert!(e.problem.contains("CRC"), "{e}");
    // An absurd bin32 length.
    let mut absurd = good[..8].to_vec();
    absurd.extend_from_slice(&[0xc6, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3]);
    let e = xlmeta::decode(&absurd).unwrap_err();
    assert_eq!(e.offset, 13);
    // Random garbage after a valid header.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..200 {
        let mut g = b"XL2 \x01\x00\x03\x00".to_vec();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            g.push(x as u8);
        }
        let _ = xlmeta::decode(&g);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A version's signature as MinIO wrote it in the file and as `xlmeta::signature` computes it.
type Signed = (String, Option<String>, String, String);

/// Decoding what `encode` wrote gives back the same versions and inline data. Returns the
/// signatures the file carried, beside those computed.
fn assert_round_trip(name: &str, raw: &[u8]) -> Vec<Signed> {
    let mut signed = Vec::new();
    let m = xlmeta::decode(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = xlmeta::encode(&m);
    let back = xlmeta::decode(&written).unwrap_or_else(|e| panic!("{name} re-encoded: {e}"));
    assert_eq!((back.major, back.minor), (1, 3), "{name}");
    let strip = |m: &xlmeta::XlMeta| {
        let mut v = m.versions.clone();
        v.sort_by_key(|x| std::cmp::Reverse(x.mod_time_ns));
        v.into_iter()
            .map(|mut x| {
                x.signature = None;
                x.flags = 0;
                x
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&back), strip(&m), "{name}");
    assert_eq!(back.inline, m.inline, "{name}");
    // Each version is signed as MinIO signs it, and keeps the signature MinIO gave it.
    for (v, w) in m.versions.iter().zip(&back.versions) {
        assert_eq!(w.signature.as_deref(), Some(hex(&xlmeta::signature(w)).as_str()), "{name}");
        if let Some(sig) = &v.signature {
            signed.push((name.to_string(), v.version_id.clone(), sig.clone(), hex(&xlmeta::signature(v))));
        }
    }
    // Writing is deterministic.
    assert_eq!(xlmeta::encode(&back), written, "{name}");
    signed
}

#[test]
fn every_fixture_round_trips_through_v1_3() {
    let f = fixtures();
    let mut signed = Vec::new();
    for name in ["minio/xl.meta", "minio/xl-many-parts.meta"] {
        signed.extend(assert_round_trip(name, &std::fs::read(f.join(name)).unwrap()));
    }
    let v12 = zstd::decode_all(std::fs::File::open(f.join("minio/xl.meta-v1.2.zst")).unwrap()).unwrap();
    signed.extend(assert_round_trip("v1.2", &v12));
    for zip in ["minio/xl-meta-inline-notinline.zip", "minio/xl-meta-consist.zip"] {
        for (n, b) in unzip(&f.join(zip)) {
            if n.ends_with("xl.meta") {
                signed.extend(assert_round_trip(&n, &b));
            }
        }
    }
    for d in 2..=5 {
        let n = format!("minio/cicd-corpus/disk{d}/bucket/testobj/xl.meta");
        signed.extend(assert_round_trip(&n, &std::fs::read(f.join(&n)).unwrap()));
    }
    for name in ["rustfs/object_small_txt.xlmeta.hex", "rustfs/object_large_bin.xlmeta.hex"] {
        let text = std::fs::read_to_string(f.join(name)).unwrap();
        let raw = ::hex::decode(text.split_whitespace().collect::<String>()).unwrap();
        signed.extend(assert_round_trip(name, &raw));
    }
    let wrong: Vec<&Signed> = signed.iter().filter(|(_, _, want, got)| want != got).collect();
    assert!(wrong.is_empty(), "{} of {} signatures differ from MinIO's: {wrong:#?}", wrong.len(), signed.len());
    assert_eq!(signed.len(), 15, "every signed version of the fixtures: {signed:?}");
}

#[test]
fn written_flags_mark_inline_data_and_data_dirs() {
    let f = fixtures();
    let files = unzip(&f.join("minio/xl-meta-inline-notinline.zip"));
    let (_, raw) = files.iter().find(|(n, _)| n == "disk1/testbucket/file/xl.meta").unwrap();
    let back = xlmeta::decode(&xlmeta::encode(&xlmeta::decode(raw).unwrap())).unwrap();
    assert_ne!(back.versions[0].flags & xlmeta::FLAG_INLINE_DATA, 0);
    assert_eq!(back.inline_data(&back.versions[0]).map(<[u8]>::len), Some(66080));
}
