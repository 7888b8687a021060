//! The access-control operations of buckets and objects: bucket policies (put, get,
//! delete, status), ACLs of buckets and of object versions, object ownership controls and
//! the public access block, with AWS's errors (`MalformedPolicy` with the reason,
//! `NoSuchBucketPolicy`, `AccessControlListNotSupported` when ACLs are disabled,
//! `AccessDenied` for a public policy or ACL a public access block blocks ...). Who may call
//! them was decided by the access check (`authz`); these handlers check the documents.

use access::Policy;
use metadata::{Ownership, PublicAccessBlock, VersionUpdate};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::acl_wire::{self, GrantHeaders};
use crate::{S3Api, auth, error};

fn no_pab() -> S3Error {
    error::custom(
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
        http::StatusCode::NOT_FOUND,
    )
}

impl S3Api {
    /// The ACL a new version written by `cx` in `b` gets, from the request's canned ACL and
    /// grant headers (`None`: owned by the bucket owner, private). Who owns it follows the
    /// bucket's object ownership; with ACLs disabled only `bucket-owner-full-control` (or
    /// nothing) is accepted.
    pub(crate) async fn new_object_acl(
        &self,
        cx: &auth::Ctx,
        b: &metadata::BucketInfo,
        canned: Option<&str>,
        grants: &GrantHeaders<'_>,
    ) -> S3Result<Option<Vec<u8>>> {
        let bucket_owner = acl_wire::owner_of(&b.owner);
        let owner = match b.ownership {
            Some(Ownership::BucketOwnerEnforced) => bucket_owner.clone(),
            Some(Ownership::BucketOwnerPreferred) if canned == Some("bucket-owner-full-control") => {
                bucket_owner.clone()
            }
            _ => acl_wire::owner_of(cx.name()),
        };
        let acl = acl_wire::requested_acl(&self.authz.iam, canned, grants, None, owner.clone(), &bucket_owner).await?;
        if let Some(a) = &acl {
            self.check_acl(b, a)?;
        }
        Ok(match acl {
            _ if b.ownership_enforced() => None,
            Some(a) if acl_wire::owner_only(&a) && a.owner == bucket_owner => None,
            Some(a) => Some(a.encode()),
            None if owner == bucket_owner => None,
            None => Some(access::acl::Acl::private(owner).encode()),
        })
    }

    pub(crate) async fn op_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let p = Policy::parse_bucket(&req.input.policy, &b.name)
            .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string()))?;
        if b.public_access_block.is_some_and(|p| p.block_public_policy) && p.is_public() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        b.policy = Some(req.input.policy.as_str().into());
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(crate) async fn op_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        match b.policy {
            Some(policy) => Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy.to_string()) })),
            None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
        }
    }

    pub(crate) async fn op_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.policy.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(crate) async fn op_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let Some(p) = self.authz.bucket_policy(&b) else {
            return Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"));
        };
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus { is_public: Some(p.is_public()) }),
        }))
    }

    pub(crate) async fn op_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let (owner, grants) = acl_wire::to_dto(&self.authz.bucket_acl(&b));
        Ok(S3Response::new(GetBucketAclOutput { owner: Some(owner), grants: Some(grants) }))
    }

    pub(crate) async fn op_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let mut b = self.owned_bucket(&cx, &i.bucket).await?;
        let owner = acl_wire::owner_of(&b.owner);
        let grants = GrantHeaders {
            full_control: i.grant_full_control.as_deref(),
            read: i.grant_read.as_deref(),
            read_acp: i.grant_read_acp.as_deref(),
            write: i.grant_write.as_deref(),
            write_acp: i.grant_write_acp.as_deref(),
        };
        let acl = acl_wire::requested_acl(
            &self.authz.iam,
            i.acl.as_ref().map(BucketCannedACL::as_str),
            &grants,
            i.access_control_policy.as_ref(),
            owner.clone(),
            &owner,
        )
        .await?
        .ok_or_else(|| s3_error!(MissingSecurityHeader, "Your request was missing a required header"))?;
        self.check_acl(&b, &acl)?;
        b.acl = (!acl_wire::owner_only(&acl)).then(|| acl.encode());
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    /// An ACL a request sets on `b` or its objects: refused when the bucket's ACLs are
    /// disabled (unless it is only the owner's full control) or when a public access block
    /// blocks public ACLs and it is public.
    pub(crate) fn check_acl(&self, b: &metadata::BucketInfo, acl: &access::acl::Acl) -> S3Result<()> {
        if b.ownership_enforced() && !acl_wire::owner_only(acl) {
            return Err(acl_wire::acls_disabled());
        }
        if b.public_access_block.is_some_and(|p| p.block_public_acls) && acl.is_public() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(())
    }

    pub(crate) async fn op_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        let crate::get::Found { obj, .. } = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let acl = obj
            .acl
            .as_deref()
            .and_then(|a| access::acl::Acl::decode(a).ok())
            .unwrap_or_else(|| access::acl::Acl::private(acl_wire::owner_of(&b.owner)));
        let (owner, grants) = acl_wire::to_dto(&acl);
        Ok(S3Response::new(GetObjectAclOutput { owner: Some(owner), grants: Some(grants), request_charged: None }))
    }

    pub(crate) async fn op_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        let crate::get::Found { obj, .. } = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let bucket_owner = acl_wire::owner_of(&b.owner);
        let owner = obj
            .acl
            .as_deref()
            .and_then(|a| access::acl::Acl::decode(a).ok())
            .map_or_else(|| bucket_owner.clone(), |a| a.owner);
        let grants = GrantHeaders {
            full_control: i.grant_full_control.as_deref(),
            read: i.grant_read.as_deref(),
            read_acp: i.grant_read_acp.as_deref(),
            write: i.grant_write.as_deref(),
            write_acp: i.grant_write_acp.as_deref(),
        };
        let acl = acl_wire::requested_acl(
            &self.authz.iam,
            i.acl.as_ref().map(ObjectCannedACL::as_str),
            &grants,
            i.access_control_policy.as_ref(),
            owner,
            &bucket_owner,
        )
        .await?
        .ok_or_else(|| s3_error!(MissingSecurityHeader, "Your request was missing a required header"))?;
        self.check_acl(&b, &acl)?;
        let change = VersionUpdate { acl: Some(Some(acl.encode())), ..Default::default() };
        self.meta.update_version(&b.name, &i.key, &obj.version_id, &change).await.map_err(error::meta)?;
        Ok(S3Response::new(PutObjectAclOutput { request_charged: None }))
    }

    pub(crate) async fn op_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let Some(o) = b.ownership else {
            return Err(s3_error!(OwnershipControlsNotFoundError, "The bucket ownership controls were not found"));
        };
        let rule = OwnershipControlsRule { object_ownership: ObjectOwnership::from(o.as_str().to_string()) };
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls { rules: vec![rule] }),
        }))
    }

    pub(crate) async fn op_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let rules = &req.input.ownership_controls.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        };
        let o = Ownership::parse(rule.object_ownership.as_str())
            .ok_or_else(|| s3_error!(InvalidArgument, "Invalid ObjectOwnership {}", rule.object_ownership.as_str()))?;
        if o == Ownership::BucketOwnerEnforced && !acl_wire::owner_only(&self.authz.bucket_acl(&b)) {
            return Err(s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ));
        }
        b.ownership = Some(o);
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub(crate) async fn op_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.ownership.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }

    pub(crate) async fn op_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let p = b.public_access_block.ok_or_else(no_pab)?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(p.block_public_acls),
                block_public_policy: Some(p.block_public_policy),
                ignore_public_acls: Some(p.ignore_public_acls),
                restrict_public_buckets: Some(p.restrict_public_buckets),
            }),
        }))
    }

    pub(crate) async fn op_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let c = &req.input.public_access_block_configuration;
        b.public_access_block = Some(PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        });
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub(crate) async fn op_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.public_access_block.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }
}
