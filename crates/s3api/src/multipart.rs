//! Multipart uploads: create, upload part (and part copy with ranges), complete (ETag
//! checks, part order, minimum part size, the S3 multipart ETag), abort, list parts and
//! list uploads. Each part attempt gets its own shard file, so re-uploading a part number
//! never mixes shards of two attempts; completion commits the object and drops the
//! upload in one metadata batch.

use md5::{Digest, Md5};
use metadata::{
    ErasureLayout, MultipartUpload, ObjectData, ObjectVersion, PartInfo, UploadQuery, UploadedPart, Versioning, clock,
};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::body::{self, Hashing};
use crate::copy::copy_conds;
use crate::ingest::Target;
use crate::list::Enc;
use crate::put::{declared_len, empty_blob, put_condition, set_checksums};
use crate::ranges::parse_copy_range;
use crate::{MAX_PUT_SIZE, S3Api, auth, error, util};

const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PARTS: i32 = 10_000;

fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PARTS).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
    }
}

fn part_file(n: u32) -> String {
    format!("part.{n}.{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The S3 multipart ETag: MD5 of the concatenated binary part MD5s, then `-<count>`.
pub(crate) fn multipart_etag(part_etags: &[&str]) -> S3Result<String> {
    let mut h = Md5::new();
    for e in part_etags {
        let raw = hex::decode(e)
            .map_err(|_| s3_error!(InvalidPart, "One or more of the specified parts could not be found."))?;
        h.update(&raw);
    }
    Ok(format!("{}-{}", hex::encode(h.finalize()), part_etags.len()))
}

fn unquote(e: &str) -> &str {
    e.trim().trim_matches('"')
}

fn invalid_part() -> s3s::S3Error {
    s3_error!(
        InvalidPart,
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )
}

impl S3Api {
    /// The object a completion commits, from the current part records, and the records it
    /// uses (checked again by the commit).
    async fn plan_complete(
        &self,
        bucket: &metadata::BucketInfo,
        up: &MultipartUpload,
        requested: &[CompletedPart],
    ) -> S3Result<(ObjectVersion, Vec<UploadedPart>)> {
        let mut stored = std::collections::BTreeMap::new();
        let mut after = 0;
        loop {
            let chunk = self.meta.list_parts(&up.upload_id, after, 1000).await.map_err(error::meta)?;
            let Some(last) = chunk.last() else { break };
            after = last.number;
            let n = chunk.len();
            stored.extend(chunk.into_iter().map(|p| (p.number, p)));
            if n < 1000 {
                break;
            }
        }
        let mut chosen: Vec<UploadedPart> = Vec::with_capacity(requested.len());
        let mut prev = 0u32;
        for p in requested {
            let n = check_part_number(p.part_number.ok_or_else(invalid_part)?)?;
            if n <= prev {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            prev = n;
            let s = stored.get(&n).ok_or_else(invalid_part)?;
            if p.e_tag.as_ref().is_some_and(|e| unquote(e.value()) != s.etag) {
                return Err(invalid_part());
            }
            chosen.push(s.clone());
        }
        for p in &chosen[..chosen.len().saturating_sub(1)] {
            if p.size < MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
        }
        let etag = multipart_etag(&chosen.iter().map(|p| p.etag.as_str()).collect::<Vec<_>>())?;
        let mut layout = self.upload_layout(up);
        layout.parts = chosen
            .iter()
            .map(|p| PartInfo {
                number: p.number,
                // Encrypted parts are stored as ciphertext.
                size: if up.sse.is_some() { rustfs_sse::cipher_len(p.size) } else { p.size },
                etag: p.etag.clone(),
                file: Some(p.file.clone()),
            })
            .collect();
        let obj = ObjectVersion {
            bucket: up.bucket.clone(),
            key: up.key.clone(),
            version_id: S3Api::new_version_id(bucket),
            delete_marker: false,
            size: chosen.iter().map(|p| p.size).sum(),
            etag,
            mtime_ns: clock::now_ns(),
            content_type: up.content_type.clone(),
            headers: up.headers.clone(),
            user_meta: up.user_meta.clone(),
            checksums: up
                .checksum_algorithm
                .as_deref()
                .and_then(|a| {
                    let sum = body::composite_checksum(a, chosen.iter().map(|p| p.checksums.get(a)))?;
                    Some([(a.to_string(), sum)].into())
                })
                .unwrap_or_default(),
            data: ObjectData::Erasure(layout),
            acl: up.acl.clone(),
            tags: up.tags.clone(),
            retention: up.retention,
            legal_hold: up.legal_hold,
            sse: up.sse.clone(),
        };
        Ok((obj, chosen))
    }

    /// MinIO reads a multipart object's parts as `part.<n>` in its data dir, where our
    /// uploads keep one file per attempt (`part.<n>.<id>`). For an upload in MinIO's format,
    /// the parts `obj` uses get those names, as hard links in a new data dir of the same set
    /// (durable before the commit; the upload's files stay as they are, so a completion cut
    /// short leaves the upload whole); `obj`'s layout then points there. Returns whether it
    /// linked.
    async fn minio_part_names(&self, up: &MultipartUpload, obj: &mut ObjectVersion) -> S3Result<bool> {
        let ObjectData::Erasure(l) = &mut obj.data else { return Ok(false) };
        if l.algorithm != ecstore::ALGORITHM_MINIO || l.bucket_id.is_some() {
            return Ok(false);
        }
        let from = l.clone();
        l.data_dir = uuid::Uuid::new_v4().to_string();
        let mut names = Vec::with_capacity(l.parts.len());
        for p in &mut l.parts {
            if let Some(f) = p.file.take() {
                names.push((f, format!("part.{}", p.number)));
            }
        }
        self.ec.link_parts(&from, l, &up.bucket, &up.key, names).await.map_err(error::store)?;
        Ok(true)
    }

    fn upload_layout(&self, up: &MultipartUpload) -> ErasureLayout {
        let minio = up.algorithm.as_deref() == Some(ecstore::ALGORITHM_MINIO);
        let mut l = self.ec.layout_on(up.set as usize, &up.bucket, &up.key, up.bucket_id.as_deref(), minio);
        l.data_dir = up.data_dir.clone();
        l
    }

    async fn owned_upload(
        &self,
        caller: &crate::auth::Ctx,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<MultipartUpload> {
        self.owned_bucket(caller, bucket).await?;
        self.meta.get_upload(bucket, key, upload_id).await.map_err(error::meta)
    }

    pub(crate) async fn op_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
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
        let user_meta = util::user_meta(i.metadata)?;
        let tags = crate::tagging::from_header(i.tagging.as_deref())?;
        let (retention, legal_hold) = crate::object_lock::for_new_version(
            &bucket,
            i.object_lock_mode.as_ref(),
            i.object_lock_retain_until_date.as_ref(),
            i.object_lock_legal_hold_status.as_ref(),
            clock::now_ns(),
        )?;
        let customer = crate::sse::customer_key_of!(i)?;
        let asked = crate::sse::asked(
            i.server_side_encryption.as_ref(),
            i.ssekms_key_id.as_deref(),
            i.ssekms_encryption_context.as_deref(),
            customer,
        )?;
        let enc = self.new_encryption(&bucket, &i.key, asked)?.map(|(e, _)| e);
        let layout = self.new_layout(&bucket.name, &i.key, home.as_deref()).await?;
        let up = MultipartUpload {
            bucket: bucket.name.clone(),
            key: i.key.clone(),
            upload_id: clock::new_upload_id(),
            owner: caller.name().to_string(),
            initiated_ns: clock::now_ns(),
            set: layout.set,
            data_dir: layout.data_dir,
            bucket_id: layout.bucket_id,
            content_type: i.content_type,
            headers: util::std_headers(
                i.cache_control,
                i.content_disposition,
                i.content_encoding,
                i.content_language,
                i.expires,
            ),
            user_meta,
            checksum_algorithm: i.checksum_algorithm.as_ref().map(|a| a.as_str().to_ascii_uppercase()),
            algorithm: (layout.algorithm != ecstore::ALGORITHM).then_some(layout.algorithm),
            acl,
            tags,
            retention,
            legal_hold,
            sse: enc,
        };
        self.meta.create_upload(up.clone()).await.map_err(error::meta)?;
        let shown = crate::sse::shown(up.sse.as_ref());
        Ok(S3Response::new(CreateMultipartUploadOutput {
            server_side_encryption: shown.sse,
            ssekms_key_id: shown.kms_key_id,
            sse_customer_algorithm: shown.customer_algorithm,
            sse_customer_key_md5: shown.customer_key_md5,
            bucket: Some(up.bucket),
            key: Some(up.key),
            upload_id: Some(up.upload_id),
            checksum_algorithm: i.checksum_algorithm,
            ..Default::default()
        }))
    }

    /// Records a part whose data is written; removes the data if recording fails.
    async fn record_part(&self, up: &MultipartUpload, part: UploadedPart) -> S3Result<()> {
        let layout = self.upload_layout(up);
        match self.meta.put_part(up, part.clone()).await {
            Ok(Some(old)) => {
                self.ec.delete_files(&layout, &up.bucket, &up.key, vec![old.file]).await;
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.ec.delete_files(&layout, &up.bucket, &up.key, vec![part.file]).await;
                Err(error::meta(e))
            }
        }
    }

    pub(crate) async fn op_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let caller = auth::caller(&req)?;
        let S3Request { input: i, headers, trailing_headers, .. } = req;
        crate::put::require_length(&headers)?;
        let number = check_part_number(i.part_number)?;
        let up = self.owned_upload(&caller, &i.bucket, &i.key, &i.upload_id).await?;
        let declared = declared_len(i.content_length)?;
        let decl = body::declared(
            &headers,
            i.content_md5.clone(),
            [i.checksum_crc32, i.checksum_crc32c, i.checksum_sha1, i.checksum_sha256, i.checksum_crc64nvme],
            i.checksum_algorithm.as_ref().map(ChecksumAlgorithm::as_str).or(up.checksum_algorithm.as_deref()),
        )?;
        let customer = crate::sse::customer_key_of!(i)?;
        let part_key = self.upload_part_key(&up, number, customer.as_ref())?;
        let layout = self.upload_layout(&up);
        let file = part_file(number);
        let mut hashing = Hashing::new(i.body.unwrap_or_else(empty_blob), &decl.algorithms());
        let target = Target {
            bucket: &up.bucket,
            key: &up.key,
            layout: &layout,
            file: &file,
            max_size: MAX_PUT_SIZE,
            inline: false,
            declared: if part_key.is_some() { declared.map(rustfs_sse::cipher_len) } else { declared },
        };
        match &part_key {
            Some(k) => self.ingest(target, rustfs_sse::Encrypt::new(&mut hashing, k)).await?,
            None => self.ingest(target, &mut hashing).await?,
        };
        let trailers = trailing_headers.and_then(|t| t.take());
        let body::Received { size, md5, checksums } = match hashing.check(declared, &decl, trailers.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                self.ec.delete_files(&layout, &up.bucket, &up.key, vec![file]).await;
                return Err(e);
            }
        };
        let part = UploadedPart { number, size, etag: md5, mtime_ns: clock::now_ns(), file, checksums };
        self.record_part(&up, part.clone()).await?;
        let mut out = UploadPartOutput { e_tag: Some(util::etag(&part.etag)), ..Default::default() };
        set_checksums!(out, &part.checksums);
        crate::sse::set_sse!(out, up.sse.as_ref());
        Ok(S3Response::new(out))
    }

    pub(crate) async fn op_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let number = check_part_number(i.part_number)?;
        let up = self.owned_upload(&caller, &i.bucket, &i.key, &i.upload_id).await?;
        let src = self.copy_source(&caller, &i.copy_source, copy_conds!(i)).await?;
        let range = match &i.copy_source_range {
            None => 0..src.obj.size,
            Some(r) => parse_copy_range(r, src.obj.size)?,
        };
        if range.end - range.start > MAX_PUT_SIZE {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {}",
                MAX_PUT_SIZE
            ));
        }
        let layout = self.upload_layout(&up);
        let file = part_file(number);
        let target = Target {
            bucket: &up.bucket,
            key: &up.key,
            layout: &layout,
            file: &file,
            max_size: MAX_PUT_SIZE,
            inline: false,
            declared: Some(range.end - range.start),
        };
        let algorithms: Vec<String> = up.checksum_algorithm.iter().cloned().collect();
        let src_customer = crate::sse::customer_key_of!(copy_source i)?;
        let src_key = self.key_of(&src.obj, src_customer.as_ref())?;
        let customer = crate::sse::customer_key_of!(i)?;
        let part_key = self.upload_part_key(&up, number, customer.as_ref())?;
        let size = range.end - range.start;
        let (_, md5, sums) =
            self.copy_bytes(&src.obj, range, target, &algorithms, src_key.as_ref(), part_key.as_ref()).await?;
        let part = UploadedPart { number, size, etag: md5, mtime_ns: clock::now_ns(), file, checksums: sums };
        self.record_part(&up, part.clone()).await?;
        let mut result = CopyPartResult {
            e_tag: Some(util::etag(&part.etag)),
            last_modified: Some(util::ts(part.mtime_ns)),
            ..Default::default()
        };
        set_checksums!(result, &part.checksums);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(result),
            copy_source_version_id: src.version_id,
            ..Default::default()
        }))
    }

    pub(crate) async fn op_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let bucket = self.owned_bucket(&caller, &i.bucket).await?;
        let requested = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        let up = match self.meta.get_upload(&i.bucket, &i.key, &i.upload_id).await {
            Ok(up) => up,
            Err(e @ metadata::MetaError::NoSuchUpload(_)) => {
                // A completion repeated (an SDK retry after a lost answer) gets the same 200
                // while the object it made is still the key's current version.
                return match self.completed_before(&bucket, &i.key, &requested).await {
                    Some(out) => Ok(S3Response::new(out)),
                    None => Err(error::meta(e)),
                };
            }
            Err(e) => return Err(error::meta(e)),
        };
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let cond = put_condition(i.if_match.as_ref(), i.if_none_match.as_ref())?;
        // A part uploaded again while this runs makes the commit refuse the stale layout;
        // the part list is then read again.
        let mut attempt = 0;
        let (obj, out, layout, linked) = loop {
            attempt += 1;
            let (mut obj, chosen) = self.plan_complete(&bucket, &up, &requested).await?;
            let linked = self.minio_part_names(&up, &mut obj).await?;
            let layout = match &obj.data {
                ObjectData::Erasure(l) => l.clone(),
                _ => self.upload_layout(&up),
            };
            let replaced = match self.meta.complete_upload(&up, obj.clone(), &chosen, cond.clone()).await {
                Ok(out) => break (obj, out, layout, linked),
                Err(metadata::MetaError::PartReplaced(_)) => attempt >= 3,
                // Not known to be uncommitted: the linked data dir is left to GC.
                Err(e) => return Err(error::meta(e)),
            };
            if linked {
                // Refused: the new names were never visible.
                self.ec.delete_object_data(&layout, &up.bucket, &up.key).await;
            }
            if replaced {
                return Err(invalid_part());
            }
        };
        self.free(out.replaced);
        if linked {
            // Every part has its MinIO name in the object's own data dir: the upload's goes.
            self.ec.delete_object_data(&self.upload_layout(&up), &up.bucket, &up.key).await;
        } else if !out.unused_parts.is_empty() {
            let files = out.unused_parts.into_iter().map(|p| p.file).collect();
            self.ec.delete_files(&layout, &up.bucket, &up.key, files).await;
        }
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(obj.bucket.clone()),
            key: Some(obj.key.clone()),
            location: Some(format!("/{}/{}", obj.bucket, obj.key)),
            e_tag: Some(util::etag(&obj.etag)),
            version_id: util::shown_version(&obj, bucket.versioning != Versioning::Unversioned),
            expiration: self.expiration(&bucket, &obj),
            server_side_encryption: crate::sse::shown(obj.sse.as_ref()).sse,
            ssekms_key_id: crate::sse::shown(obj.sse.as_ref()).kms_key_id,
            ..Default::default()
        }))
    }

    /// The answer of a completion already made from `requested` parts: the key's current
    /// version is the multipart object those parts' ETags make.
    async fn completed_before(
        &self,
        bucket: &metadata::BucketInfo,
        key: &str,
        requested: &[CompletedPart],
    ) -> Option<CompleteMultipartUploadOutput> {
        let etags: Vec<String> = requested
            .iter()
            .map(|p| p.e_tag.as_ref().map(|e| unquote(e.value()).to_string()))
            .collect::<Option<_>>()?;
        let etag = multipart_etag(&etags.iter().map(String::as_str).collect::<Vec<_>>()).ok()?;
        let obj = self.meta.get_object(&bucket.name, key, None).await.ok()?;
        (!obj.delete_marker && obj.etag == etag).then(|| CompleteMultipartUploadOutput {
            bucket: Some(obj.bucket.clone()),
            key: Some(obj.key.clone()),
            location: Some(format!("/{}/{}", obj.bucket, obj.key)),
            e_tag: Some(util::etag(&obj.etag)),
            version_id: util::shown_version(&obj, bucket.versioning != Versioning::Unversioned),
            server_side_encryption: crate::sse::shown(obj.sse.as_ref()).sse,
            ssekms_key_id: crate::sse::shown(obj.sse.as_ref()).kms_key_id,
            ..Default::default()
        })
    }

    /// The key part `number` of `up` is encrypted with (`None`: the upload is not
    /// encrypted); an SSE-C upload needs its key with every part.
    fn upload_part_key(
        &self,
        up: &MultipartUpload,
        number: u32,
        customer: Option<&crate::sse::CustomerKey>,
    ) -> S3Result<Option<[u8; 32]>> {
        match &up.sse {
            None if customer.is_some() => {
                Err(s3_error!(InvalidRequest, "The encryption parameters are not applicable to this upload."))
            }
            None => Ok(None),
            Some(enc) => {
                let k = self.object_key(&up.bucket, &up.key, enc, customer)?;
                Ok(Some(rustfs_sse::part_key(&k, number)))
            }
        }
    }

    pub(crate) async fn op_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let caller = auth::caller(&req)?;
        let i = &req.input;
        let up = self.owned_upload(&caller, &i.bucket, &i.key, &i.upload_id).await?;
        self.abort_upload(&up).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    /// Removes an upload and frees its data dir, unless a version of its key uses that
    /// data dir (a completion that moved between metadata tracks and was cut by a crash
    /// before it removed the upload).
    pub(crate) async fn abort_upload(&self, up: &MultipartUpload) -> S3Result<()> {
        self.meta.abort_upload(up).await.map_err(error::meta)?;
        let in_use = match self.meta.key_versions(&up.bucket, &up.key).await {
            Ok(versions) => {
                versions.iter().any(|v| matches!(&v.data, ObjectData::Erasure(l) if l.data_dir == up.data_dir))
            }
            Err(e) => {
                tracing::warn!(bucket = %up.bucket, key = %up.key, error = %e, "abort keeps the upload's data (garbage collection frees it)");
                true
            }
        };
        if !in_use {
            let layout = self.upload_layout(up);
            self.ec.delete_object_data(&layout, &up.bucket, &up.key).await;
        }
        Ok(())
    }

    pub(crate) async fn op_list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let caller = auth::caller(&req)?;
        let i = &req.input;
        let up = self.owned_upload(&caller, &i.bucket, &i.key, &i.upload_id).await?;
        let max = util::max_keys(i.max_parts)?;
        let marker = i.part_number_marker.unwrap_or(0).max(0) as u32;
        let mut parts = self.meta.list_parts(&up.upload_id, marker, max + 1).await.map_err(error::meta)?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().map(|p| p.number as i32);
        let owner = Owner { id: Some(up.owner.clone()), display_name: Some(up.owner.clone()) };
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(up.bucket.clone()),
            key: Some(up.key.clone()),
            upload_id: Some(up.upload_id.clone()),
            max_parts: Some(max as i32),
            part_number_marker: i.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            initiator: Some(Initiator { id: owner.id.clone(), display_name: owner.display_name.clone() }),
            owner: Some(owner),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            parts: Some(
                parts
                    .iter()
                    .map(|p| {
                        let mut part = Part {
                            part_number: Some(p.number as i32),
                            size: Some(p.size as i64),
                            e_tag: Some(util::etag(&p.etag)),
                            last_modified: Some(util::ts(p.mtime_ns)),
                            ..Default::default()
                        };
                        set_checksums!(part, &p.checksums);
                        part
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(crate) async fn op_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let b = self.owned_bucket(&caller, &i.bucket).await?;
        let enc = Enc::new(i.encoding_type.as_ref())?;
        let max = util::max_keys(i.max_uploads)?;
        let q = UploadQuery {
            prefix: i.prefix.clone().unwrap_or_default(),
            delimiter: i.delimiter.clone(),
            key_marker: i.key_marker.clone().filter(|k| !k.is_empty()),
            upload_id_marker: i.upload_id_marker.clone().filter(|u| !u.is_empty()),
            max_uploads: max,
        };
        let page = self.meta.list_uploads(&b.name, &q).await.map_err(error::meta)?;
        let uploads: Vec<s3s::dto::MultipartUpload> = page
            .objects()
            .map(|u| {
                let owner = Owner { id: Some(u.owner.clone()), display_name: Some(u.owner.clone()) };
                s3s::dto::MultipartUpload {
                    key: Some(enc.s(&u.key)),
                    upload_id: Some(u.upload_id.clone()),
                    initiated: Some(util::ts(u.initiated_ns)),
                    initiator: Some(Initiator { id: owner.id.clone(), display_name: owner.display_name.clone() }),
                    owner: Some(owner),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..Default::default()
                }
            })
            .collect();
        let (next_key, next_upload) = match (page.truncated, page.items.last()) {
            (true, Some(metadata::ListItem::Object(u))) => (Some(enc.s(&u.key)), Some(u.upload_id.clone())),
            (true, Some(metadata::ListItem::CommonPrefix(p))) => (Some(enc.s(p)), None),
            _ => (None, None),
        };
        let prefixes: Vec<CommonPrefix> = page.prefixes().map(|p| CommonPrefix { prefix: Some(enc.s(p)) }).collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(b.name.clone()),
            prefix: Some(enc.s(&q.prefix)),
            delimiter: enc.opt(i.delimiter.as_deref()),
            key_marker: enc.opt(i.key_marker.as_deref()),
            upload_id_marker: i.upload_id_marker.clone(),
            max_uploads: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_upload,
            uploads: Some(uploads),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: enc.kind(),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_matches_s3() {
        // Two parts whose MD5s are those of "a" and "b".
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut h = Md5::new();
        h.update(Md5::digest(b"a"));
        h.update(Md5::digest(b"b"));
        assert_eq!(multipart_etag(&[&a, &b]).unwrap(), format!("{}-2", hex::encode(h.finalize())));
    }
}
