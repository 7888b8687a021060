//! Access control lists as S3 keeps them: an owner and grants of `FULL_CONTROL`, `READ`,
//! `WRITE`, `READ_ACP` or `WRITE_ACP` to a canonical user, a group (`AllUsers`,
//! `AuthenticatedUsers`, `LogDelivery`) or an e-mail address (resolved to a user when the
//! ACL is set), the canned ACLs (`private`, `public-read` ...) expanded as AWS documents
//! them, and what each permission allows on a bucket or an object.
//!
//! Stored form (a bucket's or an object version's ACL, kept by the metadata as opaque
//! bytes): JSON `{"v":1,"owner":{"id","name"},"grants":[{"grantee":{...},"permission"}]}`;
//! version 1 is the only one. This module never reads storage and never panics on a stored
//! value (an unreadable one is an error the caller reports).

use serde::{Deserialize, Serialize};

use crate::PolicyError;

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// Most grants in one ACL (AWS's limit).
pub const MAX_GRANTS: usize = 100;
const FORMAT: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
    #[serde(rename = "READ")]
    Read,
    #[serde(rename = "WRITE")]
    Write,
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "FULL_CONTROL" => Self::FullControl,
            "READ" => Self::Read,
            "WRITE" => Self::Write,
            "READ_ACP" => Self::ReadAcp,
            "WRITE_ACP" => Self::WriteAcp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullControl => "FULL_CONTROL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::ReadAcp => "READ_ACP",
            Self::WriteAcp => "WRITE_ACP",
        }
    }

    /// Whether holding `self` gives `wanted`.
    fn gives(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grantee {
    CanonicalUser {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    Group {
        uri: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: Owner,
    pub grants: Vec<Grant>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    #[serde(flatten)]
    acl: Acl,
}

/// The canned ACLs (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AwsExecRead,
    AuthenticatedRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl Canned {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => Self::Private,
            "public-read" => Self::PublicRead,
            "public-read-write" => Self::PublicReadWrite,
            "aws-exec-read" => Self::AwsExecRead,
            "authenticated-read" => Self::AuthenticatedRead,
            "bucket-owner-read" => Self::BucketOwnerRead,
            "bucket-owner-full-control" => Self::BucketOwnerFullControl,
            "log-delivery-write" => Self::LogDeliveryWrite,
            _ => return None,
        })
    }
}

/// Who asks, for ACL purposes: anonymous, or a user by canonical id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    Anonymous,
    User(&'a str),
}

fn user(o: &Owner) -> Grantee {
    Grantee::CanonicalUser { id: o.id.clone(), name: Some(o.name.clone()) }
}

fn group(uri: &str) -> Grantee {
    Grantee::Group { uri: uri.to_string() }
}

impl Acl {
    /// `owner` with full control and nothing else (`private`).
    pub fn private(owner: Owner) -> Self {
        let grants = vec![Grant { grantee: user(&owner), permission: Permission::FullControl }];
        Self { owner, grants }
    }

    /// A canned ACL for a resource owned by `owner` in a bucket owned by `bucket_owner`.
    pub fn canned(c: Canned, owner: Owner, bucket_owner: &Owner) -> Self {
        let mut acl = Self::private(owner);
        let mut add = |grantee: Grantee, permission: Permission| acl.grants.push(Grant { grantee, permission });
        match c {
            Canned::Private | Canned::AwsExecRead => {}
            Canned::PublicRead => add(group(ALL_USERS), Permission::Read),
            Canned::PublicReadWrite => {
                add(group(ALL_USERS), Permission::Read);
                add(group(ALL_USERS), Permission::Write);
            }
            Canned::AuthenticatedRead => add(group(AUTHENTICATED_USERS), Permission::Read),
            Canned::BucketOwnerRead => add(user(bucket_owner), Permission::Read),
            Canned::BucketOwnerFullControl => add(user(bucket_owner), Permission::FullControl),
            Canned::LogDeliveryWrite => {
                add(group(LOG_DELIVERY), Permission::Write);
                add(group(LOG_DELIVERY), Permission::ReadAcp);
            }
        }
        // The bucket owner of its own object: one grant, not two.
        acl.grants.dedup();
        acl
    }

    /// Whether the ACL gives `who` permission `wanted` (the owner always holds `READ_ACP`
    /// and `WRITE_ACP` on what it owns). `ignore_public`: grants to everyone or to every
    /// signed caller count for nothing (the public access block's `IgnorePublicAcls`).
    pub fn allows(&self, who: Who<'_>, wanted: Permission, ignore_public: bool) -> bool {
        if let Who::User(id) = who
            && id == self.owner.id
            && matches!(wanted, Permission::ReadAcp | Permission::WriteAcp)
        {
            return true;
        }
        self.grants.iter().any(|g| {
            g.permission.gives(wanted)
                && match (&g.grantee, who) {
                    (Grantee::CanonicalUser { id, .. }, Who::User(me)) => id == me,
                    (Grantee::CanonicalUser { .. }, Who::Anonymous) => false,
                    (Grantee::Group { uri }, _) if ignore_public && is_public_group(uri) => false,
                    (Grantee::Group { uri }, _) if uri == ALL_USERS => true,
                    (Grantee::Group { uri }, Who::User(_)) => uri == AUTHENTICATED_USERS,
                    (Grantee::Group { .. }, Who::Anonymous) => false,
                }
        })
    }

    /// Whether any grant is to everyone or to every signed caller.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| matches!(&g.grantee, Grantee::Group { uri } if is_public_group(uri)))
    }

    /// Checks an ACL a client sent: known groups, at most [`MAX_GRANTS`] grants.
    pub fn check(&self) -> Result<(), PolicyError> {
        if self.grants.len() > MAX_GRANTS {
            return Err(PolicyError::Malformed(format!("an ACL holds at most {MAX_GRANTS} grants")));
        }
        for g in &self.grants {
            if let Grantee::Group { uri } = &g.grantee
                && !matches!(uri.as_str(), ALL_USERS | AUTHENTICATED_USERS | LOG_DELIVERY)
            {
                return Err(PolicyError::Malformed(format!("Invalid group uri: {uri}")));
            }
        }
        Ok(())
    }

    /// The stored form (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Stored { v: FORMAT, acl: self.clone() }).unwrap_or_default()
    }

    pub fn decode(b: &[u8]) -> Result<Self, PolicyError> {
        let s: Stored = serde_json::from_slice(b).map_err(|e| PolicyError::Stored(format!("ACL: {e}")))?;
        if s.v != FORMAT {
            return Err(PolicyError::Stored(format!("ACL format {} (1 is understood)", s.v)));
        }
        Ok(s.acl)
    }
}

fn is_public_group(uri: &str) -> bool {
    uri == ALL_USERS || uri == AUTHENTICATED_USERS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: &str) -> Owner {
        Owner { id: format!("id-{n}"), name: n.into() }
    }

    #[test]
    fn canned_acls_grant_as_aws_documents() {
        let (alice, bob) = (owner("alice"), owner("bob"));
        let p = Acl::canned(Canned::PublicRead, alice.clone(), &alice);
        assert!(p.allows(Who::Anonymous, Permission::Read, false));
        assert!(!p.allows(Who::Anonymous, Permission::Write, false));
        assert!(!p.allows(Who::Anonymous, Permission::Read, true), "IgnorePublicAcls");
        assert!(p.is_public());
        let a = Acl::canned(Canned::AuthenticatedRead, alice.clone(), &alice);
        assert!(
            a.allows(Who::User("id-bob"), Permission::Read, false)
                && !a.allows(Who::Anonymous, Permission::Read, false)
        );
        let o = Acl::canned(Canned::BucketOwnerFullControl, bob.clone(), &alice);
        assert!(o.allows(Who::User("id-alice"), Permission::WriteAcp, false));
        assert_eq!(Acl::canned(Canned::BucketOwnerFullControl, alice.clone(), &alice).grants.len(), 1);
        let private = Acl::canned(Canned::Private, alice.clone(), &alice);
        assert!(!private.allows(Who::User("id-bob"), Permission::Read, false));
        assert!(private.allows(Who::User("id-alice"), Permission::Write, false));
        assert!(!private.is_public());
        let rw = Acl::canned(Canned::PublicReadWrite, alice.clone(), &alice);
        assert!(rw.allows(Who::Anonymous, Permission::Write, false));
        assert!(Canned::parse("public-read").is_some() && Canned::parse("public").is_none());
    }

    #[test]
    fn grants_by_user_and_the_stored_form() {
        let alice = owner("alice");
        let mut acl = Acl::private(alice.clone());
        acl.grants.push(Grant {
            grantee: Grantee::CanonicalUser { id: "id-bob".into(), name: None },
            permission: Permission::ReadAcp,
        });
        assert!(acl.allows(Who::User("id-bob"), Permission::ReadAcp, false));
        assert!(!acl.allows(Who::User("id-bob"), Permission::Read, false));
        // The owner always reads and writes its ACL.
        let mut only_bob = acl.clone();
        only_bob.grants.remove(0);
        assert!(only_bob.allows(Who::User("id-alice"), Permission::WriteAcp, false));
        assert!(!only_bob.allows(Who::User("id-alice"), Permission::Read, false));
        let back = Acl::decode(&acl.encode()).unwrap();
        assert_eq!(back, acl);
        assert!(Acl::decode(br#"{"v":2,"owner":{"id":"a","name":"a"},"grants":[]}"#).is_err());
        assert!(Acl::decode(b"garbage").is_err());
        acl.grants.push(Grant {
            grantee: Grantee::Group { uri: "http://example.com/g".into() },
            permission: Permission::Read,
        });
        assert!(acl.check().is_err());
    }
}
