//! Pattern matching as IAM does it: `*` (any run of characters, `/` included) and `?` (any
//! one character) in actions, resources, ARNs and `StringLike` values; policy variables
//! (`${aws:username}`, `${s3:prefix}`, and the escapes `${*}`, `${?}`, `${$}`) replaced
//! from the request context before a resource or condition value is matched.
//! This module only compares strings; it never allocates per character and never panics
//! on any input.

use std::borrow::Cow;

use crate::context::Context;

/// Whether `text` matches `pattern` (`*` and `?` wildcards), optionally ignoring ASCII case.
/// Linear in practice: the classic greedy algorithm with one backtrack point.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let same = |a: &[u8], b: &[u8]| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    // Most patterns are a literal, or a literal and one trailing `*`: settle those (and any
    // pattern's literal head) with one comparison.
    let head = p.iter().position(|&c| c == b'*' || c == b'?').unwrap_or(p.len());
    if head == p.len() {
        return same(p, t);
    }
    if t.len() < head || !same(&p[..head], &t[..head]) {
        return false;
    }
    if head + 1 == p.len() && p[head] == b'*' {
        return true;
    }
    let (mut pi, mut ti) = (head, head);
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
pub fn substitute<'a>(s: &'a str, cx: &Context) -> Option<Cow<'a, str>> {
    if !s.contains("${") {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            return Some(Cow::Owned(out));
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
    Some(Cow::Owned(out))
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

    /// The plain recursive definition, to check the fast paths against.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, _) => t.is_empty(),
            (Some(b'*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(b'?'), Some(_)) => reference(&p[1..], &t[1..]),
            (Some(c), Some(d)) => c == d && reference(&p[1..], &t[1..]),
            (Some(_), None) => false,
        }
    }

    fn words(alphabet: &[u8], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last.iter().flat_map(|w| alphabet.iter().map(move |&c| format!("{w}{}", c as char))).collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    #[test]
    fn wildcard_agrees_with_the_definition_on_every_short_input() {
        let texts = words(b"ab", 5);
        for p in words(b"ab*?", 4) {
            for t in &texts {
                assert_eq!(wildcard(&p, t, false), reference(p.as_bytes(), t.as_bytes()), "{p} ~ {t}");
            }
        }
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
