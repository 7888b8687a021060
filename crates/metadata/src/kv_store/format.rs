//! The store's format record (`s/schema`, see `schema`). At start, `check_format` refuses a
//! store of a newer format and raises a store only this process writes to this build's. A
//! store other processes write too (a replicated group's) keeps its format until an operator
//! raises it (`raise_format`), which is refused unless every member said recently, in a
//! record of its own (`s/member-format/<node id>`), that its build reads the new format.
//! Members rewrite that record on a timer (`FormatWorker`), and read the format record again
//! each time, so that every member writes the raised layout soon after a raise (until then
//! it writes the older layout, which every build of the group reads).
//!
//! This module must never raise a shared store's format but on an operator's call whose
//! check passed, and never let this process write a format its build does not know.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::background::{Worker, WorkerState};
use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::schema::{self, encode};

use super::base::{KvStore, MAX_ATTEMPTS, Read};

/// What a member of a shared store last said of its build (`s/member-format/<node id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberFormat {
    /// The newest store format the member's build reads (its `schema::STORE_FORMAT`).
    pub supported: u8,
    /// The format the member wrote in at that time.
    pub writes: u8,
    /// When it said so, by its clock (Unix milliseconds).
    pub at_ms: u64,
}

/// One member in a `FormatStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberFormatEntry {
    pub id: u64,
    /// What it last said; `None` if it never did (a build older than the record, or a node
    /// that never started).
    pub said: Option<MemberFormat>,
    /// How long ago, by this node's clock.
    pub age_ms: Option<u64>,
}

/// The store's format and what each member said of its build: what the admin API answers
/// for `metadata/format` and `metadata/raise-format`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatStatus {
    /// The store's format record.
    pub format: u8,
    /// The format this node writes in now.
    pub writes: u8,
    /// The newest format this node's build reads.
    pub supported: u8,
    pub members: Vec<MemberFormatEntry>,
}

fn now_ms() -> u64 {
    crate::clock::now_ns().max(0) as u64 / 1_000_000
}

impl KvStore {
    /// Checks the store's format record, writing this build's in a store that has none: a
    /// store of a newer format is refused before anything reads it. A store nobody else
    /// writes takes this build's format; a shared one keeps its own (and a new shared one
    /// starts at 1, which every member's build reads).
    pub(super) async fn check_format(&self) -> Result<()> {
        let key = schema::system_key(schema::FORMAT_RECORD);
        let wanted = self.raise_to();
        for _ in 0..MAX_ATTEMPTS {
            let found = self.read::<u8>(key.clone()).await?;
            let format = match &found {
                Some(r) if r.value > schema::STORE_FORMAT => {
                    return Err(MetaError::NewerStore { found: r.value, supported: schema::STORE_FORMAT });
                }
                Some(r) if r.value >= wanted => r.value,
                _ => {
                    // No record yet, or an older format to raise: a store of an older format
                    // is valid in this one (see `schema`), so the record is all that changes.
                    let mut b = WriteBatch::new();
                    b.require(key.clone(), found.map(|r| r.raw)).put(key.clone(), encode(&wanted));
                    if !self.commit(b).await? {
                        continue;
                    }
                    wanted
                }
            };
            self.set_format(format);
            return Ok(());
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    /// Reads the format record again, and writes in its format from now on if it was raised
    /// (a shared store, by another member). Returns the record's format.
    pub async fn refresh_format(&self) -> Result<u8> {
        let found = self.read::<u8>(schema::system_key(schema::FORMAT_RECORD)).await?;
        let format = found.map_or(1, |r| r.value);
        if format > schema::STORE_FORMAT {
            // The raise checked this member's record: only a record written by hand, or
            // a member that went back to an older build, gets here. Keep writing what this
            // build knows.
            return Err(MetaError::NewerStore { found: format, supported: schema::STORE_FORMAT });
        }
        if format > self.format() {
            self.set_format(format);
            tracing::info!(format, "the metadata store's format was raised: writing it from now on");
        }
        Ok(format)
    }

    /// Reads the format record again (`refresh_format`), then writes this member's record:
    /// the formats its build reads and the one it writes, and when it said so.
    pub async fn announce_format(&self, node_id: u64) -> Result<()> {
        self.refresh_format().await?;
        let said = MemberFormat { supported: schema::STORE_FORMAT, writes: self.format(), at_ms: now_ms() };
        let mut b = WriteBatch::new();
        b.put(schema::member_format_key(node_id), encode(&said));
        self.commit(b).await?;
        Ok(())
    }

    /// Deletes what member `node_id` said of its build (it left the group).
    pub async fn forget_member_format(&self, node_id: u64) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(schema::member_format_key(node_id));
        self.commit(b).await?;
        Ok(())
    }

    async fn member_formats(&self, members: &[u64]) -> Result<Vec<(u64, Option<Read<MemberFormat>>)>> {
        let mut out = Vec::with_capacity(members.len());
        for &id in members {
            out.push((id, self.read::<MemberFormat>(schema::member_format_key(id)).await?));
        }
        Ok(out)
    }

    /// The store's format and what each of `members` last said of its build.
    pub async fn format_status(&self, members: &[u64]) -> Result<FormatStatus> {
        let format = self.refresh_format().await?;
        let now = now_ms();
        let members = self
            .member_formats(members)
            .await?
            .into_iter()
            .map(|(id, r)| {
                let said = r.map(|r| r.value);
                let age_ms = said.as_ref().map(|s| now.saturating_sub(s.at_ms));
                MemberFormatEntry { id, said, age_ms }
            })
            .collect();
        Ok(FormatStatus { format, writes: self.format(), supported: schema::STORE_FORMAT, members })
    }

    /// Raises a shared store's format to `to`, once every one of `members` said within
    /// `max_age` that its build reads it; the records it read are conditions of the raise.
    /// Returns the store's format after the call (`to`, or the format it had if that was
    /// already `to` or more). Refused (`MetaError::FormatRaiseRefused`) with the reason.
    pub async fn raise_format(&self, to: u8, members: &[u64], max_age: Duration) -> Result<u8> {
        if to > schema::STORE_FORMAT {
            return Err(MetaError::FormatRaiseRefused(format!(
                "this build writes store formats up to {}, not {to}",
                schema::STORE_FORMAT
            )));
        }
        if members.is_empty() {
            return Err(MetaError::FormatRaiseRefused("the group's members are not known here yet".into()));
        }
        let key = schema::system_key(schema::FORMAT_RECORD);
        for _ in 0..MAX_ATTEMPTS {
            let found = self.read::<u8>(key.clone()).await?;
            let current = found.as_ref().map_or(1, |r| r.value);
            if current >= to {
                self.refresh_format().await?;
                return Ok(current);
            }
            let mut b = WriteBatch::new();
            b.require(key.clone(), found.map(|r| r.raw));
            let now = now_ms();
            for (id, said) in self.member_formats(members).await? {
                let Some(said) = said else {
                    return Err(MetaError::FormatRaiseRefused(format!(
                        "node {id} never said which store formats its build reads: it runs an older build, or never started"
                    )));
                };
                let s = &said.value;
                if s.supported < to {
                    return Err(MetaError::FormatRaiseRefused(format!(
                        "node {id} runs a build that reads store formats up to {}",
                        s.supported
                    )));
                }
                let age = now.saturating_sub(s.at_ms);
                if age > max_age.as_millis() as u64 {
                    return Err(MetaError::FormatRaiseRefused(format!(
                        "node {id} last said which formats its build reads {age} ms ago: it may be down, or run another build now"
                    )));
                }
                b.require(said.key, Some(said.raw));
            }
            b.put(key.clone(), encode(&to));
            if self.commit(b).await? {
                self.set_format(to);
                tracing::info!(from = current, to, "raised the metadata store's format");
                return Ok(to);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }
}

/// Every member of a shared store runs one: it says on a timer which formats its build reads
/// (`KvStore::announce_format`), and so learns of a raise.
pub struct FormatWorker {
    store: Arc<KvStore>,
    node_id: u64,
    every: Duration,
    /// The last announce failed (no leader yet, at start): try again soon.
    failed: bool,
}

impl FormatWorker {
    pub fn new(store: Arc<KvStore>, node_id: u64, every: Duration) -> Self {
        Self { store, node_id, every, failed: false }
    }
}

#[async_trait]
impl Worker for FormatWorker {
    fn name(&self) -> String {
        "metadata-format".into()
    }

    async fn work(&mut self) -> std::result::Result<WorkerState, String> {
        let done = self.store.announce_format(self.node_id).await;
        self.failed = done.is_err();
        done.map_err(|e| e.to_string())?;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        let wait = if self.failed { self.every.min(Duration::from_secs(1)) } else { self.every };
        tokio::time::sleep(wait).await;
    }
}
