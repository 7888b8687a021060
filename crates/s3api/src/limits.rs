//! Why a request body was cut off before the handler saw all of it (the HTTP front's
//! guards: idle timeout, aws-chunked framing bounds, form size), carried as the body
//! stream's error and answered with the error S3 gives; and the aws-chunked framing check
//! itself. This module does no I/O and never panics on any input (a fuzz target drives it).

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

/// The aws-chunked framing (`<hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0...\r\n`)
/// read as it passes: a chunk over `max`, or chunks adding up to more than the decoded
/// length, are refused at their header, before s3s gathers their bytes.
#[derive(Debug, Clone)]
pub struct ChunkCheck {
    max: u64,
    decoded: Option<u64>,
    total: u64,
    state: ChunkState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk header line (bytes so far).
    Header(Vec<u8>),
    /// Skipping chunk data, then its CRLF.
    Data(u64),
    /// After the last chunk (trailers) or a framing s3s will refuse itself: pass through.
    Done,
}

/// Longest chunk header line looked at (s3s refuses longer ones).
const MAX_HEADER_LINE: usize = 4096;

impl ChunkCheck {
    pub fn new(max: u64, decoded: Option<u64>) -> Self {
        Self { max, decoded, total: 0, state: ChunkState::Header(Vec::new()) }
    }

    /// Reads the next bytes of the body; an error ends the body.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), BodyLimit> {
        while !bytes.is_empty() {
            match &mut self.state {
                ChunkState::Done => return Ok(()),
                ChunkState::Data(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.state = ChunkState::Header(Vec::new());
                    }
                }
                ChunkState::Header(line) => {
                    let end = bytes.iter().position(|&b| b == b'\n');
                    let take = end.map_or(bytes.len(), |i| i + 1);
                    line.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if line.len() > MAX_HEADER_LINE {
                        self.state = ChunkState::Done;
                        return Ok(());
                    }
                    if end.is_none() {
                        continue;
                    }
                    let text = String::from_utf8_lossy(line).trim().to_string();
                    if text.is_empty() {
                        // The CRLF that ends the previous chunk's data.
                        line.clear();
                        continue;
                    }
                    let hex = text.split(';').next().unwrap_or("").trim();
                    let size = if hex.len() > 16 {
                        u64::MAX
                    } else {
                        match u64::from_str_radix(hex, 16) {
                            Ok(s) => s,
                            Err(_) => {
                                self.state = ChunkState::Done;
                                return Ok(());
                            }
                        }
                    };
                    if size > self.max {
                        return Err(BodyLimit::ChunkTooLarge { size, max: self.max });
                    }
                    self.total = self.total.saturating_add(size);
                    if self.decoded.is_some_and(|d| self.total > d) {
                        return Err(BodyLimit::ChunksExceedDecodedLength { declared: self.total });
                    }
                    self.state = if size == 0 { ChunkState::Done } else { ChunkState::Data(size) };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_headers_are_bounded_before_their_bytes() {
        let mut c = ChunkCheck::new(16, Some(20));
        c.feed(b"a;chunk-signature=00\r\n0123456789\r\n").unwrap();
        c.feed(b"5;chunk-signature=00\r").unwrap();
        c.feed(b"\n01234\r\n0;chunk-signature=00\r\n\r\n").unwrap();
        assert_eq!(c.state, ChunkState::Done);
        // A 4 GiB chunk is refused at its header.
        let mut c = ChunkCheck::new(16 << 20, Some(100));
        assert_eq!(
            c.feed(b"ffffffff;chunk-signature=00\r\n"),
            Err(BodyLimit::ChunkTooLarge { size: 0xffff_ffff, max: 16 << 20 })
        );
        // Chunks adding up to more than the decoded length.
        let mut c = ChunkCheck::new(16, Some(12));
        c.feed(b"a\r\n0123456789\r\n").unwrap();
        assert_eq!(c.feed(b"a\r\n"), Err(BodyLimit::ChunksExceedDecodedLength { declared: 20 }));
        // Byte by byte works the same.
        let mut c = ChunkCheck::new(16, None);
        for b in b"3\r\nabc\r\n11\r\n" {
            if let Err(e) = c.feed(&[*b]) {
                assert_eq!(e, BodyLimit::ChunkTooLarge { size: 17, max: 16 });
                return;
            }
        }
        panic!("the 0x11-byte chunk was not refused");
    }

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
