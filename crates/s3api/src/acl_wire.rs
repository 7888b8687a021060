//! ACLs as S3 requests carry them and responses show them: a canned ACL (`x-amz-acl`),
//! grant headers (`x-amz-grant-read: id="…", uri="…", emailAddress="…"`), or an
//! `AccessControlPolicy` document; grantees checked against the server's users (an unknown
//! canonical id is `InvalidArgument`, an unknown e-mail `UnresolvableGrantByEmailAddress`),
//! and the stored ACL shown back with its owner and grants.
//! This module converts and checks; storing is the handlers'.

use access::acl::{Acl, Canned, Grant, Grantee, Owner, Permission};
use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::iam::Iam;

/// The owner a user is to ACLs.
pub fn owner_of(name: &str) -> Owner {
    Owner { id: access::canonical_id(name), name: name.to_string() }
}

/// The grant headers of a request.
#[derive(Default)]
pub struct GrantHeaders<'a> {
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write: Option<&'a str>,
    pub write_acp: Option<&'a str>,
}

impl GrantHeaders<'_> {
    fn any(&self) -> bool {
        [self.full_control, self.read, self.read_acp, self.write, self.write_acp].iter().any(Option::is_some)
    }
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

/// One grantee as written in a grant header (`id="…"`, `uri="…"`, `emailAddress="…"`).
async fn header_grantee(iam: &Iam, item: &str) -> S3Result<Grantee> {
    let (kind, value) = item.split_once('=').ok_or_else(|| invalid(format!("Invalid grant {item:?}")))?;
    let value = value.trim().trim_matches('"');
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" => user_grantee(iam, value).await,
        "uri" => Ok(Grantee::Group { uri: value.to_string() }),
        "emailaddress" => email_grantee(iam, value).await,
        _ => Err(invalid(format!("Invalid grant {item:?}"))),
    }
}

async fn user_grantee(iam: &Iam, id: &str) -> S3Result<Grantee> {
    match iam.user_by_canonical_id(id).await {
        Some(name) => Ok(Grantee::CanonicalUser { id: id.to_string(), name: Some(name) }),
        None => Err(invalid("Invalid id")),
    }
}

async fn email_grantee(iam: &Iam, email: &str) -> S3Result<Grantee> {
    match iam.user_by_email(email).await {
        Some(name) => Ok(Grantee::CanonicalUser { id: access::canonical_id(&name), name: Some(name) }),
        None => Err(s3_error!(
            UnresolvableGrantByEmailAddress,
            "The email address you provided does not match any account on record."
        )),
    }
}

/// The ACL a request sets, if it sets one: `canned` (`x-amz-acl`), grant headers, or
/// `body` (a PutBucketAcl/PutObjectAcl document); more than one of them is an error, as in S3.
/// `owner` owns the resource; `bucket_owner` is the bucket's (for the `bucket-owner-*` ACLs).
pub async fn requested_acl(
    iam: &Iam,
    canned: Option<&str>,
    grants: &GrantHeaders<'_>,
    body: Option<&dto::AccessControlPolicy>,
    owner: Owner,
    bucket_owner: &Owner,
) -> S3Result<Option<Acl>> {
    let given = usize::from(canned.is_some()) + usize::from(grants.any()) + usize::from(body.is_some());
    if given > 1 {
        return Err(invalid("Specifying both Canned ACLs and Header Grants is not allowed"));
    }
    if let Some(c) = canned {
        let c = Canned::parse(c).ok_or_else(|| invalid(format!("Invalid canned ACL {c:?}")))?;
        return Ok(Some(Acl::canned(c, owner, bucket_owner)));
    }
    if grants.any() {
        let mut acl = Acl { owner, grants: Vec::new() };
        for (header, permission) in [
            (grants.full_control, Permission::FullControl),
            (grants.read, Permission::Read),
            (grants.read_acp, Permission::ReadAcp),
            (grants.write, Permission::Write),
            (grants.write_acp, Permission::WriteAcp),
        ] {
            for item in header.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                acl.grants.push(Grant { grantee: header_grantee(iam, item).await?, permission });
            }
        }
        acl.check().map_err(|e| invalid(e.to_string()))?;
        return Ok(Some(acl));
    }
    let Some(doc) = body else { return Ok(None) };
    let malformed = || {
        s3_error!(
            MalformedACLError,
            "The XML you provided was not well-formed or did not validate against our published schema."
        )
    };
    // The document's owner must be the resource's owner (S3 refuses a change of owner).
    if let Some(o) = &doc.owner
        && o.id.as_deref().is_some_and(|id| id != owner.id)
    {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    let mut acl = Acl { owner, grants: Vec::new() };
    for g in doc.grants.iter().flatten() {
        let (Some(grantee), Some(p)) = (&g.grantee, &g.permission) else { return Err(malformed()) };
        let permission = Permission::parse(p.as_str()).ok_or_else(malformed)?;
        let grantee = match grantee.type_.as_str() {
            dto::Type::CANONICAL_USER => user_grantee(iam, grantee.id.as_deref().ok_or_else(malformed)?).await?,
            dto::Type::GROUP => Grantee::Group { uri: grantee.uri.clone().ok_or_else(malformed)? },
            dto::Type::AMAZON_CUSTOMER_BY_EMAIL => {
                email_grantee(iam, grantee.email_address.as_deref().ok_or_else(malformed)?).await?
            }
            _ => return Err(malformed()),
        };
        acl.grants.push(Grant { grantee, permission });
    }
    acl.check().map_err(|e| S3Error::with_message(S3ErrorCode::MalformedACLError, e.to_string()))?;
    Ok(Some(acl))
}

/// An ACL as S3 shows it: its owner and grants.
pub fn to_dto(acl: &Acl) -> (dto::Owner, dto::Grants) {
    let owner = dto::Owner { id: Some(acl.owner.id.clone()), display_name: Some(acl.owner.name.clone()) };
    let grants = acl
        .grants
        .iter()
        .map(|g| {
            let grantee = match &g.grantee {
                Grantee::CanonicalUser { id, name } => dto::Grantee {
                    display_name: name.clone(),
                    email_address: None,
                    id: Some(id.clone()),
                    type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                    uri: None,
                },
                Grantee::Group { uri } => dto::Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: dto::Type::from_static(dto::Type::GROUP),
                    uri: Some(uri.clone()),
                },
            };
            dto::Grant {
                grantee: Some(grantee),
                permission: Some(dto::Permission::from(g.permission.as_str().to_string())),
            }
        })
        .collect();
    (owner, grants)
}

/// Whether an ACL is nothing but its owner's full control (what a bucket with ACLs disabled
/// accepts: `private`, or `bucket-owner-full-control` by the bucket owner).
pub fn owner_only(acl: &Acl) -> bool {
    acl.grants.iter().all(|g| {
        g.permission == Permission::FullControl
            && matches!(&g.grantee, Grantee::CanonicalUser { id, .. } if *id == acl.owner.id)
    })
}

/// The error S3 gives for an ACL on a bucket whose ACLs are disabled.
pub fn acls_disabled() -> S3Error {
    s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs")
}
