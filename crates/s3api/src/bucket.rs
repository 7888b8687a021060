//! Bucket operations: create (with LocationConstraint and a new bucket id), delete (only
//! when it holds no object; uploads in progress are aborted), head, list (the caller's own
//! buckets), location and versioning.

use metadata::{BucketInfo, MetaError, MultipartUpload, Ownership, UploadQuery, VersionQuery, Versioning, clock};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error, util};

impl S3Api {
    pub(crate) async fn op_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let ownership = match &i.object_ownership {
            None => Ownership::BucketOwnerEnforced,
            Some(o) => Ownership::parse(o.as_str())
                .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-object-ownership {}", o.as_str()))?,
        };
        let owner = crate::acl_wire::owner_of(caller.name());
        let grants = crate::acl_wire::GrantHeaders {
            full_control: i.grant_full_control.as_deref(),
            read: i.grant_read.as_deref(),
            read_acp: i.grant_read_acp.as_deref(),
            write: i.grant_write.as_deref(),
            write_acp: i.grant_write_acp.as_deref(),
        };
        let canned = i.acl.as_ref().map(BucketCannedACL::as_str);
        let acl = crate::acl_wire::requested_acl(&self.authz.iam, canned, &grants, None, owner.clone(), &owner).await?;
        let acl = match acl {
            Some(a) if !crate::acl_wire::owner_only(&a) => {
                if ownership == Ownership::BucketOwnerEnforced {
                    return Err(s3_error!(
                        InvalidBucketAclWithObjectOwnership,
                        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
                    ));
                }
                Some(a.encode())
            }
            _ => None,
        };
        let location = i
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|l| l.as_str().to_string())
            .filter(|l| !l.is_empty());
        let lock = i.object_lock_enabled_for_bucket.unwrap_or(false);
        let info = BucketInfo {
            name: i.bucket.clone(),
            id: clock::new_bucket_id(),
            owner: caller.name().to_string(),
            created_ns: clock::now_ns(),
            location,
            // A bucket with object lock keeps every version: its versioning is on for good.
            versioning: if lock { Versioning::Enabled } else { Versioning::Unversioned },
            deleting: false,
            acl,
            ownership: Some(ownership),
            object_lock: lock.then(metadata::ObjectLockConfig::default),
            ..Default::default()
        };
        match self.meta.create_bucket(info).await {
            Ok(()) => Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", i.bucket)) })),
            Err(MetaError::BucketExists(_)) => {
                let existing = self.meta.get_bucket(&i.bucket).await.ok();
                let owned = existing.as_ref().is_some_and(|b| b.owner == caller.name());
                // us-east-1 answers a repeated create of an owned bucket of its own with 200
                // (legacy S3); a bucket of another region is BucketAlreadyOwnedByYou.
                let in_us_east_1 =
                    existing.as_ref().is_some_and(|b| b.location.as_deref().is_none_or(|l| l == "us-east-1"));
                if owned && in_us_east_1 && self.cfg.region == "us-east-1" {
                    return Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", i.bucket)) }));
                }
                Err(if owned {
                    s3_error!(
                        BucketAlreadyOwnedByYou,
                        "Your previous request to create the named bucket succeeded and you already own it."
                    )
                } else {
                    s3_error!(BucketAlreadyExists, "The requested bucket name is not available.")
                })
            }
            Err(e) => Err(error::meta(e)),
        }
    }

    pub(crate) async fn op_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let caller = auth::caller(&req)?;
        let b = self.owned_bucket(&caller, &req.input.bucket).await?;
        // As S3 does: multipart uploads in progress do not keep a bucket from being deleted;
        // they are aborted, once the bucket is known to hold no object or delete marker.
        let q = VersionQuery { max_keys: 1, ..Default::default() };
        if !self.meta.list_versions(&b.name, &q).await.map_err(error::meta)?.items.is_empty() {
            return Err(error::meta(MetaError::BucketNotEmpty(b.name.clone())));
        }
        loop {
            let q = UploadQuery { max_uploads: 1000, ..Default::default() };
            let page = self.meta.list_uploads(&b.name, &q).await.map_err(error::meta)?;
            let uploads: Vec<MultipartUpload> = page.objects().cloned().collect();
            if uploads.is_empty() {
                break;
            }
            for u in &uploads {
                match self.abort_upload(u).await {
                    Ok(()) => {}
                    Err(e) if e.code() == &s3s::S3ErrorCode::NoSuchUpload => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.meta.delete_bucket(&b.name).await.map_err(error::meta)?;
        if !b.id.is_empty() {
            // The bucket's shards in the KV layout (garbage collection would remove them too).
            self.ec.remove_bucket_root(&b.id).await;
        }
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(crate) async fn op_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let caller = auth::caller(&req)?;
        let b = self.owned_bucket(&caller, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.location.unwrap_or_else(|| self.cfg.region.clone())),
            ..Default::default()
        }))
    }

    pub(crate) async fn op_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let cx = auth::caller(&req)?;
        let prefix = req.input.prefix.unwrap_or_default();
        let max = match req.input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(_) => {
                return Err(s3_error!(InvalidArgument, "Argument max-buckets must be an integer between 1 and 10000"));
            }
        };
        // The continuation token is the last bucket name of the previous page.
        let after = match req.input.continuation_token.as_deref() {
            None => None,
            Some(t) => Some(
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
            ),
        };
        // The caller's own buckets, and those it may list (the root user: every bucket).
        let mut buckets: Vec<Bucket> = self
            .meta
            .list_buckets()
            .await
            .map_err(error::meta)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix) && after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .filter(|b| cx.caller.is_root() || b.owner == cx.name() || self.authz.may_list(&cx.caller, b))
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(util::ts(b.created_ns)),
                bucket_region: Some(b.location.unwrap_or_else(|| self.cfg.region.clone())),
            })
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let continuation_token = (buckets.len() > max).then(|| {
            buckets.truncate(max);
            let last = buckets.last().and_then(|b| b.name.clone()).unwrap_or_default();
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, last)
        });
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(util::owner(cx.name())),
            continuation_token,
            prefix: (!prefix.is_empty()).then_some(prefix),
        }))
    }

    pub(crate) async fn op_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let caller = auth::caller(&req)?;
        let b = self.owned_bucket(&caller, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: b.location.map(BucketLocationConstraint::from),
        }))
    }

    pub(crate) async fn op_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let caller = auth::caller(&req)?;
        let b = self.owned_bucket(&caller, &req.input.bucket).await?;
        let status = match b.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
    }

    pub(crate) async fn op_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let mut b = self.owned_bucket(&caller, &i.bucket).await?;
        let was = b.versioning;
        b.versioning = match i.versioning_configuration.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
        };
        if b.object_lock.is_some() && b.versioning != was {
            return Err(s3_error!(
                InvalidBucketState,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
            ));
        }
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }
}
