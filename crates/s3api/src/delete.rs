//! DeleteObject and DeleteObjects: removing a version, or adding a delete marker in a
//! versioned bucket. The metadata commit is the delete; freeing shards follows it.

use metadata::{NULL_VERSION, ObjectData, ObjectVersion, PutCondition, Versioning, clock};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error};

/// What one delete did, as S3 reports it.
struct Deleted {
    version_id: Option<String>,
    delete_marker: bool,
}

impl S3Api {
    /// Deletes one version (or adds a delete marker). `bypass`: the request's
    /// `x-amz-bypass-governance-retention`.
    async fn delete_one(
        &self,
        cx: &auth::Ctx,
        bucket: &metadata::BucketInfo,
        key: &str,
        version_id: Option<&str>,
        bypass: bool,
    ) -> S3Result<Deleted> {
        match (version_id, bucket.versioning) {
            (Some(vid), _) => {
                if bucket.object_lock.is_some() {
                    match self.meta.get_object(&bucket.name, key, Some(vid)).await {
                        Ok(v) => self.check_removable(cx, bucket, &v, bypass)?,
                        Err(metadata::MetaError::NoSuchKey { .. } | metadata::MetaError::NoSuchVersion { .. }) => {}
                        Err(e) => return Err(error::meta(e)),
                    }
                }
                let removed = self.remove_version(&bucket.name, key, vid).await.map_err(error::meta)?;
                let delete_marker = removed.as_ref().is_some_and(|r| r.delete_marker);
                Ok(Deleted { version_id: Some(vid.to_string()), delete_marker })
            }
            (None, Versioning::Unversioned) => {
                self.remove_version(&bucket.name, key, NULL_VERSION).await.map_err(error::meta)?;
                Ok(Deleted { version_id: None, delete_marker: false })
            }
            (None, _) => {
                let id = self.add_delete_marker(bucket, key, PutCondition::None).await.map_err(error::meta)?;
                Ok(Deleted { version_id: Some(id), delete_marker: true })
            }
        }
    }

    /// Removes one version and frees its data; returns it (`None`: it was not there).
    pub(crate) async fn remove_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> metadata::Result<Option<ObjectVersion>> {
        let removed = self.meta.delete_version(bucket, key, version_id).await?;
        self.free(removed.iter().cloned().collect());
        Ok(removed)
    }

    /// Puts a delete marker on `key` (on `cond` about the current version); returns its id.
    pub(crate) async fn add_delete_marker(
        &self,
        bucket: &metadata::BucketInfo,
        key: &str,
        cond: PutCondition,
    ) -> metadata::Result<String> {
        let marker = ObjectVersion {
            bucket: bucket.name.clone(),
            key: key.to_string(),
            version_id: S3Api::new_version_id(bucket),
            delete_marker: true,
            size: 0,
            etag: String::new(),
            mtime_ns: clock::now_ns(),
            content_type: None,
            headers: Default::default(),
            user_meta: Default::default(),
            checksums: Default::default(),
            data: ObjectData::None,
            acl: None,
            tags: Default::default(),
            retention: None,
            legal_hold: false,
            sse: None,
        };
        let replaced = self.meta.put_object(marker.clone(), cond).await?;
        self.free(replaced);
        Ok(marker.version_id)
    }

    pub(crate) async fn op_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let caller = auth::caller(&req)?;
        let i = &req.input;
        let bucket = self.owned_bucket(&caller, &i.bucket).await?;
        let bypass = i.bypass_governance_retention.unwrap_or(false);
        let d = self.delete_one(&caller, &bucket, &i.key, i.version_id.as_deref(), bypass).await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: d.delete_marker.then_some(true),
            version_id: d.version_id,
            ..Default::default()
        }))
    }

    pub(crate) async fn op_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = auth::caller(&req)?;
        let i = req.input;
        let bucket = self.owned_bucket(&caller, &i.bucket).await?;
        if i.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let quiet = i.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in i.delete.objects {
            // Each key is its own decision (the access check saw only the bucket).
            let action = crate::authz::action_of("DeleteObject", o.version_id.is_some(), crate::authz::Level::Object);
            if !self.authz.decide(&caller.caller, &action, &bucket, Some(&o.key), None).allowed() {
                errors.push(to_error(crate::authz::denied(), o.key, o.version_id));
                continue;
            }
            let bypass = i.bypass_governance_retention.unwrap_or(false);
            match self.delete_one(&caller, &bucket, &o.key, o.version_id.as_deref(), bypass).await {
                Ok(d) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(o.key),
                            version_id: o.version_id.clone(),
                            delete_marker: d.delete_marker.then_some(true),
                            delete_marker_version_id: if d.delete_marker { d.version_id } else { None },
                        });
                    }
                }
                Err(e) => errors.push(to_error(e, o.key, o.version_id)),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }
}

fn to_error(e: S3Error, key: String, version_id: Option<String>) -> Error {
    Error {
        code: Some(e.code().as_str().to_string()),
        message: e.message().map(str::to_string),
        key: Some(key),
        version_id,
    }
}
