//! Object and bucket tagging: AWS's rules for a tag set (counts, lengths, characters,
//! duplicates), the `x-amz-tagging` header of writes, and the tagging operations
//! (Put/Get/DeleteObjectTagging per version, Put/Get/DeleteBucketTagging).
//! Tags are stored with the version (`ObjectVersion::tags`) or in the bucket's settings; this
//! module never touches object data.

use metadata::{Tags, VersionUpdate};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error};

/// Most tags on an object version, and on a bucket.
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// Checks one tag as AWS does.
fn check_tag(k: &str, v: &str) -> S3Result<()> {
    if k.is_empty() || k.chars().count() > MAX_KEY_CHARS {
        return Err(s3_error!(InvalidTag, "The TagKey you have provided is too long, max 128"));
    }
    if v.chars().count() > MAX_VALUE_CHARS {
        return Err(s3_error!(InvalidTag, "The TagValue you have provided is too long, max 256"));
    }
    if !k.chars().all(allowed) {
        return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
    }
    if !v.chars().all(allowed) {
        return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
    }
    if k.starts_with("aws:") {
        return Err(s3_error!(InvalidTag, "Your TagKey cannot be prefixed with aws:"));
    }
    Ok(())
}

/// A checked tag set from key/value pairs (`max`: the object or the bucket limit).
pub fn tag_set(pairs: impl IntoIterator<Item = (String, String)>, max: usize) -> S3Result<Tags> {
    let mut tags = Tags::new();
    for (k, v) in pairs {
        check_tag(&k, &v)?;
        if tags.insert(k, v).is_some() {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    if tags.len() > max {
        return Err(if max == MAX_OBJECT_TAGS {
            crate::error::custom("BadRequest", "Object tags cannot be greater than 10", http::StatusCode::BAD_REQUEST)
        } else {
            s3_error!(InvalidTag, "Bucket tag count cannot be greater than 50")
        });
    }
    Ok(tags)
}

/// The tag set of a `Tagging` document.
pub fn from_xml(t: &Tagging, max: usize) -> S3Result<Tags> {
    tag_set(t.tag_set.iter().map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default())), max)
}

/// The tag set of an `x-amz-tagging` header (URL-encoded query parameters).
pub fn from_header(h: Option<&str>) -> S3Result<Tags> {
    let Some(h) = h.filter(|h| !h.is_empty()) else { return Ok(Tags::new()) };
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
        )
    };
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    let mut pairs = Vec::new();
    for p in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        pairs.push((dec(k)?, dec(v)?));
    }
    let mut seen = std::collections::HashSet::new();
    if !pairs.iter().all(|(k, _)| seen.insert(k.clone())) {
        return Err(bad());
    }
    tag_set(pairs, MAX_OBJECT_TAGS)
}

pub fn to_xml(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// The `x-amz-tagging-count` a GET or HEAD shows (none without tags).
pub fn count(tags: &Tags) -> Option<i32> {
    (!tags.is_empty()).then_some(tags.len() as i32)
}

impl S3Api {
    pub(crate) async fn op_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let tags = from_xml(&i.tagging, MAX_OBJECT_TAGS)?;
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let change = VersionUpdate { tags: Some(tags), ..Default::default() };
        let v =
            self.meta.update_version(&i.bucket, &i.key, &found.obj.version_id, &change).await.map_err(error::meta)?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: crate::util::shown_version(&v, found.versioned) }))
    }

    pub(crate) async fn op_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_xml(&found.obj.tags),
            version_id: crate::util::shown_version(&found.obj, found.versioned),
        }))
    }

    pub(crate) async fn op_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let i = &req.input;
        let found = self.find_object(&cx, &i.bucket, &i.key, i.version_id.as_deref()).await?;
        let change = VersionUpdate { tags: Some(Tags::new()), ..Default::default() };
        let v =
            self.meta.update_version(&i.bucket, &i.key, &found.obj.version_id, &change).await.map_err(error::meta)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: crate::util::shown_version(&v, found.versioned) }))
    }

    pub(crate) async fn op_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let tags = from_xml(&req.input.tagging, MAX_BUCKET_TAGS)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        b.tags = Some(tags);
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub(crate) async fn op_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let tags =
            b.tags.filter(|t| !t.is_empty()).ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_xml(&tags) }))
    }

    pub(crate) async fn op_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.tags.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: S3Result<Tags>) -> String {
        r.err().map(|e| e.code().as_str().to_string()).unwrap_or_default()
    }

    #[test]
    fn aws_rules() {
        let ok = tag_set([("Project".into(), "Blue Sky".into()), ("a:b/c=d+e-f@g_h.i".into(), String::new())], 10);
        assert_eq!(ok.map(|t| t.len()).ok(), Some(2));
        let many = (0..11).map(|i| (format!("k{i}"), "v".to_string()));
        assert_eq!(code(tag_set(many.clone(), MAX_OBJECT_TAGS)), "BadRequest");
        assert!(tag_set(many, MAX_BUCKET_TAGS).is_ok());
        assert_eq!(code(tag_set((0..51).map(|i| (format!("k{i}"), String::new())), MAX_BUCKET_TAGS)), "InvalidTag");
        assert_eq!(code(tag_set([("k".into(), "1".into()), ("k".into(), "2".into())], 10)), "InvalidTag");
        assert_eq!(code(tag_set([("x".repeat(129), String::new())], 10)), "InvalidTag");
        assert!(tag_set([("é".repeat(128), "ü".repeat(256))], 10).is_ok(), "lengths count characters");
        assert_eq!(code(tag_set([("k".into(), "v".repeat(257))], 10)), "InvalidTag");
        assert_eq!(code(tag_set([(String::new(), "v".into())], 10)), "InvalidTag");
        assert_eq!(code(tag_set([("k<".into(), "v".into())], 10)), "InvalidTag");
        assert_eq!(code(tag_set([("k".into(), "v;".into())], 10)), "InvalidTag");
        assert_eq!(code(tag_set([("aws:k".into(), "v".into())], 10)), "InvalidTag");
    }

    #[test]
    fn header() {
        let t = from_header(Some("a=1&b=two%20words&c=&d+e=f%2Fg")).unwrap_or_default();
        assert_eq!(t.get("b").map(String::as_str), Some("two words"));
        assert_eq!(t.get("c").map(String::as_str), Some(""));
        assert_eq!(t.get("d e").map(String::as_str), Some("f/g"));
        assert_eq!(from_header(None).map(|t| t.len()).ok(), Some(0));
        assert_eq!(code(from_header(Some("a=1&a=2"))), "InvalidArgument");
        assert_eq!(code(from_header(Some("a=%FF"))), "InvalidArgument");
        assert_eq!(code(from_header(Some("a=<"))), "InvalidTag");
    }
}
