//! The data-management part of the model: object lock (retention and legal hold of a
//! version, a bucket's lock configuration), a bucket's CORS rules and tags.
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
