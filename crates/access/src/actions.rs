//! The S3 actions and condition keys a policy may name: AWS's list of `s3:` actions (so a
//! misspelt action is a malformed policy, as AWS answers it, not a silent never-match) and
//! the global (`aws:`) and S3 (`s3:`) condition keys.
//! This module is data; it decides nothing.

use crate::PolicyError;

/// Every `s3:` action AWS defines for buckets and objects (without the prefix).
const S3_ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration",
    "GetAnalyticsConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetInventoryConfiguration",
    "GetLifecycleConfiguration",
    "GetMetricsConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionForReplication",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "GetReplicationConfiguration",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutAccelerateConfiguration",
    "PutAnalyticsConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutInventoryConfiguration",
    "PutLifecycleConfiguration",
    "PutMetricsConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// Whether `name` (without `s3:`) is an S3 action, compared without case as IAM does.
pub fn is_known_s3_action(name: &str) -> bool {
    S3_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The `s3:` condition keys (without the prefix; those ending in `/` take a tag key).
const S3_KEYS: &[&str] = &[
    "prefix",
    "delimiter",
    "max-keys",
    "VersionId",
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-object-ownership",
    "object-lock-mode",
    "object-lock-retain-until-date",
    "object-lock-remaining-retention-days",
    "object-lock-legal-hold",
    "signatureversion",
    "signatureAge",
    "authType",
    "TlsVersion",
    "locationconstraint",
    "RequestObjectTagKeys",
    "ExistingObjectTag/",
    "RequestObjectTag/",
    "ResourceAccount",
    "AccessPointNetworkOrigin",
    "DataAccessPointAccount",
    "DataAccessPointArn",
    "if-match",
    "if-none-match",
];

/// Checks a condition key: any `aws:` global key, a known `s3:` key (a tag key after the
/// `/` of the tag keys); anything else is refused as AWS refuses it.
pub fn check_condition_key(key: &str) -> Result<(), PolicyError> {
    let bad = || PolicyError::Malformed(format!("Policy has an invalid condition key: {key}"));
    let Some((service, name)) = key.split_once(':') else { return Err(bad()) };
    if service.eq_ignore_ascii_case("aws") && !name.is_empty() {
        return Ok(());
    }
    if !service.eq_ignore_ascii_case("s3") {
        return Err(bad());
    }
    let known = S3_KEYS.iter().any(|k| match k.strip_suffix('/') {
        Some(prefix) => {
            name.split_once('/').is_some_and(|(head, tag)| head.eq_ignore_ascii_case(prefix) && !tag.is_empty())
        }
        None => k.eq_ignore_ascii_case(name),
    });
    if known { Ok(()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_keys_are_checked_without_case() {
        assert!(is_known_s3_action("getobject") && is_known_s3_action("ListBucket"));
        assert!(!is_known_s3_action("GetObjekt"));
        for ok in ["aws:SourceIp", "AWS:CurrentTime", "s3:prefix", "s3:ExistingObjectTag/Project", "s3:max-keys"] {
            assert!(check_condition_key(ok).is_ok(), "{ok}");
        }
        for bad in ["s3:nosuch", "s3:ExistingObjectTag/", "iam:x", "nocolon", "aws:"] {
            assert!(check_condition_key(bad).is_err(), "{bad}");
        }
    }
}
