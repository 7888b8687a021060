//! ListObjects (v1), ListObjectsV2 and ListObjectVersions: metadata range scans with
//! prefix, delimiter, markers, continuation tokens and `encoding-type=url`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use metadata::{ListItem, ListPage, ListQuery, ObjectVersion, VersionQuery};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error, util};

/// Everything but unreserved characters and `/` is encoded, as S3 does for `encoding-type=url`.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

pub(crate) struct Enc(bool);

impl Enc {
    pub(crate) fn new(e: Option<&EncodingType>) -> S3Result<Self> {
        match e.map(EncodingType::as_str) {
            None => Ok(Self(false)),
            Some(s) if s.eq_ignore_ascii_case("url") => Ok(Self(true)),
            Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
        }
    }
    pub(crate) fn s(&self, v: &str) -> String {
        if self.0 { utf8_percent_encode(v, KEY_ENCODE).to_string() } else { v.to_string() }
    }
    pub(crate) fn opt(&self, v: Option<&str>) -> Option<String> {
        v.map(|v| self.s(v))
    }
    pub(crate) fn kind(&self) -> Option<EncodingType> {
        self.0.then(|| EncodingType::from_static(EncodingType::URL))
    }
}

fn owner(id: &str) -> Owner {
    Owner { id: Some(id.to_string()), display_name: Some(id.to_string()) }
}

fn object_entry(o: &ObjectVersion, enc: &Enc, owner_of: Option<&str>) -> Object {
    Object {
        key: Some(enc.s(&o.key)),
        size: Some(o.size as i64),
        e_tag: Some(util::etag(&o.etag)),
        last_modified: Some(util::ts(o.mtime_ns)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: owner_of.map(owner),
        ..Default::default()
    }
}

/// The key or prefix a continuation would resume after.
fn last_of(page: &ListPage<ObjectVersion>) -> Option<String> {
    page.items.last().map(|i| match i {
        ListItem::Object(o) => o.key.clone(),
        ListItem::CommonPrefix(p) => p.clone(),
    })
}

fn prefixes(page: &ListPage<ObjectVersion>, enc: &Enc) -> Option<Vec<CommonPrefix>> {
    let v: Vec<CommonPrefix> = page.prefixes().map(|p| CommonPrefix { prefix: Some(enc.s(p)) }).collect();
    (!v.is_empty()).then_some(v)
}

impl S3Api {
    pub(crate) async fn op_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let b = self.owned_bucket(&caller, &i.bucket).await?;
        let enc = Enc::new(i.encoding_type.as_ref())?;
        let max = util::max_keys(i.max_keys)?;
        let q = ListQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone(),
            after: i.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self.meta.list_objects(&b.name, &q).await.map_err(error::meta)?;
        let contents = page.objects().map(|o| object_entry(o, &enc, Some(&b.owner))).collect();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(b.name.clone()),
            prefix: Some(enc.s(&q.prefix)),
            marker: enc.opt(i.marker.as_deref()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker: if page.truncated { enc.opt(last_of(&page).as_deref()) } else { None },
            common_prefixes: prefixes(&page, &enc),
            contents: Some(contents),
            delimiter: enc.opt(i.delimiter.as_deref()),
            encoding_type: enc.kind(),
            ..Default::default()
        }))
    }

    pub(crate) async fn op_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let b = self.owned_bucket(&caller, &i.bucket).await?;
        let enc = Enc::new(i.encoding_type.as_ref())?;
        let max = util::max_keys(i.max_keys)?;
        let after = match &i.continuation_token {
            Some(t) => Some(
                B64.decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
            ),
            None => i.start_after.clone().filter(|s| !s.is_empty()),
        };
        let q = ListQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone(),
            after,
            max_keys: max,
        };
        let page = self.meta.list_objects(&b.name, &q).await.map_err(error::meta)?;
        let fetch_owner = i.fetch_owner.unwrap_or(false);
        let contents: Vec<Object> =
            page.objects().map(|o| object_entry(o, &enc, fetch_owner.then_some(b.owner.as_str()))).collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(b.name.clone()),
            prefix: Some(enc.s(&q.prefix)),
            max_keys: Some(max as i32),
            key_count: Some(page.items.len() as i32),
            continuation_token: i.continuation_token.clone(),
            next_continuation_token: if page.truncated { last_of(&page).map(|k| B64.encode(k)) } else { None },
            is_truncated: Some(page.truncated),
            common_prefixes: prefixes(&page, &enc),
            contents: Some(contents),
            delimiter: enc.opt(i.delimiter.as_deref()),
            encoding_type: enc.kind(),
            start_after: enc.opt(i.start_after.as_deref()),
            ..Default::default()
        }))
    }

    pub(crate) async fn op_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let b = self.owned_bucket(&caller, &i.bucket).await?;
        let enc = Enc::new(i.encoding_type.as_ref())?;
        let max = util::max_keys(i.max_keys)?;
        let q = VersionQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone(),
            key_marker: i.key_marker.clone().filter(|k| !k.is_empty()),
            version_id_marker: i.version_id_marker.clone().filter(|v| !v.is_empty()),
            max_keys: max,
        };
        let page = self.meta.list_versions(&b.name, &q).await.map_err(error::meta)?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        // The first version of a key in scan order is its latest, unless the page resumed
        // inside that key's versions.
        let mut prev_key = q.version_id_marker.as_ref().and(q.key_marker.clone());
        for o in page.objects() {
            let is_latest = prev_key.as_deref() != Some(o.key.as_str());
            prev_key = Some(o.key.clone());
            if o.delete_marker {
                markers.push(DeleteMarkerEntry {
                    key: Some(enc.s(&o.key)),
                    version_id: Some(o.version_id.clone()),
                    is_latest: Some(is_latest),
                    last_modified: Some(util::ts(o.mtime_ns)),
                    owner: Some(owner(&b.owner)),
                });
            } else {
                versions.push(s3s::dto::ObjectVersion {
                    key: Some(enc.s(&o.key)),
                    version_id: Some(o.version_id.clone()),
                    is_latest: Some(is_latest),
                    last_modified: Some(util::ts(o.mtime_ns)),
                    e_tag: Some(util::etag(&o.etag)),
                    size: Some(o.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    owner: Some(owner(&b.owner)),
                    ..Default::default()
                });
            }
        }
        let (next_key, next_vid) = match (page.truncated, page.items.last()) {
            (true, Some(ListItem::Object(o))) => (Some(enc.s(&o.key)), Some(o.version_id.clone())),
            (true, Some(ListItem::CommonPrefix(p))) => (Some(enc.s(p)), None),
            _ => (None, None),
        };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(b.name.clone()),
            prefix: Some(enc.s(&q.prefix)),
            delimiter: enc.opt(i.delimiter.as_deref()),
            key_marker: enc.opt(i.key_marker.as_deref()),
            version_id_marker: i.version_id_marker.clone(),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: next_key,
            next_version_id_marker: next_vid,
            versions: Some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: prefixes(&page, &enc),
            encoding_type: enc.kind(),
            ..Default::default()
        }))
    }
}
