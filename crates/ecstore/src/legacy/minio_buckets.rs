//! MinIO's buckets on an adopted deployment: every top-level bucket folder gets a bucket
//! record of ours (the legacy track's), with what MinIO's bucket metadata says that this
//! server applies today (creation time, versioning), and a report of every other setting
//! MinIO holds for it (policy, lifecycle, object lock, encryption, tagging, quota,
//! replication, notification, targets), which stays as it is in MinIO's `.minio.sys`,
//! untouched, for the access-control and data-management features to take up.
//!
//! MinIO keeps a bucket's metadata as an object of its system bucket:
//! `.minio.sys/buckets/<bucket>/.metadata.bin` (an xl.meta, usually with the data inline),
//! whose bytes are a little-endian u16 format (1) and u16 version (1), then a msgpack map
//! of `BucketMetadata` fields. This module must never write anything MinIO keeps: it reads
//! `.minio.sys` and writes our own bucket records only.

use std::sync::Arc;

use metadata::{BucketInfo, MetadataStore, ObjectData, Versioning};
use serde::Serialize;

use super::store::LegacyStore;
use crate::xlmeta::msgpack::{Reader, Value};

/// MinIO's system bucket (a folder on every drive).
pub const MINIO_SYS_BUCKET: &str = crate::minio::MINIO_SYS;

/// The settings MinIO may keep for a bucket, by their `BucketMetadata` field and what they
/// are to S3 users.
const SETTINGS: &[(&str, &str)] = &[
    ("PolicyConfigJSON", "bucket policy"),
    ("LifecycleConfigXML", "lifecycle"),
    ("ObjectLockConfigXML", "object lock"),
    ("EncryptionConfigXML", "default encryption"),
    ("TaggingConfigXML", "tagging"),
    ("QuotaConfigJSON", "quota"),
    ("ReplicationConfigXML", "replication"),
    ("NotificationConfigXML", "notification"),
    ("BucketTargetsConfigJSON", "replication targets"),
];

/// What MinIO's `.metadata.bin` of one bucket says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinioBucketMeta {
    pub name: String,
    pub created_ns: Option<i64>,
    pub versioning: Versioning,
    pub lock_enabled: bool,
    /// The other settings present (their S3 names).
    pub settings: Vec<String>,
}

/// One bucket of the adoption, as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BucketImport {
    pub name: String,
    /// A bucket record was created at this start (else the bucket was known already).
    pub imported: bool,
    pub versioning: String,
    /// Settings MinIO holds that this server does not apply yet (kept in `.minio.sys`).
    pub kept: Vec<String>,
    /// Why MinIO's bucket metadata could not be read (the bucket is imported with defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Why the bucket record could not be written yet (no write quorum while other nodes
    /// start): the import is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// msgp's time extension (type 5): seconds (i64, big-endian) and nanoseconds (u32).
pub(super) fn time_ns(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Ext(5, b) if b.len() == 12 => {
            let secs = i64::from_be_bytes(b[..8].try_into().ok()?);
            let nanos = i64::from(u32::from_be_bytes(b[8..].try_into().ok()?));
            secs.checked_mul(1_000_000_000)?.checked_add(nanos)
        }
        _ => None,
    }
}

/// The `<Status>` of a VersioningConfiguration document.
fn versioning_of(xml: &[u8]) -> Versioning {
    let s = String::from_utf8_lossy(xml);
    if s.contains("<Status>Enabled</Status>") {
        Versioning::Enabled
    } else if s.contains("<Status>Suspended</Status>") {
        Versioning::Suspended
    } else {
        Versioning::Unversioned
    }
}

/// Parses the bytes of a `.metadata.bin`.
pub fn parse_metadata_bin(b: &[u8]) -> Result<MinioBucketMeta, String> {
    if b.len() < 4 {
        return Err("shorter than its header".into());
    }
    let (format, version) = (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
    if format != 1 || version != 1 {
        return Err(format!("format {format} version {version} (1/1 is understood)"));
    }
    let v = Reader::new(&b[4..], 4).value().map_err(|e| e.to_string())?;
    if !matches!(v, Value::Map(_)) {
        return Err("not a msgpack map".into());
    }
    let present = |k: &str| v.get(k).and_then(Value::as_bytes).is_some_and(|x| !x.is_empty());
    let mut m = MinioBucketMeta {
        name: v.get("Name").and_then(Value::as_str).unwrap_or_default().to_string(),
        created_ns: v.get("Created").and_then(time_ns),
        versioning: v.get("VersioningConfigXML").and_then(Value::as_bytes).map(versioning_of).unwrap_or_default(),
        lock_enabled: matches!(v.get("LockEnabled"), Some(Value::Bool(true))),
        settings: SETTINGS.iter().filter(|(k, _)| present(k)).map(|(_, n)| n.to_string()).collect(),
    };
    if m.lock_enabled && !m.settings.iter().any(|s| s == "object lock") {
        m.settings.push("object lock".into());
    }
    Ok(m)
}

/// The bytes of an object MinIO keeps in its system bucket (`.minio.sys/<key>`, small and
/// inline in its xl.meta: bucket metadata, `config/pool.bin`), the newest copy of any pool;
/// `None` if there is none.
pub async fn read_minio_sys_object(ec: &Arc<crate::EcStore>, key: &str) -> Result<Option<Vec<u8>>, String> {
    let (_, m) = super::pools::locate(ec, MINIO_SYS_BUCKET, key, false).await.map_err(|e| e.to_string())?;
    let Some(m) = m else { return Ok(None) };
    let Some(v) = m.versions.first() else { return Ok(None) };
    if v.kind == crate::xlmeta::VersionType::DeleteMarker {
        return Ok(None);
    }
    match super::mapping::from_xl(MINIO_SYS_BUCKET, key, &m, v).data {
        ObjectData::Inline(b) => Ok(Some(b)),
        _ => Err(format!("MinIO's {key} is not inline (or its shards are unreadable)")),
    }
}

impl LegacyStore {
    /// Reads MinIO's `.metadata.bin` of `bucket` (an object of MinIO's system bucket).
    async fn minio_bucket_meta(&self, bucket: &str) -> Result<Option<MinioBucketMeta>, String> {
        match read_minio_sys_object(&self.ec, &format!("buckets/{bucket}/.metadata.bin")).await? {
            Some(b) => parse_metadata_bin(&b).map(Some),
            None => Ok(None),
        }
    }

    /// The id of an imported bucket: derived from the deployment and the name, so that the
    /// nodes of an adopted cluster, importing at once, write the same record.
    fn imported_bucket_id(&self, name: &str) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(self.ec.deployment_id().as_bytes());
        h.update(b"/bucket/");
        h.update(name.as_bytes());
        uuid::Builder::from_random_bytes(h.digest128().to_be_bytes()).into_uuid().to_string()
    }

    /// Gives every MinIO bucket among `names` (bucket folders found on the drives) a bucket
    /// record owned by `owner`, unless it has one; reports each bucket with the settings it
    /// keeps in MinIO's metadata without applying them.
    /// Without drive quorum (a cluster node starting before the others) nothing is read
    /// or written: every bucket is reported `pending`, for the caller to try again, rather
    /// than imported with defaults because MinIO's metadata could not be read.
    pub async fn import_minio_buckets(self: &Arc<Self>, names: &[String], owner: &str) -> Vec<BucketImport> {
        let mut out = Vec::new();
        if !self.ec.ready() {
            let why = self.ec.quorum_problem().unwrap_or_else(|| "no drive quorum".into());
            return names
                .iter()
                .map(|name| BucketImport { name: name.clone(), pending: Some(why.clone()), ..Default::default() })
                .collect();
        }
        for name in names {
            let (meta, problem) = match self.minio_bucket_meta(name).await {
                Ok(m) => (m, None),
                Err(e) => (None, Some(e)),
            };
            let meta = meta.unwrap_or_default();
            let known = MetadataStore::get_bucket(self.as_ref(), name).await.is_ok();
            let mut imported = false;
            let mut pending = None;
            if !known {
                let info = BucketInfo {
                    name: name.clone(),
                    id: self.imported_bucket_id(name),
                    owner: owner.to_string(),
                    created_ns: meta.created_ns.unwrap_or_else(metadata::clock::now_ns),
                    location: None,
                    versioning: meta.versioning,
                    deleting: false,
                    ..Default::default()
                };
                match MetadataStore::create_bucket(self.as_ref(), info).await {
                    Ok(()) => imported = true,
                    Err(metadata::MetaError::BucketExists(_)) => {}
                    Err(e) => {
                        tracing::warn!(bucket = %name, error = %e, "cannot import MinIO bucket yet");
                        pending = Some(e.to_string());
                    }
                }
            }
            let r = BucketImport {
                name: name.clone(),
                imported,
                versioning: format!("{:?}", meta.versioning).to_lowercase(),
                kept: meta.settings.clone(),
                problem,
                pending,
            };
            if imported {
                tracing::info!(bucket = %r.name, versioning = %r.versioning, kept = ?r.kept, "imported MinIO bucket");
            }
            if !r.kept.is_empty() {
                tracing::warn!(bucket = %r.name, settings = ?r.kept, "MinIO bucket settings not applied yet (kept in .minio.sys)");
            }
            if let Some(p) = &r.problem {
                tracing::warn!(bucket = %r.name, problem = %p, "MinIO bucket metadata unreadable; imported with defaults");
            }
            out.push(r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_bin(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![1, 0, 1, 0];
        rmp::encode::write_map_len(&mut out, fields.len() as u32).unwrap();
        for (k, v) in fields {
            rmp::encode::write_str(&mut out, k).unwrap();
            out.extend_from_slice(v);
        }
        out
    }

    fn bin(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_bin(&mut out, b).unwrap();
        out
    }

    #[test]
    fn reads_versioning_creation_and_the_settings_it_keeps() {
        let mut created = vec![0xc7, 12, 5];
        created.extend_from_slice(&1_700_000_000i64.to_be_bytes());
        created.extend_from_slice(&123u32.to_be_bytes());
        let mut name = Vec::new();
        rmp::encode::write_str(&mut name, "photos").unwrap();
        let b = metadata_bin(&[
            ("Name", name),
            ("Created", created),
            ("LockEnabled", vec![0xc2]),
            (
                "VersioningConfigXML",
                bin(b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
            ),
            ("PolicyConfigJSON", bin(br#"{"Version":"2012-10-17"}"#)),
            ("LifecycleConfigXML", bin(b"")),
            ("TaggingConfigXML", bin(b"<Tagging/>")),
        ]);
        let m = parse_metadata_bin(&b).unwrap();
        assert_eq!(m.name, "photos");
        assert_eq!(m.created_ns, Some(1_700_000_000_000_000_123));
        assert_eq!(m.versioning, Versioning::Enabled);
        assert_eq!(m.settings, vec!["bucket policy".to_string(), "tagging".to_string()], "empty ones are absent");
        assert!(parse_metadata_bin(&[2, 0, 1, 0, 0x80]).unwrap_err().contains("format 2"));
        assert!(parse_metadata_bin(&[1, 0]).is_err());
        assert!(parse_metadata_bin(&[1, 0, 1, 0, 0xc1]).is_err(), "no panic on garbage");
    }
}
