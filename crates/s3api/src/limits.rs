//! Why a request body was cut off before the handler saw all of it (the HTTP front's
//! guards: idle timeout, aws-chunked framing bounds, form size), carried as the body
//! stream's error and answered with the error S3 gives. This module holds no state and
//! does no I/O.

use s3s::{S3Error, S3ErrorCode, s3_error};

/// A body the front refused while it streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyLimit {
    /// Nothing arrived for the idle timeout.
    Idle,
    /// An aws-chunked chunk declared more bytes than the server accepts in one chunk.
    ChunkTooLarge { size: u64, max: u64 },
    /// The chunks declare more bytes than `x-amz-decoded-content-length`.
    ChunksExceedDecodedLength { declared: u64 },
    /// A body over the size allowed for its kind of request.
    TooLarge { max: u64 },
}

const MARK: &str = "rustfs-body-limit:";

impl std::fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyLimit::Idle => write!(f, "{MARK}idle"),
            BodyLimit::ChunkTooLarge { size, max } => write!(f, "{MARK}chunk:{size}:{max}"),
            BodyLimit::ChunksExceedDecodedLength { declared } => write!(f, "{MARK}decoded:{declared}"),
            BodyLimit::TooLarge { max } => write!(f, "{MARK}size:{max}"),
        }
    }
}

impl std::error::Error for BodyLimit {}

impl BodyLimit {
    /// Finds a limit in an error message (it travels inside the body stream's errors,
    /// which other layers may wrap).
    pub fn find(msg: &str) -> Option<Self> {
        let rest = &msg[msg.find(MARK)? + MARK.len()..];
        let mut it = rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')).next()?.split(':');
        let num = |s: Option<&str>| s.and_then(|v| v.parse::<u64>().ok());
        match it.next()? {
            "idle" => Some(BodyLimit::Idle),
            "chunk" => Some(BodyLimit::ChunkTooLarge { size: num(it.next())?, max: num(it.next())? }),
            "decoded" => Some(BodyLimit::ChunksExceedDecodedLength { declared: num(it.next())? }),
            "size" => Some(BodyLimit::TooLarge { max: num(it.next())? }),
            _ => None,
        }
    }

    /// The error S3 answers with.
    pub fn to_s3(&self) -> S3Error {
        match self {
            BodyLimit::Idle => s3_error!(
                RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
            ),
            BodyLimit::ChunkTooLarge { size, max } => S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("An aws-chunked chunk of {size} bytes exceeds the largest chunk accepted ({max} bytes)."),
            ),
            BodyLimit::ChunksExceedDecodedLength { declared } => S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                format!("The chunks declare {declared} bytes, more than x-amz-decoded-content-length."),
            ),
            BodyLimit::TooLarge { max } => S3Error::with_message(
                S3ErrorCode::EntityTooLarge,
                format!("Your proposed upload exceeds the maximum allowed size ({max} bytes)."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_inside_wrapping_messages() {
        for l in [
            BodyLimit::Idle,
            BodyLimit::ChunkTooLarge { size: 4294967295, max: 16777216 },
            BodyLimit::ChunksExceedDecodedLength { declared: 70 },
            BodyLimit::TooLarge { max: 9 },
        ] {
            let wrapped = format!("AwsChunkedStreamError: Underlying: {l} (io)");
            assert_eq!(BodyLimit::find(&wrapped), Some(l.clone()));
        }
        assert_eq!(BodyLimit::find("connection reset"), None);
        assert_eq!(BodyLimit::find("rustfs-body-limit:chunk:x"), None);
    }
}
