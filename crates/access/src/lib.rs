//! The access model as AWS documents it, evaluated in one place: the policy language
//! (bucket policies and users' and groups' identity policies: effects, principals, actions
//! and resources with wildcards and policy variables, every condition operator S3 users
//! rely on), access control lists with their canned forms, and the decision that combines
//! them for one request (explicit deny wins, then any allow). What a request *is* (its
//! action, resource, caller and condition keys) is `s3api`'s to say; what is stored is the
//! metadata's. This crate never reads storage, never logs a secret, and never panics on a
//! policy, an ACL or a request value.
//!
//! Public API: [`Policy`] (parse, evaluate, [`Policy::is_public`]), [`Context`],
//! [`Request`], [`Caller`], [`Decision`], [`acl::Acl`] and [`canonical_id`].

pub mod acl;
pub mod actions;
pub mod condition;
pub mod context;
pub mod eval;
pub mod matching;
pub mod policy;

pub use context::Context;
pub use eval::{Caller, Decision, Request, evaluate_all, user_arn};
pub use policy::{Effect, Policy, Principals, Statement};

/// Why a policy or ACL is refused (`MalformedPolicy`, `MalformedACLError`) or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Malformed(String),
    #[error("Policies must be at most {0} bytes")]
    TooLarge(usize),
    /// A stored value this version cannot read.
    #[error("unreadable stored access document: {0}")]
    Stored(String),
}

/// The canonical user id of a user of this server (as S3 shows owners and ACL grantees:
/// 64 hex digits), derived from its name so that every node computes the same one.
pub fn canonical_id(name: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("rustfs-user:{name}").as_bytes());
    hex::encode(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_ids_are_stable_hex() {
        let a = super::canonical_id("alice");
        assert_eq!(a.len(), 64);
        assert_eq!(a, super::canonical_id("alice"));
        assert_ne!(a, super::canonical_id("bob"));
    }
}
