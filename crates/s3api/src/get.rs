//! GetObject and HeadObject: metadata lookup, conditional requests, ranges (including
//! suffix and open ranges, and partNumber), then the bytes: inline, or streamed from the
//! erasure store with on-the-fly reconstruction.

use metadata::{ObjectData, ObjectVersion, Versioning};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::put::set_checksums;
use crate::util::{self, Conditions};
use crate::{S3Api, auth, body, error};

/// Headers that mark a delete marker on an error response.
fn delete_marker_error(mut e: S3Error, obj: &ObjectVersion) -> S3Error {
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = http::HeaderValue::from_str(&obj.version_id) {
        h.insert("x-amz-version-id", v);
    }
    e.set_headers(h);
    e
}

pub(crate) struct Found {
    pub obj: ObjectVersion,
    pub versioned: bool,
}

impl S3Api {
    /// Looks an object up for reading: delete markers answer as S3 does.
    pub(crate) async fn find_object(
        &self,
        caller: &crate::auth::Ctx,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<Found> {
        let b = self.owned_bucket(caller, bucket).await?;
        let obj = match self.meta.get_object(bucket, key, version_id).await {
            Ok(o) => o,
            // A missing key is a 404 to those who may list the bucket, else a 403 (as AWS).
            Err(metadata::MetaError::NoSuchKey { .. } | metadata::MetaError::NoSuchVersion { .. })
                if !self.authz.may_list(&caller.caller, &b) =>
            {
                return Err(crate::authz::denied());
            }
            Err(e) => return Err(error::meta(e)),
        };
        if obj.delete_marker {
            return Err(if version_id.is_some() {
                delete_marker_error(
                    s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource."),
                    &obj,
                )
            } else {
                delete_marker_error(s3_error!(NoSuchKey, "The specified key does not exist."), &obj)
            });
        }
        Ok(Found { obj, versioned: b.versioning != Versioning::Unversioned })
    }

    /// Opens a byte range of an object's data as a response body.
    /// `object_key`: the version's opened key when it is encrypted (see `sse`).
    pub(crate) async fn open_range(
        &self,
        obj: &ObjectVersion,
        r: std::ops::Range<u64>,
        object_key: Option<&[u8; 32]>,
    ) -> S3Result<StreamingBlob> {
        if let Some(k) = object_key {
            return self.open_encrypted(obj, r, k).await;
        }
        match &obj.data {
            ObjectData::Inline(b) => {
                let slice = b.get(r.start as usize..r.end as usize).unwrap_or_default();
                Ok(body::from_bytes(bytes::Bytes::copy_from_slice(slice)))
            }
            ObjectData::Erasure(l) => {
                let reader = self.ec.read(l, &obj.bucket, &obj.key, r).await.map_err(error::store)?;
                Ok(StreamingBlob::wrap(reader))
            }
            ObjectData::None => Ok(crate::put::empty_blob()),
        }
    }
}

/// The byte range a request selects: `(range, content_range header, parts count)`.
fn select(
    obj: &ObjectVersion,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, Option<String>, Option<i32>)> {
    if let Some(n) = part_number {
        if !(1..=10_000).contains(&n) {
            return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"));
        }
        if range.is_some() {
            return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"));
        }
        let parts: Vec<(u32, u64)> = match &obj.data {
            // Encrypted parts are stored as ciphertext: their object bytes are fewer.
            ObjectData::Erasure(l) if obj.sse.is_some() => {
                l.parts.iter().map(|p| (p.number, rustfs_sse::plain_len(p.size).unwrap_or(0))).collect()
            }
            ObjectData::Erasure(l) => l.parts.iter().map(|p| (p.number, p.size)).collect(),
            _ => vec![(1, obj.size)],
        };
        let count = parts.len() as i32;
        let mut start = 0;
        for (i, (_, size)) in parts.iter().enumerate() {
            if i as i32 + 1 == n {
                let end = start + size;
                let cr = (end > start).then(|| format!("bytes {}-{}/{}", start, end - 1, obj.size));
                return Ok((start..end, cr, Some(count)));
            }
            start += size;
        }
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        return Err(e);
    }
    match range {
        None => Ok((0..obj.size, None, None)),
        Some(r) => {
            let r = r.check(obj.size).map_err(|_| {
                let mut e = s3_error!(InvalidRange, "The requested range is not satisfiable");
                let mut h = http::HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{}", obj.size)) {
                    h.insert(http::header::CONTENT_RANGE, v);
                }
                e.set_headers(h);
                e
            })?;
            let cr = format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), obj.size);
            Ok((r, Some(cr), None))
        }
    }
}

/// Builds a GetObject or HeadObject output: the fields both share, plus `extra` fields.
macro_rules! object_output {
    ($ty:ident { $($field:ident: $value:expr),* $(,)? }, $obj:expr, $versioned:expr, $r:expr, $content_range:expr, $parts_count:expr) => {
        $ty {
            accept_ranges: Some("bytes".into()),
            content_length: Some(($r.end - $r.start) as i64),
            content_range: $content_range,
            parts_count: $parts_count,
            e_tag: Some(util::etag(&$obj.etag)),
            last_modified: Some(util::ts($obj.mtime_ns)),
            content_type: Some($obj.content_type.clone().unwrap_or_else(|| "binary/octet-stream".into())),
            cache_control: $obj.headers.get("cache-control").cloned(),
            content_disposition: $obj.headers.get("content-disposition").cloned(),
            content_encoding: $obj.headers.get("content-encoding").cloned(),
            content_language: $obj.headers.get("content-language").cloned(),
            expires: util::header_expires(&$obj),
            metadata: util::meta_out(&$obj),
            version_id: util::shown_version(&$obj, $versioned),
            object_lock_mode: $obj.retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_string())),
            object_lock_retain_until_date: $obj.retention.map(|r| util::ts(r.until_ns)),
            object_lock_legal_hold_status: $obj
                .legal_hold
                .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
            $($field: $value,)*
            ..Default::default()
        }
    };
}

/// What a GET or HEAD asked for, from either input type.
macro_rules! read_request {
    ($i:expr) => {
        ReadRequest {
            bucket: &$i.bucket,
            key: &$i.key,
            version_id: $i.version_id.as_deref(),
            conds: Conditions {
                if_match: $i.if_match.as_ref(),
                if_none_match: $i.if_none_match.as_ref(),
                if_modified_since: $i.if_modified_since.as_ref(),
                if_unmodified_since: $i.if_unmodified_since.as_ref(),
            },
            range: $i.range.as_ref(),
            part_number: $i.part_number,
        }
    };
}

struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    version_id: Option<&'a str>,
    conds: Conditions<'a>,
    range: Option<&'a Range>,
    part_number: Option<i32>,
}

/// The object a GET or HEAD reads, and which bytes of it.
struct Selected {
    obj: ObjectVersion,
    versioned: bool,
    r: std::ops::Range<u64>,
    content_range: Option<String>,
    parts_count: Option<i32>,
    /// The whole object is returned (so its checksums apply).
    full: bool,
}

impl S3Api {
    /// Looks the object up, applies the conditional headers and selects the byte range.
    async fn select_read(&self, caller: &crate::auth::Ctx, q: ReadRequest<'_>) -> S3Result<Selected> {
        let Found { obj, versioned } = self.find_object(caller, q.bucket, q.key, q.version_id).await?;
        q.conds.check(&obj)?;
        let (r, content_range, parts_count) = select(&obj, q.range, q.part_number)?;
        let full = content_range.is_none();
        Ok(Selected { obj, versioned, r, content_range, parts_count, full })
    }

    pub(crate) async fn op_get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let caller = auth::caller(&req)?;
        let i = &req.input;
        let customer = crate::sse::customer_key_of!(i)?;
        let Selected { obj, versioned, r, content_range, parts_count, full } =
            self.select_read(&caller, read_request!(i)).await?;
        let object_key = self.key_of(&obj, customer.as_ref())?;
        let blob = self.open_range(&obj, r.clone(), object_key.as_ref()).await?;
        let mut out = object_output!(
            GetObjectOutput { body: Some(blob), tag_count: crate::tagging::count(&obj.tags) },
            obj,
            versioned,
            r,
            content_range,
            parts_count
        );
        if full && i.checksum_mode.as_ref().is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) {
            set_checksums!(out, &obj.checksums);
        }
        if let Some(b) = caller.bucket.as_ref().filter(|b| b.lifecycle.is_some()) {
            out.expiration = self.expiration(b, &obj);
        }
        crate::sse::set_sse!(out, obj.sse.as_ref());
        Ok(S3Response::new(out))
    }

    pub(crate) async fn op_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let caller = auth::caller(&req)?;
        let i = &req.input;
        let customer = crate::sse::customer_key_of!(i)?;
        let Selected { obj, versioned, r, content_range, parts_count, full } =
            self.select_read(&caller, read_request!(i)).await?;
        self.key_of(&obj, customer.as_ref())?;
        let mut out = object_output!(HeadObjectOutput {}, obj, versioned, r, content_range, parts_count);
        crate::sse::set_sse!(out, obj.sse.as_ref());
        if full && i.checksum_mode.as_ref().is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) {
            set_checksums!(out, &obj.checksums);
        }
        if let Some(b) = caller.bucket.as_ref().filter(|b| b.lifecycle.is_some()) {
            out.expiration = self.expiration(b, &obj);
        }
        let mut resp = S3Response::new(out);
        if let Some(n) = crate::tagging::count(&obj.tags) {
            resp.headers.insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(resp)
    }
}
