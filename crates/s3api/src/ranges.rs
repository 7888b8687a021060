//! Byte ranges of requests: x-amz-copy-source-range (ours) and the Range header (parsed by
//! s3s, checked against the object size here). Pure functions over untrusted strings; they
//! must never panic (a fuzz target drives them).

use s3s::{S3Result, s3_error};

/// Parses `bytes=first-last` of x-amz-copy-source-range against the source size.
pub fn parse_copy_range(r: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok(first..last + 1)
}

/// The half-open byte range a `Range` header selects in an object of `size` bytes, or
/// `None` when it is not satisfiable (S3's 416).
pub fn object_range(header: &str, size: u64) -> Option<Option<std::ops::Range<u64>>> {
    let r = s3s::dto::Range::parse(header).ok()?;
    Some(r.check(size).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_range_parsing() {
        assert_eq!(parse_copy_range("bytes=0-9", 100).unwrap(), 0..10);
        assert!(parse_copy_range("bytes=5-100", 100).is_err());
        assert!(parse_copy_range("bytes=9-1", 100).is_err());
        assert!(parse_copy_range("0-1", 100).is_err());
        assert!(parse_copy_range("bytes=18446744073709551615-18446744073709551615", u64::MAX).is_err());
    }

    #[test]
    fn range_headers() {
        assert_eq!(object_range("bytes=0-9", 100), Some(Some(0..10)));
        assert_eq!(object_range("bytes=-10", 100), Some(Some(90..100)));
        assert_eq!(object_range("bytes=100-", 100), Some(None));
        assert_eq!(object_range("lines=1-2", 100), None);
    }
}
