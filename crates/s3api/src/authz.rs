//! Access decisions for every S3 request, made in one place before any handler runs (s3s's
//! access check, once the request is routed and its signature verified): who the caller is
//! (a user, the root user, or anonymous), which action on which resource the operation is
//! (`s3:GetObject` on `arn:aws:s3:::b/k`), the condition keys of the request, and the
//! decision as AWS documents it: the root user may do anything; otherwise an explicit deny
//! in the caller's identity policies or the bucket policy refuses, an allow in either
//! allows, the bucket's owner may act on its bucket, and ACL grants (unless the bucket's
//! ownership is `BucketOwnerEnforced`, or a public access block says to ignore public
//! ones) allow what they grant. Everything else is `AccessDenied`. The decision and its
//! reason are recorded on the request's span.
//!
//! Handlers get the caller and the bucket record from the request's extensions (no second
//! read) and ask [`Authz::decide`] again where one request is several decisions (each key
//! of a multi-object delete, `s3:ListBucket` to tell a missing key's 404 from a 403).
//! This module never changes data and never logs a secret.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use access::acl::{Acl, Permission, Who};
use access::{Caller as PolicyCaller, Context, Decision, Policy, Request};
use metadata::{BucketInfo, MetaError, MetadataStore};
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::iam::{Iam, Identity, Kind};

/// What the HTTP layer knows of the connection (a request extension).
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    pub secure: bool,
}

/// The caller of a request, as the access check resolved it (a request extension).
#[derive(Clone)]
pub struct Caller {
    /// `None`: anonymous.
    pub identity: Option<Arc<Identity>>,
    pub cx: Arc<Context>,
}

/// The owner name objects and buckets of an anonymous caller get.
pub const ANONYMOUS: &str = "anonymous";

impl Caller {
    /// The caller's user name (`anonymous` for an unsigned request).
    pub fn name(&self) -> &str {
        self.identity.as_ref().map_or(ANONYMOUS, |i| i.user.as_str())
    }

    pub fn is_root(&self) -> bool {
        self.identity.as_ref().is_some_and(|i| i.kind == Kind::Root)
    }

    pub fn is_anonymous(&self) -> bool {
        self.identity.is_none()
    }

    fn policy_caller<'a>(&'a self, canonical: &'a str) -> PolicyCaller<'a> {
        match &self.identity {
            Some(i) => PolicyCaller::User { name: &i.user, canonical_id: canonical },
            None => PolicyCaller::Anonymous,
        }
    }
}

/// What an operation is to the access model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// On the service (`ListBuckets`).
    Service,
    /// On a bucket (`arn:aws:s3:::b`).
    Bucket,
    /// On an object (`arn:aws:s3:::b/k`).
    Object,
}

/// An operation's action, level, and the ACL permission that grants it (where one does:
/// on the object for object reads and ACL changes, on the bucket otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: String,
    pub level: Level,
    pub acl: Option<(Permission, AclOn)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOn {
    Bucket,
    Object,
}

/// The action of S3 operation `op` (`versioned`: a `versionId` was given).
pub fn action_of(op: &str, versioned: bool, path_level: Level) -> Action {
    use AclOn::{Bucket as B, Object as O};
    use Permission::*;
    let v = |plain: &str, version: &str| if versioned { version.to_string() } else { plain.to_string() };
    let (name, level, acl) = match op {
        "ListBuckets" => ("s3:ListAllMyBuckets".to_string(), Level::Service, None),
        "CreateBucket" => ("s3:CreateBucket".into(), Level::Bucket, None),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => ("s3:ListBucket".into(), Level::Bucket, Some((Read, B))),
        "ListObjectVersions" => ("s3:ListBucketVersions".into(), Level::Bucket, Some((Read, B))),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads".into(), Level::Bucket, Some((Read, B))),
        "GetBucketAcl" => ("s3:GetBucketAcl".into(), Level::Bucket, Some((ReadAcp, B))),
        "PutBucketAcl" => ("s3:PutBucketAcl".into(), Level::Bucket, Some((WriteAcp, B))),
        "DeleteBucketOwnershipControls" => ("s3:PutBucketOwnershipControls".into(), Level::Bucket, None),
        "GetPublicAccessBlock" => ("s3:GetBucketPublicAccessBlock".into(), Level::Bucket, None),
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            ("s3:PutBucketPublicAccessBlock".into(), Level::Bucket, None)
        }
        "GetBucketLifecycleConfiguration" => ("s3:GetLifecycleConfiguration".into(), Level::Bucket, None),
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            ("s3:PutLifecycleConfiguration".into(), Level::Bucket, None)
        }
        "GetBucketEncryption" => ("s3:GetEncryptionConfiguration".into(), Level::Bucket, None),
        "PutBucketEncryption" | "DeleteBucketEncryption" => {
            ("s3:PutEncryptionConfiguration".into(), Level::Bucket, None)
        }
        "DeleteBucketCors" => ("s3:PutBucketCORS".into(), Level::Bucket, None),
        "DeleteBucketTagging" => ("s3:PutBucketTagging".into(), Level::Bucket, None),
        "GetObjectLockConfiguration" => ("s3:GetBucketObjectLockConfiguration".into(), Level::Bucket, None),
        "PutObjectLockConfiguration" => ("s3:PutBucketObjectLockConfiguration".into(), Level::Bucket, None),
        "GetObject" | "HeadObject" => (v("s3:GetObject", "s3:GetObjectVersion"), Level::Object, Some((Read, O))),
        "GetObjectAttributes" => {
            (v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"), Level::Object, Some((Read, O)))
        }
        "GetObjectAcl" => (v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), Level::Object, Some((ReadAcp, O))),
        "PutObjectAcl" => (v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), Level::Object, Some((WriteAcp, O))),
        "GetObjectTagging" => (v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"), Level::Object, None),
        "PutObjectTagging" => (v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"), Level::Object, None),
        "DeleteObjectTagging" => (v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"), Level::Object, None),
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => ("s3:PutObject".into(), Level::Object, Some((Write, B))),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload".into(), Level::Object, Some((Write, B))),
        "ListParts" => ("s3:ListMultipartUploadParts".into(), Level::Object, Some((Read, B))),
        "DeleteObject" => (v("s3:DeleteObject", "s3:DeleteObjectVersion"), Level::Object, Some((Write, B))),
        "DeleteObjects" => ("s3:DeleteObject".into(), Level::Bucket, Some((Write, B))),
        // Most operations are their own action (PutBucketVersioning, GetBucketPolicy ...).
        other => (format!("s3:{other}"), path_level, None),
    };
    Action { name, level, acl }
}

/// The resource ARN of a bucket or an object.
pub fn resource(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// The query string's parameters, decoded.
fn query(uri: &http::Uri) -> HashMap<String, String> {
    let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// The condition keys of a request (see the policy language's keys in `access`).
pub fn request_context(
    identity: Option<&Identity>,
    peer: Peer,
    headers: &http::HeaderMap,
    q: &HashMap<String, String>,
    op: &str,
) -> Context {
    let mut cx = Context::default();
    if let Some(ip) = peer.ip {
        cx.set("aws:SourceIp", ip.to_string());
    }
    cx.set("aws:SecureTransport", peer.secure.to_string());
    let now = time::OffsetDateTime::now_utc();
    if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
        cx.set("aws:CurrentTime", t);
    }
    cx.set("aws:EpochTime", now.unix_timestamp().to_string());
    match identity {
        Some(i) => {
            cx.set("aws:username", i.user.clone())
                .set("aws:userid", i.user.clone())
                .set("aws:PrincipalArn", access::user_arn(&i.user))
                .set("aws:PrincipalType", if i.kind == Kind::Root { "Account" } else { "User" });
        }
        None => {
            cx.set("aws:userid", ANONYMOUS).set("aws:PrincipalType", "Anonymous");
        }
    }
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for (header, key) in [
        ("referer", "aws:Referer"),
        ("user-agent", "aws:UserAgent"),
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-grant-read", "s3:x-amz-grant-read"),
        ("x-amz-grant-write", "s3:x-amz-grant-write"),
        ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
        ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
        ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-server-side-encryption-customer-algorithm"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
        ("x-amz-object-ownership", "s3:x-amz-object-ownership"),
        ("if-match", "s3:if-match"),
        ("if-none-match", "s3:if-none-match"),
    ] {
        if let Some(v) = h(header) {
            cx.set(key, v.to_string());
        }
    }
    if let Some(t) = h("x-amz-tagging") {
        let tags = query_pairs(t);
        cx.set_all("s3:RequestObjectTagKeys", tags.iter().map(|(k, _)| k.clone()).collect());
        for (k, v) in tags {
            cx.set(&format!("s3:RequestObjectTag/{k}"), v);
        }
    }
    if matches!(op, "ListObjects" | "ListObjectsV2" | "ListObjectVersions") {
        // Listing without a prefix is listing with an empty one (AWS's s3:prefix).
        cx.set("s3:prefix", q.get("prefix").cloned().unwrap_or_default());
        for (param, key) in [("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")] {
            if let Some(v) = q.get(param) {
                cx.set(key, v.clone());
            }
        }
    }
    if let Some(v) = q.get("versionId") {
        cx.set("s3:VersionId", v.clone());
    }
    let auth = h("authorization").unwrap_or_default();
    let (version, kind) = if auth.starts_with("AWS4-HMAC-SHA256") {
        (Some("AWS4-HMAC-SHA256"), "REST-HEADER")
    } else if auth.starts_with("AWS ") {
        (Some("AWS"), "REST-HEADER")
    } else if q.contains_key("X-Amz-Algorithm") {
        (Some("AWS4-HMAC-SHA256"), "REST-QUERY-STRING")
    } else if q.contains_key("Signature") && q.contains_key("AWSAccessKeyId") {
        (Some("AWS"), "REST-QUERY-STRING")
    } else if op == "PostObject" {
        (None, "POST")
    } else {
        (None, "REST-HEADER")
    };
    if let Some(v) = version {
        cx.set("s3:signatureversion", v);
    }
    if identity.is_some() || op == "PostObject" {
        cx.set("s3:authType", kind);
    }
    cx
}

/// `k=v&k2=v2` (an `x-amz-tagging` header), decoded.
fn query_pairs(s: &str) -> Vec<(String, String)> {
    let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// The access model over the stores.
pub struct Authz {
    meta: Arc<dyn MetadataStore>,
    pub iam: Arc<Iam>,
    /// Parsed bucket policies by bucket, with the text they were parsed from.
    policies: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

/// Why a request was allowed or refused (recorded on its span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Root,
    ExplicitDeny,
    PolicyAllow,
    BucketOwner,
    AclGrant,
    NoAllow,
}

impl Reason {
    pub fn allowed(self) -> bool {
        matches!(self, Reason::Root | Reason::PolicyAllow | Reason::BucketOwner | Reason::AclGrant)
    }

    fn as_str(self) -> &'static str {
        match self {
            Reason::Root => "root",
            Reason::ExplicitDeny => "explicit deny",
            Reason::PolicyAllow => "policy allow",
            Reason::BucketOwner => "bucket owner",
            Reason::AclGrant => "acl grant",
            Reason::NoAllow => "no allow",
        }
    }
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The object owner ACLs are judged against when a version has no ACL of its own.
fn owner_of(bucket: &BucketInfo) -> access::acl::Owner {
    access::acl::Owner { id: access::canonical_id(&bucket.owner), name: bucket.owner.clone() }
}

impl Authz {
    pub fn new(meta: Arc<dyn MetadataStore>, iam: Arc<Iam>) -> Self {
        Self { meta, iam, policies: Mutex::new(HashMap::new()) }
    }

    /// The bucket's policy, parsed once per text (`None`: the bucket has none, or the stored
    /// one cannot be read: it then allows nothing and denies nothing, and is reported).
    pub fn bucket_policy(&self, b: &BucketInfo) -> Option<Arc<Policy>> {
        let text = b.policy.as_deref()?;
        let mut cache = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, p)) = cache.get(&b.name)
            && t == text
        {
            return Some(p.clone());
        }
        match Policy::parse_bucket(text, &b.name) {
            Ok(p) => {
                let p = Arc::new(p);
                cache.insert(b.name.clone(), (text.to_string(), p.clone()));
                Some(p)
            }
            Err(e) => {
                tracing::warn!(bucket = %b.name, error = %e, "stored bucket policy unreadable: ignored");
                None
            }
        }
    }

    /// Decides whether `caller` may do `action` on `bucket` (and `key`): see the module
    /// documentation. `object_acl`: the version's stored ACL, read by the caller only when
    /// an object ACL could decide (see [`Authz::needs_object_acl`]).
    pub fn decide(
        &self,
        caller: &Caller,
        action: &Action,
        bucket: &BucketInfo,
        key: Option<&str>,
        object_acl: Option<&Acl>,
    ) -> Reason {
        if caller.is_root() {
            return Reason::Root;
        }
        let canonical = caller.identity.as_ref().map(|i| access::canonical_id(&i.user)).unwrap_or_default();
        let res = resource(&bucket.name, key);
        let req =
            Request { caller: caller.policy_caller(&canonical), action: &action.name, resource: &res, cx: &caller.cx };
        let pab = bucket.public_access_block.unwrap_or_default();
        let mut d = Decision::NotApplicable;
        if let Some(id) = &caller.identity {
            d = access::evaluate_all(id.policies.iter().map(|p| p.as_ref()), &req);
        }
        if d != Decision::Deny
            && let Some(p) = self.bucket_policy(bucket)
            // RestrictPublicBuckets: a public policy gives anonymous callers nothing.
            && !(pab.restrict_public_buckets && caller.is_anonymous() && p.is_public())
        {
            d = d.and(p.evaluate(&req));
        }
        match d {
            Decision::Deny => return Reason::ExplicitDeny,
            Decision::Allow => return Reason::PolicyAllow,
            Decision::NotApplicable => {}
        }
        if caller.identity.as_ref().is_some_and(|i| i.user == bucket.owner) {
            return Reason::BucketOwner;
        }
        if bucket.ownership_enforced() {
            return Reason::NoAllow;
        }
        let Some((perm, on)) = action.acl else { return Reason::NoAllow };
        let who = match &caller.identity {
            Some(_) => Who::User(&canonical),
            None => Who::Anonymous,
        };
        let granted = match on {
            AclOn::Bucket => self.bucket_acl(bucket).allows(who, perm, pab.ignore_public_acls),
            AclOn::Object => object_acl.cloned().unwrap_or_else(|| Acl::private(owner_of(bucket))).allows(
                who,
                perm,
                pab.ignore_public_acls,
            ),
        };
        if granted { Reason::AclGrant } else { Reason::NoAllow }
    }

    /// Whether deciding `action` may need the object's ACL (policies and ownership did not
    /// settle it): only then does the access check read the version.
    pub fn needs_object_acl(&self, caller: &Caller, action: &Action, bucket: &BucketInfo) -> bool {
        matches!(action.acl, Some((_, AclOn::Object)))
            && !bucket.ownership_enforced()
            && !caller.is_root()
            && caller.identity.as_ref().is_none_or(|i| i.user != bucket.owner)
    }

    /// Whether a policy that could decide for `caller` on `bucket` reads an object's
    /// existing tags (`s3:ExistingObjectTag/<key>`): only then does the check read them.
    fn reads_existing_tags(&self, caller: &Caller, bucket: &BucketInfo) -> bool {
        const KEY: &str = "s3:ExistingObjectTag/";
        caller.identity.as_ref().is_some_and(|i| i.policies.iter().any(|p| p.reads_key_prefix(KEY)))
            || self.bucket_policy(bucket).is_some_and(|p| p.reads_key_prefix(KEY))
    }

    /// The bucket's ACL (its owner's full control when it has none stored).
    pub fn bucket_acl(&self, bucket: &BucketInfo) -> Acl {
        bucket.acl.as_deref().and_then(|b| Acl::decode(b).ok()).unwrap_or_else(|| Acl::private(owner_of(bucket)))
    }

    /// Whether `caller` may list `bucket` (`s3:ListBucket`): a missing key is then a 404,
    /// else a 403, as AWS answers.
    pub fn may_list(&self, caller: &Caller, bucket: &BucketInfo) -> bool {
        self.decide(caller, &action_of("ListObjects", false, Level::Bucket), bucket, None, None).allowed()
    }

    async fn caller_of(&self, cx: &mut S3AccessContext<'_>, op: &str, q: &HashMap<String, String>) -> Caller {
        let identity = match cx.credentials() {
            Some(c) => self.iam.identity(&c.access_key).await,
            None => None,
        };
        let peer = cx.extensions_mut().get::<Peer>().copied().unwrap_or_default();
        let context = request_context(identity.as_deref(), peer, cx.headers(), q, op);
        Caller { identity, cx: Arc::new(context) }
    }

    /// The access check of one request (see the module documentation).
    pub async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_string();
        let q = query(cx.uri());
        let mut caller = self.caller_of(cx, &op, &q).await;
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let path_level = if key.is_some() { Level::Object } else { Level::Bucket };
        let action = action_of(&op, q.contains_key("versionId"), path_level);
        let span = tracing::Span::current();
        let caller_name = caller.name().to_string();
        let record = |reason: &str, allowed: bool| {
            span.record("access", reason);
            tracing::debug!(op = %op, action = %action.name, caller = %caller_name, allowed, reason, "access decision");
        };
        let Some(bucket_name) = bucket else {
            // ListBuckets: every signed caller lists what it may see.
            cx.extensions_mut().insert(caller.clone());
            return match caller.identity {
                Some(_) => Ok(()),
                None => Err(access_denied()),
            };
        };
        if op == "CreateBucket" {
            return self.check_create(cx, caller, &action, &bucket_name).await;
        }
        let b = match self.meta.get_bucket(&bucket_name).await {
            Ok(b) => b,
            Err(MetaError::NoSuchBucket(_)) => {
                return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
            }
            Err(e) => return Err(crate::error::meta(e)),
        };
        let mut object_acl = None;
        let needs_acl = self.needs_object_acl(&caller, &action, &b);
        let needs_tags = !caller.is_root() && self.reads_existing_tags(&caller, &b);
        if let Some(k) = key.as_deref()
            && (needs_acl || needs_tags)
        {
            let vid = q.get("versionId").map(String::as_str);
            match self.meta.get_object(&b.name, k, vid).await {
                Ok(o) => {
                    object_acl = o.acl.as_deref().and_then(|a| Acl::decode(a).ok());
                    if needs_tags && !o.tags.is_empty() {
                        let mut context = (*caller.cx).clone();
                        for (k, v) in &o.tags {
                            context.set(&format!("s3:ExistingObjectTag/{k}"), v.clone());
                        }
                        caller.cx = Arc::new(context);
                    }
                }
                Err(MetaError::NoSuchKey { .. } | MetaError::NoSuchVersion { .. }) => {
                    // Nothing to grant on: 404 to those who may list the bucket, else 403.
                    let reason = self.decide(&caller, &action, &b, Some(k), None);
                    if !reason.allowed() && !self.may_list(&caller, &b) {
                        record(reason.as_str(), false);
                        return Err(access_denied());
                    }
                }
                Err(e) => return Err(crate::error::meta(e)),
            }
        }
        let reason = self.decide(&caller, &action, &b, key.as_deref(), object_acl.as_ref());
        record(reason.as_str(), reason.allowed());
        // A copy also reads its source.
        if reason.allowed()
            && matches!(op.as_str(), "CopyObject" | "UploadPartCopy")
            && let Some(src) = cx.headers().get("x-amz-copy-source").and_then(|v| v.to_str().ok())
        {
            self.check_copy_source(&caller, src).await?;
        }
        // DeleteObjects is judged key by key by its handler (the keys are in the body).
        if !reason.allowed() && op != "DeleteObjects" {
            return Err(access_denied());
        }
        cx.extensions_mut().insert(caller);
        cx.extensions_mut().insert(b);
        Ok(())
    }

    async fn check_create(
        &self,
        cx: &mut S3AccessContext<'_>,
        caller: Caller,
        action: &Action,
        bucket: &str,
    ) -> S3Result<()> {
        let Some(id) = &caller.identity else { return Err(access_denied()) };
        if id.kind != Kind::Root {
            // A user may create buckets unless a policy of its denies it.
            let canonical = access::canonical_id(&id.user);
            let res = resource(bucket, None);
            let req = Request {
                caller: caller.policy_caller(&canonical),
                action: &action.name,
                resource: &res,
                cx: &caller.cx,
            };
            if access::evaluate_all(id.policies.iter().map(|p| p.as_ref()), &req) == Decision::Deny {
                return Err(access_denied());
            }
        }
        cx.extensions_mut().insert(caller);
        Ok(())
    }

    /// A copy's source must be readable by the caller (`s3:GetObject` on it).
    async fn check_copy_source(&self, caller: &Caller, src: &str) -> S3Result<()> {
        let src = percent_encoding::percent_decode_str(src).decode_utf8_lossy().into_owned();
        let src = src.trim_start_matches('/');
        let (path, version) = match src.split_once("?versionId=") {
            Some((p, v)) => (p, Some(v.to_string())),
            None => (src, None),
        };
        let Some((bucket, key)) = path.split_once('/') else {
            return Err(s3_error!(InvalidArgument, "Copy Source must mention the source bucket and key"));
        };
        let b = match self.meta.get_bucket(bucket).await {
            Ok(b) => b,
            Err(MetaError::NoSuchBucket(_)) => {
                return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
            }
            Err(e) => return Err(crate::error::meta(e)),
        };
        let action = action_of("GetObject", version.is_some(), Level::Object);
        let mut acl = None;
        if self.needs_object_acl(caller, &action, &b)
            && let Ok(o) = self.meta.get_object(bucket, key, version.as_deref()).await
        {
            acl = o.acl.as_deref().and_then(|a| Acl::decode(a).ok());
        }
        if self.decide(caller, &action, &b, Some(key), acl.as_ref()).allowed() { Ok(()) } else { Err(access_denied()) }
    }
}

/// s3s's access hook over [`Authz`].
pub struct AccessHook(pub Arc<Authz>);

#[async_trait::async_trait]
impl S3Access for AccessHook {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.0.check(cx).await
    }
}

/// The caller the access check resolved for a request (anonymous if none was, which only
/// happens for requests that never passed the check).
pub fn caller_of(ext: &http::Extensions) -> Caller {
    ext.get::<Caller>().cloned().unwrap_or_else(|| Caller { identity: None, cx: Arc::new(Context::default()) })
}

/// `AccessDenied` for a request that asked for something it may not have.
pub fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}
