//! Object lock as AWS documents it: a bucket's lock configuration and default retention,
//! a version's retention (GOVERNANCE, COMPLIANCE) and legal hold, the lock a new version
//! gets from its request or its bucket, and the one check every path that removes a
//! version goes through (`check_removable`), with `x-amz-bypass-governance-retention`
//! and its permission.
//! State lives in the bucket's settings and on each version; this module never touches
//! object data.

use metadata::data_mgmt::{DefaultRetention as DefaultPeriod, lock_state};
use metadata::{BucketInfo, Lock, ObjectLockConfig, ObjectVersion, Retention, RetentionMode, VersionUpdate, clock};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::authz::{Action, Level};
use crate::{S3Api, auth, error, util};

use metadata::data_mgmt::NS_PER_DAY;

fn missing_config() -> S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration")
}

fn malformed() -> S3Error {
    s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}

/// AWS's refusal to remove a locked version.
pub fn protected() -> S3Error {
    s3_error!(AccessDenied, "Access Denied because object protected by object lock.")
}

fn mode_of(s: &str) -> S3Result<RetentionMode> {
    RetentionMode::parse(s).ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive."))
}

fn ns_of(t: &Timestamp) -> i64 {
    i64::try_from(time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// The retention and legal hold a new version of `bucket` gets: from the request's
/// `x-amz-object-lock-*` headers, else the bucket's default retention.
pub fn for_new_version(
    bucket: &BucketInfo,
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
    now_ns: i64,
) -> S3Result<(Option<Retention>, bool)> {
    let asked = mode.is_some() || until.is_some() || hold.is_some();
    let Some(cfg) = bucket.object_lock else {
        return if asked { Err(missing_config()) } else { Ok((None, false)) };
    };
    let legal_hold = match hold.map(ObjectLockLegalHoldStatus::as_str) {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => return Err(s3_error!(InvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")),
    };
    let retention = match (mode, until) {
        (Some(m), Some(u)) => {
            let until_ns = ns_of(u);
            if until_ns <= now_ns {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            Some(Retention { mode: mode_of(m.as_str())?, until_ns })
        }
        (None, None) => cfg.default_retention.map(|d| Retention {
            mode: d.mode,
            until_ns: now_ns.saturating_add(i64::from(d.days).saturating_mul(NS_PER_DAY)),
        }),
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ));
        }
    };
    Ok((retention, legal_hold))
}

impl S3Api {
    /// Whether `caller` may bypass GOVERNANCE retention on `bucket/key`: it asked with the
    /// header and holds `s3:BypassGovernanceRetention`.
    fn may_bypass(&self, cx: &auth::Ctx, bucket: &BucketInfo, key: &str, asked: bool) -> bool {
        let action = Action { name: "s3:BypassGovernanceRetention".into(), level: Level::Object, acl: None };
        asked && self.authz.decide(&cx.caller, &action, bucket, Some(key), None).allowed()
    }

    /// The one check before a version is removed (or replaced): refused while a legal hold
    /// or COMPLIANCE retention holds it, and while GOVERNANCE retention does unless the
    /// caller bypasses it.
    pub(crate) fn check_removable(
        &self,
        cx: &auth::Ctx,
        bucket: &BucketInfo,
        v: &ObjectVersion,
        bypass: bool,
    ) -> S3Result<()> {
        match lock_state(v.retention.as_ref(), v.legal_hold, clock::now_ns()) {
            Lock::Free => Ok(()),
            Lock::Governance if self.may_bypass(cx, bucket, &v.key, bypass) => Ok(()),
            _ => Err(protected()),
        }
    }

    pub(crate) async fn op_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let c = req.input.object_lock_configuration.as_ref().ok_or_else(malformed)?;
        if c.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some("Enabled") {
            return Err(malformed());
        }
        if b.versioning != metadata::Versioning::Enabled {
            return Err(s3_error!(
                InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
            ));
        }
        let default_retention = match c.rule.as_ref().and_then(|r| r.default_retention.as_ref()) {
            None => None,
            Some(d) => {
                let mode = mode_of(d.mode.as_ref().ok_or_else(malformed)?.as_str())?;
                let (days, in_years) = match (d.days, d.years) {
                    (Some(n), None) => (n, false),
                    (None, Some(y)) => (y.saturating_mul(365), true),
                    _ => return Err(malformed()),
                };
                if days <= 0 {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Default retention period must be a positive integer value"
                    ));
                }
                Some(DefaultPeriod { mode, days: days as u32, in_years })
            }
        };
        b.object_lock = Some(ObjectLockConfig { default_retention });
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(crate) async fn op_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let cfg = b.object_lock.ok_or_else(|| {
            s3_error!(ObjectLockConfigurationNotFoundError, "Object Lock configuration does not exist for this bucket")
        })?;
        let rule = cfg.default_retention.map(|d| ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_string())),
                days: (!d.in_years).then_some(d.days as i32),
                years: d.in_years.then_some((d.days / 365) as i32),
            }),
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
                rule,
            }),
        }))
    }

    pub(crate) async fn op_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        if b.object_lock.is_none() {
            return Err(missing_config());
        }
        let now = clock::now_ns();
        let new = match i.retention.as_ref() {
            None => return Err(malformed()),
            Some(r) => match (&r.mode, &r.retain_until_date) {
                (None, None) => None,
                (Some(m), Some(u)) => {
                    let until_ns = ns_of(u);
                    if until_ns <= now {
                        return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
                    }
                    Some(Retention { mode: mode_of(m.as_str())?, until_ns })
                }
                _ => return Err(malformed()),
            },
        };
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        if let Some(old) = found.obj.retention.filter(|r| r.active(now)) {
            // Extending, or keeping, a retention is always allowed; anything that weakens
            // it is refused under COMPLIANCE and needs the bypass under GOVERNANCE.
            let weakens = match new {
                None => true,
                Some(n) => n.until_ns < old.until_ns || (old.mode == RetentionMode::Compliance && n.mode != old.mode),
            };
            if weakens {
                let bypass = i.bypass_governance_retention.unwrap_or(false);
                if old.mode == RetentionMode::Compliance || !self.may_bypass(&cx, &b, &i.key, bypass) {
                    return Err(protected());
                }
            }
        }
        let change = VersionUpdate { retention: Some(new), ..Default::default() };
        self.meta.update_version(&i.bucket, &i.key, &found.obj.version_id, &change).await.map_err(error::meta)?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(crate) async fn op_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        if b.object_lock.is_none() {
            return Err(missing_config());
        }
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let r = found.obj.retention.ok_or_else(no_lock_config)?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_string())),
                retain_until_date: Some(util::ts(r.until_ns)),
            }),
        }))
    }

    pub(crate) async fn op_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        if b.object_lock.is_none() {
            return Err(missing_config());
        }
        let on = match i.legal_hold.as_ref().and_then(|h| h.status.as_ref()).map(ObjectLockLegalHoldStatus::as_str) {
            Some("ON") => true,
            Some("OFF") => false,
            _ => return Err(malformed()),
        };
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let change = VersionUpdate { legal_hold: Some(on), ..Default::default() };
        self.meta.update_version(&i.bucket, &i.key, &found.obj.version_id, &change).await.map_err(error::meta)?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(crate) async fn op_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let b = self.owned_bucket(&cx, &i.bucket).await?;
        if b.object_lock.is_none() {
            return Err(missing_config());
        }
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let status = if found.obj.legal_hold { "ON" } else { "OFF" };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from(status.to_string())) }),
        }))
    }
}

fn no_lock_config() -> S3Error {
    s3_error!(NoSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_bucket(default_retention: Option<DefaultPeriod>) -> BucketInfo {
        BucketInfo { object_lock: Some(ObjectLockConfig { default_retention }), ..Default::default() }
    }

    fn code<T>(r: S3Result<T>) -> String {
        r.err().map(|e| e.code().as_str().to_string()).unwrap_or_default()
    }

    #[test]
    fn new_version_lock() {
        let now = 1_000 * NS_PER_DAY;
        let plain = BucketInfo::default();
        assert_eq!(for_new_version(&plain, None, None, None, now).ok(), Some((None, false)));
        let gov = ObjectLockMode::from_static(ObjectLockMode::GOVERNANCE);
        let later = util::ts(now + NS_PER_DAY);
        assert_eq!(code(for_new_version(&plain, Some(&gov), Some(&later), None, now)), "InvalidRequest");
        let b = lock_bucket(Some(DefaultPeriod { mode: RetentionMode::Compliance, days: 2, in_years: false }));
        let (r, h) = for_new_version(&b, None, None, None, now).unwrap_or_default();
        assert_eq!(r, Some(Retention { mode: RetentionMode::Compliance, until_ns: now + 2 * NS_PER_DAY }));
        assert!(!h);
        let (r, _) = for_new_version(&b, Some(&gov), Some(&later), None, now).unwrap_or_default();
        assert_eq!(r.map(|r| r.mode), Some(RetentionMode::Governance), "the request's retention wins");
        assert_eq!(code(for_new_version(&b, Some(&gov), None, None, now)), "InvalidArgument");
        let past = util::ts(now - 1_000_000_000);
        assert_eq!(code(for_new_version(&b, Some(&gov), Some(&past), None, now)), "InvalidArgument");
        let on = ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON);
        assert_eq!(for_new_version(&lock_bucket(None), None, None, Some(&on), now).ok(), Some((None, true)));
        let bad = ObjectLockLegalHoldStatus::from("on".to_string());
        assert_eq!(code(for_new_version(&lock_bucket(None), None, None, Some(&bad), now)), "InvalidArgument");
    }
}
