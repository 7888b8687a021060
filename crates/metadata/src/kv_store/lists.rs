//! The listings over the store's families (objects from `l/`, versions from `l/` and `v/`
//! merged, uploads), each a `kv_listing` source, and the key enumeration the migrator pages
//! with. Must never write.

use crate::error::Result;
use crate::kv_listing::{Versions, after_escaped_key, entries, escaped_pos, family_end, list_family, resume_after};
use crate::model::{MultipartUpload, ObjectVersion};
use crate::schema::{self, decode};
use crate::store::{ListPage, ListQuery, UploadQuery, VersionQuery};

use super::base::KvStore;
use super::records::{Latest, whole_of};

/// `MetadataStore::list_objects`.
pub(super) async fn objects(s: &KvStore, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
    s.read_bucket(bucket).await?;
    let base = schema::latest_base(bucket);
    let pos_of = |s: &[u8]| {
        let mut k = base.clone();
        k.extend_from_slice(s);
        k
    };
    let start = match &q.after {
        Some(m) => resume_after(m, &q.prefix, q.delimiter.as_deref(), pos_of),
        None => base.clone(),
    };
    let end = family_end(&base, &q.prefix, pos_of);
    let blen = base.len();
    let source = entries(|k, v| {
        let okey = String::from_utf8_lossy(&k[blen..]).into_owned();
        let l: Latest = decode(k, v)?;
        Ok((okey, (!l.version.delete_marker).then_some(l.version)))
    });
    list_family(s, start, &q.prefix, q.delimiter.as_deref(), q.max_keys, pos_of, end, source).await
}

/// `MetadataStore::list_versions`.
pub(super) async fn versions(s: &KvStore, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
    s.read_bucket(bucket).await?;
    let base = schema::version_base(bucket);
    let pos_of = escaped_pos(&base);
    let start = match (&q.key_marker, &q.version_id_marker) {
        (Some(km), Some(vm)) if !vm.is_empty() => match s.find_version(bucket, km, vm).await? {
            Some((_, found)) => {
                let mut p = found.vkey;
                p.push(0);
                p
            }
            None => after_escaped_key(&base, km),
        },
        (Some(km), _) => {
            let d = q.delimiter.as_deref();
            match d.filter(|d| !d.is_empty() && km.strip_prefix(q.prefix.as_str()).is_some_and(|r| r.contains(d))) {
                Some(_) => resume_after(km, &q.prefix, d, &pos_of),
                None => after_escaped_key(&base, km),
            }
        }
        _ => base.clone(),
    };
    let end = family_end(&base, &q.prefix, &pos_of);
    let source = Versions { bucket, whole_of };
    list_family(s, start, &q.prefix, q.delimiter.as_deref(), q.max_keys, &pos_of, end, source).await
}

/// `MetadataStore::list_uploads`.
pub(super) async fn uploads(s: &KvStore, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
    s.read_bucket(bucket).await?;
    let base = schema::upload_base(bucket);
    let pos_of = escaped_pos(&base);
    let start = match (&q.key_marker, &q.upload_id_marker) {
        (Some(km), Some(um)) if !um.is_empty() => {
            let mut p = schema::upload_key(bucket, km, um);
            p.push(0);
            p
        }
        (Some(km), _) => after_escaped_key(&base, km),
        _ => base.clone(),
    };
    let end = family_end(&base, &q.prefix, &pos_of);
    let source = entries(|k, v| {
        let up: MultipartUpload = decode(k, v)?;
        Ok((up.key.clone(), Some(up)))
    });
    list_family(s, start, &q.prefix, q.delimiter.as_deref(), q.max_uploads, &pos_of, end, source).await
}

/// `MetadataStore::keys_after`.
pub(super) async fn keys_after(s: &KvStore, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
    s.read_bucket(bucket).await?;
    let base = schema::latest_base(bucket);
    let Some(end) = schema::prefix_end(&base) else { return Ok(Vec::new()) };
    let start = match after {
        Some(a) => {
            let mut k = schema::latest_key(bucket, a);
            k.push(0);
            k
        }
        None => base.clone(),
    };
    let chunk = s.kv_scan(&start, &end, limit).await?;
    Ok(chunk.into_iter().map(|(k, _)| String::from_utf8_lossy(&k[base.len()..]).into_owned()).collect())
}
