//! Lifecycle as AWS documents it: Put/Get/DeleteBucketLifecycleConfiguration with AWS's
//! validation, the `x-amz-expiration` header of writes and reads, and (in `scan`) the
//! background scanner that applies the rules.
//! Rules are kept in the bucket's settings; this module's functions never touch object data.

pub mod metrics;
pub mod scan;

use metadata::data_mgmt::{FilterForm, expiry_ns};
use metadata::{BucketInfo, LifecycleRule, ObjectVersion};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error, tagging};

/// Most rules a configuration may have.
const MAX_RULES: usize = 1000;

fn malformed() -> S3Error {
    s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}

fn positive(n: i32, what: &str) -> S3Result<u32> {
    if n > 0 {
        Ok(n as u32)
    } else {
        Err(s3_error!(InvalidArgument, "'{what}' for {} action must be a positive integer", action_of(what)))
    }
}

fn action_of(what: &str) -> &'static str {
    match what {
        "NoncurrentDays" => "NoncurrentVersionExpiration",
        "DaysAfterInitiation" => "AbortIncompleteMultipartUpload",
        _ => "Expiration",
    }
}

fn size(n: Option<i64>) -> S3Result<Option<u64>> {
    match n {
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "ObjectSize must be a non-negative integer")),
        n => Ok(n.map(|n| n as u64)),
    }
}

/// One rule from its XML, checked as AWS checks it.
fn rule_of(r: &s3s::dto::LifecycleRule) -> S3Result<LifecycleRule> {
    let id = r.id.clone().unwrap_or_default();
    if id.len() > 255 {
        return Err(s3_error!(InvalidArgument, "ID length should not exceed allowed limit of 255"));
    }
    let enabled = match r.status.as_str() {
        "Enabled" => true,
        "Disabled" => false,
        _ => return Err(malformed()),
    };
    let mut out = LifecycleRule { id, enabled, ..Default::default() };
    match (&r.filter, &r.prefix) {
        (Some(_), Some(_)) => return Err(malformed()),
        (None, Some(p)) => {
            out.prefix = p.clone();
            out.filter_form = FilterForm::RulePrefix;
        }
        (None, None) => {}
        (Some(f), None) => {
            let given = [
                f.prefix.is_some(),
                f.tag.is_some(),
                f.and.is_some(),
                f.object_size_greater_than.is_some(),
                f.object_size_less_than.is_some(),
            ];
            if given.iter().filter(|g| **g).count() > 1 {
                return Err(malformed());
            }
            if let Some(p) = &f.prefix {
                out.prefix = p.clone();
            } else if let Some(t) = &f.tag {
                out.tags =
                    tagging::tag_set([(t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default())], 50)?;
                out.filter_form = FilterForm::Tag;
            } else if let Some(a) = &f.and {
                out.prefix = a.prefix.clone().unwrap_or_default();
                let tags = a.tags.iter().flatten();
                out.tags = tagging::tag_set(
                    tags.map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default())),
                    50,
                )?;
                out.size_greater_than = size(a.object_size_greater_than)?;
                out.size_less_than = size(a.object_size_less_than)?;
                out.filter_form = FilterForm::And;
            } else if f.object_size_greater_than.is_some() {
                out.size_greater_than = size(f.object_size_greater_than)?;
                out.filter_form = FilterForm::SizeGreaterThan;
            } else if f.object_size_less_than.is_some() {
                out.size_less_than = size(f.object_size_less_than)?;
                out.filter_form = FilterForm::SizeLessThan;
            }
        }
    }
    if let (Some(gt), Some(lt)) = (out.size_greater_than, out.size_less_than)
        && gt >= lt
    {
        return Err(s3_error!(InvalidArgument, "ObjectSizeLessThan must be greater than ObjectSizeGreaterThan"));
    }
    if let Some(e) = &r.expiration {
        let given = [e.days.is_some(), e.date.is_some(), e.expired_object_delete_marker.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(malformed());
        }
        if let Some(d) = e.days {
            out.expiration_days = Some(positive(d, "Days")?);
        }
        if let Some(d) = &e.date {
            let ns = i64::try_from(time::OffsetDateTime::from(d.clone()).unix_timestamp_nanos()).unwrap_or(i64::MAX);
            if ns.rem_euclid(metadata::data_mgmt::NS_PER_DAY) != 0 {
                return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
            }
            out.expiration_date_ns = Some(ns);
        }
        if let Some(m) = e.expired_object_delete_marker {
            if !out.tags.is_empty() {
                return Err(s3_error!(
                    InvalidRequest,
                    "ExpiredObjectDeleteMarker cannot be specified with object tags"
                ));
            }
            out.expired_object_delete_marker = m;
        }
    }
    if let Some(n) = &r.noncurrent_version_expiration {
        out.noncurrent_days = Some(positive(n.noncurrent_days.ok_or_else(malformed)?, "NoncurrentDays")?);
        if let Some(k) = n.newer_noncurrent_versions {
            out.newer_noncurrent_versions = Some(positive(k, "NewerNoncurrentVersions")?);
        }
    }
    if let Some(a) = &r.abort_incomplete_multipart_upload {
        if !out.tags.is_empty() || out.size_greater_than.is_some() || out.size_less_than.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "AbortIncompleteMultipartUpload cannot be specified with object tags or sizes"
            ));
        }
        out.abort_incomplete_days =
            Some(positive(a.days_after_initiation.ok_or_else(malformed)?, "DaysAfterInitiation")?);
    }
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(s3_error!(NotImplemented, "Transitions to other storage classes are not supported"));
    }
    if out.expiration_days.is_none()
        && out.expiration_date_ns.is_none()
        && !out.expired_object_delete_marker
        && out.noncurrent_days.is_none()
        && out.abort_incomplete_days.is_none()
    {
        return Err(s3_error!(InvalidRequest, "At least one action needs to be specified in a rule"));
    }
    Ok(out)
}

/// The rules of a configuration, checked as AWS checks them (ids unique, given or not).
pub fn rules_of(c: &BucketLifecycleConfiguration) -> S3Result<Vec<LifecycleRule>> {
    if c.rules.is_empty() || c.rules.len() > MAX_RULES {
        return Err(malformed());
    }
    let mut out: Vec<LifecycleRule> = Vec::with_capacity(c.rules.len());
    for r in &c.rules {
        let mut rule = rule_of(r)?;
        if rule.id.is_empty() {
            rule.id = format!("rule-{}", out.len() + 1);
        }
        if out.iter().any(|o| o.id == rule.id) {
            return Err(s3_error!(InvalidArgument, "Rule ID must be unique. Found same ID for more than one rule"));
        }
        out.push(rule);
    }
    Ok(out)
}

fn to_xml(r: &LifecycleRule) -> s3s::dto::LifecycleRule {
    let tag_list = || tagging::to_xml(&r.tags);
    let gt = r.size_greater_than.map(|n| n as i64);
    let lt = r.size_less_than.map(|n| n as i64);
    let filter = |f: LifecycleRuleFilter| Some(f);
    let (filter, prefix) = match r.filter_form {
        FilterForm::RulePrefix => (None, Some(r.prefix.clone())),
        FilterForm::Prefix => {
            (filter(LifecycleRuleFilter { prefix: Some(r.prefix.clone()), ..Default::default() }), None)
        }
        FilterForm::Tag => {
            (filter(LifecycleRuleFilter { tag: tag_list().into_iter().next(), ..Default::default() }), None)
        }
        FilterForm::SizeGreaterThan => {
            (filter(LifecycleRuleFilter { object_size_greater_than: gt, ..Default::default() }), None)
        }
        FilterForm::SizeLessThan => {
            (filter(LifecycleRuleFilter { object_size_less_than: lt, ..Default::default() }), None)
        }
        FilterForm::And => (
            filter(LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix: (!r.prefix.is_empty()).then(|| r.prefix.clone()),
                    tags: (!r.tags.is_empty()).then(tag_list),
                    object_size_greater_than: gt,
                    object_size_less_than: lt,
                }),
                ..Default::default()
            }),
            None,
        ),
    };
    let expiration = (r.expiration_days.is_some() || r.expiration_date_ns.is_some() || r.expired_object_delete_marker)
        .then(|| LifecycleExpiration {
            days: r.expiration_days.map(|d| d as i32),
            date: r.expiration_date_ns.map(crate::util::ts),
            expired_object_delete_marker: r.expired_object_delete_marker.then_some(true),
        });
    s3s::dto::LifecycleRule {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from(if r.enabled { "Enabled" } else { "Disabled" }.to_string()),
        filter,
        prefix,
        expiration,
        noncurrent_version_expiration: r.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: Some(d as i32),
            newer_noncurrent_versions: r.newer_noncurrent_versions.map(|n| n as i32),
        }),
        abort_incomplete_multipart_upload: r
            .abort_incomplete_days
            .map(|d| AbortIncompleteMultipartUpload { days_after_initiation: Some(d as i32) }),
        noncurrent_version_transitions: None,
        transitions: None,
    }
}

/// When a current version expires under `bucket`'s rules, and by which rule: the earliest.
pub fn expiry_of<'a>(bucket: &'a BucketInfo, v: &ObjectVersion, day_ns: i64) -> Option<(i64, &'a str)> {
    bucket
        .lifecycle
        .iter()
        .flatten()
        .filter(|r| r.selects(&v.key, &v.tags, v.size))
        .filter_map(|r| {
            let at = match (r.expiration_days, r.expiration_date_ns) {
                (Some(d), _) => expiry_ns(v.mtime_ns, d, day_ns),
                (None, Some(date)) => date,
                _ => return None,
            };
            Some((at, r.id.as_str()))
        })
        .min_by_key(|(at, _)| *at)
}

/// The `x-amz-expiration` header of a current version (none without a rule expiring it).
pub fn expiration_header(bucket: &BucketInfo, v: &ObjectVersion, day_ns: i64) -> Option<String> {
    let (at, id) = expiry_of(bucket, v, day_ns)?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at)).ok()?;
    let date = t.format(&time::format_description::well_known::Rfc2822).ok()?;
    // RFC 2822 writes `+0000`; HTTP dates say `GMT`.
    let date = date.trim_end_matches("+0000").trim_end().to_string() + " GMT";
    Some(format!("expiry-date=\"{date}\", rule-id=\"{id}\""))
}

impl S3Api {
    pub(crate) async fn op_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let cx = auth::caller(&req)?;
        let c = req.input.lifecycle_configuration.as_ref().ok_or_else(malformed)?;
        let rules = rules_of(c)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        b.lifecycle = Some(rules);
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(crate) async fn op_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let rules = b
            .lifecycle
            .ok_or_else(|| s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist"))?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(rules.iter().map(to_xml).collect()),
            ..Default::default()
        }))
    }

    pub(crate) async fn op_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.lifecycle.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: impl FnOnce(&mut s3s::dto::LifecycleRule)) -> s3s::dto::LifecycleRule {
        let mut r = s3s::dto::LifecycleRule {
            status: ExpirationStatus::from("Enabled".to_string()),
            expiration: Some(LifecycleExpiration { days: Some(1), ..Default::default() }),
            abort_incomplete_multipart_upload: None,
            filter: None,
            id: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        };
        f(&mut r);
        r
    }

    fn code(rules: Vec<s3s::dto::LifecycleRule>) -> Option<String> {
        rules_of(&BucketLifecycleConfiguration { rules }).err().map(|e| e.code().as_str().to_string())
    }

    #[test]
    fn aws_validation() {
        assert_eq!(code(vec![rule(|_| {})]), None);
        assert_eq!(code(vec![]).as_deref(), Some("MalformedXML"));
        assert_eq!(code(vec![rule(|r| r.expiration = None)]).as_deref(), Some("InvalidRequest"));
        assert_eq!(
            code(vec![rule(|r| r.expiration = Some(LifecycleExpiration { days: Some(0), ..Default::default() }))])
                .as_deref(),
            Some("InvalidArgument")
        );
        let both =
            LifecycleExpiration { days: Some(1), expired_object_delete_marker: Some(true), ..Default::default() };
        assert_eq!(code(vec![rule(|r| r.expiration = Some(both))]).as_deref(), Some("MalformedXML"));
        let noon = time::OffsetDateTime::UNIX_EPOCH + time::Duration::hours(12);
        let at_noon = LifecycleExpiration { date: Some(Timestamp::from(noon)), ..Default::default() };
        assert_eq!(code(vec![rule(|r| r.expiration = Some(at_noon))]).as_deref(), Some("InvalidArgument"));
        let same = |r: &mut s3s::dto::LifecycleRule| r.id = Some("x".into());
        assert_eq!(code(vec![rule(same), rule(same)]).as_deref(), Some("InvalidArgument"));
        let two_filters = |r: &mut s3s::dto::LifecycleRule| {
            r.filter = Some(LifecycleRuleFilter {
                prefix: Some("a".into()),
                object_size_greater_than: Some(5),
                ..Default::default()
            })
        };
        assert_eq!(code(vec![rule(two_filters)]).as_deref(), Some("MalformedXML"));
        let abort_with_tags = |r: &mut s3s::dto::LifecycleRule| {
            r.filter = Some(LifecycleRuleFilter {
                tag: Some(Tag { key: Some("k".into()), value: Some("v".into()) }),
                ..Default::default()
            });
            r.abort_incomplete_multipart_upload =
                Some(AbortIncompleteMultipartUpload { days_after_initiation: Some(1) });
        };
        assert_eq!(code(vec![rule(abort_with_tags)]).as_deref(), Some("InvalidRequest"));
    }

    #[test]
    fn round_trips_the_filter_as_given() {
        let and = |r: &mut s3s::dto::LifecycleRule| {
            r.id = Some("and".into());
            r.filter = Some(LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix: Some("logs/".into()),
                    tags: Some(vec![Tag { key: Some("k".into()), value: Some("v".into()) }]),
                    object_size_greater_than: Some(10),
                    object_size_less_than: None,
                }),
                ..Default::default()
            });
        };
        let legacy = |r: &mut s3s::dto::LifecycleRule| {
            r.id = Some("old".into());
            r.prefix = Some("tmp/".into());
        };
        let input = vec![rule(and), rule(legacy)];
        let rules = rules_of(&BucketLifecycleConfiguration { rules: input.clone() }).unwrap_or_default();
        let back: Vec<_> = rules.iter().map(to_xml).collect();
        assert_eq!(back, input);
    }

    #[test]
    fn expiration_header_names_the_earliest_rule() {
        let day = metadata::data_mgmt::NS_PER_DAY;
        let b = BucketInfo {
            lifecycle: Some(vec![
                LifecycleRule { id: "late".into(), enabled: true, expiration_days: Some(30), ..Default::default() },
                LifecycleRule {
                    id: "logs".into(),
                    enabled: true,
                    prefix: "logs/".into(),
                    expiration_days: Some(1),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let v = ObjectVersion {
            bucket: "b".into(),
            key: "logs/a".into(),
            version_id: "null".into(),
            delete_marker: false,
            size: 1,
            etag: String::new(),
            mtime_ns: day / 2,
            content_type: None,
            headers: Default::default(),
            user_meta: Default::default(),
            checksums: Default::default(),
            data: metadata::ObjectData::None,
            acl: None,
            tags: Default::default(),
            retention: None,
            legal_hold: false,
            sse: None,
        };
        assert_eq!(
            expiration_header(&b, &v, day).as_deref(),
            Some("expiry-date=\"Sat, 03 Jan 1970 00:00:00 GMT\", rule-id=\"logs\"")
        );
        let other = ObjectVersion { key: "img/a".into(), ..v };
        assert_eq!(expiry_of(&b, &other, day).map(|(_, id)| id), Some("late"));
    }
}
