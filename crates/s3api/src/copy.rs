//! CopyObject (metadata directive COPY/REPLACE, copy onto itself with REPLACE, copy-source
//! conditions) and the shared helpers UploadPartCopy uses: resolving the source and
//! streaming a range of it back through ingest.

use metadata::{ObjectData, ObjectVersion, PutCondition, Versioning, clock};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::body::Hashing;
use crate::get::Found;
use crate::ingest::{Ingested, Target};
use crate::util::{self, Conditions};
use crate::{MAX_PUT_SIZE, S3Api, auth, error};

pub(crate) struct Source {
    pub obj: ObjectVersion,
    pub version_id: Option<String>,
}

pub(crate) struct CopyConds<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// The copy-source conditions of a CopyObject or UploadPartCopy input.
macro_rules! copy_conds {
    ($i:expr) => {
        crate::copy::CopyConds {
            if_match: $i.copy_source_if_match.as_ref(),
            if_none_match: $i.copy_source_if_none_match.as_ref(),
            if_modified_since: $i.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $i.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(crate) use copy_conds;

impl S3Api {
    /// Resolves `x-amz-copy-source` and checks the copy-source conditions (which answer 412
    /// where a GET would answer 304).
    pub(crate) async fn copy_source(
        &self,
        caller: &crate::auth::Ctx,
        src: &CopySource,
        c: CopyConds<'_>,
    ) -> S3Result<Source> {
        let CopySource::Bucket { bucket, key, version_id } = src else {
            return Err(s3_error!(NotImplemented, "Access point copy sources are not supported"));
        };
        let Found { obj, versioned } = self.find_object(caller, bucket, key, version_id.as_deref()).await?;
        let conds = Conditions {
            if_match: c.if_match,
            if_none_match: c.if_none_match,
            if_modified_since: c.if_modified_since,
            if_unmodified_since: c.if_unmodified_since,
        };
        conds
            .check(&obj)
            .map_err(|e| if *e.code() == S3ErrorCode::NotModified { util::precondition_failed() } else { e })?;
        let version_id = util::shown_version(&obj, versioned);
        Ok(Source { obj, version_id })
    }

    /// Copies `range` of `src` (opened with `src_key` when encrypted) into a new data
    /// location for `bucket/key`, encrypted with `dest_part_key` when given. Hashes are of
    /// the plaintext; `Ingested::size` is what was stored.
    pub(crate) async fn copy_bytes(
        &self,
        src: &ObjectVersion,
        range: std::ops::Range<u64>,
        mut t: Target<'_>,
        algorithms: &[String],
        src_key: Option<&[u8; 32]>,
        dest_part_key: Option<&[u8; 32]>,
    ) -> S3Result<(Ingested, String, std::collections::BTreeMap<String, String>)> {
        let blob = self.open_range(src, range, src_key).await?;
        let mut hashing = Hashing::new(blob, algorithms);
        let ing = match dest_part_key {
            Some(k) => {
                t.declared = t.declared.map(rustfs_sse::cipher_len);
                self.ingest(t, rustfs_sse::Encrypt::new(&mut hashing, k)).await?
            }
            None => self.ingest(t, &mut hashing).await?,
        };
        let (md5, sums) = hashing.finish();
        Ok((ing, md5, sums))
    }

    pub(crate) async fn op_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let bucket = self.owned_bucket(&caller, &i.bucket).await?;
        let home = self.placement(&bucket, &i.key)?;
        let grants = crate::acl_wire::GrantHeaders {
            full_control: i.grant_full_control.as_deref(),
            read: i.grant_read.as_deref(),
            read_acp: i.grant_read_acp.as_deref(),
            write: None,
            write_acp: i.grant_write_acp.as_deref(),
        };
        let acl = self.new_object_acl(&caller, &bucket, i.acl.as_ref().map(ObjectCannedACL::as_str), &grants).await?;
        let src = self.copy_source(&caller, &i.copy_source, copy_conds!(i)).await?;
        let replace = match i.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        let tags = match i.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some(TaggingDirective::COPY) => src.obj.tags.clone(),
            Some(TaggingDirective::REPLACE) => crate::tagging::from_header(i.tagging.as_deref())?,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
        };
        let (retention, legal_hold) = crate::object_lock::for_new_version(
            &bucket,
            i.object_lock_mode.as_ref(),
            i.object_lock_retain_until_date.as_ref(),
            i.object_lock_legal_hold_status.as_ref(),
            clock::now_ns(),
        )?;
        let src_customer = crate::sse::customer_key_of!(copy_source i)?;
        let src_key = self.key_of(&src.obj, src_customer.as_ref())?;
        let customer = crate::sse::customer_key_of!(i)?;
        let asked = crate::sse::asked(
            i.server_side_encryption.as_ref(),
            i.ssekms_key_id.as_deref(),
            i.ssekms_encryption_context.as_deref(),
            customer,
        )?;
        let changes_encryption = !matches!(asked, crate::sse::Asked::Default);
        let enc = self.new_encryption(&bucket, &i.key, asked)?;
        let same = src.obj.bucket == bucket.name && src.obj.key == i.key;
        if same && !replace && src.version_id.is_none() && !changes_encryption {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        if src.obj.size > MAX_PUT_SIZE {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {}",
                MAX_PUT_SIZE
            ));
        }
        let mut algorithms: Vec<String> = src.obj.checksums.keys().cloned().collect();
        if let Some(a) = &i.checksum_algorithm {
            algorithms.push(a.as_str().to_ascii_uppercase());
        }
        let layout = self.new_layout(&bucket.name, &i.key, home.as_deref()).await?;
        let target = Target {
            bucket: &bucket.name,
            key: &i.key,
            layout: &layout,
            file: "part.1",
            max_size: MAX_PUT_SIZE,
            inline: true,
            declared: Some(src.obj.size),
        };
        let dest_part_key = enc.as_ref().map(|(_, k)| rustfs_sse::part_key(k, 1));
        let (ing, md5, sums) = self
            .copy_bytes(&src.obj, 0..src.obj.size, target, &algorithms, src_key.as_ref(), dest_part_key.as_ref())
            .await?;
        let data = match ing.data {
            ObjectData::Erasure(mut l) => {
                l.parts = vec![ecstore::single_part(ing.size, &md5)];
                ObjectData::Erasure(l)
            }
            d => d,
        };
        let (content_type, headers, user_meta) = if replace {
            (
                i.content_type,
                util::std_headers(
                    i.cache_control,
                    i.content_disposition,
                    i.content_encoding,
                    i.content_language,
                    i.expires,
                ),
                util::user_meta(i.metadata)?,
            )
        } else {
            (src.obj.content_type.clone(), src.obj.headers.clone(), src.obj.user_meta.clone())
        };
        let obj = ObjectVersion {
            bucket: bucket.name.clone(),
            key: i.key.clone(),
            version_id: S3Api::new_version_id(&bucket),
            delete_marker: false,
            size: src.obj.size,
            etag: md5,
            mtime_ns: clock::now_ns(),
            content_type,
            headers,
            user_meta,
            checksums: sums,
            data,
            acl,
            tags,
            retention,
            legal_hold,
            sse: enc.map(|(e, _)| e),
        };
        match self.meta.put_object(obj.clone(), PutCondition::None).await {
            Ok(replaced) => self.free(replaced),
            Err(e) => {
                self.after_failed_commit(&obj, &e).await;
                return Err(error::meta(e));
            }
        }
        self.heal_if(ing.degraded, &obj);
        let mut result = CopyObjectResult {
            e_tag: Some(util::etag(&obj.etag)),
            last_modified: Some(util::ts(obj.mtime_ns)),
            ..Default::default()
        };
        crate::put::set_checksums!(result, &obj.checksums);
        let shown = crate::sse::shown(obj.sse.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: src.version_id,
            server_side_encryption: shown.sse,
            ssekms_key_id: shown.kms_key_id,
            sse_customer_algorithm: shown.customer_algorithm,
            sse_customer_key_md5: shown.customer_key_md5,
            version_id: util::shown_version(&obj, bucket.versioning != Versioning::Unversioned),
            expiration: self.expiration(&bucket, &obj),
            ..Default::default()
        }))
    }
}
