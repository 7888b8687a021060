//! The migration state: phase, canary ratio and consistency level, the rules for changing
//! them, and their persisted record in the KV (`s/migration`, format 1 of `schema.rs`).
//!
//! | phase | primary | writes | reads |
//! | --- | --- | --- | --- |
//! | legacy | xl.meta | xl.meta | xl.meta |
//! | canary (ratio r) | xl.meta | xl.meta, and KV for canaried keys | canaried keys per level |
//! | fullout (r = 1) | xl.meta | both; the migrator copies the rest | per level |
//! | kv_primary | KV | KV, xl.meta kept as shadow | KV (xl.meta fallback) |
//! | complete | KV | KV | KV |
//!
//! Every phase before `complete` can be rolled back; `complete` needs the migrator finished
//! and a clean last validation, and is final. This module is pure logic plus one load and
//! one conditional save; it must never route requests itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::kv::{Kv, WriteBatch, WriteOutcome};
use crate::schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Legacy,
    Canary,
    Fullout,
    KvPrimary,
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Both tracks written synchronously; reads compare and count divergence.
    Strong,
    /// Primary synchronous, shadow asynchronous (bounded queue and window).
    Eventual,
    /// Primary only; a KV miss on read triggers an asynchronous copy.
    Lazy,
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Self::Legacy),
            "canary" => Ok(Self::Canary),
            "fullout" => Ok(Self::Fullout),
            "kv_primary" => Ok(Self::KvPrimary),
            "complete" => Ok(Self::Complete),
            other => Err(format!("unknown phase {other:?}: legacy, canary, fullout, kv_primary or complete")),
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strong" => Ok(Self::Strong),
            "eventual" => Ok(Self::Eventual),
            "lazy" => Ok(Self::Lazy),
            other => Err(format!("unknown consistency level {other:?}: strong, eventual or lazy")),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Legacy => "legacy",
            Self::Canary => "canary",
            Self::Fullout => "fullout",
            Self::KvPrimary => "kv_primary",
            Self::Complete => "complete",
        })
    }
}

/// Lazy writes skip the KV while xl.meta is primary (in kv_primary xl.meta is always kept
/// as a shadow, so that the rollback stays lossless).
pub fn kv_may_skip(phase: Phase, level: Level) -> bool {
    level == Level::Lazy && matches!(phase, Phase::Canary | Phase::Fullout)
}

/// The position of `bucket/key` in [0, 1): a key is canaried when it falls under the ratio,
/// so raising the ratio only ever adds keys. FNV-1a, stable across builds and machines.
pub fn canary_fraction(bucket: &str, key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bucket.bytes().chain(std::iter::once(b'/')).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down: FNV's low bits are weak for short inputs.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationState {
    pub phase: Phase,
    /// Share of keys canaried, in [0, 1]; 1 from `fullout` on, 0 in `legacy`.
    pub ratio: f64,
    pub level: Level,
    /// When the state last changed, ns since the epoch.
    pub changed_ns: i64,
    /// Set by the migrator once every legacy object is in the KV.
    #[serde(default)]
    pub migrator_done: bool,
    /// The last validation's outcome: `Some(true)` when nothing diverged.
    #[serde(default)]
    pub last_validation_clean: Option<bool>,
    /// Bumped whenever the set of keys the KV must hold changes or the KV may have fallen
    /// behind; a migrator pass counts as finished only for the epoch it started in.
    #[serde(default)]
    pub epoch: u64,
    /// The KV may hold stale entries for keys in scope (after a lazy period, a lower ratio
    /// or a rollback): reads and listings use xl.meta until a migrator pass resynchronises.
    #[serde(default)]
    pub kv_stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("ratio {0} is outside [0, 1]")]
    Ratio(String),
    #[error(
        "{from} -> {to} is not a transition (allowed: legacy -> canary/fullout, canary <-> canary, canary -> fullout, fullout -> kv_primary, kv_primary -> complete, and rollbacks before complete)"
    )]
    NotAllowed { from: Phase, to: Phase },
    #[error("complete is final: the legacy track may already be cleaned up")]
    Final,
    #[error("complete needs {0}")]
    NotReady(String),
}

impl MigrationState {
    /// A deployment's state before anything was persisted.
    pub fn initial(phase: Phase, ratio: f64, level: Level, now_ns: i64) -> Self {
        let ratio = Self::ratio_for(phase, ratio);
        let kv_stale = kv_may_skip(phase, level);
        Self {
            phase,
            ratio,
            level,
            changed_ns: now_ns,
            migrator_done: false,
            last_validation_clean: None,
            epoch: 0,
            kv_stale,
        }
    }

    /// Whether writes may leave the KV behind for keys in its scope.
    pub fn kv_may_skip(&self) -> bool {
        kv_may_skip(self.phase, self.level)
    }

    fn ratio_for(phase: Phase, ratio: f64) -> f64 {
        match phase {
            Phase::Legacy => 0.0,
            Phase::Canary => ratio,
            _ => 1.0,
        }
    }

    /// Whether `bucket/key` is in the KV track's scope in this state.
    pub fn canaried(&self, bucket: &str, key: &str) -> bool {
        match self.phase {
            Phase::Legacy => false,
            Phase::Canary => canary_fraction(bucket, key) < self.ratio,
            _ => true,
        }
    }

    /// The state after moving to `to` (with a new ratio and/or level), or why not.
    pub fn transition(
        &self,
        to: Phase,
        ratio: Option<f64>,
        level: Option<Level>,
        now_ns: i64,
    ) -> Result<Self, TransitionError> {
        use Phase::*;
        if self.phase == Complete && (to != Complete || ratio.is_some()) {
            return Err(TransitionError::Final);
        }
        let allowed = matches!(
            (self.phase, to),
            (Legacy, Legacy | Canary | Fullout)
                | (Canary, Legacy | Canary | Fullout)
                | (Fullout, Legacy | Canary | Fullout | KvPrimary)
                | (KvPrimary, Fullout | KvPrimary | Complete)
                | (Complete, Complete)
        );
        if !allowed {
            return Err(TransitionError::NotAllowed { from: self.phase, to });
        }
        let r = match (to, ratio) {
            (Canary, Some(r)) => r,
            (Canary, None) if self.phase == Canary => self.ratio,
            (Canary, None) => 0.05,
            (_, r) => r.unwrap_or(self.ratio),
        };
        if !(0.0..=1.0).contains(&r) || r.is_nan() {
            return Err(TransitionError::Ratio(r.to_string()));
        }
        if to == KvPrimary && self.phase != KvPrimary && !self.migrator_done {
            return Err(TransitionError::NotReady(
                "kv_primary needs the migrator to have copied every legacy object (run `rustfs-admin migration start --wait` in fullout)".into(),
            ));
        }
        if to == Complete && self.phase != Complete {
            if !self.migrator_done {
                return Err(TransitionError::NotReady("the migrator to have copied every legacy object".into()));
            }
            if self.last_validation_clean != Some(true) {
                return Err(TransitionError::NotReady("a validation run that found nothing diverged".into()));
            }
        }
        let mut next = self.clone();
        next.phase = to;
        next.ratio = Self::ratio_for(to, r);
        next.level = level.unwrap_or(self.level);
        next.changed_ns = now_ns;
        let skip = next.kv_may_skip();
        let scope_changed = next.ratio != self.ratio || (self.phase == Legacy) != (to == Legacy);
        if scope_changed || skip != self.kv_may_skip() {
            // The KV must be brought (back) in line with xl.meta by a new migrator pass.
            next.epoch += 1;
            next.migrator_done = false;
            next.last_validation_clean = None;
            if next.ratio < self.ratio || skip || to == Legacy {
                next.kv_stale = true;
            }
        }
        Ok(next)
    }

    /// The state to run with: the persisted one if any (and a warning when the start-up
    /// configuration asks for something else), else the start-up one.
    pub fn reconcile(persisted: Option<Self>, startup: Self) -> (Self, Option<String>) {
        match persisted {
            None => (startup, None),
            Some(p) => {
                let differs = p.phase != startup.phase || p.ratio != startup.ratio || p.level != startup.level;
                let warning = differs.then(|| {
                    format!(
                        "persisted migration state ({} ratio {} level {:?}) wins over the start-up configuration ({} ratio {} level {:?})",
                        p.phase, p.ratio, p.level, startup.phase, startup.ratio, startup.level
                    )
                });
                (p, warning)
            }
        }
    }

    /// Loads the persisted state, with the raw bytes a later conditional save must match.
    pub async fn load(kv: &dyn Kv) -> Result<Option<(Self, Vec<u8>)>> {
        let key = schema::system_key("migration");
        match kv.get(&key).await? {
            Some(raw) => Ok(Some((schema::decode(&key, &raw)?, raw))),
            None => Ok(None),
        }
    }

    /// Saves the state if the record still holds `expected` (None: no record yet).
    pub async fn save_if(&self, kv: &dyn Kv, expected: Option<Vec<u8>>) -> Result<bool> {
        let key = schema::system_key("migration");
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), expected).put(key, schema::encode(self));
        Ok(kv.write(batch).await? == WriteOutcome::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_ratio_only_adds_keys_and_matches_the_share() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("dir{}/obj-{i}", i % 37)).collect();
        let at = |r: f64| {
            let s = MigrationState::initial(Phase::Canary, r, Level::Eventual, 0);
            keys.iter().filter(|k| s.canaried("bkt", k)).cloned().collect::<std::collections::HashSet<_>>()
        };
        let (five, quarter) = (at(0.05), at(0.25));
        assert!(five.is_subset(&quarter));
        for (set, r) in [(&five, 0.05), (&quarter, 0.25)] {
            let share = set.len() as f64 / keys.len() as f64;
            assert!((share - r).abs() < 0.01, "share {share} for ratio {r}");
        }
        assert_eq!(canary_fraction("b", "k"), canary_fraction("b", "k"));
        assert_ne!(canary_fraction("b", "k1"), canary_fraction("b", "k2"));
    }

    #[test]
    fn transitions_rollbacks_and_the_complete_guard() {
        let s = MigrationState::initial(Phase::Legacy, 0.3, Level::Eventual, 0);
        assert_eq!(s.ratio, 0.0);
        let c = s.transition(Phase::Canary, Some(0.05), None, 1).unwrap();
        assert!((c.ratio - 0.05).abs() < 1e-12);
        let c = c.transition(Phase::Canary, Some(0.25), Some(Level::Strong), 2).unwrap();
        assert_eq!((c.ratio, c.level), (0.25, Level::Strong));
        assert!(matches!(c.transition(Phase::Canary, Some(1.5), None, 3), Err(TransitionError::Ratio(_))));
        assert!(matches!(c.transition(Phase::KvPrimary, None, None, 3), Err(TransitionError::NotAllowed { .. })));
        let mut f = c.transition(Phase::Fullout, None, None, 3).unwrap();
        assert_eq!(f.ratio, 1.0);
        assert!(f.epoch > c.epoch && !f.migrator_done);
        assert!(matches!(f.transition(Phase::KvPrimary, None, None, 4), Err(TransitionError::NotReady(_))));
        f.migrator_done = true;
        let k = f.transition(Phase::KvPrimary, None, None, 4).unwrap();
        assert!(k.migrator_done, "fullout <-> kv_primary keeps the migrator's work");
        // Rollback before complete.
        assert_eq!(k.transition(Phase::Fullout, None, None, 5).unwrap().phase, Phase::Fullout);
        assert!(matches!(k.transition(Phase::Complete, None, None, 5), Err(TransitionError::NotReady(_))));
        let mut ready = k.clone();
        assert!(matches!(ready.transition(Phase::Complete, None, None, 5), Err(TransitionError::NotReady(_))));
        ready.last_validation_clean = Some(true);
        let done = ready.transition(Phase::Complete, None, None, 6).unwrap();
        assert!(matches!(done.transition(Phase::KvPrimary, None, None, 7), Err(TransitionError::Final)));
        assert!(done.canaried("any", "key"));
        assert!("kv_primary".parse::<Phase>().unwrap() == Phase::KvPrimary && "nope".parse::<Phase>().is_err());
    }

    #[test]
    fn lowering_the_ratio_or_going_lazy_marks_the_kv_stale() {
        let c = MigrationState::initial(Phase::Canary, 0.25, Level::Eventual, 0);
        assert!(!c.kv_stale);
        let up = c.transition(Phase::Canary, Some(0.5), None, 1).unwrap();
        assert!(!up.kv_stale && up.epoch == c.epoch + 1, "raising only adds keys the KV lacks");
        let down = up.transition(Phase::Canary, Some(0.05), None, 2).unwrap();
        assert!(down.kv_stale);
        let lazy = c.transition(Phase::Canary, None, Some(Level::Lazy), 3).unwrap();
        assert!(lazy.kv_stale && lazy.kv_may_skip());
        let back = c.transition(Phase::Legacy, None, None, 4).unwrap();
        assert!(back.kv_stale && back.ratio == 0.0);
    }

    #[test]
    fn persisted_state_wins_with_a_warning() {
        let startup = MigrationState::initial(Phase::Canary, 0.05, Level::Eventual, 0);
        assert_eq!(MigrationState::reconcile(None, startup.clone()), (startup.clone(), None));
        let persisted = MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 9);
        let (s, w) = MigrationState::reconcile(Some(persisted.clone()), startup);
        assert_eq!(s, persisted);
        assert!(w.unwrap().contains("wins"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_with_compare_and_set_in_a_real_kv() {
        let dir = tempfile::tempdir().unwrap();
        let kv = crate::LocalKv::open(dir.path()).unwrap();
        assert!(MigrationState::load(&kv).await.unwrap().is_none());
        let s = MigrationState::initial(Phase::Legacy, 0.0, Level::Eventual, 1);
        assert!(s.save_if(&kv, None).await.unwrap());
        assert!(!s.save_if(&kv, None).await.unwrap(), "a second first-save loses");
        let (loaded, raw) = MigrationState::load(&kv).await.unwrap().unwrap();
        assert_eq!(loaded, s);
        let next = loaded.transition(Phase::Canary, Some(0.05), None, 2).unwrap();
        assert!(next.save_if(&kv, Some(raw.clone())).await.unwrap());
        assert!(!next.save_if(&kv, Some(raw)).await.unwrap(), "a stale writer loses");
        assert_eq!(MigrationState::load(&kv).await.unwrap().unwrap().0.phase, Phase::Canary);
    }
}
