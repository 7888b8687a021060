//! `LocalKv` as the state machine of a replicated `Kv`: a committed log entry is applied in
//! one transaction together with the applied index (`r/applied`), whether its conditions
//! held or not, so a restart neither loses nor re-applies an entry. Applying does not sync:
//! the replicated log is the durable record, replayed from the applied index after a
//! crash; `flush` makes the applied state durable before the log below it is dropped.
//!
//! This module must never apply an entry out of order, nor let a batch write `r/` keys.

use surrealkv::{Durability, Mode};

use crate::error::{MetaError, Result};
use crate::kv::{Condition, Op, WriteBatch, WriteOutcome};
use crate::local_kv::LocalKv;
use crate::schema::REPLICATION;

/// The applied index: `u64` big endian.
pub const APPLIED_KEY: &[u8] = b"r/applied";
/// The point of the last snapshot installed (the replication crate's encoding, opaque here).
pub const SNAPSHOT_KEY: &[u8] = b"r/snapshot";

/// Key-value pairs of one snapshot page.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A frozen view of the whole store (everything but the replication family), read page by
/// page to stream a snapshot; it pins the store's state at the moment it was taken.
pub struct SnapshotView {
    tx: surrealkv::Transaction,
}

impl SnapshotView {
    /// Keys after `after` (all from the start when `None`), in order, up to about
    /// `max_bytes` of keys and values (at least one pair); `true` when nothing follows.
    pub fn page(&self, after: Option<&[u8]>, max_bytes: usize) -> Result<(Pairs, bool)> {
        use surrealkv::LSMIterator;
        let mut opts = surrealkv::ReadOptions::new();
        opts.set_iterate_lower_bound(after.map(|a| [a, &[0u8]].concat()));
        let mut it = self.tx.range_with_options(&opts).map_err(kv_err)?;
        let mut out = Vec::new();
        let mut size = 0;
        let mut valid = it.seek_first().map_err(kv_err)?;
        while valid {
            let k = it.key().user_key().to_vec();
            if !k.starts_with(REPLICATION) {
                if size >= max_bytes && !out.is_empty() {
                    return Ok((out, false));
                }
                let v = it.value().map_err(kv_err)?;
                size += k.len() + v.len();
                out.push((k, v));
            }
            valid = it.next().map_err(kv_err)?;
        }
        Ok((out, true))
    }
}

fn kv_err(e: impl std::fmt::Display) -> MetaError {
    MetaError::Kv(e.to_string())
}

/// Whether a batch writes or requires a key of the replication family (never allowed from
/// outside: that state belongs to the log).
pub fn touches_replication_state(b: &WriteBatch) -> bool {
    b.ops.iter().any(|o| match o {
        Op::Put(k, _) | Op::Delete(k) => k.starts_with(REPLICATION),
    }) || b.conditions.iter().any(|Condition::Equals(k, _)| k.starts_with(REPLICATION))
}

impl LocalKv {
    /// The index of the last entry applied (0 for a fresh store).
    pub async fn applied_index(&self) -> Result<u64> {
        let tx = self.tree().begin_with_mode(Mode::ReadOnly).map_err(kv_err)?;
        match tx.get_async(APPLIED_KEY).await.map_err(kv_err)? {
            None => Ok(0),
            Some(v) => {
                let b: [u8; 8] = v.as_slice().try_into().map_err(|_| MetaError::Corrupt {
                    key: "r/applied".into(),
                    reason: format!("{} bytes", v.len()),
                })?;
                Ok(u64::from_be_bytes(b))
            }
        }
    }

    /// Applies the entry at `index` (`None`: an entry without a batch, which only moves the
    /// applied index). The outcome is the batch's: applied, or a condition did not hold.
    pub async fn apply_entry(&self, index: u64, batch: Option<&WriteBatch>) -> Result<WriteOutcome> {
        let outcomes = self.apply_entries(&[(index, batch)]).await?;
        Ok(outcomes.first().copied().unwrap_or(WriteOutcome::Applied))
    }

    /// A view of the store as it is now, for streaming a snapshot of it.
    pub fn view(&self) -> Result<SnapshotView> {
        Ok(SnapshotView { tx: self.tree().begin_with_mode(Mode::ReadOnly).map_err(kv_err)? })
    }

    /// Writes one page of a snapshot being installed into this (fresh) store.
    pub async fn load_pairs(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let _hot = self.hot_write(pairs.iter().map(|(k, _)| k.as_slice()));
        let mut tx = self.tree().begin_with_mode(Mode::WriteOnly).map_err(kv_err)?;
        tx.set_durability(Durability::Eventual);
        for (k, v) in pairs {
            if !k.starts_with(REPLICATION) {
                tx.set(k.as_slice(), v.as_slice()).map_err(kv_err)?;
            }
        }
        tx.commit().await.map_err(kv_err)
    }

    /// Ends a snapshot install: the applied index and the snapshot's point, then a sync.
    pub async fn finish_install(&self, index: u64, point: &[u8]) -> Result<()> {
        let mut tx = self.tree().begin_with_mode(Mode::WriteOnly).map_err(kv_err)?;
        tx.set_durability(Durability::Eventual);
        tx.set(APPLIED_KEY, index.to_be_bytes().as_slice()).map_err(kv_err)?;
        tx.set(SNAPSHOT_KEY, point).map_err(kv_err)?;
        tx.commit().await.map_err(kv_err)?;
        self.flush()
    }

    /// The point of the last snapshot installed, if any.
    pub async fn snapshot_point(&self) -> Result<Option<Vec<u8>>> {
        let tx = self.tree().begin_with_mode(Mode::ReadOnly).map_err(kv_err)?;
        tx.get_async(SNAPSHOT_KEY).await.map_err(kv_err)
    }

    /// Marks a store that already holds data (a single node becoming the first member of a
    /// group) as applied up to `index`, durably.
    pub async fn adopt(&self, index: u64, point: &[u8]) -> Result<()> {
        self.finish_install(index, point).await
    }

    /// Applies consecutive entries in one transaction (each sees the writes of those before
    /// it; a batch whose condition fails writes nothing), the applied index set to the last.
    /// The outcomes are in the entries' order.
    pub async fn apply_entries(&self, entries: &[(u64, Option<&WriteBatch>)]) -> Result<Vec<WriteOutcome>> {
        let Some(&(last, _)) = entries.last() else { return Ok(Vec::new()) };
        let _hot = self.hot_write(entries.iter().filter_map(|(_, b)| *b).flat_map(|b| b.ops.iter().map(Op::key)));
        let mut tx = self.tree().begin_with_mode(Mode::ReadWrite).map_err(kv_err)?;
        tx.set_durability(Durability::Eventual);
        let mut outcomes = Vec::with_capacity(entries.len());
        for (_, batch) in entries {
            let mut outcome = WriteOutcome::Applied;
            if let Some(b) = batch {
                if touches_replication_state(b) {
                    outcome = WriteOutcome::ConditionFailed;
                }
                for Condition::Equals(key, expected) in &b.conditions {
                    if outcome != WriteOutcome::Applied {
                        break;
                    }
                    let current = tx.get(key.as_slice()).map_err(kv_err)?;
                    if current.as_deref() != expected.as_deref() {
                        outcome = WriteOutcome::ConditionFailed;
                    }
                }
                if outcome == WriteOutcome::Applied {
                    for op in &b.ops {
                        match op {
                            Op::Put(k, v) => tx.set(k.as_slice(), v.as_slice()).map_err(kv_err)?,
                            Op::Delete(k) => tx.delete(k.as_slice()).map_err(kv_err)?,
                        }
                    }
                }
            }
            outcomes.push(outcome);
        }
        tx.set(APPLIED_KEY, last.to_be_bytes().as_slice()).map_err(kv_err)?;
        tx.commit().await.map_err(kv_err)?;
        Ok(outcomes)
    }

    /// Makes everything applied so far durable (one WAL fsync).
    pub fn flush(&self) -> Result<()> {
        self.tree().flush_wal(true).map_err(kv_err)
    }

    /// Whether the store holds any key outside the replication family (data a fresh group
    /// must not be started over).
    pub async fn holds_data(&self) -> Result<bool> {
        use crate::kv::Kv;
        let below = self.scan(&[], REPLICATION, 1).await?;
        let above = self.scan(b"r0", &[0xff; 8], 1).await?;
        Ok(!below.is_empty() || !above.is_empty())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::kv::Kv;

    /// Entries applied together see each other's writes, as one by one.
    #[tokio::test]
    async fn entries_applied_together_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let kv = LocalKv::open(dir.path()).unwrap();
        let mut first = WriteBatch::new();
        first.require(b"k".to_vec(), None).put(b"k".to_vec(), b"1".to_vec());
        let mut again = WriteBatch::new();
        again.require(b"k".to_vec(), None).put(b"k".to_vec(), b"2".to_vec());
        let mut next = WriteBatch::new();
        next.require(b"k".to_vec(), Some(b"1".to_vec())).put(b"k".to_vec(), b"3".to_vec()).delete(b"gone".to_vec());
        let got = kv.apply_entries(&[(5, Some(&first)), (6, Some(&again)), (7, None), (8, Some(&next))]).await.unwrap();
        use WriteOutcome::*;
        assert_eq!(got, [Applied, ConditionFailed, Applied, Applied]);
        assert_eq!(kv.get(b"k").await.unwrap(), Some(b"3".to_vec()));
        assert_eq!(kv.applied_index().await.unwrap(), 8);
    }

    #[tokio::test]
    async fn a_view_streams_a_frozen_store_into_another() {
        let a = tempfile::tempdir().unwrap();
        let src = LocalKv::open(a.path()).unwrap();
        for i in 0..50u32 {
            let mut b = WriteBatch::new();
            b.put(format!("k/{i:03}").into_bytes(), vec![i as u8; 100]);
            src.apply_entry(u64::from(i) + 1, Some(&b)).await.unwrap();
        }
        let view = src.view().unwrap();
        // Later writes are not in the view.
        let mut b = WriteBatch::new();
        b.put(b"k/late".to_vec(), b"x".to_vec()).delete(b"k/000".to_vec());
        src.apply_entry(51, Some(&b)).await.unwrap();
        let d = tempfile::tempdir().unwrap();
        let dst = LocalKv::open(d.path()).unwrap();
        let mut after: Option<Vec<u8>> = None;
        let mut pages = 0;
        loop {
            let (pairs, done) = view.page(after.as_deref(), 1000).unwrap();
            assert!(pairs.iter().all(|(k, _)| !k.starts_with(REPLICATION)));
            dst.load_pairs(&pairs).await.unwrap();
            pages += 1;
            after = pairs.last().map(|p| p.0.clone());
            if done {
                break;
            }
        }
        assert!(pages > 3, "paged ({pages})");
        dst.finish_install(50, b"point").await.unwrap();
        assert_eq!(dst.applied_index().await.unwrap(), 50);
        assert_eq!(dst.snapshot_point().await.unwrap(), Some(b"point".to_vec()));
        let got = dst.scan(b"k/", b"k0", 1000).await.unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(got[0].0, b"k/000".to_vec());
        assert!(dst.get(b"k/late").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn entries_move_the_applied_index_even_when_conditions_fail() {
        let dir = tempfile::tempdir().unwrap();
        let kv = LocalKv::open(dir.path()).unwrap();
        assert_eq!(kv.applied_index().await.unwrap(), 0);
        assert!(!kv.holds_data().await.unwrap());
        let mut b = WriteBatch::new();
        b.require(b"k".to_vec(), None).put(b"k".to_vec(), b"1".to_vec());
        assert_eq!(kv.apply_entry(1, Some(&b)).await.unwrap(), WriteOutcome::Applied);
        assert_eq!(kv.apply_entry(2, Some(&b)).await.unwrap(), WriteOutcome::ConditionFailed);
        assert_eq!(kv.apply_entry(3, None).await.unwrap(), WriteOutcome::Applied);
        assert_eq!(kv.applied_index().await.unwrap(), 3);
        assert_eq!(kv.get(b"k").await.unwrap(), Some(b"1".to_vec()));
        assert!(kv.holds_data().await.unwrap());
        // A batch may not touch the replication state.
        let mut evil = WriteBatch::new();
        evil.put(APPLIED_KEY.to_vec(), 0u64.to_be_bytes().to_vec());
        assert_eq!(kv.apply_entry(4, Some(&evil)).await.unwrap(), WriteOutcome::ConditionFailed);
        assert_eq!(kv.applied_index().await.unwrap(), 4);
        kv.flush().unwrap();
        kv.close().await.unwrap();
        let kv = LocalKv::open(dir.path()).unwrap();
        assert_eq!(kv.applied_index().await.unwrap(), 4);
    }
}

#[cfg(test)]
mod reopen_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::kv::Kv;

    /// A store filled by a snapshot, closed, renamed and opened again reads back whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_installed_store_survives_close_rename_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let kv = LocalKv::open(&a).unwrap();
        let pairs: Pairs = (0..300u32).map(|i| (format!("k/{i:04}").into_bytes(), vec![1u8; 500])).collect();
        kv.load_pairs(&pairs).await.unwrap();
        kv.finish_install(153, b"point").await.unwrap();
        kv.close().await.unwrap();
        drop(kv);
        let b = d.path().join("b");
        std::fs::rename(&a, &b).unwrap();
        let kv = LocalKv::open(&b).unwrap();
        assert_eq!(kv.applied_index().await.unwrap(), 153);
        assert_eq!(kv.scan(b"k/", b"k0", 1000).await.unwrap().len(), 300);
    }
}
