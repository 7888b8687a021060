//! Encrypting and decrypting 16 MiB through the package streams (AES-256-GCM throughput).

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;

fn bench(c: &mut Criterion) {
    let data = Bytes::from(vec![7u8; 16 << 20]);
    let key = rustfs_sse::part_key(&[1; 32], 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    let chunks = || {
        let v: Vec<Result<Bytes, std::io::Error>> =
            (0..data.len()).step_by(1 << 20).map(|i| Ok(data.slice(i..i + (1 << 20)))).collect();
        futures::stream::iter(v)
    };
    let ct: Vec<Bytes> =
        rt.block_on(rustfs_sse::Encrypt::new(chunks(), &key).filter_map(|b| async { b.ok() }).collect());
    let mut g = c.benchmark_group("package");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("encrypt 16 MiB", |b| {
        b.iter(|| rt.block_on(rustfs_sse::Encrypt::new(chunks(), &key).for_each(|_| async {})))
    });
    g.bench_function("decrypt 16 MiB", |b| {
        b.iter(|| {
            let r = rustfs_sse::part_range(0..data.len() as u64, data.len() as u64);
            let s = futures::stream::iter(ct.iter().cloned().map(Ok::<_, std::io::Error>));
            rt.block_on(rustfs_sse::Decrypt::new(s, &key, &r).for_each(|_| async {}))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
