//! A policy statement's `Condition` block: operators (String*, Numeric*, Date*, Bool,
//! BinaryEquals, IpAddress/NotIpAddress, Arn*, Null, each also `...IfExists`), the set
//! qualifiers `ForAnyValue:` and `ForAllValues:`, parsed and checked once (a value an
//! operator cannot read is a malformed policy, not a runtime surprise), then evaluated
//! against a request [`Context`] as IAM documents it: values of one key OR'ed, keys and
//! operators AND'ed; a key absent from the request makes a positive operator false, a
//! negated one (`StringNotEquals`, `NotIpAddress` ...) true, an `...IfExists` one true.
//! This module never panics on any policy or request value.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::PolicyError;
use crate::context::{Context, normalize_key};
use crate::matching::{substitute, wildcard};

/// What an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String { ignore_case: bool, like: bool },
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    ForAnyValue,
    ForAllValues,
}

/// One operator of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub kind: Kind,
    /// A `Not` operator: true when no policy value matches.
    pub negated: bool,
    pub if_exists: bool,
    pub qualifier: Option<Qualifier>,
}

/// A policy value, read once as its operator needs it.
#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Text(String),
    Number(f64),
    Time(i128),
    Flag(bool),
    Net(IpNet),
}

/// One key of one operator, with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub op: Operator,
    /// The key as written (compared without case, see `context`).
    pub key: String,
    values: Vec<Parsed>,
}

/// Parses an operator name (`StringLike`, `ForAllValues:StringEqualsIgnoreCase`,
/// `NotIpAddressIfExists` ...).
pub fn parse_operator(full: &str) -> Result<Operator, PolicyError> {
    let bad = || PolicyError::Malformed(format!("Invalid Condition type : {full}"));
    let (qualifier, rest) = match full.split_once(':') {
        Some(("ForAnyValue", r)) => (Some(Qualifier::ForAnyValue), r),
        Some(("ForAllValues", r)) => (Some(Qualifier::ForAllValues), r),
        Some(_) => return Err(bad()),
        None => (None, full),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let (kind, negated) = match base {
        "StringEquals" => (Kind::String { ignore_case: false, like: false }, false),
        "StringNotEquals" => (Kind::String { ignore_case: false, like: false }, true),
        "StringEqualsIgnoreCase" => (Kind::String { ignore_case: true, like: false }, false),
        "StringNotEqualsIgnoreCase" => (Kind::String { ignore_case: true, like: false }, true),
        "StringLike" => (Kind::String { ignore_case: false, like: true }, false),
        "StringNotLike" => (Kind::String { ignore_case: false, like: true }, true),
        "NumericEquals" => (Kind::Numeric(Cmp::Eq), false),
        "NumericNotEquals" => (Kind::Numeric(Cmp::Eq), true),
        "NumericLessThan" => (Kind::Numeric(Cmp::Lt), false),
        "NumericLessThanEquals" => (Kind::Numeric(Cmp::Le), false),
        "NumericGreaterThan" => (Kind::Numeric(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Kind::Numeric(Cmp::Ge), false),
        "DateEquals" => (Kind::Date(Cmp::Eq), false),
        "DateNotEquals" => (Kind::Date(Cmp::Eq), true),
        "DateLessThan" => (Kind::Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Kind::Date(Cmp::Le), false),
        "DateGreaterThan" => (Kind::Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Kind::Date(Cmp::Ge), false),
        "Bool" => (Kind::Bool, false),
        "BinaryEquals" => (Kind::Binary, false),
        "IpAddress" => (Kind::Ip, false),
        "NotIpAddress" => (Kind::Ip, true),
        "ArnEquals" | "ArnLike" => (Kind::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Kind::Arn, true),
        "Null" if !if_exists && qualifier.is_none() => (Kind::Null, false),
        _ => return Err(bad()),
    };
    Ok(Operator { name: full.to_string(), kind, negated, if_exists, qualifier })
}

/// A JSON condition value as text (IAM accepts strings, numbers and booleans).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A date as IAM reads one: ISO 8601 (`2026-01-01T00:00:00Z`, or a day) or epoch seconds;
/// nanoseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, day).ok().map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Condition {
    /// Parses the values of `key` under `op` (a string, number, boolean or array of them).
    pub fn parse(op: Operator, key: &str, values: &Value) -> Result<Self, PolicyError> {
        let raw: Vec<&Value> = match values {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        if raw.is_empty() {
            return Err(PolicyError::Malformed(format!("Condition {} has no value for {key}", op.name)));
        }
        let bad = |v: &Value| PolicyError::Malformed(format!("Invalid value {v} for condition {} {key}", op.name));
        let mut parsed = Vec::with_capacity(raw.len());
        for v in raw {
            let t = text_of(v).ok_or_else(|| bad(v))?;
            parsed.push(match op.kind {
                // Values with policy variables are read at evaluation (after substitution).
                _ if t.contains("${") => Parsed::Text(t),
                Kind::String { .. } | Kind::Arn | Kind::Binary => Parsed::Text(t),
                Kind::Numeric(_) => Parsed::Number(t.trim().parse::<f64>().map_err(|_| bad(v))?),
                Kind::Date(_) => Parsed::Time(parse_date(&t).ok_or_else(|| bad(v))?),
                Kind::Bool | Kind::Null => Parsed::Flag(match t.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(v)),
                }),
                Kind::Ip => Parsed::Net(parse_net(&t).ok_or_else(|| bad(v))?),
            });
        }
        Ok(Self { op, key: normalize_key(key), values: parsed })
    }

    /// Whether the policy value `p` matches the request value `r` (the operator's positive
    /// sense; `None`: `p` could not be read after substituting variables).
    fn pair(&self, p: &Parsed, r: &str, cx: &Context) -> bool {
        fn text<'p>(p: &'p Parsed, cx: &Context) -> Option<std::borrow::Cow<'p, str>> {
            match p {
                Parsed::Text(t) => substitute(t, cx),
                _ => None,
            }
        }
        match (self.op.kind, p) {
            (Kind::String { ignore_case, like }, p) => {
                let Some(v) = text(p, cx) else { return false };
                match (like, ignore_case) {
                    (true, _) => wildcard(&v, r, false),
                    (false, true) => v.eq_ignore_ascii_case(r),
                    (false, false) => v == r,
                }
            }
            (Kind::Arn, p) => text(p, cx).is_some_and(|v| wildcard(&v, r, false)),
            (Kind::Binary, p) => text(p, cx).is_some_and(|v| v == r),
            (Kind::Numeric(cmp), p) => {
                let want = match p {
                    Parsed::Number(n) => Some(*n),
                    other => text(other, cx).and_then(|t| t.trim().parse().ok()),
                };
                match (want, r.trim().parse::<f64>()) {
                    (Some(w), Ok(got)) => compare(got.partial_cmp(&w), cmp),
                    _ => false,
                }
            }
            (Kind::Date(cmp), p) => {
                let want = match p {
                    Parsed::Time(t) => Some(*t),
                    other => text(other, cx).and_then(|t| parse_date(&t)),
                };
                match (want, parse_date(r)) {
                    (Some(w), Some(got)) => compare(Some(got.cmp(&w)), cmp),
                    _ => false,
                }
            }
            (Kind::Bool, Parsed::Flag(b)) => r.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            (Kind::Ip, Parsed::Net(n)) => r.trim().parse::<IpAddr>().is_ok_and(|ip| n.contains(&ip)),
            (Kind::Ip, p) => text(p, cx)
                .and_then(|t| parse_net(&t))
                .is_some_and(|n| r.trim().parse::<IpAddr>().is_ok_and(|ip| n.contains(&ip))),
            _ => false,
        }
    }

    /// Whether request value `r` satisfies the operator (any policy value for a positive
    /// operator, none for a negated one).
    fn value_ok(&self, r: &str, cx: &Context) -> bool {
        let any = if self.op.kind == Kind::Ip {
            // The request's address is parsed once, not once per range.
            let ip = r.trim().parse::<IpAddr>().ok();
            self.values.iter().any(|p| match p {
                Parsed::Net(n) => ip.is_some_and(|ip| n.contains(&ip)),
                other => self.pair(other, r, cx),
            })
        } else {
            self.values.iter().any(|p| self.pair(p, r, cx))
        };
        any != self.op.negated
    }

    /// An IP condition whose ranges include every address (`0.0.0.0/0`, `::/0`).
    pub fn covers_everything(&self) -> bool {
        self.values.iter().any(|v| matches!(v, Parsed::Net(n) if n.prefix_len() == 0))
    }

    /// Evaluates this condition against the request.
    pub fn holds(&self, cx: &Context) -> bool {
        let got = cx.get_normalized(&self.key).filter(|v| !v.is_empty());
        if self.op.kind == Kind::Null {
            let absent = got.is_none();
            return self.values.iter().any(|p| matches!(p, Parsed::Flag(b) if *b == absent));
        }
        let Some(vals) = got else {
            return match self.op.qualifier {
                // "Every value matches" holds over no value; "some value matches" does not.
                Some(Qualifier::ForAllValues) => true,
                Some(Qualifier::ForAnyValue) => false,
                None => self.op.if_exists || self.op.negated,
            };
        };
        match self.op.qualifier {
            Some(Qualifier::ForAllValues) => vals.iter().all(|r| self.value_ok(r, cx)),
            Some(Qualifier::ForAnyValue) => vals.iter().any(|r| self.value_ok(r, cx)),
            // A negated operator over several values: none of them matches.
            None if self.op.negated => vals.iter().all(|r| self.value_ok(r, cx)),
            None => vals.iter().any(|r| self.value_ok(r, cx)),
        }
    }
}

fn compare(o: Option<std::cmp::Ordering>, cmp: Cmp) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (o, cmp),
        (Some(Equal), Cmp::Eq | Cmp::Le | Cmp::Ge)
            | (Some(Less), Cmp::Lt | Cmp::Le)
            | (Some(Greater), Cmp::Gt | Cmp::Ge)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, v: Value) -> Condition {
        Condition::parse(parse_operator(op).unwrap(), key, &v).unwrap()
    }

    fn cx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::default();
        for (k, v) in pairs {
            c.set(k, *v);
        }
        c
    }

    #[test]
    fn operators_compare_as_iam_documents() {
        let ip = cx(&[("aws:SourceIp", "192.0.2.10")]);
        assert!(cond("IpAddress", "aws:SourceIp", "192.0.2.0/24".into()).holds(&ip));
        assert!(!cond("NotIpAddress", "aws:SourceIp", "192.0.2.0/24".into()).holds(&ip));
        assert!(cond("IpAddress", "aws:SourceIp", serde_json::json!(["10.0.0.0/8", "192.0.2.10"])).holds(&ip));
        assert!(
            cond("IpAddress", "aws:SourceIp", "2001:db8::/32".into()).holds(&cx(&[("aws:SourceIp", "2001:db8::1")]))
        );
        let s = cx(&[("s3:prefix", "home/alice/"), ("aws:SecureTransport", "false")]);
        assert!(cond("StringLike", "s3:prefix", serde_json::json!(["home/alice/*", ""])).holds(&s));
        assert!(cond("StringEquals", "s3:prefix", "home/alice/".into()).holds(&s));
        assert!(!cond("StringEquals", "s3:prefix", "HOME/alice/".into()).holds(&s));
        assert!(cond("StringEqualsIgnoreCase", "s3:prefix", "HOME/alice/".into()).holds(&s));
        assert!(cond("StringNotEquals", "s3:prefix", serde_json::json!(["a", "b"])).holds(&s));
        assert!(!cond("StringNotLike", "s3:prefix", "home/*".into()).holds(&s));
        assert!(cond("Bool", "aws:SecureTransport", false.into()).holds(&s));
        assert!(!cond("Bool", "aws:SecureTransport", "true".into()).holds(&s));
        let n = cx(&[("s3:max-keys", "10")]);
        assert!(cond("NumericLessThanEquals", "s3:max-keys", 10.into()).holds(&n));
        assert!(!cond("NumericLessThan", "s3:max-keys", "10".into()).holds(&n));
        assert!(cond("NumericGreaterThan", "s3:max-keys", "9.5".into()).holds(&n));
        assert!(cond("NumericNotEquals", "s3:max-keys", 11.into()).holds(&n));
        assert!(!cond("NumericEquals", "s3:max-keys", 10.into()).holds(&cx(&[("s3:max-keys", "ten")])));
        let t = cx(&[("aws:CurrentTime", "2026-12-06T10:00:00Z")]);
        assert!(cond("DateGreaterThan", "aws:CurrentTime", "2026-01-01T00:00:00Z".into()).holds(&t));
        assert!(cond("DateLessThan", "aws:CurrentTime", "2027-01-01".into()).holds(&t));
        assert!(!cond("DateLessThan", "aws:CurrentTime", "1735689600".into()).holds(&t), "epoch seconds: 2025-01-01");
        let a = cx(&[("aws:PrincipalArn", "arn:aws:iam:::user/alice")]);
        assert!(cond("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:user/*".into()).holds(&a));
        assert!(!cond("ArnNotEquals", "aws:PrincipalArn", "arn:aws:iam:::user/alice".into()).holds(&a));
    }

    #[test]
    fn absent_keys_if_exists_null_and_set_qualifiers() {
        let empty = Context::default();
        assert!(!cond("StringEquals", "aws:Referer", "x".into()).holds(&empty));
        assert!(cond("StringNotEquals", "aws:Referer", "x".into()).holds(&empty), "negated: true without the key");
        assert!(cond("StringEqualsIfExists", "aws:Referer", "x".into()).holds(&empty));
        assert!(!cond("StringEqualsIfExists", "aws:Referer", "x".into()).holds(&cx(&[("aws:Referer", "y")])));
        assert!(cond("Null", "s3:x-amz-server-side-encryption", true.into()).holds(&empty));
        assert!(!cond("Null", "s3:x-amz-server-side-encryption", "false".into()).holds(&empty));
        let mut tags = Context::default();
        tags.set_all("s3:RequestObjectTagKeys", vec!["Project".into(), "Owner".into()]);
        let all = |v: Value| cond("ForAllValues:StringEquals", "s3:RequestObjectTagKeys", v);
        let any = |v: Value| cond("ForAnyValue:StringEquals", "s3:RequestObjectTagKeys", v);
        assert!(all(serde_json::json!(["Project", "Owner", "Team"])).holds(&tags));
        assert!(!all(serde_json::json!(["Project"])).holds(&tags));
        assert!(all(serde_json::json!(["Project"])).holds(&empty), "ForAllValues over no value");
        assert!(any(serde_json::json!(["Owner"])).holds(&tags));
        assert!(!any(serde_json::json!(["Team"])).holds(&tags));
        assert!(!any(serde_json::json!(["Team"])).holds(&empty));
        let mut u = Context::default();
        u.set("aws:username", "alice").set("s3:prefix", "home/alice/docs");
        assert!(cond("StringLike", "s3:prefix", "home/${aws:username}/*".into()).holds(&u));
        assert!(!cond("StringLike", "s3:prefix", "home/${aws:userid}/*".into()).holds(&u), "no value: no match");
    }

    #[test]
    fn malformed_conditions_are_refused_with_the_reason() {
        for bad in ["StringEqualz", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null"] {
            assert!(parse_operator(bad).is_err(), "{bad}");
        }
        let op = |o: &str| parse_operator(o).unwrap();
        for (o, v) in [
            ("IpAddress", Value::from("300.1.1.1")),
            ("NumericEquals", Value::from("x")),
            ("DateEquals", Value::from("yesterday")),
            ("Bool", Value::from("yes")),
            ("StringEquals", serde_json::json!({"a": 1})),
            ("StringEquals", serde_json::json!([])),
        ] {
            let e = Condition::parse(op(o), "k", &v).unwrap_err();
            assert!(matches!(e, PolicyError::Malformed(_)), "{o} {v}");
        }
    }
}
