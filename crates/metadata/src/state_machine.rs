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
        let mut tx = self.tree().begin_with_mode(Mode::ReadWrite).map_err(kv_err)?;
        tx.set_durability(Durability::Eventual);
        let mut outcome = WriteOutcome::Applied;
        if let Some(b) = batch {
            for Condition::Equals(key, expected) in &b.conditions {
                let current = tx.get(key.as_slice()).map_err(kv_err)?;
                if current.as_deref() != expected.as_deref() {
                    outcome = WriteOutcome::ConditionFailed;
                    break;
                }
            }
            if outcome == WriteOutcome::Applied && !touches_replication_state(b) {
                for op in &b.ops {
                    match op {
                        Op::Put(k, v) => tx.set(k.as_slice(), v.as_slice()).map_err(kv_err)?,
                        Op::Delete(k) => tx.delete(k.as_slice()).map_err(kv_err)?,
                    }
                }
            } else if touches_replication_state(b) {
                outcome = WriteOutcome::ConditionFailed;
            }
        }
        tx.set(APPLIED_KEY, index.to_be_bytes().as_slice()).map_err(kv_err)?;
        tx.commit().await.map_err(kv_err)?;
        Ok(outcome)
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
