//! PutObject: stream the body in (inline or erasure-coded), verify Content-MD5 and
//! checksums, then commit the version to metadata, the single point of visibility.
//! Data written for a request that fails is removed before the error is returned.

use metadata::{ObjectData, ObjectVersion, PutCondition, Versioning, clock};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::body::{self, Hashing};
use crate::ingest::Target;
use crate::{MAX_PUT_SIZE, S3Api, auth, error, util};

pub(crate) fn empty_blob() -> StreamingBlob {
    StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
}

pub(crate) fn declared_len(len: Option<i64>) -> S3Result<Option<u64>> {
    match len {
        Some(l) if l < 0 => Err(s3_error!(InvalidArgument, "Content-Length must not be negative")),
        Some(l) if l as u64 > MAX_PUT_SIZE => {
            Err(s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size."))
        }
        Some(l) => Ok(Some(l as u64)),
        None => Ok(None),
    }
}

/// AWS needs a body's length: one sent `Transfer-Encoding: chunked` without
/// `Content-Length` (or the aws-chunked `x-amz-decoded-content-length`) is refused with 411.
pub(crate) fn require_length(headers: &http::HeaderMap) -> S3Result<()> {
    let chunked = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.to_ascii_lowercase().contains("chunked")));
    if chunked
        && !headers.contains_key(http::header::CONTENT_LENGTH)
        && !headers.contains_key("x-amz-decoded-content-length")
    {
        let mut e = s3s::S3Error::with_message(
            s3s::S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        );
        e.set_status_code(http::StatusCode::LENGTH_REQUIRED);
        return Err(e);
    }
    Ok(())
}

pub(crate) fn put_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<PutCondition> {
    match (if_match, if_none_match) {
        (_, Some(ETagCondition::Any)) => Ok(PutCondition::IfNoneMatchAny),
        (_, Some(_)) => Err(s3_error!(NotImplemented, "If-None-Match on PUT supports only '*'")),
        (Some(ETagCondition::ETag(e)), None) => Ok(PutCondition::IfMatch(e.value().to_string())),
        (Some(ETagCondition::Any), None) => Ok(PutCondition::None),
        (None, None) => Ok(PutCondition::None),
    }
}

/// Sets the checksum fields of an output from stored checksums.
macro_rules! set_checksums {
    ($out:expr, $sums:expr) => {{
        let s = $sums;
        $out.checksum_crc32 = s.get("CRC32").cloned();
        $out.checksum_crc32c = s.get("CRC32C").cloned();
        $out.checksum_sha1 = s.get("SHA1").cloned();
        $out.checksum_sha256 = s.get("SHA256").cloned();
        $out.checksum_crc64nvme = s.get("CRC64NVME").cloned();
    }};
}
pub(crate) use set_checksums;

impl S3Api {
    /// Removes data written for an object that was never committed.
    pub(crate) async fn discard(&self, bucket: &str, key: &str, data: &ObjectData) {
        if let ObjectData::Erasure(l) = data {
            self.ec.delete_object_data(l, bucket, key).await;
        }
    }

    pub(crate) async fn op_put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = auth::caller(&req)?;
        let S3Request { input, headers, trailing_headers, .. } = req;
        require_length(&headers)?;
        let bucket = self.owned_bucket(&caller, &input.bucket).await?;
        let home = self.placement(&bucket, &input.key)?;
        let grants = crate::acl_wire::GrantHeaders {
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write: None,
            write_acp: input.grant_write_acp.as_deref(),
        };
        let acl =
            self.new_object_acl(&caller, &bucket, input.acl.as_ref().map(ObjectCannedACL::as_str), &grants).await?;
        let user_meta = util::user_meta(input.metadata)?;
        let declared = declared_len(input.content_length)?;
        let decl = body::declared(
            &headers,
            input.content_md5.clone(),
            [
                input.checksum_crc32.clone(),
                input.checksum_crc32c.clone(),
                input.checksum_sha1.clone(),
                input.checksum_sha256.clone(),
                input.checksum_crc64nvme.clone(),
            ],
            input.checksum_algorithm.as_ref().map(ChecksumAlgorithm::as_str),
        )?;
        let cond = put_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let tags = crate::tagging::from_header(input.tagging.as_deref())?;
        let (retention, legal_hold) = crate::object_lock::for_new_version(
            &bucket,
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
            clock::now_ns(),
        )?;
        let customer = crate::sse::customer_key_of!(input)?;
        let asked = crate::sse::asked(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.ssekms_encryption_context.as_deref(),
            customer,
        )?;
        let key = input.key;
        let enc = self.new_encryption(&bucket, &key, asked)?;
        let mut hashing = Hashing::new(input.body.unwrap_or_else(empty_blob), &decl.algorithms());
        let layout = self.new_layout(&bucket.name, &key, home.as_deref()).await?;
        let target = Target {
            bucket: &bucket.name,
            key: &key,
            layout: &layout,
            file: "part.1",
            max_size: MAX_PUT_SIZE,
            inline: true,
            declared: if enc.is_some() { declared.map(rustfs_sse::cipher_len) } else { declared },
        };
        let ing = match &enc {
            Some((_, object_key)) => {
                let part_key = rustfs_sse::part_key(object_key, 1);
                self.ingest(target, rustfs_sse::Encrypt::new(&mut hashing, &part_key)).await?
            }
            None => self.ingest(target, &mut hashing).await?,
        };
        let trailers = trailing_headers.and_then(|t| t.take());
        let body::Received { size, md5, checksums } = match hashing.check(declared, &decl, trailers.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                self.discard(&bucket.name, &key, &ing.data).await;
                return Err(e);
            }
        };
        let data = match ing.data {
            ObjectData::Erasure(mut l) => {
                // Encrypted: the part holds the ciphertext.
                l.parts = vec![ecstore::single_part(if enc.is_some() { ing.size } else { size }, &md5)];
                ObjectData::Erasure(l)
            }
            d => d,
        };
        let obj = ObjectVersion {
            bucket: bucket.name.clone(),
            key,
            version_id: S3Api::new_version_id(&bucket),
            delete_marker: false,
            size,
            etag: md5,
            mtime_ns: clock::now_ns(),
            content_type: input.content_type,
            headers: util::std_headers(
                input.cache_control,
                input.content_disposition,
                input.content_encoding,
                input.content_language,
                input.expires,
            ),
            user_meta,
            checksums,
            data,
            acl,
            tags,
            retention,
            legal_hold,
            sse: enc.map(|(e, _)| e),
        };
        match self.meta.put_object(obj.clone(), cond).await {
            Ok(replaced) => self.free(replaced),
            Err(e) => {
                self.after_failed_commit(&obj, &e).await;
                return Err(error::meta(e));
            }
        }
        self.heal_if(ing.degraded, &obj);
        let mut out = PutObjectOutput {
            e_tag: Some(util::etag(&obj.etag)),
            version_id: util::shown_version(&obj, bucket.versioning != Versioning::Unversioned),
            expiration: self.expiration(&bucket, &obj),
            ..Default::default()
        };
        set_checksums!(out, &obj.checksums);
        crate::sse::set_sse!(out, obj.sse.as_ref());
        Ok(S3Response::new(out))
    }
}
