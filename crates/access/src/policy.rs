//! The policy language as AWS writes it: a JSON document with `Version`, `Id` and
//! `Statement` (one or a list), each statement with `Sid`, `Effect`, `Principal` or
//! `NotPrincipal`, `Action` or `NotAction`, `Resource` or `NotResource`, and `Condition`.
//! [`Policy::parse_bucket`] reads a bucket policy (principals required, resources within
//! the bucket), [`Policy::parse_identity`] a user's or group's policy (no principal): both
//! refuse what AWS refuses, with its `MalformedPolicy` reasons. Evaluation is in `eval`.
//! This module never panics on any input and keeps no state.

use serde_json::{Map, Value};

use crate::PolicyError;
use crate::actions::is_known_s3_action;
use crate::condition::{Condition, parse_operator};

/// The policy language versions AWS accepts.
const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];
/// Largest bucket policy AWS stores (20 KiB), and identity policy here (AWS: 6 KiB managed).
pub const MAX_BUCKET_POLICY: usize = 20 * 1024;
pub const MAX_IDENTITY_POLICY: usize = 20 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Any,
    /// `{"AWS": [...], "CanonicalUser": [...]}` (other kinds, such as `Service`, are kept
    /// and match no caller of this server).
    Listed {
        aws: Vec<String>,
        canonical: Vec<String>,
        other: Vec<String>,
        /// From `aws`, resolved once: an account id or an account's root (every user of this
        /// server) ...
        all_users: bool,
        /// ... and the user names of user ARNs (`arn:aws:iam::ACCOUNT:user/PATH/NAME`).
        users: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `Principal` (or `NotPrincipal` when `not_principal`); `None` in identity policies.
    pub principal: Option<Principals>,
    pub not_principal: bool,
    pub actions: Vec<String>,
    pub not_action: bool,
    pub resources: Vec<String>,
    pub not_resource: bool,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

fn malformed(why: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(why.into())
}

/// A string or a list of strings (`Action`, `Resource`, a principal kind's values).
fn strings(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let list: Vec<&Value> = match v {
        Value::String(_) => vec![v],
        Value::Array(a) if !a.is_empty() => a.iter().collect(),
        Value::Array(_) => return Err(malformed(format!("{field} is empty"))),
        _ => return Err(malformed(format!("{field} must be a string or a list of strings"))),
    };
    list.into_iter()
        .map(|x| x.as_str().map(str::to_string).ok_or_else(|| malformed(format!("{field} must hold strings"))))
        .collect()
}

fn principals(v: &Value) -> Result<Principals, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::String(_) => Err(malformed("Invalid principal in policy")),
        Value::Object(m) => {
            let (mut aws, mut canonical, mut other) = (Vec::new(), Vec::new(), Vec::new());
            for (kind, vals) in m {
                let list = strings(vals, "Principal")?;
                match kind.as_str() {
                    "AWS" if list.iter().any(|p| p == "*") => return Ok(Principals::Any),
                    "AWS" => {
                        for p in &list {
                            if !valid_aws_principal(p) {
                                return Err(malformed("Invalid principal in policy"));
                            }
                        }
                        aws.extend(list);
                    }
                    "CanonicalUser" => canonical.extend(list),
                    "Service" | "Federated" => other.extend(list),
                    _ => return Err(malformed("Invalid principal in policy")),
                }
            }
            if aws.is_empty() && canonical.is_empty() && other.is_empty() {
                return Err(malformed("Invalid principal in policy"));
            }
            let all_users = aws.iter().any(|a| !a.starts_with("arn:") || a.ends_with(":root"));
            let users = aws
                .iter()
                .filter_map(|a| a.rsplit_once(":user/").and_then(|(_, n)| n.rsplit('/').next()).map(str::to_string))
                .collect();
            Ok(Principals::Listed { aws, canonical, other, all_users, users })
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

/// An AWS principal: an account id (12 digits), `arn:aws:iam::<account>:root`, or a user
/// `arn:aws:iam::<account>:user/<path/>name` (the account may be empty, as Ceph writes it).
fn valid_aws_principal(p: &str) -> bool {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let Some(rest) = p.strip_prefix("arn:aws:iam::") else { return false };
    let Some((account, what)) = rest.split_once(':') else { return false };
    let account_ok = account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    account_ok && (what == "root" || what.strip_prefix("user/").is_some_and(|n| !n.is_empty()))
}

fn check_action(a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let Some((service, name)) = a.split_once(':') else {
        return Err(malformed("Policy has invalid action"));
    };
    if !service.eq_ignore_ascii_case("s3") || name.is_empty() {
        return Err(malformed("Policy has invalid action"));
    }
    if name.contains(['*', '?']) || is_known_s3_action(name) {
        Ok(())
    } else {
        Err(malformed("Policy has invalid action"))
    }
}

/// Which resources a policy may name.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// A bucket policy: this bucket and its objects.
    Bucket(&'a str),
    /// An identity policy: any S3 resource.
    Any,
}

fn check_resource(r: &str, scope: Scope<'_>) -> Result<(), PolicyError> {
    let invalid = || malformed("Policy has invalid resource");
    if r == "*" {
        return match scope {
            Scope::Any => Ok(()),
            Scope::Bucket(_) => Err(invalid()),
        };
    }
    let Some(path) = r.strip_prefix("arn:aws:s3:::") else { return Err(invalid()) };
    match scope {
        Scope::Any => Ok(()),
        Scope::Bucket(b) => {
            let head = path.split('/').next().unwrap_or_default();
            if head == b || (head.contains(['*', '?']) && crate::matching::wildcard(head, b, false)) {
                Ok(())
            } else {
                Err(invalid())
            }
        }
    }
}

fn statement(v: &Value, scope: Scope<'_>) -> Result<Statement, PolicyError> {
    let Value::Object(m) = v else { return Err(malformed("a Statement must be an object")) };
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("Unknown field {k}")));
        }
    }
    let sid = match m.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Sid must be a string")),
    };
    let effect = match m.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(e) => return Err(malformed(format!("Invalid effect: {e}"))),
        None => return Err(malformed("Missing required field Effect")),
    };
    let (principal, not_principal) = match (m.get("Principal"), m.get("NotPrincipal"), scope) {
        (Some(_), Some(_), _) => return Err(malformed("Principal and NotPrincipal together")),
        (Some(p), None, Scope::Bucket(_)) => (Some(principals(p)?), false),
        (None, Some(p), Scope::Bucket(_)) => (Some(principals(p)?), true),
        (None, None, Scope::Bucket(_)) => return Err(malformed("Missing required field Principal")),
        (None, None, Scope::Any) => (None, false),
        (_, _, Scope::Any) => return Err(malformed("Policy document should not specify a principal")),
    };
    let (actions, not_action) = match (m.get("Action"), m.get("NotAction")) {
        (Some(a), None) => (strings(a, "Action")?, false),
        (None, Some(a)) => (strings(a, "NotAction")?, true),
        (Some(_), Some(_)) => return Err(malformed("Action and NotAction together")),
        (None, None) => return Err(malformed("Missing required field Action")),
    };
    for a in &actions {
        check_action(a)?;
    }
    let (resources, not_resource) = match (m.get("Resource"), m.get("NotResource")) {
        (Some(r), None) => (strings(r, "Resource")?, false),
        (None, Some(r)) => (strings(r, "NotResource")?, true),
        (Some(_), Some(_)) => return Err(malformed("Resource and NotResource together")),
        (None, None) => return Err(malformed("Missing required field Resource")),
    };
    for r in &resources {
        check_resource(r, scope)?;
    }
    let conditions = match m.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => conditions(ops)?,
        Some(_) => return Err(malformed("Condition must be an object")),
    };
    Ok(Statement { sid, effect, principal, not_principal, actions, not_action, resources, not_resource, conditions })
}

fn conditions(ops: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op = parse_operator(op_name)?;
        let Value::Object(keys) = keys else {
            return Err(malformed(format!("Condition {op_name} must map keys to values")));
        };
        if keys.is_empty() {
            return Err(malformed(format!("Condition {op_name} has no key")));
        }
        for (key, values) in keys {
            crate::actions::check_condition_key(key)?;
            out.push(Condition::parse(op.clone(), key, values)?);
        }
    }
    Ok(out)
}

fn parse(text: &str, scope: Scope<'_>, max: usize) -> Result<Policy, PolicyError> {
    if text.len() > max {
        return Err(PolicyError::TooLarge(max));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| malformed(format!("Policies must be valid JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(malformed("Policies must be valid JSON and the first byte must be '{'"));
    };
    for k in m.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(format!("Unknown field {k}")));
        }
    }
    let version = match m.get("Version") {
        None => None,
        Some(Value::String(s)) if VERSIONS.contains(&s.as_str()) => Some(s.clone()),
        Some(_) => return Err(malformed("The policy must contain a valid version string")),
    };
    let id = m.get("Id").and_then(Value::as_str).map(str::to_string);
    let list: Vec<&Value> = match m.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(Value::Array(_)) | None => return Err(malformed("Missing required field Statement")),
        Some(s @ Value::Object(_)) => vec![s],
        Some(_) => return Err(malformed("Statement must be an object or a list")),
    };
    let statements = list.into_iter().map(|s| statement(s, scope)).collect::<Result<Vec<_>, _>>()?;
    let mut sids = std::collections::HashSet::new();
    if let Some(dup) = statements.iter().filter_map(|s| s.sid.as_deref()).find(|s| !s.is_empty() && !sids.insert(*s)) {
        return Err(malformed(format!("Statement IDs (SID) in a single policy must be unique: {dup}")));
    }
    Ok(Policy { version, id, statements })
}

impl Policy {
    /// A bucket policy of `bucket`: every statement names principals and only resources of
    /// the bucket.
    pub fn parse_bucket(text: &str, bucket: &str) -> Result<Self, PolicyError> {
        parse(text, Scope::Bucket(bucket), MAX_BUCKET_POLICY)
    }

    /// A user's or group's policy: no principal, any S3 resource.
    pub fn parse_identity(text: &str) -> Result<Self, PolicyError> {
        parse(text, Scope::Any, MAX_IDENTITY_POLICY)
    }

    /// Whether any statement reads condition key `key` (e.g. to read an object's tags only
    /// when a policy compares them).
    pub fn reads_key_prefix(&self, prefix: &str) -> bool {
        let p = crate::context::normalize_key(prefix);
        self.statements.iter().flat_map(|s| &s.conditions).any(|c| c.key.starts_with(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow",
        "Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"]}]}"#;

    #[test]
    fn aws_documented_bucket_policies_parse() {
        let p = Policy::parse_bucket(PUBLIC_READ, "DOC-EXAMPLE-BUCKET").unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].principal, Some(Principals::Any));
        let p = Policy::parse_bucket(
            r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]},
                "NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::b/public/*",
                "Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24"]},"Bool":{"aws:SecureTransport":false}}}}"#,
            "b",
        )
        .unwrap();
        let s = &p.statements[0];
        assert!(s.not_action && s.not_resource && s.conditions.len() == 2 && p.version.is_none());
        assert!(Policy::parse_bucket(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam:::user/bob"},"Action":"s3:List*","Resource":"arn:aws:s3:::b"}]}"#, "b").is_ok());
    }

    #[test]
    fn malformed_policies_name_the_reason() {
        let cases = [
            ("not json", "valid JSON"),
            ("[]", "first byte"),
            (r#"{"Version":"2012-10-17"}"#, "Missing required field Statement"),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "valid version"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
                "Invalid effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::b/*"}]}"#,
                "invalid action",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"iam:CreateUser","Resource":"arn:aws:s3:::b/*"}]}"#,
                "invalid action",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
                "invalid resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
                "invalid resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"alice","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
                "Invalid principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
                "Invalid principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualz":{"s3:prefix":"a"}}}]}"#,
                "Invalid Condition type",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:nosuchkey":"a"}}}]}"#,
                "invalid condition key",
            ),
            (
                r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"a","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
                "unique",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Extra":1}]}"#,
                "Unknown field Extra",
            ),
        ];
        for (text, why) in cases {
            match Policy::parse_bucket(text, "b") {
                Err(PolicyError::Malformed(m)) => assert!(m.contains(why), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let big = format!(
            r#"{{"Statement":[{}]}}"#,
            vec![r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#; 300]
                .join(",")
        );
        assert!(matches!(Policy::parse_bucket(&big, "b"), Err(PolicyError::TooLarge(_))));
    }

    #[test]
    fn identity_policies_have_no_principal() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::home/${aws:username}/*","*"]}]}"#;
        assert!(Policy::parse_identity(p).is_ok());
        let with = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert!(Policy::parse_identity(with).unwrap_err().to_string().contains("principal"));
    }
}
