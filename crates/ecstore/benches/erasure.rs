//! Erasure coding throughput: 8+4 encode of 1 MiB blocks, and decode with 0 and 4 shards
//! lost (data shards, the worst case), plus the bitrot hash; the same for MinIO's format
//! (GF(2^8) Reed-Solomon, HighwayHash-256 frames), which adopted deployments write and read.
//! Run: `cargo bench -p rustfs-ecstore`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustfs_ecstore::{Erasure, bitrot, minio};

const BLOCK: usize = 1 << 20;

fn block() -> Vec<u8> {
    (0..BLOCK).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

fn bench(c: &mut Criterion) {
    let e = Erasure::new(8, 4, BLOCK);
    let data = block();
    let shards = e.encode(&data).unwrap();
    let mut g = c.benchmark_group("erasure_8+4_1MiB");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    g.bench_function("encode", |b| b.iter(|| e.encode(std::hint::black_box(&data)).unwrap()));
    for lost in [0usize, 4] {
        g.bench_function(format!("decode_{lost}_lost"), |b| {
            b.iter(|| {
                let mut s: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
                for slot in s.iter_mut().take(lost) {
                    *slot = None;
                }
                e.reconstruct_data(&mut s).unwrap();
                let mut out = Vec::with_capacity(BLOCK);
                e.join(&s, BLOCK, &mut out);
                out
            })
        });
    }
    g.bench_function("bitrot_xxh3_1MiB", |b| b.iter(|| bitrot::hash(std::hint::black_box(&data))));
    let m = minio::Codec::new(8, 4).unwrap();
    let mshards = m.encode(&data).unwrap();
    g.bench_function("minio_encode", |b| b.iter(|| m.encode(std::hint::black_box(&data)).unwrap()));
    for lost in [0usize, 4] {
        g.bench_function(format!("minio_decode_{lost}_lost"), |b| {
            b.iter(|| {
                let mut s: Vec<Option<Vec<u8>>> = mshards.iter().cloned().map(Some).collect();
                for slot in s.iter_mut().take(lost) {
                    *slot = None;
                }
                m.decode(&mut s, BLOCK, 0).unwrap()
            })
        });
    }
    g.bench_function("bitrot_highway256_1MiB", |b| b.iter(|| minio::highway256(std::hint::black_box(&data))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
