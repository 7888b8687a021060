//! The shadow queue: keys whose shadow track may lag their primary.
//!
//! A DualTrack write first records a durable marker for its key (`q/<bucket>/<key>` in the
//! KV), then writes the primary, then either copies the key to the shadow at once (level
//! `strong`, or when the queue is full or its oldest entry is older than the window) or
//! queues the key for a background worker (level `eventual`). The marker is removed only
//! after the shadow holds what the primary holds, so a crash loses no shadow write: markers
//! are reloaded at start-up and their keys synced again. While a key is pending, reads of
//! it go to the primary and listings that cover it sync it first.
//!
//! Every change of a key's pending state happens under that key's DualTrack lock. This
//! module must never read or write object metadata itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::Result;
use crate::kv::{Kv, WriteBatch};
use crate::schema;

#[derive(Debug)]
struct Pending {
    since: Instant,
    queued: bool,
    /// A marker for it is in the KV.
    durable: bool,
}

#[derive(Default)]
struct Inner {
    pending: BTreeMap<(String, String), Pending>,
    queue: VecDeque<(String, String)>,
}

/// Counters of the shadow queue (exported by the server's metrics).
#[derive(Debug, Default)]
pub struct ShadowCounters {
    /// Keys copied to the shadow track.
    pub synced: AtomicU64,
    /// Copies made by the writer itself because the queue was full or past its window.
    pub inline: AtomicU64,
    /// Copies that failed (the key stays pending and is retried).
    pub failed: AtomicU64,
    /// Lag of the last key synced by a worker, in milliseconds.
    pub last_lag_ms: AtomicU64,
}

pub struct ShadowQueue {
    kv: Arc<dyn Kv>,
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
    window: Duration,
    pub counters: ShadowCounters,
}

impl ShadowQueue {
    pub fn new(kv: Arc<dyn Kv>, capacity: usize, window: Duration) -> Self {
        Self {
            kv,
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
            window,
            counters: ShadowCounters::default(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Durably marks `bucket/key` as possibly lagging in its shadow, before the primary write.
    pub async fn mark(&self, bucket: &str, key: &str) -> Result<()> {
        let id = (bucket.to_string(), key.to_string());
        if self.inner().pending.get(&id).is_some_and(|p| p.durable) {
            // Already marked by an earlier write that is not synced yet.
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.put(schema::pending_key(bucket, key), schema::encode(&crate::clock::now_ns()));
        self.kv.write(batch).await?;
        let mut g = self.inner();
        let p = g.pending.entry(id).or_insert(Pending { since: Instant::now(), queued: false, durable: true });
        p.durable = true;
        Ok(())
    }

    /// Hands a marked key to the workers. Returns `false` when the caller must copy it
    /// itself: the queue is full or its oldest entry is older than the window.
    pub fn enqueue(&self, bucket: &str, key: &str) -> bool {
        let mut g = self.inner();
        let id = (bucket.to_string(), key.to_string());
        let oldest_ok = g.queue.front().and_then(|f| g.pending.get(f)).is_none_or(|p| p.since.elapsed() <= self.window);
        let Some(p) = g.pending.get_mut(&id) else { return true };
        if p.queued {
            return true;
        }
        if g.queue.len() >= self.capacity || !oldest_ok {
            return false;
        }
        if let Some(p) = g.pending.get_mut(&id) {
            p.queued = true;
        }
        g.queue.push_back(id);
        drop(g);
        self.notify.notify_one();
        true
    }

    /// Queues a key for a background copy without a marker (a lazy read found the KV
    /// behind; losing this in a crash loses nothing). Returns whether it was queued.
    pub fn enqueue_copy(&self, bucket: &str, key: &str) -> bool {
        let mut g = self.inner();
        let id = (bucket.to_string(), key.to_string());
        if g.pending.contains_key(&id) || g.queue.len() >= self.capacity {
            return false;
        }
        g.pending.insert(id.clone(), Pending { since: Instant::now(), queued: true, durable: false });
        g.queue.push_back(id);
        drop(g);
        self.notify.notify_one();
        true
    }

    /// The key's shadow now holds what its primary holds: forget it and drop its marker.
    pub async fn done(&self, bucket: &str, key: &str) -> Result<()> {
        let id = (bucket.to_string(), key.to_string());
        let (since, durable) = self.inner().pending.get(&id).map_or((None, true), |p| (Some(p.since), p.durable));
        if durable {
            let mut batch = WriteBatch::new();
            batch.delete(schema::pending_key(bucket, key));
            self.kv.write(batch).await?;
        }
        let mut g = self.inner();
        g.pending.remove(&id);
        drop(g);
        if let Some(s) = since {
            self.counters.last_lag_ms.store(s.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        self.counters.synced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Puts a key whose copy failed back at the end of the queue.
    pub fn retry(&self, bucket: &str, key: &str) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let mut g = self.inner();
        let id = (bucket.to_string(), key.to_string());
        if let Some(p) = g.pending.get_mut(&id) {
            p.queued = true;
            g.queue.push_back(id);
        }
    }

    /// The next queued key for a worker, waiting for one.
    pub async fn next(&self) -> (String, String) {
        loop {
            let notified = self.notify.notified();
            if let Some(id) = self.pop() {
                return id;
            }
            notified.await;
        }
    }

    fn pop(&self) -> Option<(String, String)> {
        let mut g = self.inner();
        while let Some(id) = g.queue.pop_front() {
            if let Some(p) = g.pending.get_mut(&id)
                && p.queued
            {
                p.queued = false;
                return Some(id);
            }
        }
        None
    }

    pub fn is_pending(&self, bucket: &str, key: &str) -> bool {
        self.inner().pending.contains_key(&(bucket.to_string(), key.to_string()))
    }

    /// Pending keys of `bucket` starting with `prefix`.
    pub fn pending_under(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let g = self.inner();
        let start = (bucket.to_string(), prefix.to_string());
        g.pending
            .range(start..)
            .take_while(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), _)| k.clone())
            .collect()
    }

    /// Every pending key.
    pub fn all_pending(&self) -> Vec<(String, String)> {
        self.inner().pending.keys().cloned().collect()
    }

    pub fn depth(&self) -> usize {
        self.inner().pending.len()
    }

    /// Age of the oldest pending key.
    pub fn oldest(&self) -> Duration {
        self.inner().pending.values().map(|p| p.since.elapsed()).max().unwrap_or_default()
    }

    /// Forgets every pending key (the markers stay in the KV): a node that stops
    /// coordinating a cluster's migration hands its queue to the next one, which loads it.
    pub fn reset(&self) {
        let mut g = self.inner();
        g.pending.clear();
        g.queue.clear();
    }

    /// Reloads the markers a previous run left (its shadow copies may not have happened).
    pub async fn load(&self) -> Result<usize> {
        let Some(end) = schema::prefix_end(schema::PENDING) else { return Ok(0) };
        let mut pos = schema::PENDING.to_vec();
        let mut n = 0;
        loop {
            let chunk = self.kv.scan(&pos, &end, 1000).await?;
            let Some((last, _)) = chunk.last() else { break };
            pos = last.clone();
            pos.push(0);
            let full = chunk.len() == 1000;
            let mut g = self.inner();
            for (k, _) in &chunk {
                if let Some(id) = schema::parse_pending_key(k) {
                    g.pending.insert(id.clone(), Pending { since: Instant::now(), queued: true, durable: true });
                    g.queue.push_back(id);
                    n += 1;
                }
            }
            drop(g);
            if !full {
                break;
            }
        }
        self.notify.notify_waiters();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn markers_survive_a_restart_and_the_queue_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> = Arc::new(crate::LocalKv::open(dir.path()).unwrap());
        let q = ShadowQueue::new(kv.clone(), 2, Duration::from_secs(60));
        for k in ["a", "b", "c"] {
            q.mark("bkt", k).await.unwrap();
        }
        assert!(q.enqueue("bkt", "a") && q.enqueue("bkt", "b"));
        assert!(!q.enqueue("bkt", "c"), "a full queue hands the copy back to the writer");
        assert_eq!(q.pending_under("bkt", "b"), vec!["b".to_string()]);
        assert_eq!(q.next().await, ("bkt".to_string(), "a".to_string()));
        q.done("bkt", "a").await.unwrap();
        assert!(!q.is_pending("bkt", "a") && q.is_pending("bkt", "c"));

        // A new queue over the same KV (a restart) finds the two markers left.
        let q2 = ShadowQueue::new(kv, 10, Duration::from_secs(60));
        assert_eq!(q2.load().await.unwrap(), 2);
        let mut got = vec![q2.next().await, q2.next().await];
        got.sort();
        assert_eq!(got, vec![("bkt".into(), "b".into()), ("bkt".into(), "c".into())]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_older_than_the_window_makes_writers_copy_inline() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> = Arc::new(crate::LocalKv::open(dir.path()).unwrap());
        let q = ShadowQueue::new(kv, 100, Duration::from_millis(20));
        q.mark("b", "old").await.unwrap();
        assert!(q.enqueue("b", "old"));
        tokio::time::sleep(Duration::from_millis(40)).await;
        q.mark("b", "new").await.unwrap();
        assert!(!q.enqueue("b", "new"));
        assert!(q.oldest() >= Duration::from_millis(40));
    }
}
