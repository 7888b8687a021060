//! The data-management part of the model: object lock (retention and legal hold of a
//! version, a bucket's lock configuration), a bucket's CORS rules, lifecycle rules and tags.
//! Plain data with the few rules that belong to the data itself (is a version locked at a
//! time); validation of what clients send lives at the S3 edge. This module must never do
//! I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Object tags: key to value (keys are unique, as S3 requires).
pub type Tags = BTreeMap<String, String>;

/// S3's object lock retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// Users with `s3:BypassGovernanceRetention` may shorten or remove it.
    Governance,
    /// Nobody, not even the root user, may shorten it or remove the version before its date.
    Compliance,
}

impl RetentionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: locked in `mode` until `until_ns` (nanoseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ns: i64,
}

impl Retention {
    /// Whether the retention still holds at `now_ns`.
    pub fn active(&self, now_ns: i64) -> bool {
        self.until_ns > now_ns
    }
}

/// A bucket's default retention, applied to new versions that bring none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    /// The period in days (a period given in years is kept as 365 days a year, as AWS counts).
    pub days: u32,
    /// Whether the period was given in years (shown back as given).
    #[serde(default)]
    pub in_years: bool,
}

/// A bucket's object lock configuration (only buckets created with lock enabled have one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    #[serde(default)]
    pub default_retention: Option<DefaultRetention>,
}

/// One CORS rule of a bucket, as S3 keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default)]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// Server-side encryption kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseKind {
    /// SSE-S3: the object key sealed by the server's current master key.
    S3,
    /// SSE-KMS: sealed by a named key of the server's key store.
    Kms,
    /// SSE-C: sealed by the key the client sends with every request.
    Customer,
}

/// How a version's (or an upload's) data is encrypted; `sse`'s package format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub kind: SseKind,
    /// The master key that sealed the object key (SSE-S3, SSE-KMS); empty for SSE-C.
    #[serde(default)]
    pub key_id: String,
    /// The object key, sealed (`sse::seal`).
    #[serde(with = "serde_bytes")]
    pub sealed_key: Vec<u8>,
    /// SSE-C: the base64 MD5 of the customer's key (never the key).
    #[serde(default)]
    pub customer_key_md5: Option<String>,
    /// SSE-KMS: the encryption context as the client gave it (base64 JSON).
    #[serde(default)]
    pub context: Option<String>,
}

/// A bucket's default encryption (Put/GetBucketEncryption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    pub kind: SseKind,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// One lifecycle rule of a bucket (S3's Expiration, NoncurrentVersionExpiration and
/// AbortIncompleteMultipartUpload actions over a filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    /// The filter: every condition must hold (an empty prefix and no tags match every key).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub size_greater_than: Option<u64>,
    #[serde(default)]
    pub size_less_than: Option<u64>,
    /// How the filter was given (`prefix` at the rule's level, `Filter/Prefix`, `Filter/Tag`,
    /// `Filter/And`, `Filter/ObjectSize*`): shown back the same way.
    #[serde(default)]
    pub filter_form: FilterForm,
    /// Expiration of current versions: days after creation, or on a date.
    #[serde(default)]
    pub expiration_days: Option<u32>,
    #[serde(default)]
    pub expiration_date_ns: Option<i64>,
    /// Remove a delete marker that is the only version left of its key.
    #[serde(default)]
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions: removed this many days after they became noncurrent, keeping
    /// the newest `newer_noncurrent_versions` of them.
    #[serde(default)]
    pub noncurrent_days: Option<u32>,
    #[serde(default)]
    pub newer_noncurrent_versions: Option<u32>,
    /// Incomplete multipart uploads: aborted this many days after they were created.
    #[serde(default)]
    pub abort_incomplete_days: Option<u32>,
}

/// How a lifecycle rule's filter was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// `<Prefix>` directly in the rule (the old form).
    RulePrefix,
    #[default]
    Prefix,
    Tag,
    SizeGreaterThan,
    SizeLessThan,
    And,
}

impl LifecycleRule {
    /// Whether the rule's filter selects a version of `key` with `tags` and `size`.
    pub fn selects(&self, key: &str, tags: &Tags, size: u64) -> bool {
        self.enabled
            && key.starts_with(&self.prefix)
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
    }
}

/// When something `days` days after `from_ns` expires: with real days (`day_ns` of 24
/// hours) at the next midnight UTC, as S3 rounds; with a shortened test day, exactly.
pub fn expiry_ns(from_ns: i64, days: u32, day_ns: i64) -> i64 {
    let t = from_ns.saturating_add(i64::from(days).saturating_mul(day_ns));
    if day_ns == NS_PER_DAY {
        let rem = t.rem_euclid(NS_PER_DAY);
        if rem == 0 { t } else { t.saturating_add(NS_PER_DAY - rem) }
    } else {
        t
    }
}

/// Nanoseconds in a day.
pub const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A version's lock state: whether anything may remove or overwrite it at `now_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Free,
    /// Held by GOVERNANCE retention: removable with the bypass permission and header.
    Governance,
    /// Held by COMPLIANCE retention or a legal hold: nobody may remove it.
    Held,
}

/// The lock state of a version with `retention` and `legal_hold` at `now_ns`.
pub fn lock_state(retention: Option<&Retention>, legal_hold: bool, now_ns: i64) -> Lock {
    if legal_hold {
        return Lock::Held;
    }
    match retention {
        Some(r) if r.active(now_ns) && r.mode == RetentionMode::Compliance => Lock::Held,
        Some(r) if r.active(now_ns) => Lock::Governance,
        _ => Lock::Free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rounds_real_days_to_midnight() {
        let noon = 10 * NS_PER_DAY + NS_PER_DAY / 2;
        assert_eq!(expiry_ns(noon, 1, NS_PER_DAY), 12 * NS_PER_DAY);
        assert_eq!(expiry_ns(10 * NS_PER_DAY, 1, NS_PER_DAY), 11 * NS_PER_DAY);
        assert_eq!(expiry_ns(noon, 3, 1_000_000_000), noon + 3_000_000_000, "test days are exact");
    }

    #[test]
    fn rule_filters() {
        let r = LifecycleRule {
            enabled: true,
            prefix: "logs/".into(),
            tags: [("t".to_string(), "1".to_string())].into(),
            size_greater_than: Some(10),
            size_less_than: Some(100),
            ..Default::default()
        };
        let t: Tags = [("t".to_string(), "1".to_string()), ("u".to_string(), "2".to_string())].into();
        assert!(r.selects("logs/a", &t, 50));
        assert!(!r.selects("img/a", &t, 50));
        assert!(!r.selects("logs/a", &Tags::new(), 50));
        assert!(!r.selects("logs/a", &t, 10) && !r.selects("logs/a", &t, 100));
        assert!(!LifecycleRule { enabled: false, ..Default::default() }.selects("x", &t, 1));
        assert!(LifecycleRule { enabled: true, ..Default::default() }.selects("x", &Tags::new(), 0));
    }

    #[test]
    fn lock_states() {
        let g = Retention { mode: RetentionMode::Governance, until_ns: 100 };
        let c = Retention { mode: RetentionMode::Compliance, until_ns: 100 };
        assert_eq!(lock_state(None, false, 0), Lock::Free);
        assert_eq!(lock_state(Some(&g), false, 50), Lock::Governance);
        assert_eq!(lock_state(Some(&g), false, 100), Lock::Free, "expires at its date");
        assert_eq!(lock_state(Some(&c), false, 99), Lock::Held);
        assert_eq!(lock_state(Some(&c), false, 101), Lock::Free);
        assert_eq!(lock_state(Some(&g), true, 500), Lock::Held, "a legal hold outlasts retention");
        assert_eq!(lock_state(None, true, 0), Lock::Held);
        for m in [RetentionMode::Governance, RetentionMode::Compliance] {
            assert_eq!(RetentionMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(RetentionMode::parse("governance"), None);
    }
}
