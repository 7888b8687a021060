//! MinIO-written object data decoded by `ecstore::minio`: the cicd-corpus (a 5-drive set,
//! 3+2, shards in part.1 files) with every combination of up to 2 shard files removed or
//! corrupted, and the inline/not-inline pair (a 2+2 object with one shard inline in one
//! drive's xl.meta, another in a part file of another). The object's MD5 must equal the
//! ETag MinIO recorded; where too few shards survive, decoding fails and yields no bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::io::Cursor;
use std::path::PathBuf;

use md5::{Digest, Md5};
use rustfs_ecstore::minio::{Codec, MinioError, PartLayout, PartReader, set_order_to_shards};
use rustfs_ecstore::xlmeta::{self, XlObject};

fn fixtures() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minio");
    assert!(p.join("cicd-corpus/disk1").is_dir(), "the vendored fixtures folder {} is missing", p.display());
    p
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The corpus's drives in set order, the version's object info (from any drive's xl.meta
/// that has it) and each drive's part.1 of that version's data dir.
fn corpus(data_dir: &str) -> (XlObject, Vec<Option<Vec<u8>>>) {
    let base = fixtures().join("cicd-corpus");
    let mut object = None;
    let mut files = Vec::new();
    for d in 1..=5 {
        let disk = base.join(format!("disk{d}/bucket/testobj"));
        if let Ok(raw) = std::fs::read(disk.join("xl.meta")) {
            let meta = xlmeta::decode(&raw).unwrap();
            for v in meta.versions {
                if let Some(o) = v.object.filter(|o| o.data_dir == data_dir) {
                    // The erasure index on a drive is the shard it holds.
                    assert_eq!(o.erasure_distribution[d - 1] as i64, o.erasure_index, "disk{d}");
                    object.get_or_insert(o);
                }
            }
        }
        files.push(std::fs::read(disk.join(data_dir).join("part.1")).ok());
    }
    (object.expect("a drive records the version"), files)
}

fn read(o: &XlObject, set_order: Vec<Option<Vec<u8>>>) -> Result<Vec<u8>, MinioError> {
    let codec = Codec::new(o.erasure_data as usize, o.erasure_parity as usize)?;
    let layout = PartLayout::new(o.part_sizes[0] as u64, o.erasure_block_size as u64, codec.data())?;
    let shards = set_order_to_shards(set_order, &o.erasure_distribution)?;
    let mut r = PartReader::new(&codec, layout, shards.into_iter().map(|f| f.map(Cursor::new)).collect())?;
    let mut out = Vec::new();
    r.copy_to(&mut out)?;
    Ok(out)
}

fn etag(o: &XlObject) -> &str {
    &o.meta_user["etag"]
}

#[test]
fn the_corpus_object_reads_with_any_two_shards_lost_or_corrupt() {
    let (o, files) = corpus("2b4f7e41-df82-4a5e-a3c1-8df87f83332f");
    assert_eq!((o.erasure_data, o.erasure_parity, o.size), (3, 2, 644_520));
    let whole = read(&o, files.clone()).unwrap();
    assert_eq!(whole.len(), 644_520);
    assert_eq!(hex(&Md5::digest(&whole)), etag(&o));
    // Each drive healthy, removed, or with one byte of its shard changed.
    let mut combos = 0;
    for mask in 0..3u32.pow(5) {
        let states: Vec<u32> = (0..5).map(|i| mask / 3u32.pow(i) % 3).collect();
        let lost = states.iter().filter(|s| **s != 0).count();
        let set: Vec<Option<Vec<u8>>> = files
            .iter()
            .zip(&states)
            .map(|(f, s)| match s {
                0 => f.clone(),
                1 => None,
                _ => f.clone().map(|mut f| {
                    f[32 + 1000] ^= 0x5a;
                    f
                }),
            })
            .collect();
        let got = read(&o, set);
        if lost <= 2 {
            assert_eq!(got.as_deref().ok(), Some(&whole[..]), "states {states:?}");
            combos += 1;
        } else {
            assert!(matches!(got, Err(MinioError::Quorum { .. })), "states {states:?}: {got:?}");
        }
    }
    assert_eq!(combos, 1 + 5 * 2 + 10 * 4, "every combination of up to two losses");
    // A corrupt hash is as bad as corrupt data; a short file as a missing one.
    let mut bad = files.clone();
    bad[0].as_mut().unwrap()[0] ^= 1;
    bad[1].as_mut().unwrap().truncate(1000);
    assert_eq!(read(&o, bad.clone()).unwrap(), whole);
    bad[2] = None;
    assert!(read(&o, bad).is_err());
}

#[test]
fn a_version_with_too_few_shards_is_an_error_not_bytes() {
    // The corpus's newer version has shards on two drives only (it needs three).
    let (o, files) = corpus("a599bd9e-69fe-49b7-b6bf-fe53021039d5");
    assert_eq!(files.iter().filter(|f| f.is_some()).count(), 2);
    assert!(matches!(read(&o, files), Err(MinioError::Quorum { healthy: 2, needed: 3, .. })));
}

#[test]
fn an_inline_shard_and_a_part_file_shard_make_the_object() {
    let z = std::fs::File::open(fixtures().join("xl-meta-inline-notinline.zip")).unwrap();
    let mut z = zip::ZipArchive::new(z).unwrap();
    let mut file = |name: &str| {
        let mut f = z.by_name(name).unwrap();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut v).unwrap();
        v
    };
    let m1 = xlmeta::decode(&file("disk1/testbucket/file/xl.meta")).unwrap();
    let m2 = xlmeta::decode(&file("disk2/testbucket/file/xl.meta")).unwrap();
    let part = file("disk2/testbucket/file/9f6c3be2-463f-4771-a6c7-1204baaa3ff2/part.1");
    let (v1, v2) = (&m1.versions[0], &m2.versions[0]);
    let (o1, o2) = (v1.object.clone().unwrap(), v2.object.clone().unwrap());
    assert_eq!((o1.erasure_data, o1.erasure_parity), (2, 2));
    let inline = m1.inline_data(v1).unwrap().to_vec();
    // Shards in shard order: disk1 holds shard o1.erasure_index, disk2 o2.erasure_index.
    let mut shards: Vec<Option<Vec<u8>>> = vec![None; 4];
    shards[o1.erasure_index as usize - 1] = Some(inline);
    shards[o2.erasure_index as usize - 1] = Some(part);
    let codec = Codec::new(2, 2).unwrap();
    let layout = PartLayout::new(o1.size as u64, o1.erasure_block_size as u64, 2).unwrap();
    let mut r = PartReader::new(&codec, layout, shards.into_iter().map(|f| f.map(Cursor::new)).collect()).unwrap();
    let mut out = Vec::new();
    r.copy_to(&mut out).unwrap();
    assert_eq!(out.len(), 132_096);
    assert_eq!(hex(&Md5::digest(&out)), etag(&o1));
    assert_eq!(r.stats().missing_shards, 2);
}
