//! One key's versions: the enumeration that merges the current version stored whole into the
//! `v/` scan, the lookup of a version by id, and the current version a `l/` record stands
//! for. Reads only: the batches are planned by the operation families.

use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::model::ObjectVersion;
use crate::schema;

use super::base::{KvStore, MAX_ATTEMPTS, Read};
use super::records::{Found, KeyRead, Latest, Stored, same_version};

impl KvStore {
    /// The key's `d/` record, read when its `l/` record says there is one.
    pub(super) async fn read_whole(&self, latest: &Latest) -> Result<Option<Read<ObjectVersion>>> {
        if !latest.whole {
            return Ok(None);
        }
        let v = &latest.version;
        self.read(schema::whole_key(&v.bucket, &v.key)).await
    }

    /// `read_whole`, for a write: `batch` requires the record as read.
    pub(super) async fn whole_for(
        &self,
        latest: Option<&Read<Latest>>,
        batch: &mut WriteBatch,
    ) -> Result<Option<Read<ObjectVersion>>> {
        let Some(l) = latest.filter(|l| l.value.whole) else {
            return Ok(None);
        };
        let w = self.read_whole(&l.value).await?;
        let v = &l.value.version;
        batch.require(schema::whole_key(&v.bucket, &v.key), w.as_ref().map(|w| w.raw.clone()));
        Ok(w)
    }

    /// Enumerates the versions of a key, newest first, calling `f` until it returns `false`:
    /// the `v/` scan, with the current version stored whole placed at its position from
    /// `l/` (it has no `v/` record in format 3, one without bytes in format 2). That version
    /// comes without its bytes (`Found::in_whole`): `complete` reads them, for the versions
    /// a caller keeps, so that a caller after an older version reads no `d/`. `None` when a
    /// write changed the key's current version during the reads (`l/` read before and after
    /// differ, or the records disagree): enumerate again.
    pub(super) async fn scan_key(
        &self,
        bucket: &str,
        key: &str,
        mut f: impl FnMut(Found) -> bool,
    ) -> Result<Option<KeyRead>> {
        let lkey = schema::latest_key(bucket, key);
        let latest = self.read::<Latest>(lkey.clone()).await?;
        let mut pending = latest.as_ref().filter(|l| l.value.whole).map(|l| (l.value.version_key(), &l.value.version));
        let mut agree = true;
        let mut more = true;
        self.scan_prefix(&schema::versions_of(bucket, key), |k, raw| {
            if let Some((pk, w)) = pending.take_if(|(pk, _)| pk.as_slice() < k) {
                more = f(Found { vkey: pk, raw: None, version: w.clone(), in_whole: true });
                if !more {
                    return Ok(false);
                }
            }
            let (v, without_bytes) = schema::decode_version::<ObjectVersion>(k, raw)?;
            let in_whole = match (without_bytes, pending.take_if(|(pk, _)| pk.as_slice() == k)) {
                // A format-2 value of the version stored whole.
                (true, Some(_)) => true,
                (false, None) => false,
                // Without bytes yet not the whole current one, or the whole current one with
                // its full value: a write landed between the reads.
                _ => {
                    agree = false;
                    return Ok(false);
                }
            };
            more = f(Found { vkey: k.to_vec(), raw: Some(raw.to_vec()), version: v, in_whole });
            Ok(more)
        })
        .await?;
        if let (true, true, Some((pk, w))) = (agree, more, pending) {
            f(Found { vkey: pk, raw: None, version: w.clone(), in_whole: true });
        }
        // The records a write moves between the families disagree when read across it (a
        // version made non-current has its full value where `l/` said it is whole, one made
        // current keeps a value without bytes); a rewrite of the whole key (`replace_key`)
        // may leave none that does, but it changes `l/`.
        let again = self.kv_get(&lkey).await?;
        if !agree || again != latest.as_ref().map(|l| l.raw.clone()) {
            return Ok(None);
        }
        Ok(Some(KeyRead { latest, whole: None }))
    }

    /// Gives a version that `scan_key` found without its bytes (`in_whole`) its bytes, from
    /// the key's `d/` record, which `read` then holds (read once, and required by a batch
    /// planned on `read`). `false` when that record no longer holds the version (a write
    /// landed since the enumeration: enumerate again).
    pub(super) async fn complete(&self, read: &mut KeyRead, found: &mut Found) -> Result<bool> {
        if !found.in_whole {
            return Ok(true);
        }
        if read.whole.is_none()
            && let Some(l) = &read.latest
        {
            read.whole = self.read_whole(&l.value).await?;
        }
        match &read.whole {
            Some(w) if same_version(&w.value, &found.version) => {
                found.version = w.value.clone();
                found.in_whole = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The version `version_id` of a key, with its bytes, and the key's current records as
    /// read with it.
    pub(super) async fn find_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(KeyRead, Found)>> {
        for _ in 0..MAX_ATTEMPTS {
            let mut found = None;
            let read = self
                .scan_key(bucket, key, |v| {
                    if v.version.version_id == version_id {
                        found = Some(v);
                    }
                    found.is_none()
                })
                .await?;
            let Some(mut read) = read else { continue };
            match found {
                None => return Ok(None),
                Some(mut f) => {
                    if self.complete(&mut read, &mut f).await? {
                        return Ok(Some((read, f)));
                    }
                }
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    pub(super) async fn read_version(&self, key: Vec<u8>) -> Result<Option<Read<Stored>>> {
        match self.kv_get(&key).await? {
            Some(raw) => {
                let value = schema::decode_version(&key, &raw)?;
                Ok(Some(Read { key, raw, value }))
            }
            None => Ok(None),
        }
    }

    /// The current version `latest` stands for, as a `Found` (`whole`: its `d/` record as
    /// read). When the records disagree (a write landed between the reads), what it returns
    /// is not the version, but the batch built on it fails its conditions.
    pub(super) async fn current_found(&self, latest: &Latest, whole: Option<&Read<ObjectVersion>>) -> Result<Found> {
        let vkey = latest.version_key();
        let stored = self.read_version(vkey.clone()).await?;
        let whole = whole.map(|w| &w.value).filter(|w| same_version(w, &latest.version));
        let (raw, version) = match (stored, whole) {
            (Some(r), Some(w)) => (Some(r.raw), w.clone()),
            (Some(r), None) => (Some(r.raw), r.value.0),
            (None, Some(w)) => (None, w.clone()),
            (None, None) => (None, latest.version.clone()),
        };
        Ok(Found { vkey, raw, version, in_whole: false })
    }

    /// The full current version a `latest` entry stands for; `None` when the other records
    /// no longer agree with it (a write landed between the reads: read again).
    pub(super) async fn full(&self, latest: Latest) -> Result<Option<ObjectVersion>> {
        if !latest.inline {
            return Ok(Some(latest.version));
        }
        if latest.whole {
            return Ok(self.read_whole(&latest).await?.map(|w| w.value).filter(|w| same_version(w, &latest.version)));
        }
        match self.read_version(latest.version_key()).await? {
            Some(Read { value: (v, false), .. }) => Ok(Some(v)),
            _ => Ok(None),
        }
    }
}
