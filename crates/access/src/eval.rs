//! Evaluating policies for one request as AWS documents it: a statement applies when its
//! principal (bucket policies), action, resource and every condition match; an applicable
//! `Deny` anywhere decides (explicit deny wins), else an applicable `Allow` in any policy of
//! the request allows, else the request is implicitly denied. Also whether a bucket policy
//! is *public* (grants everyone without a condition that pins the caller down), for
//! `GetBucketPolicyStatus` and the public access block.
//! This module never reads storage: the caller hands it the parsed policies and the context.

use crate::condition::Kind;
use crate::context::Context;
use crate::matching::{substitute, wildcard};
use crate::policy::{Effect, Policy, Principals, Statement};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// No credentials (or an unsigned request).
    Anonymous,
    /// A user of this server: its name (`arn:aws:iam:::user/<name>`) and canonical id.
    User { name: &'a str, canonical_id: &'a str },
}

/// One request to judge: `action` (`s3:GetObject`) on `resource` (`arn:aws:s3:::b/k`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    pub action: &'a str,
    pub resource: &'a str,
    pub cx: &'a Context,
}

/// A policy's (or several policies') answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No statement applies.
    NotApplicable,
    Allow,
    /// An applicable `Deny`: nothing else can allow the request.
    Deny,
}

impl Decision {
    /// Two answers combined (deny wins, then allow).
    pub fn and(self, other: Decision) -> Decision {
        match (self, other) {
            (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
            (Decision::Allow, _) | (_, Decision::Allow) => Decision::Allow,
            _ => Decision::NotApplicable,
        }
    }
}

/// The user ARN of a caller's name.
pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam:::user/{name}")
}

fn principal_matches(p: &Principals, caller: Caller<'_>) -> bool {
    match (p, caller) {
        (Principals::Any, _) => true,
        (Principals::Listed { .. }, Caller::Anonymous) => false,
        (Principals::Listed { canonical, all_users, users, .. }, Caller::User { name, canonical_id }) => {
            *all_users || users.iter().any(|u| u == name) || canonical.iter().any(|c| c == canonical_id)
        }
    }
}

fn action_matches(s: &Statement, action: &str) -> bool {
    let any = s.actions.iter().any(|a| wildcard(a, action, true));
    any != s.not_action
}

fn resource_matches(s: &Statement, resource: &str, cx: &Context) -> bool {
    let any = s.resources.iter().any(|r| substitute(r, cx).is_some_and(|r| wildcard(&r, resource, false)));
    any != s.not_resource
}

/// Whether `s` applies to `req`.
pub fn applies(s: &Statement, req: &Request<'_>) -> bool {
    if let Some(p) = &s.principal
        && principal_matches(p, req.caller) == s.not_principal
    {
        return false;
    }
    action_matches(s, req.action)
        && resource_matches(s, req.resource, req.cx)
        && s.conditions.iter().all(|c| c.holds(req.cx))
}

impl Policy {
    /// This policy's answer to `req`.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut d = Decision::NotApplicable;
        for s in self.statements.iter().filter(|s| applies(s, req)) {
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => d = Decision::Allow,
            }
        }
        d
    }

    /// Whether the policy is public as AWS judges it: an `Allow` statement for everyone
    /// (`"*"` or a `NotPrincipal`) that no condition pins to known callers (a source IP range
    /// narrower than the whole internet, a source account, VPC, ARN or organization).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && (s.not_principal || matches!(s.principal, Some(Principals::Any)))
                && !s.conditions.iter().any(|c| {
                    let key = c.key.as_str();
                    let pins = matches!(
                        key,
                        "aws:sourcearn"
                            | "aws:sourceaccount"
                            | "aws:sourceowner"
                            | "aws:sourcevpc"
                            | "aws:sourcevpce"
                            | "aws:principalorgid"
                            | "aws:principalaccount"
                            | "aws:userid"
                            | "aws:username"
                            | "aws:principalarn"
                    ) && !c.op.negated;
                    let ip = key == "aws:sourceip" && c.op.kind == Kind::Ip && !c.op.negated && !c.covers_everything();
                    pins || ip
                })
        })
    }
}

/// Several policies' answer to one request (deny in any wins).
pub fn evaluate_all<'p>(policies: impl IntoIterator<Item = &'p Policy>, req: &Request<'_>) -> Decision {
    let mut d = Decision::NotApplicable;
    for p in policies {
        d = d.and(p.evaluate(req));
        if d == Decision::Deny {
            return d;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(p: &str) -> Policy {
        Policy::parse_bucket(p, "b").unwrap()
    }

    fn req<'a>(caller: Caller<'a>, action: &'a str, resource: &'a str, cx: &'a Context) -> Request<'a> {
        Request { caller, action, resource, cx }
    }

    const ALICE: Caller<'static> = Caller::User { name: "alice", canonical_id: "c-alice" };
    const BOB: Caller<'static> = Caller::User { name: "bob", canonical_id: "c-bob" };

    /// AWS's documented examples: read on a prefix for one user, explicit deny beating an
    /// allow, NotPrincipal, NotAction/NotResource and an IP condition.
    #[test]
    fn aws_evaluation_examples() {
        let cx = Context::default();
        let p = bucket(
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"AliceReadsHerPrefix","Effect":"Allow","Principal":{"AWS":"arn:aws:iam:::user/alice"},
               "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/alice/*"},
              {"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/alice/secret/*"}]}"#,
        );
        assert_eq!(p.evaluate(&req(ALICE, "s3:GetObject", "arn:aws:s3:::b/alice/a.txt", &cx)), Decision::Allow);
        assert_eq!(p.evaluate(&req(BOB, "s3:GetObject", "arn:aws:s3:::b/alice/a.txt", &cx)), Decision::NotApplicable);
        assert_eq!(p.evaluate(&req(ALICE, "s3:PutObject", "arn:aws:s3:::b/alice/a.txt", &cx)), Decision::NotApplicable);
        assert_eq!(p.evaluate(&req(ALICE, "s3:GetObject", "arn:aws:s3:::b/alice/secret/k", &cx)), Decision::Deny);
        assert_eq!(
            p.evaluate(&req(Caller::Anonymous, "s3:GetObject", "arn:aws:s3:::b/alice/a", &cx)),
            Decision::NotApplicable
        );
        // Deny everyone but alice everything except reads of public/.
        let q = bucket(
            r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
               "NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::b/public/*"}]}"#,
        );
        assert_eq!(q.evaluate(&req(BOB, "s3:PutObject", "arn:aws:s3:::b/x", &cx)), Decision::Deny);
        assert_eq!(q.evaluate(&req(BOB, "s3:GetObject", "arn:aws:s3:::b/x", &cx)), Decision::NotApplicable);
        assert_eq!(q.evaluate(&req(BOB, "s3:PutObject", "arn:aws:s3:::b/public/x", &cx)), Decision::NotApplicable);
        assert_eq!(q.evaluate(&req(ALICE, "s3:PutObject", "arn:aws:s3:::b/x", &cx)), Decision::NotApplicable);
        assert_eq!(evaluate_all([&p, &q], &req(BOB, "s3:DeleteObject", "arn:aws:s3:::b/x", &cx)), Decision::Deny);
        assert_eq!(evaluate_all([&p, &q], &req(ALICE, "s3:GetObject", "arn:aws:s3:::b/alice/k", &cx)), Decision::Allow);
        // Reads only from a network.
        let ip = bucket(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
               "Condition":{"IpAddress":{"aws:SourceIp":"10.1.0.0/16"}}}]}"#,
        );
        let mut inside = Context::default();
        inside.set("aws:SourceIp", "10.1.2.3");
        let mut outside = Context::default();
        outside.set("aws:SourceIp", "10.2.0.1");
        assert_eq!(ip.evaluate(&req(Caller::Anonymous, "s3:GetObject", "arn:aws:s3:::b/k", &inside)), Decision::Allow);
        assert_eq!(
            ip.evaluate(&req(Caller::Anonymous, "s3:GetObject", "arn:aws:s3:::b/k", &outside)),
            Decision::NotApplicable
        );
        assert!(!ip.is_public(), "pinned to a network");
    }

    #[test]
    fn policy_variables_and_identity_policies() {
        let home = Policy::parse_identity(
            r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::home/${aws:username}/*"},
               {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home","Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}}]}"#,
        )
        .unwrap();
        let mut cx = Context::default();
        cx.set("aws:username", "alice").set("s3:prefix", "alice/docs/");
        assert_eq!(home.evaluate(&req(ALICE, "s3:PutObject", "arn:aws:s3:::home/alice/x", &cx)), Decision::Allow);
        assert_eq!(home.evaluate(&req(ALICE, "s3:PutObject", "arn:aws:s3:::home/bob/x", &cx)), Decision::NotApplicable);
        assert_eq!(home.evaluate(&req(ALICE, "s3:ListBucket", "arn:aws:s3:::home", &cx)), Decision::Allow);
        cx.set("s3:prefix", "bob/");
        assert_eq!(home.evaluate(&req(ALICE, "s3:ListBucket", "arn:aws:s3:::home", &cx)), Decision::NotApplicable);
        assert_eq!(
            home.evaluate(&req(ALICE, "S3:getobject", "arn:aws:s3:::home/alice/x", &cx)),
            Decision::Allow,
            "actions compare without case"
        );
    }

    #[test]
    fn public_policies_are_told_apart() {
        let public = bucket(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        assert!(public.is_public());
        let any_ip = bucket(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}"#,
        );
        assert!(any_ip.is_public(), "the whole internet pins nothing");
        let user = bucket(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam:::user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        assert!(!user.is_public());
        let deny = bucket(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        assert!(!deny.is_public());
    }
}
