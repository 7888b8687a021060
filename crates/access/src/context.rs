//! The request context a policy's conditions read: condition keys (`aws:SourceIp`,
//! `s3:prefix`, `s3:ExistingObjectTag/<tag>` ...) and their values, one or several. Key
//! names are case-insensitive up to a `/` (a tag key after it keeps its case), as IAM
//! compares them. This module holds values only; it never decides anything.

use std::collections::HashMap;

/// Condition keys and their values for one request.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

/// A condition key as compared: the part before the first `/` lower-cased.
pub fn normalize_key(key: &str) -> String {
    match key.split_once('/') {
        Some((head, tail)) => format!("{}/{tail}", head.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

impl Context {
    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(normalize_key(key), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key (`s3:RequestObjectTagKeys`).
    pub fn set_all(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(normalize_key(key), values);
        self
    }

    /// The values of `key` (`None`: the key is not in the request).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        let head = key.split('/').next().unwrap_or_default();
        if head.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&normalize_key(key)).map(Vec::as_slice)
        } else {
            self.get_normalized(key)
        }
    }

    /// The values of a key already in its compared form ([`normalize_key`]).
    pub fn get_normalized(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// The value of a single-valued key.
    pub fn single(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_without_case_up_to_the_tag() {
        let mut cx = Context::default();
        cx.set("aws:SourceIp", "10.0.0.1").set("s3:ExistingObjectTag/Project", "x");
        assert_eq!(cx.single("AWS:sourceip"), Some("10.0.0.1"));
        assert_eq!(cx.single("S3:existingobjecttag/Project"), Some("x"));
        assert_eq!(cx.single("s3:ExistingObjectTag/project"), None, "tag keys keep their case");
        cx.set_all("s3:RequestObjectTagKeys", vec!["a".into(), "b".into()]);
        assert_eq!(cx.get("s3:requestobjecttagkeys").unwrap().len(), 2);
        assert!(!cx.contains("aws:Referer"));
    }
}
