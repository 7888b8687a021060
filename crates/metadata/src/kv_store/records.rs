//! The values a key's current version is kept in (`l/`, and `d/` for one stored whole), what
//! a reader of the key found in them (`KeyRead`, `Found`), and the one writer of that layout
//! (`put_current`, `delete_current`). Must never read: the reads live in `key`.

use crate::error::Result;
use crate::kv::WriteBatch;
use crate::model::{ObjectData, ObjectVersion};
use crate::schema::{self, decode, encode};

use super::base::{KvStore, Read};

/// The value of the `latest` family: the current version without its inline bytes (kept in
/// the version family, or with the whole version under `d/`), so that listings read little
/// object data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Latest {
    /// The current version; `data` is `ObjectData::None` when the bytes are inline.
    pub(super) version: ObjectVersion,
    /// The bytes are inline (in the version family's value, or under `d/`).
    #[serde(default)]
    pub(super) inline: bool,
    /// The version is also stored whole under `d/`, and has no `v/` record (format 3) or a
    /// `v/` value without bytes (format 2; a format-1 build ignores the field and then fails
    /// on that value).
    #[serde(default)]
    pub(super) whole: bool,
}

impl Latest {
    pub(super) fn version_key(&self) -> Vec<u8> {
        let v = &self.version;
        schema::version_key(&v.bucket, &v.key, v.mtime_ns, &v.version_id)
    }
}

/// `obj` without its inline bytes (other data, an erasure layout, is kept).
pub(super) fn without_bytes(obj: &ObjectVersion) -> ObjectVersion {
    let data = match &obj.data {
        ObjectData::Inline(_) => ObjectData::None,
        d => d.clone(),
    };
    ObjectVersion {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        version_id: obj.version_id.clone(),
        delete_marker: obj.delete_marker,
        size: obj.size,
        etag: obj.etag.clone(),
        mtime_ns: obj.mtime_ns,
        content_type: obj.content_type.clone(),
        headers: obj.headers.clone(),
        user_meta: obj.user_meta.clone(),
        checksums: obj.checksums.clone(),
        data,
        acl: obj.acl.clone(),
        tags: obj.tags.clone(),
        retention: obj.retention,
        legal_hold: obj.legal_hold,
        sse: obj.sse.clone(),
    }
}

/// Decodes an `l/` entry into the `v/` key and the version (without bytes) of a current
/// version stored whole (`kv_listing::Versions`); `None` for any other.
pub(super) fn whole_of(k: &[u8], v: &[u8]) -> Result<Option<(Vec<u8>, ObjectVersion)>> {
    let l: Latest = decode(k, v)?;
    Ok(l.whole.then(|| (l.version_key(), l.version)))
}

/// A version value as read: the version, and whether it was stored without its inline bytes
/// (they are then in the key's `d/` record).
pub(super) type Stored = (ObjectVersion, bool);

/// The current records of a key as one enumeration of its versions read them: the batch of
/// a write planned on that enumeration requires both as read.
pub(super) struct KeyRead {
    pub(super) latest: Option<Read<Latest>>,
    /// The `d/` record, read when `l/` says there is one (and then of the same version).
    pub(super) whole: Option<Read<ObjectVersion>>,
}

impl KeyRead {
    /// Makes `batch` require the key's current records as read.
    pub(super) fn require(&self, batch: &mut WriteBatch, bucket: &str, key: &str) {
        batch.require(schema::latest_key(bucket, key), self.latest.as_ref().map(|l| l.raw.clone()));
        if let Some(w) = &self.whole {
            batch.require(schema::whole_key(bucket, key), Some(w.raw.clone()));
        }
    }

    /// Whether `v` is the key's current version.
    pub(super) fn is_current(&self, v: &ObjectVersion) -> bool {
        self.latest.as_ref().is_some_and(|l| same_version(&l.value.version, v))
    }

    /// Whether the key's current version is stored whole under `d/`.
    pub(super) fn was_whole(&self) -> bool {
        self.latest.as_ref().is_some_and(|l| l.value.whole)
    }
}

/// One version of a key, from its `v/` record or from its `d/` one.
pub(super) struct Found {
    /// Its `v/` key.
    pub(super) vkey: Vec<u8>,
    /// Its `v/` record as read; `None` for a current version stored whole without one
    /// (format 3). A batch requires it as read.
    pub(super) raw: Option<Vec<u8>>,
    /// The version, with its bytes wherever they are kept, unless `in_whole`.
    pub(super) version: ObjectVersion,
    /// The version is the current one stored whole, as its `l/` record describes it: its
    /// bytes are in the key's `d/` record, not read yet (`KvStore::complete`).
    pub(super) in_whole: bool,
}

impl Found {
    /// Makes `batch` require this version's `v/` record as read, and deletes it.
    pub(super) fn require_and_delete(&self, batch: &mut WriteBatch) {
        batch.require(self.vkey.clone(), self.raw.clone());
        if self.raw.is_some() {
            batch.delete(self.vkey.clone());
        }
    }
}

/// `w` (read from `l/` or `d/`) is the version stored under `v`.
pub(super) fn same_version(w: &ObjectVersion, v: &ObjectVersion) -> bool {
    w.version_id == v.version_id && w.mtime_ns == v.mtime_ns
}

impl KvStore {
    /// Writes `obj` as the key's current version, in this store's layout: its `v/` record,
    /// its `l/` record, and its `d/` record (written, or deleted when `was_whole`, i.e. the
    /// `l/` record it replaces says there is one). Stored whole, it gets a `v/` value
    /// without bytes in format 2, and in format 3 only if it had a `v/` record
    /// (`had_version_record`: a non-current version made current, or a format-2 key):
    /// a listing that reads `l/` before `v/` while the version moves then still finds it in
    /// one of the two (see `Versions`).
    pub(super) fn put_current(
        &self,
        batch: &mut WriteBatch,
        obj: &ObjectVersion,
        was_whole: bool,
        had_version_record: bool,
    ) {
        let inline = matches!(obj.data, ObjectData::Inline(_));
        let whole = self.format() >= schema::FORMAT_WHOLE_CURRENT
            && matches!(&obj.data, ObjectData::Inline(b) if b.len() <= schema::WHOLE_BYTES_MAX);
        let (bucket, key) = (&obj.bucket, &obj.key);
        let meta = without_bytes(obj);
        let vkey = schema::version_key(bucket, key, obj.mtime_ns, &obj.version_id);
        if whole {
            batch.put(schema::whole_key(bucket, key), encode(obj));
            if self.format() < schema::FORMAT_WHOLE_ONLY || had_version_record {
                batch.put(vkey, schema::encode_bytes_in_whole(&meta));
            }
        } else {
            if was_whole {
                batch.delete(schema::whole_key(bucket, key));
            }
            batch.put(vkey, encode(obj));
        }
        batch.put(schema::latest_key(bucket, key), encode(&Latest { version: meta, inline, whole }));
    }

    /// Deletes the key's current records: its `l/`, and its `d/` when `was_whole`.
    pub(super) fn delete_current(batch: &mut WriteBatch, bucket: &str, key: &str, was_whole: bool) {
        batch.delete(schema::latest_key(bucket, key));
        if was_whole {
            batch.delete(schema::whole_key(bucket, key));
        }
    }
}
