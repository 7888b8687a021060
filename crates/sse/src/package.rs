//! The package format of encrypted object data (format version 1), streamed both ways.
//!
//! Each part of an object (a single PUT is part 1) is encrypted on its own, under a key
//! derived from the object's key: `part key = HMAC-SHA256(object key, "rustfs-sse-part" ||
//! part number as u32 BE)`. Its plaintext is cut into packages of [`PACKAGE`] bytes (the
//! last one shorter, an empty part has none); package `i` is stored as
//! `AES-256-GCM(part key, nonce = 0u32 || i as u64 BE, aad = [1, final])` followed by its
//! 16-byte tag, `final` being 1 for the part's last package and 0 otherwise, so packages
//! can neither be reordered nor dropped from the end. A range is read by decrypting only
//! the packages it touches. Bitrot checks and erasure coding apply to the ciphertext.
//!
//! This module is pure computation over streams: it never does I/O and never logs keys.

use std::pin::Pin;
use std::task::{Context, Poll};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use hmac::{Hmac, Mac};

/// Plaintext bytes per package.
pub const PACKAGE: usize = 64 * 1024;
/// The GCM tag after each package.
pub const TAG: usize = 16;
const VERSION: u8 = 1;

/// The ciphertext size of `plain` bytes of one part.
pub fn cipher_len(plain: u64) -> u64 {
    plain + TAG as u64 * plain.div_ceil(PACKAGE as u64)
}

/// The plaintext size of a part stored as `cipher` bytes (`None`: not a valid size).
pub fn plain_len(cipher: u64) -> Option<u64> {
    let packages = cipher.div_ceil((PACKAGE + TAG) as u64);
    let plain = cipher.checked_sub(TAG as u64 * packages)?;
    (cipher_len(plain) == cipher).then_some(plain)
}

/// The key of part `number` of an object whose key is `object_key`.
pub fn part_key(object_key: &[u8; 32], number: u32) -> [u8; 32] {
    let mut mac =
        <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(object_key).unwrap_or_else(|_| unreachable_key());
    mac.update(b"rustfs-sse-part");
    mac.update(&number.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// HMAC accepts keys of any length: this is never called.
fn unreachable_key() -> Hmac<sha2::Sha256> {
    <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new(&Default::default())
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn nonce(index: u64) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::from(n)
}

fn seal(c: &Aes256Gcm, index: u64, last: bool, plain: &[u8]) -> Bytes {
    let aad = [VERSION, u8::from(last)];
    // Encrypting a package (far below GCM's message limit) cannot fail.
    Bytes::from(c.encrypt(&nonce(index), Payload { msg: plain, aad: &aad }).unwrap_or_default())
}

fn open(c: &Aes256Gcm, index: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let aad = [VERSION, u8::from(last)];
    c.decrypt(&nonce(index), Payload { msg: sealed, aad: &aad })
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "encrypted package failed authentication"))
}

/// Encrypts a plaintext stream into packages (see the module documentation), holding at
/// most one package and one input chunk in memory.
pub struct Encrypt<S> {
    inner: S,
    cipher: Aes256Gcm,
    buf: BytesMut,
    index: u64,
    ended: bool,
    /// Plaintext bytes taken in.
    pub plain: u64,
}

impl<S> Encrypt<S> {
    pub fn new(inner: S, part_key: &[u8; 32]) -> Self {
        Self { inner, cipher: cipher(part_key), buf: BytesMut::new(), index: 0, ended: false, plain: 0 }
    }
}

impl<S, E> Stream for Encrypt<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            // A full package is sealed once more bytes follow it (so the final one is known).
            if this.buf.len() > PACKAGE {
                let p = this.buf.split_to(PACKAGE);
                let out = seal(&this.cipher, this.index, false, &p);
                this.index += 1;
                return Poll::Ready(Some(Ok(out)));
            }
            if this.ended {
                if this.buf.is_empty() {
                    return Poll::Ready(None);
                }
                let p = this.buf.split();
                let out = seal(&this.cipher, this.index, true, &p);
                this.index += 1;
                return Poll::Ready(Some(Ok(out)));
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    this.plain += b.len() as u64;
                    this.buf.extend_from_slice(&b);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// What to read of one part for a plaintext range of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRange {
    /// The ciphertext range of the part to read (whole packages).
    pub cipher: std::ops::Range<u64>,
    /// The index of the first package read.
    pub first_package: u64,
    /// The index of the part's final package.
    pub last_package: u64,
    /// Plaintext bytes to drop from the first package, then bytes to yield.
    pub skip: u64,
    pub take: u64,
}

/// The packages covering `range` of a part of `plain_len` plaintext bytes.
pub fn part_range(range: std::ops::Range<u64>, plain_len: u64) -> PartRange {
    let p = PACKAGE as u64;
    let ct = (PACKAGE + TAG) as u64;
    let first = range.start / p;
    let end_pkg = range.end.div_ceil(p);
    let last_package = plain_len.div_ceil(p).saturating_sub(1);
    PartRange {
        cipher: first * ct..(end_pkg * ct).min(cipher_len(plain_len)),
        first_package: first,
        last_package,
        skip: range.start - first * p,
        take: range.end.saturating_sub(range.start),
    }
}

/// Decrypts the ciphertext of whole packages (starting at `r.first_package`) and yields the
/// plaintext bytes `r` selects. A package that fails authentication ends the stream with an
/// error: never other bytes.
pub struct Decrypt<S> {
    inner: S,
    cipher: Aes256Gcm,
    buf: BytesMut,
    index: u64,
    last: u64,
    skip: u64,
    remaining: u64,
    ended: bool,
}

impl<S> Decrypt<S> {
    pub fn new(inner: S, part_key: &[u8; 32], r: &PartRange) -> Self {
        Self {
            inner,
            cipher: cipher(part_key),
            buf: BytesMut::new(),
            index: r.first_package,
            last: r.last_package,
            skip: r.skip,
            remaining: r.take,
            ended: false,
        }
    }

    fn emit(&mut self, sealed: &[u8]) -> Result<Option<Bytes>, std::io::Error> {
        let mut plain = Bytes::from(open(&self.cipher, self.index, self.index == self.last, sealed)?);
        self.index += 1;
        let skip = self.skip.min(plain.len() as u64) as usize;
        self.skip -= skip as u64;
        let _ = plain.split_to(skip);
        plain.truncate(self.remaining.min(plain.len() as u64) as usize);
        self.remaining -= plain.len() as u64;
        Ok((!plain.is_empty()).then_some(plain))
    }
}

impl<S, E> Stream for Decrypt<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.remaining == 0 {
                return Poll::Ready(None);
            }
            if this.buf.len() >= PACKAGE + TAG || (this.ended && !this.buf.is_empty()) {
                let n = this.buf.len().min(PACKAGE + TAG);
                let sealed = this.buf.split_to(n);
                match this.emit(&sealed) {
                    Ok(Some(b)) => return Poll::Ready(Some(Ok(b))),
                    Ok(None) => continue,
                    Err(e) => {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if this.ended {
                this.remaining = 0;
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "encrypted data ended early",
                ))));
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => this.buf.extend_from_slice(&b),
                Poll::Ready(Some(Err(e))) => {
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    type R = Result<Bytes, std::io::Error>;

    fn chunks(data: &[u8], size: usize) -> futures::stream::Iter<std::vec::IntoIter<R>> {
        let v: Vec<R> = data.chunks(size.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(v)
    }

    async fn collect<S: Stream<Item = R> + Unpin>(s: S) -> Result<Vec<u8>, std::io::Error> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn sizes() {
        for n in [0, 1, PACKAGE as u64 - 1, PACKAGE as u64, PACKAGE as u64 + 1, 10 * PACKAGE as u64, 5 << 20] {
            assert_eq!(plain_len(cipher_len(n)), Some(n), "{n}");
        }
        assert_eq!(cipher_len(0), 0);
        assert_eq!(cipher_len(1), 17);
        assert_eq!(plain_len(5), None, "shorter than a tag");
    }

    #[tokio::test]
    async fn every_range_round_trips() {
        let key = part_key(&[7; 32], 1);
        for n in [0usize, 1, 1000, PACKAGE, PACKAGE + 1, 3 * PACKAGE + 123] {
            let plain = data(n);
            let ct = collect(Encrypt::new(chunks(&plain, 10_000), &key)).await.unwrap_or_default();
            assert_eq!(ct.len() as u64, cipher_len(n as u64));
            if n > 0 {
                assert!(!ct.windows(64.min(n)).any(|w| w == &plain[..64.min(n)]), "no plaintext in the ciphertext");
            }
            let edges = [0, 1, PACKAGE - 1, PACKAGE, PACKAGE + 1, 2 * PACKAGE + 5, n.saturating_sub(1), n];
            for &a in &edges {
                for &b in &edges {
                    if a > b || b > n || (a == b && n > 0) {
                        continue;
                    }
                    let r = part_range(a as u64..b as u64, n as u64);
                    let slice = ct[r.cipher.start as usize..r.cipher.end as usize].to_vec();
                    let got = collect(Decrypt::new(chunks(&slice, 4096), &key, &r)).await;
                    assert_eq!(got.ok(), Some(plain[a..b].to_vec()), "n={n} range {a}..{b}");
                }
            }
        }
    }

    #[tokio::test]
    async fn tampering_is_an_error_never_other_bytes() {
        let key = part_key(&[1; 32], 1);
        let plain = data(2 * PACKAGE + 10);
        let ct = collect(Encrypt::new(chunks(&plain, 5000), &key)).await.unwrap_or_default();
        let all = part_range(0..plain.len() as u64, plain.len() as u64);
        // A flipped bit.
        let mut bad = ct.clone();
        bad[PACKAGE + TAG + 3] ^= 1;
        assert!(collect(Decrypt::new(chunks(&bad, 4096), &key, &all)).await.is_err());
        // The final package dropped (a truncation at a package boundary).
        let cut = ct[..2 * (PACKAGE + TAG)].to_vec();
        let short = part_range(0..2 * PACKAGE as u64, plain.len() as u64);
        let whole = PartRange { cipher: 0..cut.len() as u64, ..short.clone() };
        assert!(collect(Decrypt::new(chunks(&cut, 4096), &key, &all)).await.is_err());
        // Reading those packages as a range is fine (they are not the final one).
        assert_eq!(
            collect(Decrypt::new(chunks(&cut, 4096), &key, &whole)).await.ok(),
            Some(plain[..2 * PACKAGE].to_vec())
        );
        // Packages swapped.
        let mut swapped = ct[PACKAGE + TAG..2 * (PACKAGE + TAG)].to_vec();
        swapped.extend_from_slice(&ct[..PACKAGE + TAG]);
        let two = part_range(0..2 * PACKAGE as u64, plain.len() as u64);
        assert!(collect(Decrypt::new(chunks(&swapped, 4096), &key, &two)).await.is_err());
        // Another part's key.
        assert!(collect(Decrypt::new(chunks(&ct, 4096), &part_key(&[1; 32], 2), &all)).await.is_err());
    }
}
