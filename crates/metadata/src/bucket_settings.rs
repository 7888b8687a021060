//! A bucket's settings record on the KV track (`c/<bucket>`, see `schema`): its policy,
//! ACL, tags, CORS rules, object lock configuration, lifecycle rules and default encryption, kept apart from the bucket record `b/<bucket>`. Every object write requires the
//! bucket record unchanged in its commit batch (the bucket still exists and is not being
//! deleted); with the settings beside it, that record stays a few dozen bytes whatever the
//! policy's size, and changing a policy or an ACL never makes a write in flight retry.
//! This module splits a `BucketInfo` into the two records and merges them back; it never
//! reads or writes the KV.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data_mgmt::{BucketEncryption, CorsRule, LifecycleRule, ObjectLockConfig, Tags};
use crate::model::BucketInfo;

/// The value of `c/<bucket>` (absent: no policy, the owner-only ACL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub acl: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<LifecycleRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

impl BucketSettings {
    /// Moves the settings out of `info`, leaving the bucket record's fields.
    pub fn take(info: &mut BucketInfo) -> Self {
        Self {
            policy: info.policy.take(),
            acl: info.acl.take(),
            tags: info.tags.take(),
            cors: info.cors.take(),
            object_lock: info.object_lock.take(),
            lifecycle: info.lifecycle.take(),
            encryption: info.encryption.take(),
        }
    }

    /// Puts a settings record's fields into `info` (the record, when there is one, is
    /// authoritative).
    pub fn merge_into(self, info: &mut BucketInfo) {
        info.policy = self.policy;
        info.acl = self.acl;
        info.tags = self.tags;
        info.cors = self.cors;
        info.object_lock = self.object_lock;
        info.lifecycle = self.lifecycle;
        info.encryption = self.encryption;
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_merge_round_trip() {
        let mut b = BucketInfo {
            name: "b".into(),
            policy: Some("{}".into()),
            acl: Some(vec![1, 2]),
            tags: Some([("k".to_string(), "v".to_string())].into()),
            cors: Some(vec![metadata_cors()]),
            object_lock: Some(ObjectLockConfig::default()),
            lifecycle: Some(vec![LifecycleRule { id: "r".into(), ..Default::default() }]),
            ..Default::default()
        };
        let full = b.clone();
        let s = BucketSettings::take(&mut b);
        assert!(b.policy.is_none() && b.acl.is_none() && !s.is_empty());
        s.merge_into(&mut b);
        assert_eq!(b, full);
        assert!(BucketSettings::default().is_empty());
    }

    fn metadata_cors() -> CorsRule {
        CorsRule { allowed_origins: vec!["*".into()], allowed_methods: vec!["GET".into()], ..Default::default() }
    }
}
