//! Pattern matching as IAM does it: `*` (any run of characters, `/` included) and `?` (any
//! one character) in actions, resources, ARNs and `StringLike` values; policy variables
//! (`${aws:username}`, `${s3:prefix}`, and the escapes `${*}`, `${?}`, `${$}`) replaced
//! from the request context before a resource or condition value is matched.
//! This module only compares strings; it never allocates per character and never panics
//! on any input.

use crate::context::Context;

/// Whether `text` matches `pattern` (`*` and `?` wildcards), optionally ignoring ASCII case.
/// Linear in practice: the classic greedy algorithm with one backtrack point.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' && is_char_start(t, ti) || eq(p[pi], t[ti])) {
            if p[pi] == b'?' {
                // `?` is one character: skip a whole UTF-8 sequence.
                ti += char_len(t[ti]);
            } else {
                ti += 1;
            }
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more character.
            let next = st + char_len(t[st]);
            star = Some((sp, next));
            pi = sp + 1;
            ti = next;
        } else {
            return false;
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

fn is_char_start(t: &[u8], i: usize) -> bool {
    t.get(i).is_some_and(|b| b & 0xC0 != 0x80)
}

fn char_len(first: u8) -> usize {
    match first {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        b if b >= 0xC0 => 2,
        _ => 1,
    }
}

/// `s` with its policy variables replaced from `cx`; `None` when a variable has no value
/// (IAM then treats the resource or value as not matching). A variable may carry a default:
/// `${aws:username, 'anonymous'}`.
pub fn substitute(s: &str, cx: &Context) -> Option<String> {
    if !s.contains("${") {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            return Some(out);
        };
        let inner = after[..end].trim();
        match inner {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => {
                let (name, default) = match inner.split_once(',') {
                    Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                match cx.single(name).or(default) {
                    // A value's own wildcards are literal: IAM matches them as characters, which
                    // a `*` in a user name cannot abuse here (names allow no `*` or `?`).
                    Some(v) => out.push_str(v),
                    None => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_does() {
        for (p, t, want) in [
            ("s3:*", "s3:GetObject", true),
            ("s3:Get*", "s3:GetObjectAcl", true),
            ("s3:Get*", "s3:PutObject", false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b", false),
            ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/abc", true),
            ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/ac", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("?", "é", true),
            ("**?", "ab", true),
            ("home/*/docs", "home/alice/x/docs", true),
        ] {
            assert_eq!(wildcard(p, t, false), want, "{p} ~ {t}");
        }
        assert!(wildcard("S3:getobject", "s3:GetObject", true));
        assert!(!wildcard("S3:getobject", "s3:GetObject", false));
    }

    #[test]
    fn variables_come_from_the_context() {
        let mut cx = Context::default();
        cx.set("aws:username", "alice");
        assert_eq!(substitute("arn:aws:s3:::b/home/${aws:username}/*", &cx).unwrap(), "arn:aws:s3:::b/home/alice/*");
        assert_eq!(substitute("${aws:userid}", &cx), None);
        assert_eq!(substitute("${aws:userid, 'nobody'}", &cx).unwrap(), "nobody");
        assert_eq!(substitute("literal ${*}${?}${$}", &cx).unwrap(), "literal *?$");
        assert_eq!(substitute("unclosed ${aws", &cx).unwrap(), "unclosed ${aws");
    }
}
