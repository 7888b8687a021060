//! The load benchmark behind `rustfs-admin bench`, usable against any S3 endpoint: PUT, GET,
//! mixed (PUT:GET 1:3), LIST and multipart, with a fixed object size, concurrency N, and a
//! duration or an operation count. Reports ops/s, MiB/s and p50/p99/p999 latency. `md5`
//! touches no endpoint: it measures one core's MD5 rate (the crate the server hashes ETags
//! with), a denominator of the PUT benchmarks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::admin_client::AdminClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Put,
    Get,
    Head,
    Mixed,
    List,
    Multipart,
    /// One core's MD5 rate over `size`-byte buffers, in this process (no endpoint).
    Md5,
    /// Writes keys `start..start+objects` (the keys GET and LIST use), `concurrency` at a
    /// time, with a progress line every `report_every` objects: the loader of large buckets.
    Fill,
    /// One ListObjectsV2 page of 1,000 keys after a random key (with `--delimiter`, of a
    /// random folder): the latency of a page in a bucket of `objects` keys.
    ListPage,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Operation to measure.
    #[arg(long, value_enum, default_value = "put")]
    pub op: Op,
    /// Object size, e.g. 4KiB, 1MiB, 16MiB.
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    pub size: u64,
    /// Requests in flight.
    #[arg(long, short = 'c', default_value_t = 4)]
    pub concurrency: usize,
    /// Run for this many seconds (unless --count is given).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Stop after this many operations instead of a duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Bucket to use (created if missing).
    #[arg(long, default_value = "rustfs-bench")]
    pub bucket: String,
    /// Distinct keys pre-written for GET/mixed, and keys listed by LIST.
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,
    /// Part size for multipart.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Delimiter for LIST (none = flat listing).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// List only keys under this prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Do not write the objects first (they exist from an earlier run).
    #[arg(long)]
    pub no_fill: bool,
    /// Fill: the first key's number.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Fill: a progress line (objects written, rate of the last window) every this many
    /// objects on stderr (0: none).
    #[arg(long, default_value_t = 100_000)]
    pub report_every: u64,
    /// Folders the keys are spread over (`bench/dNN/`): GET, HEAD, fill, LIST and list-page
    /// must be given the same number.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub folders: u64,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) =
        [("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("B", 1)]
            .iter()
            .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
            .unwrap_or((s, 1));
    num.trim().parse::<u64>().map(|n| n * mul).map_err(|e| format!("invalid size {s:?}: {e}"))
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub op: Op,
    pub size: u64,
    pub concurrency: usize,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// LIST only: keys listed per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_per_sec: Option<f64>,
}

impl Report {
    /// The report of a run: `hist` holds the latency (µs) of each operation that succeeded.
    fn of(op: Op, size: u64, concurrency: usize, hist: &Histogram<u64>, errors: u64, secs: f64, bytes: u64) -> Self {
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        Self {
            op,
            size,
            concurrency,
            ops: hist.len(),
            errors,
            seconds: secs,
            ops_per_sec: hist.len() as f64 / secs,
            mib_per_sec: bytes as f64 / secs / (1 << 20) as f64,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: hist.max() as f64 / 1000.0,
            keys_per_sec: None,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} size={} c={}: {} ops in {:.2}s, {:.0} ops/s, {:.1} MiB/s, p50 {:.3} ms, p99 {:.3} ms, p999 {:.3} ms, max {:.3} ms, {} errors",
            self.op,
            self.size,
            self.concurrency,
            self.ops,
            self.seconds,
            self.ops_per_sec,
            self.mib_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.errors
        )?;
        if let Some(k) = self.keys_per_sec {
            write!(f, ", {k:.0} keys/s")?;
        }
        Ok(())
    }
}

/// Object keys of GET/HEAD/list runs: `folders` folders under `bench/` (100 by default), so
/// delimiter listings have real fan-out. Within a folder, keys sort in the order of `i`.
fn key(i: u64, folders: u64) -> String {
    format!("bench/d{:02}/{i:08}", i % folders)
}

/// Keys `0..n` in folder `f` of `folders`.
fn in_folder(n: u64, f: u64, folders: u64) -> u64 {
    if n > f { (n - f).div_ceil(folders) } else { 0 }
}

/// The key a full page (`page` keys) starting at a random place should start after, if any
/// page is full: in the bucket's sorted order, or (`folder` given) in that folder's.
fn page_start(n: u64, folders: u64, folder: Option<u64>, page: u64, rng: &mut rand::rngs::StdRng) -> Option<String> {
    let (folder_keys, f0) = match folder {
        Some(f) => (in_folder(n, f, folders), f),
        None => (n, 0),
    };
    let rank = rand::Rng::random_range(rng, 0..=folder_keys.saturating_sub(page));
    if rank == 0 {
        return None;
    }
    // The key before `rank`: folders come in order, keys `f, f + folders, ...` in each.
    let (mut f, mut r) = (f0, rank - 1);
    if folder.is_none() {
        while r >= in_folder(n, f, folders) {
            r -= in_folder(n, f, folders);
            f += 1;
        }
    }
    Some(key(f + r * folders, folders))
}

async fn put(c: &AdminClient, bucket: &str, k: &str, body: Bytes) -> Result<(), String> {
    let a = c.send("PUT", &format!("/{bucket}/{k}"), body, false, false).await?;
    if a.status.is_success() { Ok(()) } else { Err(format!("PUT {k}: {}", a.status)) }
}

async fn get(c: &AdminClient, bucket: &str, k: &str) -> Result<u64, String> {
    let a = c.send("GET", &format!("/{bucket}/{k}"), Bytes::new(), true, false).await?;
    if a.status.is_success() { Ok(a.body_len) } else { Err(format!("GET {k}: {}", a.status)) }
}

async fn head(c: &AdminClient, bucket: &str, k: &str) -> Result<u64, String> {
    let a = c.send("HEAD", &format!("/{bucket}/{k}"), Bytes::new(), true, false).await?;
    if a.status.is_success() { Ok(0) } else { Err(format!("HEAD {k}: {}", a.status)) }
}

fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

/// Lists the whole bucket with ListObjectsV2; returns the number of keys (and prefixes).
async fn list_all(c: &AdminClient, bucket: &str, prefix: Option<&str>, delimiter: Option<&str>) -> Result<u64, String> {
    let mut token: Option<String> = None;
    let mut n = 0u64;
    loop {
        let mut q = format!("/{bucket}?list-type=2&max-keys=1000");
        if let Some(p) = prefix {
            q.push_str(&format!(
                "&prefix={}",
                percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
        if let Some(d) = delimiter {
            q.push_str(&format!(
                "&delimiter={}",
                percent_encoding::utf8_percent_encode(d, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
        if let Some(t) = &token {
            q.push_str(&format!(
                "&continuation-token={}",
                percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
        let a = c.send("GET", &q, Bytes::new(), true, true).await?;
        if !a.status.is_success() {
            return Err(format!("LIST: {}", a.status));
        }
        let body = String::from_utf8_lossy(&a.body);
        n += body.matches("<Key>").count() as u64 + body.matches("<CommonPrefixes>").count() as u64;
        match xml_tag(&body, "NextContinuationToken") {
            Some(t) if xml_tag(&body, "IsTruncated") == Some("true") => token = Some(t.to_string()),
            _ => return Ok(n),
        }
    }
}

async fn multipart(c: &AdminClient, bucket: &str, k: &str, size: u64, part: u64, data: &Bytes) -> Result<(), String> {
    let a = c.send("POST", &format!("/{bucket}/{k}?uploads"), Bytes::new(), true, true).await?;
    let body = String::from_utf8_lossy(&a.body).into_owned();
    let id = xml_tag(&body, "UploadId").ok_or_else(|| format!("CreateMultipartUpload: {}", a.status))?.to_string();
    let mut xml = String::from("<CompleteMultipartUpload>");
    let (mut n, mut off) = (1u32, 0u64);
    while off < size {
        let len = part.min(size - off);
        let chunk = data.slice(0..len as usize);
        let a = c.send("PUT", &format!("/{bucket}/{k}?partNumber={n}&uploadId={id}"), chunk, false, false).await?;
        let etag =
            a.headers.get("etag").and_then(|v| v.to_str().ok()).ok_or_else(|| format!("UploadPart: {}", a.status))?;
        xml.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"));
        n += 1;
        off += len;
    }
    xml.push_str("</CompleteMultipartUpload>");
    let a = c.send("POST", &format!("/{bucket}/{k}?uploadId={id}"), Bytes::from(xml), true, true).await?;
    if a.status.is_success() && !String::from_utf8_lossy(&a.body).contains("<Error>") {
        Ok(())
    } else {
        Err(format!("CompleteMultipartUpload: {}", a.status))
    }
}

/// One page of at most 1,000 keys after a random key of the `objects` written (with a
/// delimiter: inside a random one of the `folders`), full wherever the keys allow.
async fn list_page(
    c: &AdminClient,
    a: &BenchArgs,
    delimiter: Option<&str>,
    rng: &mut rand::rngs::StdRng,
) -> Result<u64, String> {
    let (n, folders) = (a.objects, a.folders);
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let mut q = format!("/{}?list-type=2&max-keys=1000", a.bucket);
    let folder = delimiter.map(|_| rand::Rng::random_range(rng, 0..folders.min(n.max(1))));
    if let Some(after) = page_start(n, folders, folder, 1000, rng) {
        q.push_str(&format!("&start-after={}", enc(&after)));
    }
    if let (Some(d), Some(f)) = (delimiter, folder) {
        q.push_str(&format!("&delimiter={}&prefix={}", enc(d), enc(&format!("bench/d{f:02}/"))));
    }
    let a = c.send("GET", &q, Bytes::new(), true, true).await?;
    if !a.status.is_success() {
        return Err(format!("LIST page: {}", a.status));
    }
    let body = String::from_utf8_lossy(&a.body);
    Ok(body.matches("<Key>").count() as u64 + body.matches("<CommonPrefixes>").count() as u64)
}

/// Random bytes to cut object bodies from: `size` plus 1 MiB, so that each object gets bytes
/// of its own (`body_of`). Incompressible and distinct, as most stored data is: a store that
/// compresses its records must not look faster here than it is.
fn payload_pool(size: u64) -> Bytes {
    let mut data = vec![0u8; size as usize + (1 << 20)];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut data);
    Bytes::from(data)
}

/// The body of the `i`th object: `size` bytes of `pool` from a place that depends on `i`.
fn body_of(pool: &Bytes, i: u64, size: usize) -> Bytes {
    let places = (pool.len() - size + 1) as u64;
    let at = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24) % places;
    pool.slice(at as usize..at as usize + size)
}

/// Writes keys `start..start + n` with `conc` writers, printing the rate of each window of
/// `every` objects on stderr.
async fn fill(c: &AdminClient, a: &BenchArgs, data: &Bytes) -> Result<(Histogram<u64>, u64), String> {
    let next = Arc::new(AtomicU64::new(a.start));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let end = a.start + a.objects;
    let folders = a.folders;
    let size = a.size as usize;
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (c, bucket, next, done, errors, data) =
            (c.clone(), a.bucket.clone(), next.clone(), done.clone(), errors.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<_, String>(hist);
                }
                let t0 = Instant::now();
                match put(&c, &bucket, &key(i, folders), body_of(&data, i, size)).await {
                    Ok(()) => {
                        hist.saturating_record(t0.elapsed().as_micros() as u64);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("bench: {e}");
                        }
                    }
                }
            }
        }));
    }
    if a.report_every > 0 {
        let (done, every, start) = (done.clone(), a.report_every, a.start);
        let mut window = (Instant::now(), 0u64);
        while tasks.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let d = done.load(Ordering::Relaxed);
            if d >= window.1 + every {
                let rate = (d - window.1) as f64 / window.0.elapsed().as_secs_f64();
                eprintln!("fill: {} objects in the bucket, {rate:.0} PUT/s over the last {}", start + d, d - window.1);
                window = (Instant::now(), d);
            }
        }
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    for t in tasks {
        hist.add(&t.await.map_err(|e| e.to_string())??).map_err(|e| e.to_string())?;
    }
    Ok((hist, errors.load(Ordering::Relaxed)))
}

/// Writes the run's `objects` keys (`size` bytes each, `conc` writers) before it starts:
/// a quiet fill that fails on the first PUT that did.
async fn populate(c: &AdminClient, a: &BenchArgs, data: &Bytes, size: u64, conc: usize) -> Result<(), String> {
    let quiet = BenchArgs { start: 0, size, concurrency: conc, report_every: 0, ..a.clone() };
    match fill(c, &quiet, data).await? {
        (_, 0) => Ok(()),
        (_, errors) => Err(format!("{errors} PUTs failed while writing the keys to read")),
    }
}

/// Hashes `size`-byte buffers with MD5 on one thread for the run's duration (or count).
fn md5_rate(a: &BenchArgs) -> Result<Report, String> {
    use md5::Digest;
    let data: Vec<u8> = (0..a.size.max(1)).map(|i| (i % 251) as u8).collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.duration);
    let mut n = 0u64;
    let mut sink = 0u8;
    while a.count.map_or(Instant::now() < deadline, |c| n < c) {
        let t0 = Instant::now();
        sink ^= md5::Md5::digest(&data)[0];
        let _ = hist.record((t0.elapsed().as_micros() as u64).max(1));
        n += 1;
    }
    std::hint::black_box(sink);
    let secs = start.elapsed().as_secs_f64();
    Ok(Report::of(Op::Md5, a.size, 1, &hist, 0, secs, n * data.len() as u64))
}

pub async fn run(c: &AdminClient, a: &BenchArgs) -> Result<Report, String> {
    if a.op == Op::Md5 {
        let a = a.clone();
        return tokio::task::spawn_blocking(move || md5_rate(&a)).await.map_err(|e| e.to_string())?;
    }
    let mk = c.send("PUT", &format!("/{}", a.bucket), Bytes::new(), true, true).await?;
    if !mk.status.is_success() && mk.status != http::StatusCode::CONFLICT {
        return Err(format!("cannot create bucket {}: {}", a.bucket, mk.status));
    }
    let data = payload_pool(a.size.max(a.part_size));
    if a.op == Op::Fill {
        let t0 = Instant::now();
        let (hist, errors) = fill(c, a, &data).await?;
        let secs = t0.elapsed().as_secs_f64();
        return Ok(Report::of(Op::Fill, a.size, a.concurrency, &hist, errors, secs, hist.len() * a.size));
    }
    match a.op {
        _ if a.no_fill => {}
        Op::Get | Op::Head | Op::Mixed => populate(c, a, &data, a.size, a.concurrency.max(8)).await?,
        Op::List | Op::ListPage => populate(c, a, &data, a.size.min(1024), 32).await?,
        _ => {}
    }
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let (c, a, issued, data) = (c.clone(), a.clone(), issued.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
            let (mut bytes, mut errors, mut listed) = (0u64, 0u64, 0u64);
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(w as u64);
            loop {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                match a.count {
                    Some(n) if i >= n => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let t0 = Instant::now();
                let res = match a.op {
                    Op::Put => put(&c, &a.bucket, &format!("bench/put-{w}-{i}"), body_of(&data, i, a.size as usize))
                        .await
                        .map(|()| a.size),
                    Op::Get => {
                        get(&c, &a.bucket, &key(rand::Rng::random_range(&mut rng, 0..a.objects), a.folders)).await
                    }
                    Op::Head => {
                        head(&c, &a.bucket, &key(rand::Rng::random_range(&mut rng, 0..a.objects), a.folders)).await
                    }
                    Op::Mixed if i % 4 == 0 => {
                        let k = key(rand::Rng::random_range(&mut rng, 0..a.objects), a.folders);
                        put(&c, &a.bucket, &k, body_of(&data, i, a.size as usize)).await.map(|()| a.size)
                    }
                    Op::Mixed => {
                        get(&c, &a.bucket, &key(rand::Rng::random_range(&mut rng, 0..a.objects), a.folders)).await
                    }
                    Op::List => list_all(&c, &a.bucket, a.prefix.as_deref(), a.delimiter.as_deref()).await.map(|n| {
                        listed += n;
                        0
                    }),
                    Op::Md5 | Op::Fill => Ok(0),
                    Op::ListPage => list_page(&c, &a, a.delimiter.as_deref(), &mut rng).await.map(|n| {
                        listed += n;
                        0
                    }),
                    Op::Multipart => multipart(&c, &a.bucket, &format!("bench/mp-{w}-{i}"), a.size, a.part_size, &data)
                        .await
                        .map(|()| a.size),
                };
                let us = t0.elapsed().as_micros() as u64;
                match res {
                    Ok(b) => {
                        bytes += b;
                        let _ = hist.record(us.max(1));
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("bench: {e}");
                        }
                    }
                }
            }
            Ok::<_, String>((hist, bytes, errors, listed))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let (mut bytes, mut errors, mut listed) = (0u64, 0u64, 0u64);
    for t in tasks {
        let (h, b, e, l) = t.await.map_err(|e| e.to_string())??;
        hist.add(&h).map_err(|e| e.to_string())?;
        bytes += b;
        errors += e;
        listed += l;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Report {
        keys_per_sec: matches!(a.op, Op::List | Op::ListPage).then(|| listed as f64 / secs),
        ..Report::of(a.op, a.size, a.concurrency, &hist, errors, secs, bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("lots").is_err());
    }

    /// A page starting after `page_start`'s key holds `page` keys of the bucket's (or the
    /// folder's) sorted order whenever there are that many.
    #[test]
    fn list_pages_start_where_a_full_page_follows() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        for (n, folders) in [(2_345u64, 100u64), (10_000, 10), (999, 7), (5_000, 1)] {
            let mut all: Vec<String> = (0..n).map(|i| key(i, folders)).collect();
            all.sort();
            for _ in 0..200 {
                let after = page_start(n, folders, None, 1000, &mut rng);
                let from = after.map_or(0, |k| all.binary_search(&k).unwrap() + 1);
                assert!(all.len() - from >= 1000.min(all.len()), "n={n} folders={folders} from={from}");
                let f = rand::Rng::random_range(&mut rng, 0..folders);
                let prefix = format!("bench/d{f:02}/");
                let inside: Vec<&String> = all.iter().filter(|k| k.starts_with(&prefix)).collect();
                let after = page_start(n, folders, Some(f), 1000, &mut rng);
                let from = after.map_or(0, |k| inside.iter().position(|x| **x == k).unwrap() + 1);
                assert!(inside.len() - from >= 1000.min(inside.len()), "n={n} f={f} from={from}");
            }
        }
    }
}
