//! `HotCache`: a `LocalKv`'s in-memory copy of the keys of a few families that nearly every
//! request reads and almost nothing writes (`schema::HOT_FAMILIES`: the bucket records), so
//! that reading them skips the LSM tree's memtables, level-0 tables and levels. At ten
//! million objects a point lookup probes every level; a GET of a small object read the bucket
//! and its settings that way before it read the object.
//!
//! Coherence with the tree: a write that changes a hot key holds a `WriteGuard` from before
//! its transaction starts until after it committed and is visible (`LocalKv` runs such a
//! commit on a task of its own, so a caller that gives up cannot drop the guard before that).
//! While any guard is held, nothing is cached (every read goes to the tree), and every
//! guard's start and end empty the cache and move its generation, so a value read from the
//! tree before or during a write is never put in the cache after it (a reader caches only
//! when the generation it saw before reading is still current and no write is in flight).
//! Hence once a write returned, no read that starts later returns what it replaced, and a
//! read never returns a value the tree never held.
//!
//! Bounded: at most `MAX_ENTRIES` keys (absent keys included, as `None`); a full cache is
//! emptied before it takes another. This module must never hand out a value without this
//! protocol, nor do I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Keys kept at most (a bucket and its settings are two).
pub const MAX_ENTRIES: usize = 4096;

/// What the cache knows of a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The key's value (`None`: the key is absent).
    Hit(Option<Vec<u8>>),
    /// Not cached: read the tree, then offer the value to `fill` with this ticket.
    Miss(Ticket),
    /// Not a key of a hot family.
    NotHot,
}

/// The cache's generation when a miss was reported.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Default)]
struct Inner {
    map: HashMap<Vec<u8>, Option<Vec<u8>>>,
    generation: u64,
    writes_in_flight: u64,
}

impl Inner {
    fn invalidate(&mut self) {
        self.map.clear();
        self.generation += 1;
    }
}

pub struct HotCache {
    families: &'static [&'static [u8]],
    inner: Arc<Mutex<Inner>>,
}

/// Held by a write that changes a hot key, from before it starts until it is visible.
pub struct WriteGuard {
    inner: Arc<Mutex<Inner>>,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut g = lock(&self.inner);
        g.invalidate();
        g.writes_in_flight -= 1;
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // The map is plain data: a panic elsewhere cannot leave it inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HotCache {
    pub fn new(families: &'static [&'static [u8]]) -> Self {
        Self { families, inner: Arc::new(Mutex::new(Inner::default())) }
    }

    fn is_hot(&self, key: &[u8]) -> bool {
        self.families.iter().any(|f| key.starts_with(f))
    }

    pub fn get(&self, key: &[u8]) -> Lookup {
        if !self.is_hot(key) {
            return Lookup::NotHot;
        }
        let g = lock(&self.inner);
        match g.map.get(key) {
            Some(v) => Lookup::Hit(v.clone()),
            None => Lookup::Miss(Ticket(g.generation)),
        }
    }

    /// Offers what the tree held for `key` after a miss: kept only if no write to a hot key
    /// started since the miss and none is in flight.
    pub fn fill(&self, key: &[u8], ticket: Ticket, value: Option<&[u8]>) {
        let mut g = lock(&self.inner);
        if g.generation != ticket.0 || g.writes_in_flight > 0 {
            return;
        }
        if g.map.len() >= MAX_ENTRIES {
            g.map.clear();
        }
        g.map.insert(key.to_vec(), value.map(<[u8]>::to_vec));
    }

    /// A guard for a write of `keys` (hold it across the write), if any of them is hot.
    pub fn begin_write<'a>(&self, mut keys: impl Iterator<Item = &'a [u8]>) -> Option<WriteGuard> {
        if !keys.any(|k| self.is_hot(k)) {
            return None;
        }
        let mut g = lock(&self.inner);
        g.writes_in_flight += 1;
        g.invalidate();
        Some(WriteGuard { inner: self.inner.clone() })
    }

    /// Keys cached now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.inner).map.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: &[&[u8]] = &[b"b/", b"c/"];

    fn miss(c: &HotCache, key: &[u8]) -> Ticket {
        match c.get(key) {
            Lookup::Miss(t) => t,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn only_hot_families_are_cached() {
        let c = HotCache::new(FAMILIES);
        assert_eq!(c.get(b"l/bucket/key"), Lookup::NotHot);
        let t = miss(&c, b"b/bucket");
        c.fill(b"b/bucket", t, Some(b"v1"));
        assert_eq!(c.get(b"b/bucket"), Lookup::Hit(Some(b"v1".to_vec())));
        let t = miss(&c, b"c/bucket");
        c.fill(b"c/bucket", t, None);
        assert_eq!(c.get(b"c/bucket"), Lookup::Hit(None));
        assert!(c.begin_write([b"v/bucket/k".as_slice()].into_iter()).is_none());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_value_read_before_a_write_is_never_cached_after_it() {
        let c = HotCache::new(FAMILIES);
        // Read before the write started, offered after it ended: dropped.
        let t = miss(&c, b"b/x");
        drop(c.begin_write([b"b/x".as_slice()].into_iter()));
        c.fill(b"b/x", t, Some(b"old"));
        assert!(matches!(c.get(b"b/x"), Lookup::Miss(_)));
        // Read while a write is in flight (its generation is current): dropped too.
        let w = c.begin_write([b"b/y".as_slice()].into_iter());
        let t = miss(&c, b"b/x");
        c.fill(b"b/x", t, Some(b"maybe-old"));
        assert!(c.is_empty());
        // Read while it was in flight, offered after it ended (the read may have come before
        // the write was visible): dropped.
        let t = miss(&c, b"b/x");
        drop(w);
        c.fill(b"b/x", t, Some(b"maybe-old"));
        assert!(c.is_empty());
        // A write empties what was cached.
        let t = miss(&c, b"b/x");
        c.fill(b"b/x", t, Some(b"new"));
        assert_eq!(c.len(), 1);
        drop(c.begin_write([b"c/z".as_slice()].into_iter()));
        assert!(c.is_empty());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = HotCache::new(FAMILIES);
        for i in 0..MAX_ENTRIES + 10 {
            let k = format!("b/bucket-{i}");
            let t = miss(&c, k.as_bytes());
            c.fill(k.as_bytes(), t, None);
            assert!(c.len() <= MAX_ENTRIES);
        }
    }
}
